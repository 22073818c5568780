"""Cash owed to clients: which listed cash requests are cash needs, and their states.

A cash request is owed for as long as the book lists it (CONTRACT.md, cash_requests.csv): the
custodian has not wired it yet. Its states: ``open`` → ``handling`` (manual trades were entered
for it) → ``sent`` (its trades are in a batch) → ``paid`` (a newer imported book no longer lists
it). While listed, whatever its state, its amount is a cash need: the optimizer keeps cash ≥
model cash + the owed requests and never buys with that cash, and the cash already in the
account covers it (nothing is raised twice).

Which listed requests count: those due within the policy's cash horizon, and those whose cash
was already raised or is being raised (``handling``, ``sent``) whatever their due date — once
raised, the cash stays reserved until the custodian pays the client.
"""
from __future__ import annotations

from collections.abc import Mapping
from datetime import date, timedelta

import numpy as np
import pandas as pd
from sqlalchemy import and_, insert, or_, select

from storage import models as m
from storage import repo
from storage.bulk import in_chunks, read_frame
from storage.columnar import text_in

OPEN, HANDLING, SENT, PAID = "open", "handling", "sent", "paid"
RAISED = (HANDLING, SENT)  # cash raised (or being raised) for it: reserved whatever its due date
CS = m.CashRequestState.__table__
CR = m.CashRequest.__table__
T = m.Trade.__table__


def with_status(requests: pd.DataFrame, states: Mapping[str, str] | None) -> pd.Series:
    """The state of each listed request (``open`` when it has none yet). A listed request is
    owed whatever its recorded state: one recorded ``paid`` and listed again is ``open``."""
    status = requests["request_id"].map(dict(states or {})).astype(object)
    status = status.where(status.notna(), OPEN)
    return status.where(status != PAID, OPEN)


def owed_mask(requests: pd.DataFrame, states: Mapping[str, str] | None, as_of: date,
              horizon_days: int) -> np.ndarray:
    """bool per listed request: is it a cash need now (due within the horizon, or its cash was
    already raised or is being raised)?"""
    if not len(requests):
        return np.zeros(0, bool)
    horizon = pd.Timestamp(as_of + timedelta(days=int(horizon_days)))
    due = (pd.to_datetime(requests["due_date"]) <= horizon).to_numpy(bool)
    return due | with_status(requests, states).isin(RAISED).to_numpy(bool)


def request_states(conn, request_ids=None, *, snapshot_id: int | None = None) -> dict[str, str]:
    """{request_id: status} of the requests that have a recorded state: the given ones, those a
    book snapshot lists, or all."""
    if snapshot_id is not None:
        listed = select(CR.c.request_id).where(CR.c.snapshot_id == snapshot_id)
        return dict(conn.execute(select(CS.c.request_id, CS.c.status).where(CS.c.request_id.in_(listed))).all())
    if request_ids is None:
        return dict(conn.execute(select(CS.c.request_id, CS.c.status)).all())
    out: dict[str, str] = {}
    for part in in_chunks(list(request_ids)):
        out.update(conn.execute(select(CS.c.request_id, CS.c.status).where(CS.c.request_id.in_(part))).all())
    return out


def entered_trades(conn, snapshot_id: int, account_ids=None) -> pd.DataFrame:
    """Trades entered for accounts whose cash the book does not show yet: manual trades awaiting
    approval or export, and any trade exported against this book snapshot (a newer book shows
    it executed). DataFrame[account_id, side, est_value, status, batch_id, cash] where ``cash``
    is the estimated cash the trade brings (sells +, buys −)."""
    which = or_(and_(T.c.category == "MANUAL", T.c.batch_id.is_(None),
                     T.c.status.in_(["APPROVED", "PENDING_APPROVAL"])),
                and_(T.c.batch_id.is_not(None), T.c.snapshot_id == snapshot_id))
    cols = (T.c.account_id, T.c.side, T.c.est_value, T.c.status, T.c.batch_id)
    if account_ids is None:
        df = read_frame(conn, select(*cols).where(which))
    else:
        parts = [read_frame(conn, select(*cols).where(which, T.c.account_id.in_(p)))
                 for p in in_chunks(list(account_ids))]
        df = pd.concat(parts, ignore_index=True) if parts else read_frame(conn, select(*cols).where(T.c.id < 0))
    sign = np.where(df["side"].astype(object).to_numpy() == "SELL", 1.0, -1.0) if len(df) else np.zeros(0)
    df["cash"] = pd.to_numeric(df["est_value"], errors="coerce").fillna(0.0).to_numpy(float) * sign
    return df


