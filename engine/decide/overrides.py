"""Manual overrides: account holds and security halts (freeze / hold-accounts), with expiry.

An override applies on a book date when it has not been ended and its ``until`` (the last
day it applies, inclusive) is not before that date. Expired ones stay in history.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import pandas as pd
from sqlalchemy import Engine, select, update

from engine.core.identity import acting_user
from engine.core.tasks import RefusedError
from storage import models as m
from storage import repo
from storage.bulk import read_frame

HALT_MODES = ("freeze", "hold-accounts")


@dataclass(frozen=True)
class ActiveOverrides:
    holds: dict[str, str]            # account_id -> reason
    freeze: dict[str, str]           # symbol -> reason
    hold_accounts: dict[str, str]    # symbol -> reason


def _book_date(conn) -> date:
    snap = repo.snapshot_info(conn)
    return snap.as_of if snap is not None else date.today()


def _require_reason(reason: str) -> str:
    reason = (reason or "").strip()
    if not reason:
        raise RefusedError("a reason is required")
    return reason


def _add(engine: Engine, *, kind: str, verb: str, until: date | None, reason: str, user: str | None,
         exists_stmt, missing: str, audit_action: str, audit_detail: str, **target) -> int:
    """Validate and record one override (in the audit log too); returns its id."""
    user = acting_user(engine, user, "operator")
    reason = _require_reason(reason)
    with engine.begin() as conn:
        snap = repo.snapshot_info(conn)
        if snap is None:
            raise RefusedError(f"no book imported yet: import a book before {verb}")
        if not conn.execute(exists_stmt(snap.id)).first():
            raise RefusedError(f"{missing} as of {snap.as_of}")
        if until is not None and until < snap.as_of:
            raise RefusedError(f"--until {until} is before the book date {snap.as_of}")
        oid = conn.execute(m.Override.__table__.insert().values(
            kind=kind, reason=reason, until=until, created_at=repo.now(), created_by=user, version=1,
            **target).returning(m.Override.id)).scalar_one()
        repo.audit(conn, user, audit_action, account_id=target.get("account_id"), symbol=target.get("symbol"),
                   detail=audit_detail.format(reason=reason),
                   after={"override_id": oid, **({"mode": target["mode"]} if "mode" in target else {}),
                          "until": until, "reason": reason})
    return oid


def add_hold(engine: Engine, account_id: str, until: date | None, reason: str, *,
             user: str | None = None) -> int:
    return _add(engine, kind="HOLD", verb="holding accounts", until=until, reason=reason, user=user,
                exists_stmt=lambda snap_id: select(m.Account.account_id).where(
                    m.Account.snapshot_id == snap_id, m.Account.account_id == account_id),
                missing=f"account {account_id} is not in the book", audit_action="HOLD_ADD",
                audit_detail="{reason}", account_id=account_id)


def add_halt(engine: Engine, symbol: str, until: date | None, reason: str, mode: str = "freeze", *,
             user: str | None = None) -> int:
    symbol = symbol.strip().upper()
    if mode not in HALT_MODES:
        raise RefusedError(f"--mode {mode!r} is not one of {', '.join(HALT_MODES)}")
    return _add(engine, kind="HALT", verb="halting securities", until=until, reason=reason, user=user,
                exists_stmt=lambda snap_id: select(m.Security.symbol).where(
                    m.Security.snapshot_id == snap_id, m.Security.symbol == symbol),
                missing=f"symbol {symbol} is not in the security master", audit_action="HALT_ADD",
                audit_detail=mode + ": {reason}", symbol=symbol, mode=mode)


def end_override(engine: Engine, override_id: int, *, user: str | None = None) -> None:
    user = acting_user(engine, user, "operator")
    t = m.Override.__table__
    with engine.begin() as conn:
        row = conn.execute(select(t).where(t.c.id == override_id)).mappings().first()
        if row is None:
            raise RefusedError(f"override {override_id} does not exist")
        if row["ended_at"] is not None:
            raise RefusedError(f"override {override_id} was already ended by {row['ended_by']}")
        done = conn.execute(update(t).where(t.c.id == override_id, t.c.version == row["version"])
                            .values(ended_at=repo.now(), ended_by=user, version=row["version"] + 1))
        if done.rowcount != 1:
            raise RefusedError(f"override {override_id} was changed by someone else; refresh and retry")
        action = "HOLD_END" if row["kind"] == "HOLD" else "HALT_END"
        repo.audit(conn, user, action, account_id=row["account_id"], symbol=row["symbol"],
                   detail=row["reason"], before={"until": row["until"], "ended_at": None},
                   after={"ended_at": repo.now()})


def overrides_frame(engine_or_conn, on: date | None = None) -> pd.DataFrame:
    """Every override with an ``active`` column for the book date ``on`` (default: latest book)."""
    def read(conn):
        day = on or _book_date(conn)
        df = read_frame(conn, select(m.Override.__table__).order_by(m.Override.id))
        df["active"] = active_on(df, day)
        return df
    if isinstance(engine_or_conn, Engine):
        with engine_or_conn.connect() as conn:
            return read(conn)
    return read(engine_or_conn)


def active_on(df: pd.DataFrame, on: date):
    """bool per override row of :func:`overrides_frame`: in force on the book date ``on``."""
    if not len(df):
        return pd.Series([], dtype=bool)
    until = pd.to_datetime(df["until"])
    return (df["ended_at"].isna() & (until.isna() | (until >= pd.Timestamp(on)))).to_numpy(bool)


def active_overrides(conn, on: date) -> ActiveOverrides:
    return overrides_in_force(overrides_frame(conn, on), on)


def overrides_in_force(df: pd.DataFrame, on: date) -> ActiveOverrides:
    """The overrides of an :func:`overrides_frame` in force on ``on`` (the policy lab reads the
    frame once and asks for each simulated day)."""
    df = df[active_on(df, on)] if len(df) else df
    holds, freeze, hold_acc = {}, {}, {}
    for r in df.itertuples(index=False):
        until = f" until {r.until}" if r.until else ""
        if r.kind == "HOLD":
            holds[r.account_id] = f"{r.reason}{until} (by {r.created_by})"
        elif r.mode == "freeze":
            freeze[r.symbol] = f"{r.reason}{until}"
        else:
            hold_acc[r.symbol] = f"{r.reason}{until}"
    return ActiveOverrides(holds, freeze, hold_acc)
