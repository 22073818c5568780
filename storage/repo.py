"""Repositories: the book snapshots and the audit log, in and out as DataFrames."""
from __future__ import annotations

import json
import os
from datetime import date, datetime, timezone

import pandas as pd
from sqlalchemy import Connection, func, insert, select

from storage import audit_chain, models as m
from storage.bulk import insert_frame, read_frame

BOOK_TABLES = ("securities", "models", "model_weights", "accounts", "lots", "custodian_positions",
               "feeds", "transactions", "cash_requests", "corporate_actions")
TABLES = {t.name: t for t in m.Base.metadata.sorted_tables}
# frame column -> table column, where they differ
RENAMES = {"accounts": {"group": "group_name"}}


_SESSIONS: dict[int, str] = {}


def session_id() -> str:
    """This process's writer tag for the audit log: host/OS login/pid. A console tells its own
    actions from everyone else's by it (the same user on another workstation or in a script
    has another one)."""
    pid = os.getpid()
    if pid not in _SESSIONS:
        import getpass
        import socket

        try:
            login = getpass.getuser()
        except Exception:  # noqa: BLE001 - no login name in this environment
            login = "?"
        _SESSIONS[pid] = f"{socket.gethostname()}/{login}/{pid}"[:128]
    return _SESSIONS[pid]


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
    # the current book: the newest snapshot an admin has not retired (a named one is returned either way)
    stmt = stmt.where(t.c.id == snapshot_id) if snapshot_id else \
        stmt.where(t.c.retired_at.is_(None)).order_by(t.c.id.desc()).limit(1)
    r = conn.execute(stmt).mappings().first()
    return None if r is None else SnapshotInfo(**r)


def read_book_frames(conn: Connection, snapshot_id: int, tables=BOOK_TABLES) -> dict[str, pd.DataFrame]:
    """The frames of one snapshot, with the column names of the book files.

    Dates come back as ISO strings, booleans as bool, text as pandas strings. Served from the
    local snapshot cache when it holds this snapshot (see storage.snapshot_cache).
    """
    from storage import snapshot_cache

    info = snapshot_info(conn, snapshot_id)
    checksum = info.checksum if info is not None else ""
    url = conn.engine.url
    cached = snapshot_cache.load(url, checksum, BOOK_TABLES)
    if cached is not None:
        return {name: cached[name] for name in tables}
    out = {}
    for name in BOOK_TABLES if tables == BOOK_TABLES else tables:
        t = TABLES[name]
        cols = [c for c in t.c if c.name not in ("snapshot_id", "id")]
        out[name] = fast_frame(conn, select(*cols).where(t.c.snapshot_id == snapshot_id), cols, name)
    latest = snapshot_info(conn)
    # only the newest book is (re)cached: an older one may have been pruned by retention
    if tables == BOOK_TABLES and info is not None and latest is not None and latest.id == info.id:
        snapshot_cache.store(url, checksum, info.id, out)
    return out


def price_history(conn: Connection, snapshot_id: int, depth: int = 5) -> pd.DataFrame:
    """Prices of the ``depth`` snapshots imported before ``snapshot_id`` (security rows are never
    pruned): DataFrame[snapshot_id, symbol, price, price_date], oldest snapshot first. The
    checks derive each security's last known price from it (engine.book.price_checks)."""
    s, t = m.BookSnapshot.__table__, m.Security.__table__
    ids = [r[0] for r in conn.execute(select(s.c.id).where(s.c.id < snapshot_id)
                                      .order_by(s.c.id.desc()).limit(depth))]
    out = read_frame(conn, select(t.c.snapshot_id, t.c.symbol, t.c.price, t.c.price_date)
                     .where(t.c.snapshot_id.in_(ids or [-1])).order_by(t.c.snapshot_id))
    out["price"] = pd.to_numeric(out["price"], errors="coerce").astype(float)
    return out