def entered_cash(conn, snapshot_id: int, account_ids=None, *, unexported_only: bool = False) -> pd.Series:
    """Net estimated cash of :func:`entered_trades` per account (``unexported_only``: the manual
    trades not yet in a batch)."""
    df = entered_trades(conn, snapshot_id, account_ids)
    if unexported_only and len(df):
        df = df[df["batch_id"].isna()]
    return df.groupby("account_id")["cash"].sum() if len(df) else pd.Series(dtype=float)


def set_state(conn, request_id: str, account_id: str, status: str, user: str, batch_id=None) -> None:
    exists = conn.execute(select(CS.c.request_id).where(CS.c.request_id == request_id)).first()
    values = {"status": status, "updated_at": repo.now(), "updated_by": user, "batch_id": batch_id}
    if exists:
        conn.execute(CS.update().where(CS.c.request_id == request_id).values(**values))
    else:
        conn.execute(insert(CS).values(request_id=request_id, account_id=account_id, **values))


def mark_sent(conn, trades: pd.DataFrame, batch_id: str, user: str, horizon_days: int) -> list[str]:
    """Inside an export's transaction: the owed requests of the batch's accounts that the
    account's cash plus the batch's net cash covers (earliest due first, after the requests
    already sent) become ``sent``, audited. Their cash stays reserved until a newer book no
    longer lists them. Returns the request ids marked."""
    snap = repo.snapshot_info(conn)
    accounts = trades["account_id"].unique().tolist()
    # one query, the accounts as one parameter (storage.columnar.text_in), not one per 5,000
    req = read_frame(conn, select(CR.c.request_id, CR.c.account_id, CR.c.amount, CR.c.due_date)
                     .where(CR.c.snapshot_id == snap.id, text_in(conn, CR.c.account_id, accounts))) \
        if accounts else pd.DataFrame()
    if not len(req):
        return []
    states = request_states(conn, req["request_id"].tolist())
    req["status"] = with_status(req, states).to_numpy(object)
    owed = owed_mask(req, states, snap.as_of, horizon_days)
    req = req[owed]
    sign = trades["side"].map({"SELL": 1.0, "BUY": -1.0})
    raised = (trades["est_value"].fillna(0.0) * sign).groupby(trades["account_id"]).sum()
    cash = {}
    for p in in_chunks(accounts):
        cash.update(conn.execute(select(m.Account.account_id, m.Account.cash).where(
            m.Account.snapshot_id == snap.id, m.Account.account_id.in_(p))).all())
    marked, entries = [], []
    for acc, g in req.sort_values("due_date", kind="stable").groupby("account_id", sort=False):
        avail = float(cash.get(acc, 0.0)) + float(raised.get(acc, 0.0))
        avail -= float(g.loc[g["status"] == SENT, "amount"].sum())  # already reserved
        for rid, amount, status in zip(g["request_id"], g["amount"], g["status"]):
            if status == SENT:
                continue
            if avail + 0.005 >= float(amount):
                avail -= float(amount)
                set_state(conn, rid, acc, SENT, user, batch_id)
                marked.append(rid)
                entries.append(dict(user=user, action="CASH_REQUEST_SENT", account_id=acc,
                                    detail=f"{rid}: ${float(amount):,.2f} raised by batch {batch_id}; reserved "
                                           "until the custodian pays it",
                                    before={"status": status}, after={"status": SENT, "batch_id": batch_id}))
    repo.audit_many(conn, entries)
    return marked


def mark_paid(conn, snapshot_id: int, user: str) -> list[str]:
    """Inside an import's transaction: requests the new book no longer lists are ``paid``
    (audited): those with a recorded state other than paid, and those the previous snapshot
    listed. Returns the request ids marked."""
    listed = set(r[0] for r in conn.execute(select(CR.c.request_id).where(CR.c.snapshot_id == snapshot_id)))
    owed = conn.execute(select(CS.c.request_id, CS.c.account_id, CS.c.status).where(CS.c.status != PAID)).all()
    gone = {rid: (acc, status) for rid, acc, status in owed if rid not in listed}
    amounts: dict[str, float] = {}
    prev = conn.execute(select(m.BookSnapshot.id).where(m.BookSnapshot.id < snapshot_id)
                        .order_by(m.BookSnapshot.id.desc()).limit(1)).scalar()
    if prev is not None:
        dropped = {}
        for rid, acc, amount in conn.execute(select(CR.c.request_id, CR.c.account_id, CR.c.amount)
                                             .where(CR.c.snapshot_id == prev)):
            amounts[rid] = float(amount)
            if rid not in listed and rid not in gone:
                dropped[rid] = acc
        known = request_states(conn, list(dropped))  # paid before (listed again, then dropped again)
        gone.update({rid: (acc, OPEN) for rid, acc in dropped.items() if rid not in known})
    entries = []
    for rid in sorted(gone):
        acc, was = gone[rid]
        amount = amounts.get(rid)
        set_state(conn, rid, acc, PAID, user, None)
        entries.append(dict(user=user, action="CASH_REQUEST_PAID", account_id=acc,
                            detail=f"{rid}" + (f" (${amount:,.2f})" if amount is not None else "")
                                   + f": no longer listed by the book of snapshot {snapshot_id}; its cash is free",
                            before={"status": was}, after={"status": PAID, "snapshot_id": snapshot_id}))
    repo.audit_many(conn, entries)
    return sorted(gone)


