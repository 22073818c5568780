"""Column-wise reads for the bulk paths (an export of 200,000 trades): the rows of a select straight
from the DBAPI cursor, turned into one array per column, without SQLAlchemy's per-row objects and
type processing or ``DataFrame.from_records`` (those were 3.2 s of a 200,000-line export).

:func:`read_columns` gives the same values as :func:`storage.bulk.read_frame` (a test compares the
two on SQLite and PostgreSQL): SQLite's text datetimes parsed in one vectorized pass, its 0/1
booleans as booleans, a nullable integer column with a gap as floats with NaN (what pandas makes of
it too). :func:`text_in` is :func:`storage.bulk.id_in` for text values.
"""
from __future__ import annotations

import json
from datetime import date

import numpy as np
import pandas as pd
from sqlalchemy import Boolean, Connection, Date, DateTime, Float, Integer, String, Text, any_, bindparam
from sqlalchemy import func, literal_column, select
from sqlalchemy.types import ARRAY


def read_columns(conn: Connection, stmt, params=None) -> dict[str, np.ndarray]:
    """Run ``stmt`` (a SQLAlchemy select, or SQL text in the driver's paramstyle with ``params``)
    on the connection's DBAPI cursor (same transaction) and return ``{column: array}``."""
    if isinstance(stmt, str):
        result = conn.exec_driver_sql(stmt, params or {})
        types: list = []
    else:
        result = conn.execute(stmt, params or {})
        types = [c.type for c in stmt.selected_columns]
    try:
        # the DBAPI cursor's plain tuples: no Row objects, no per-value type processors
        names = [d[0] for d in result.cursor.description]
        rows = result.cursor.fetchall()
    finally:
        result.close()
    types = types or [None] * len(names)
    if not rows:
        return {name: np.array([], dtype=object) for name in names}
    # the rows into one 2-D object array (C loops; ``zip(*rows)`` took twice as long), sliced by column
    block = np.empty((len(rows), len(names)), dtype=object)
    block[:] = rows
    del rows
    sqlite = conn.dialect.name == "sqlite"
    return {name: _column(block[:, j], typ, sqlite) for j, (name, typ) in enumerate(zip(names, types))}


def _column(values: np.ndarray, typ, sqlite: bool) -> np.ndarray:
    if isinstance(typ, DateTime):
        if sqlite:  # ISO text: parsed in one vectorized pass
            return pd.to_datetime(pd.Series(values, dtype=object), format="ISO8601").to_numpy()
        return pd.Series(values.tolist()).to_numpy()
    if isinstance(typ, Date) and sqlite:
        return np.array([None if v is None else date.fromisoformat(v) for v in values.tolist()], dtype=object)
    if not isinstance(typ, (Boolean, Integer, Float)):
        return values if isinstance(typ, (String, Text)) else pd.Series(values.tolist()).to_numpy()
    gaps = int(pd.isna(values).sum())  # one C pass
    if gaps == len(values):
        return values  # all missing: None, as pandas keeps them
    if isinstance(typ, Boolean) and sqlite:  # SQLite's 0/1
        return np.array([None if v is None else bool(v) for v in values.tolist()], dtype=object) if gaps \
            else values.astype(bool)
    if isinstance(typ, Integer) and not gaps:
        return values.astype(np.int64)
    if isinstance(typ, Boolean):
        return values if gaps else values.astype(bool)
    return values.astype(np.float64)  # None -> NaN (pandas makes ints with gaps floats too)


def columns_frame(cols: dict[str, np.ndarray]) -> pd.DataFrame:
    """A DataFrame of :func:`read_columns`'s arrays, typed as ``DataFrame.from_records`` types the
    same rows (a text column is pandas' ``str``: given, not inferred value by value)."""
    out = {}
    for name, arr in cols.items():
        if arr.dtype == object and len(arr) and pd.api.types.infer_dtype(arr, skipna=True) == "string":
            out[name] = pd.Series(arr, dtype="str")
            continue
        out[name] = pd.Series(arr)
    return pd.DataFrame(out, copy=False)


def text_in(conn: Connection, column, values) -> object:
    """``column IN (values)`` for text values as one statement with one parameter, however many:
    ``= ANY(array)`` on PostgreSQL, a JSON list unpacked by ``json_each`` on SQLite."""
    values = [str(v) for v in values]
    if conn.dialect.name == "postgresql":
        return column == any_(bindparam(None, values, type_=ARRAY(Text)))
    each = select(literal_column("value")).select_from(func.json_each(bindparam(None, json.dumps(values))))
    return column.in_(each.scalar_subquery())