def normalize_frame(df: pd.DataFrame, table: str) -> pd.DataFrame:
    """The frame of a book table in the exact column types :func:`read_book_frames` returns."""
    t = TABLES[table]
    inv = {v: k for k, v in RENAMES.get(table, {}).items()}
    cols = [c for c in t.c if c.name not in ("snapshot_id", "id")]
    data = {}
    for c in cols:
        name = inv.get(c.name, c.name)
        s = df[name] if name in df else pd.Series([None] * len(df), dtype=object)
        kind = c.type.python_type if hasattr(c.type, "python_type") else object
        if kind is bool:
            data[name] = s.fillna(False).to_numpy(bool)
        elif kind is float:
            data[name] = pd.to_numeric(s, errors="coerce").to_numpy(float)
        elif kind is int:
            data[name] = s.to_numpy()
        else:
            data[name] = pd.array(s.to_numpy(object), dtype="str") if s.dtype == object else s.astype("str")
    return pd.DataFrame(data)


def fast_frame(conn: Connection, stmt, cols, table: str) -> pd.DataFrame:
    """A select of a book table read through the DBAPI cursor (no per-row ORM processing),
    in the column types of :func:`normalize_frame`."""
    compiled = stmt.compile(dialect=conn.dialect, compile_kwargs={"literal_binds": True})
    rows = conn.exec_driver_sql(str(compiled)).fetchall()
    inv = {v: k for k, v in RENAMES.get(table, {}).items()}
    names = [inv.get(c.name, c.name) for c in cols]
    raw = pd.DataFrame.from_records([tuple(r) for r in rows], columns=names) if rows else \
        pd.DataFrame({n: pd.Series([], dtype=object) for n in names})
    return normalize_frame(raw, table)


def table_counts(conn: Connection) -> dict[str, int]:
    return {name: conn.execute(select(func.count()).select_from(t)).scalar_one()
            for name, t in TABLES.items()}


def audit(conn: Connection, user: str, action: str, *, account_id: str | None = None,
          symbol: str | None = None, detail: str | None = None, before=None, after=None,
          at: datetime | None = None) -> None:
    audit_many(conn, [dict(user=user, action=action, account_id=account_id, symbol=symbol, detail=detail,
                           before=before, after=after, at=at)])


def audit_many(conn: Connection, entries: list[dict]) -> None:
    """Many entries (the keyword arguments of :func:`audit`) in one executemany."""
    if not entries:
        return
    dump = lambda v: None if v is None else json.dumps(v, default=str, sort_keys=True)  # noqa: E731
    at, session = now(), session_id()
    known = _identities(conn)
    rows = [{"at": e.get("at") or at, "username": e["user"], "action": e["action"], "account_id": e.get("account_id"),
             "symbol": e.get("symbol"), "detail": e.get("detail"), "before": dump(e.get("before")),
             "after": dump(e.get("after")), "session": session, "identity": known(e["user"])} for e in entries]
    audit_chain.chain(conn, rows)  # seq and hash after the chain head, which stays locked until commit
    conn.execute(insert(m.AuditEntry.__table__), rows)


def _identities(conn: Connection):
    """How an entry's user is known: "login" (the PostgreSQL login), "os" (the OS login of this
    process) or "declared" (a name given with --user / $REBALANCE_DESK_USER)."""
    if conn.dialect.name == "postgresql":
        kind, login = "login", conn.exec_driver_sql("SELECT session_user").scalar_one()
    else:
        kind, login = "os", session_id().split("/")[-2]
    login = str(login).casefold()
    return lambda user: kind if str(user).casefold() == login else "declared"


def audit_frame(conn: Connection, since: datetime | None = None) -> pd.DataFrame:
    t = m.AuditEntry.__table__
    stmt = select(t).order_by(t.c.at, t.c.id)
    if since is not None:
        stmt = stmt.where(t.c.at >= since)
    return read_frame(conn, stmt)


def take_lock(conn: Connection, name: str, user: str) -> None:
    """Hold the named application lock until the caller's transaction ends."""
    t = m.AppLock.__table__
    done = conn.execute(t.update().where(t.c.name == name).values(held_by=user, held_at=now()))
    if done.rowcount == 0:
        conn.execute(insert(t).values(name=name, held_by=user, held_at=now()))


def latest_run_id(conn) -> int | None:
    """The newest finished run's id, or None."""
    t = m.Run.__table__
    return conn.execute(select(t.c.id).where(t.c.status == "done").order_by(t.c.id.desc()).limit(1)).scalar()