def cash_out_states(conn, snapshot_id: int, accounts: pd.DataFrame) -> pd.DataFrame:
    """Where each account's listed cash requests stand, for the Suspended panel.

    ``accounts``: DataFrame[account_id, value]. Returns DataFrame indexed by account_id (accounts
    with listed requests only): ``owed`` (listed requests), ``spare`` (cash above model cash),
    ``entered`` (net cash of trades entered that the book does not show yet), ``covered`` and
    ``cash_out`` (in words: "cash-out entered, awaiting approval", "… awaiting export", "sent,
    awaiting the custodian", "covered by the account's cash", or what is still short)."""
    cols = ["owed", "spare", "entered", "covered", "cash_out"]
    ids = accounts["account_id"].tolist()
    parts = [read_frame(conn, select(CR.c.request_id, CR.c.account_id, CR.c.amount).where(
        CR.c.snapshot_id == snapshot_id, CR.c.account_id.in_(p))) for p in in_chunks(ids)]
    req = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()
    if not len(req):
        return pd.DataFrame({c: pd.Series([], dtype=object) for c in cols})
    req["status"] = with_status(req, request_states(conn, req["request_id"].tolist())).to_numpy(object)
    with_req = sorted(set(req["account_id"]))
    acc = pd.concat([read_frame(conn, select(m.Account.account_id, m.Account.cash, m.Account.model_id).where(
        m.Account.snapshot_id == snapshot_id, m.Account.account_id.in_(p))) for p in in_chunks(with_req)],
        ignore_index=True)
    mw = m.ModelWeight.__table__
    model_cash = dict(conn.execute(select(mw.c.model_id, mw.c.weight).where(
        mw.c.snapshot_id == snapshot_id, mw.c.symbol == "CASH")).all())
    value = accounts.set_index("account_id")["value"].astype(float)
    acc = acc.set_index("account_id")
    spare = acc["cash"].astype(float) - acc["model_id"].map(model_cash).fillna(0.0).astype(float) * \
        value.reindex(acc.index).fillna(0.0)
    ent = entered_trades(conn, snapshot_id, with_req)
    owed = req.groupby("account_id")["amount"].sum().astype(float)
    out = pd.DataFrame({"owed": owed})
    out["spare"] = spare.reindex(out.index).fillna(0.0).clip(lower=0.0)
    out["entered"] = ent.groupby("account_id")["cash"].sum().reindex(out.index).fillna(0.0) if len(ent) else 0.0
    out["covered"] = out["spare"] + out["entered"] + 0.005 >= out["owed"]
    waiting = set(ent.loc[ent["status"] == "PENDING_APPROVAL", "account_id"]) if len(ent) else set()
    unexported = set(ent.loc[ent["batch_id"].isna(), "account_id"]) if len(ent) else set()
    exported = set(ent.loc[ent["batch_id"].notna(), "account_id"]) if len(ent) else set()
    all_sent = req.groupby("account_id")["status"].agg(lambda s: bool((s == SENT).all()))
    words = []
    for a, covered, short, entered in zip(out.index, out["covered"], out["owed"] - out["spare"] - out["entered"],
                                          out["entered"]):
        if covered and a in waiting:
            words.append("cash-out entered, awaiting approval")
        elif covered and a in unexported:
            words.append("cash-out entered, awaiting export")
        elif covered and (a in exported or all_sent.get(a, False)):
            words.append("sent, awaiting the custodian")
        elif covered:
            words.append("covered by the account's cash")
        else:
            words.append(f"${short:,.2f} still to raise" + (f" (trades entered: ${entered:,.2f})" if entered else ""))
    out["cash_out"] = words
    return out[cols]
