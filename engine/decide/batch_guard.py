"""No account traded twice on one book: an account's trades of one book snapshot go out in at most
one batch, whatever the interleaving of runs, approvals, edits and exports on several workstations.

Two checks, both under the export lock (``repo.take_lock(conn, "export", ...)``):

- the export never selects a proposed trade of an account that already has a trade of the same
  snapshot in a batch (manual trades are deliberate and go) (:func:`not_in_earlier_batch`); such trades are kept back with the reason
  ``PENDING_EXECUTION: already in batch X`` (:func:`kept_back`);
- a run re-reads the exported accounts inside its write transaction (:func:`hold_late_exports`):
  an account exported while the run was deciding is ``HELD`` (``PENDING_EXECUTION``) and its
  proposed trades are not stored, as if the run had started after the export.
"""
from __future__ import annotations

import pandas as pd
from sqlalchemy import delete, exists, func, or_, select, update
from sqlalchemy.orm import aliased

from storage import models as m
from storage import repo
from storage.bulk import in_chunks, read_frame

T = m.Trade.__table__
PENDING = "PENDING_EXECUTION"


def exported_accounts(conn, snapshot_id: int) -> set[str]:
    """Accounts with a trade of this snapshot in a batch."""
    return set(r[0] for r in conn.execute(select(T.c.account_id).distinct().where(
        T.c.snapshot_id == snapshot_id, T.c.batch_id.is_not(None))))


def _earlier():
    return aliased(m.Trade.__table__, name="earlier")


def not_in_earlier_batch():
    """Condition on trades: a manual trade (entered deliberately by a user, e.g. an urgent
    cash-out after the account's proposal went out), or a proposed trade of an account no trade
    of which on the same snapshot is in a batch yet."""
    e = _earlier()
    return or_(T.c.proposal_id.is_(None),
               ~exists(select(e.c.id).where(e.c.account_id == T.c.account_id, e.c.snapshot_id == T.c.snapshot_id,
                                            e.c.batch_id.is_not(None))))


def kept_back(conn, selected) -> pd.DataFrame:
    """Trades the ``selected`` condition picks but an earlier batch of their account and book keeps
    back: account_id, trade ids, and the reason naming the batch."""
    e = _earlier()
    first = (select(func.min(e.c.batch_id)).where(e.c.account_id == T.c.account_id,
                                                  e.c.snapshot_id == T.c.snapshot_id, e.c.batch_id.is_not(None))
             .scalar_subquery())
    rows = read_frame(conn, select(T.c.id, T.c.account_id, first.label("batch_id"))
                      .where(selected, ~not_in_earlier_batch()).order_by(T.c.account_id, T.c.id))
    if not len(rows):
        return pd.DataFrame(columns=["account_id", "trade_ids", "reason"])
    g = rows.groupby("account_id", sort=True).agg(trade_ids=("id", list), batch_id=("batch_id", "first"))
    g["reason"] = PENDING + ": already in batch " + g["batch_id"].astype(str)
    return g.reset_index()[["account_id", "trade_ids", "reason"]]


def describe_kept_back(kept: pd.DataFrame, limit: int = 10) -> str:
    """``3 trade(s) of 1 account kept back: A1 (PENDING_EXECUTION: already in batch B...)``."""
    n = int(kept["trade_ids"].map(len).sum())
    named = "; ".join(f"{a} ({r})" for a, r in zip(kept["account_id"][:limit], kept["reason"][:limit]))
    more = f"; and {len(kept) - limit:,} more account(s)" if len(kept) > limit else ""
    return f"{n:,} trade(s) of {len(kept):,} account(s) kept back: {named}{more}"


def hold_late_exports(conn, run_id: int, snapshot_id: int, known: set[str], summary: dict,
                      props: pd.DataFrame, user: str) -> set[str]:
    """Inside a run's write transaction: take the export lock (no export commits until the run
    does), re-read the accounts exported on this snapshot, and make every account exported since
    the run loaded ``known`` that the run would trade ``HELD`` with ``PENDING_EXECUTION``: its
    proposed trades are deleted, its proposal, ``summary`` and ``props`` say so. Returns those
    accounts."""
    repo.take_lock(conn, "export", user)
    late = exported_accounts(conn, snapshot_id) - set(known)
    if not late:
        return set()
    P = m.Proposal.__table__
    rows = pd.concat([read_frame(conn, select(P.c.id, P.c.account_id, P.c.category, P.c.tier, P.c.review,
                                              P.c.reasons)
                                 .where(P.c.run_id == run_id, P.c.account_id.in_(chunk),
                                        P.c.category.in_(["MANDATE", "SCORE"])))
                      for chunk in in_chunks(sorted(late))], ignore_index=True)
    if not len(rows):
        return set()
    batches = dict(conn.execute(select(T.c.account_id, func.min(T.c.batch_id)).where(
        T.c.snapshot_id == snapshot_id, T.c.batch_id.is_not(None),
        T.c.account_id.in_(rows["account_id"].tolist())).group_by(T.c.account_id)).all())
    n_trades = 0
    for pid, acc, cat, tier, rev, reasons in rows.itertuples(index=False, name=None):
        why = f"{PENDING}: in batch {batches.get(acc)}, exported while this run was deciding"
        new = ";".join(x for x in [reasons, why] if x)
        n_trades += conn.execute(delete(T).where(T.c.proposal_id == int(pid))).rowcount
        conn.execute(update(P).where(P.c.id == int(pid)).values(
            category="HELD", status="NONE", review="none", reasons=new, decided_by=None, decided_at=None))
        summary["categories"][cat] -= 1
        summary["categories"]["HELD"] += 1
        if tier in summary.get("tiers", {}):
            summary["tiers"][tier][cat] -= 1
            summary["tiers"][tier]["HELD"] += 1
        if rev in summary.get("review", {}):
            summary["review"][rev] -= 1
        at = props.index[props["account_id"] == acc]
        props.loc[at, ["category", "status", "review", "reasons"]] = ["HELD", "NONE", "none", new]
    summary["trades"] -= n_trades
    summary["held_after_export"] = sorted(rows["account_id"])
    repo.audit(conn, user, "RUN_PENDING_EXECUTION",
               detail=f"run {run_id}: {len(rows):,} account(s) exported while the run was deciding are held "
                      f"({PENDING}): {', '.join(sorted(rows['account_id'])[:20])}",
               after={"run_id": run_id, "accounts": sorted(rows["account_id"]), "trades_dropped": n_trades})
    return set(rows["account_id"])
