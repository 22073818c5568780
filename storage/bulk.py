"""Bulk reads and writes of DataFrames: executemany on SQLite, COPY on PostgreSQL.

Never ORM objects one by one: a book has millions of lots.
"""
from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
from sqlalchemy import BigInteger, Connection, Table, any_, bindparam, func, literal_column, select
from sqlalchemy.types import ARRAY

CHUNK = 200_000


def _py(v):
    if v is None:
        return None
    if isinstance(v, float) and math.isnan(v):
        return None
    if isinstance(v, (np.floating,)):
        return None if np.isnan(v) else float(v)
    if isinstance(v, (np.integer,)):
        return int(v)
    if isinstance(v, (np.bool_,)):
        return bool(v)
    return v


def _columns(df: pd.DataFrame) -> list[np.ndarray]:
    cols = []
    for name in df.columns:
        arr = df[name].to_numpy()
        if arr.dtype.kind == "f":
            obj = arr.astype(object)
            obj[np.isnan(arr)] = None
            cols.append(obj)
        elif arr.dtype.kind == "b":
            cols.append(arr.astype(object))
        elif arr.dtype.kind in "iu":
            cols.append(arr.astype(object))
        else:
            obj = arr.astype(object)
            mask = pd.isna(obj)
            if mask.any():
                obj = obj.copy()
                obj[mask] = None
            cols.append(obj)
    return cols


def insert_frame(conn: Connection, table: Table, df: pd.DataFrame, progress=None) -> int:
    """Insert every row of ``df`` (columns named as the table's columns) into ``table``."""
    if not len(df):
        return 0
    names = [table.c[c].name for c in df.columns]
    if conn.dialect.name == "postgresql":
        return _copy_postgres(conn, table, names, df, progress)
    return _insert_sqlite(conn, table, names, df, progress)


ROWS_PER_STATEMENT = 100  # multi-row VALUES: about twice as fast as one row per statement


def _insert_sqlite(conn: Connection, table: Table, names: list[str], df: pd.DataFrame, progress) -> int:
    n, k = len(df), len(names)
    one = "(" + ", ".join("?" for _ in names) + ")"
    head = f'INSERT INTO "{table.name}" ({", ".join(chr(34) + c + chr(34) for c in names)}) VALUES '
    dbapi = conn.connection.driver_connection
    cur = dbapi.cursor()
    r = ROWS_PER_STATEMENT
    try:
        for start in range(0, n, CHUNK):
            stop = min(n, start + CHUNK)
            # Python objects for one chunk at a time: for the whole frame (millions of lots) they
            # were the import's peak memory
            block = np.empty((stop - start, k), dtype=object)
            for j, c in enumerate(_columns(df.iloc[start:stop])):
                block[:, j] = c
            full = (len(block) // r) * r
            if full:
                flat = block[:full].reshape(-1, r * k)
                cur.executemany(head + ", ".join([one] * r), flat.tolist())
            if full < len(block):
                cur.executemany(head + one, block[full:].tolist())
            if progress:
                progress(stop / n)
    finally:
        cur.close()
    return n


def _copy_postgres(conn: Connection, table: Table, names: list[str], df: pd.DataFrame, progress) -> int:
    n = len(df)
    dbapi = conn.connection.driver_connection
    with dbapi.cursor() as cur:
        quoted = ", ".join(f'"{c}"' for c in names)
        with cur.copy(f'COPY "{table.name}" ({quoted}) FROM STDIN') as copy:
            for start in range(0, n, CHUNK):
                # Python objects for one chunk at a time (see _insert_sqlite)
                for row in zip(*_columns(df.iloc[start:start + CHUNK])):
                    copy.write_row(row)
                if progress:
                    progress(min(n, start + CHUNK) / n)
        if n >= ANALYZE_ROWS:
            # fresh statistics in the same transaction: the next queries of this table (an
            # export right after a run) are planned for its new size, not yesterday's — with
            # stale statistics PostgreSQL picked a plan that ran for minutes instead of seconds
            cur.execute(f'ANALYZE "{table.name}"')
    return n


ANALYZE_ROWS = 10_000  # a bulk write this large refreshes the table's planner statistics


def id_in(conn: Connection, column, ids) -> object:
    """``column IN (ids)`` as one statement with one parameter, however many ids: an array on
    PostgreSQL (``= ANY(...)``), a JSON list unpacked by ``json_each`` on SQLite. A set-based
    UPDATE of a whole batch or approval, instead of one statement per few thousand ids."""
    ids = [int(i) for i in ids]
    if conn.dialect.name == "postgresql":
        return column == any_(bindparam(None, ids, type_=ARRAY(BigInteger)))
    each = select(literal_column("value")).select_from(func.json_each(bindparam(None, json.dumps(ids))))
    return column.in_(each.scalar_subquery())


def in_chunks(values, size: int = 5000) -> list[list]:
    """``values`` in lists of at most ``size`` (for IN (...) lists a database takes at once)."""
    values = list(values)
    return [values[i:i + size] for i in range(0, len(values), size)]


def read_frame(conn: Connection, stmt) -> pd.DataFrame:
    """Run a select and return its rows as a DataFrame (columns named by the select)."""
    result = conn.execute(stmt)
    cols = list(result.keys())
    rows = [tuple(r) for r in result.fetchall()]
    if not rows:
        return pd.DataFrame({c: pd.Series([], dtype=object) for c in cols})
    return pd.DataFrame.from_records(rows, columns=cols)


def read_table(conn: Connection, table: Table, **where) -> pd.DataFrame:
    stmt = select(table)
    for k, v in where.items():
        stmt = stmt.where(table.c[k] == v)
    return read_frame(conn, stmt)
