"""Repositories: the book snapshots and the audit log, in and out as DataFrames."""
from __future__ import annotations

import json
from datetime import date, datetime, timezone

import pandas as pd
from sqlalchemy import Connection, func, insert, select

from storage import models as m
from storage.bulk import insert_frame, read_frame

BOOK_TABLES = ("securities", "models", "model_weights", "accounts", "lots", "custodian_positions",
               "feeds", "transactions", "cash_requests", "corporate_actions")
TABLES = {t.name: t for t in m.Base.metadata.sorted_tables}
# frame column -> table column, where they differ
RENAMES = {"accounts": {"group": "group_name"}}


def now() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


def write_snapshot(conn: Connection, *, as_of: date, frames: dict[str, pd.DataFrame], source: str,
                   checksum: str, user: str, progress=None, check=None) -> int:
    """Insert a new book snapshot and all its rows; the caller owns the transaction."""
    snap_id = conn.execute(insert(m.BookSnapshot).values(
        as_of=as_of, imported_at=now(), imported_by=user, source=source, checksum=checksum,
        n_accounts=len(frames["accounts"]), n_lots=len(frames["lots"]),
    ).returning(m.BookSnapshot.id)).scalar_one()
    total = sum(len(frames[t]) for t in BOOK_TABLES if t in frames) or 1
    done = 0
    for name in BOOK_TABLES:
        df = frames.get(name)
        if df is None or not len(df):
            continue
        if check:
            check()
        df = df.rename(columns=RENAMES.get(name, {}))
        df.insert(0, "snapshot_id", snap_id)
        base = done

        def step(frac, base=base, size=len(df)):
            if progress:
                progress((base + frac * size) / total, f"writing {name}")
            if check:
                check()

        insert_frame(conn, TABLES[name], df, step)
        done += len(df)
    return snap_id


class SnapshotInfo:
    def __init__(self, **kw):
        self.__dict__.update(kw)

    def __repr__(self) -> str:
        return f"SnapshotInfo(id={self.id}, as_of={self.as_of})"


def snapshot_info(conn: Connection, snapshot_id: int | None = None) -> SnapshotInfo | None:
    t = m.BookSnapshot.__table__
    stmt = select(t)
    stmt = stmt.where(t.c.id == snapshot_id) if snapshot_id else stmt.order_by(t.c.id.desc()).limit(1)
    r = conn.execute(stmt).mappings().first()
    return None if r is None else SnapshotInfo(**r)


def read_book_frames(conn: Connection, snapshot_id: int, tables=BOOK_TABLES) -> dict[str, pd.DataFrame]:
    """The frames of one snapshot, with the column names of the book files."""
    out = {}
    for name in tables:
        t = TABLES[name]
        cols = [c for c in t.c if c.name not in ("snapshot_id", "id")]
        df = read_frame(conn, select(*cols).where(t.c.snapshot_id == snapshot_id))
        inv = {v: k for k, v in RENAMES.get(name, {}).items()}
        out[name] = df.rename(columns=inv)
    return out


def table_counts(conn: Connection) -> dict[str, int]:
    return {name: conn.execute(select(func.count()).select_from(t)).scalar_one()
            for name, t in TABLES.items()}


def audit(conn: Connection, user: str, action: str, *, account_id: str | None = None,
          symbol: str | None = None, detail: str | None = None, before=None, after=None,
          at: datetime | None = None) -> None:
    conn.execute(insert(m.AuditEntry).values(
        at=at or now(), user=user, action=action, account_id=account_id, symbol=symbol,
        detail=detail,
        before=None if before is None else json.dumps(before, default=str, sort_keys=True),
        after=None if after is None else json.dumps(after, default=str, sort_keys=True),
    ))


def audit_frame(conn: Connection, since: datetime | None = None) -> pd.DataFrame:
    t = m.AuditEntry.__table__
    stmt = select(t).order_by(t.c.at, t.c.id)
    if since is not None:
        stmt = stmt.where(t.c.at >= since)
    return read_frame(conn, stmt)
