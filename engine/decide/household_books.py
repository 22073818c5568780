"""What a household's wash-sale state needs from the database beyond one account's rows: the
members of an account's household in a snapshot, and the members the previous book listed and
this one does not (the run, engine.decide.workflow, and re-scoring an edited proposal,
engine.decide.rescore, read them the same way)."""
from __future__ import annotations

import pandas as pd
from sqlalchemy import select

from storage import models as m
from storage.bulk import read_frame


def household_members(conn, snapshot_id: int, account_id: str) -> list[str]:
    """The accounts of ``account_id``'s household in the snapshot, itself first (only itself when
    its ``household_id`` is blank)."""
    a = m.Account.__table__
    hid = conn.execute(select(a.c.household_id).where(a.c.snapshot_id == snapshot_id,
                                                      a.c.account_id == account_id)).scalar()
    if hid is None or not str(hid).strip():
        return [account_id]
    others = conn.execute(select(a.c.account_id).where(a.c.snapshot_id == snapshot_id, a.c.household_id == hid,
                                                       a.c.account_id != account_id)).scalars().all()
    return [account_id] + sorted(others)


def household_last_good(conn, snapshot_id: int, accounts: pd.DataFrame) -> pd.DataFrame:
    """Household members the previous book listed and this one does not, with what they held
    there: DataFrame[account_id, household_id, symbol] (engine.decide.household_wash's coverage)."""
    empty = pd.DataFrame({"account_id": [], "household_id": [], "symbol": []}, dtype=object)
    hh = accounts["household_id"].dropna() if "household_id" in accounts else pd.Series([], dtype=object)
    if not len(hh):
        return empty
    s, a, lt = m.BookSnapshot.__table__, m.Account.__table__, m.Lot.__table__
    prev = conn.execute(select(s.c.id).where(s.c.id < snapshot_id).order_by(s.c.id.desc()).limit(1)).scalar()
    if prev is None:
        return empty
    members = read_frame(conn, select(a.c.account_id, a.c.household_id).where(
        a.c.snapshot_id == prev, a.c.household_id.in_(sorted(set(hh.astype(str))))))
    members = members[~members["account_id"].isin(set(accounts["account_id"]))]
    if not len(members):
        return empty
    held = read_frame(conn, select(lt.c.account_id, lt.c.symbol).where(
        lt.c.snapshot_id == prev, lt.c.account_id.in_(members["account_id"].tolist())).distinct())
    out = members.merge(held, on="account_id", how="left")
    return out[["account_id", "household_id", "symbol"]].astype(object)
