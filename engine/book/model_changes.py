"""Model changes (issue 23): detected at import, traded under the ``model_change`` mandate kind,
listed on Today and in the report.

* **Detected** when a book is imported, against the book before it: a model whose weights
  differ (a symbol added, removed or reweighted by more than 1e-9) changes for every account
  on it (``weights``); an account whose ``model_id`` differs has moved (``moved``). Each affected
  account gets a row in ``model_changes`` with what a full transition would trade and realize at
  the new book's prices (:func:`full_transition`: the overweight holdings sold down to target,
  lots highest cost first, the tax netted as the tax code nets it; the underweight bought).
* **In transition** while the account's full transition still trades more than
  ``max(min_trade_dollars, 0.5 % of its value)``; the mandate kind ``model_change`` marks it.
  The policy trades it now (``model_change`` in ``mandates.trade_now``) or leaves it to the
  score. Trading now is *phased*: each day realizes at most ``budgets.phase_daily_gains`` of net
  gains (and never more than the account's gains budget), so a transition that would realize
  too much runs over as many days as it needs. A transition's tax weight in the optimizer is
  ``TRANSITION_TAX_WEIGHT``: drift to the new model dominates, the budget bounds the tax.
* **Where it stands**: ``progress`` = 1 - (dollars still to trade / dollars at detection).
"""
from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pandas as pd
from sqlalchemy import Connection, select

from engine.book.lot_choice import year_tax_v
from storage import models as m
from storage import repo
from storage.bulk import insert_frame, read_frame

__all__ = ["detect", "full_transition", "record", "open_changes", "transition_facts", "summary",
           "TRANSITION_TAX_WEIGHT", "WINDOW_DAYS"]

TRANSITION_TAX_WEIGHT = 0.05  # tax dollars count this much against drift in a transition
WINDOW_DAYS = 366  # a change detected longer ago than this is history
DONE_FRACTION = 0.005  # a transition is done when less than this share of the value is left to trade
COLS = ["account_id", "model_id", "old_model_id", "kind"]


def detect(old_accounts: pd.DataFrame, old_weights: pd.DataFrame, accounts: pd.DataFrame,
           weights: pd.DataFrame) -> pd.DataFrame:
    """Accounts whose model changed between two books: DataFrame[account_id, model_id,
    old_model_id, kind] (kind ``moved`` wins over ``weights``)."""
    if not len(old_accounts):
        return pd.DataFrame({c: pd.Series([], dtype=object) for c in COLS})
    ow = old_weights.groupby(["model_id", "symbol"])["weight"].sum()
    nw = weights.groupby(["model_id", "symbol"])["weight"].sum()
    both = pd.concat([ow.rename("old"), nw.rename("new")], axis=1)
    both = both[both.index.get_level_values(0).isin(set(ow.index.get_level_values(0)))]
    diff = both.fillna(0.0)
    changed = set(diff.index[(diff["old"] - diff["new"]).abs() > 1e-9].get_level_values(0))
    prev = old_accounts.set_index("account_id")["model_id"]
    acc = accounts[["account_id", "model_id"]].copy()
    acc["old_model_id"] = acc["account_id"].map(prev)
    known = acc["old_model_id"].notna()
    moved = known & (acc["old_model_id"] != acc["model_id"])
    reweighted = known & ~moved & acc["model_id"].isin(changed)
    out = acc[moved | reweighted].copy()
    out["kind"] = np.where(moved[moved | reweighted], "moved", "weights")
    out.loc[out["kind"] == "weights", "old_model_id"] = None
    return out[COLS].reset_index(drop=True)


def full_transition(accounts: pd.DataFrame, lots: pd.DataFrame, prices: pd.Series, weights: pd.DataFrame,
                    as_of: date) -> pd.DataFrame:
    """Per account of ``accounts`` (account_id, model_id, cash, taxable, st_rate, lt_rate,
    ytd_realized_st/lt optional): value, trade_dollars, est_gain, est_tax of trading straight to
    its model at ``prices`` (overweight sold highest cost first, underweight bought)."""
    acc = accounts[["account_id", "model_id", "cash", "taxable"]].copy()
    acc["cash"] = acc["cash"].astype(float)
    lt = lots[lots["account_id"].isin(set(acc["account_id"]))].copy()
    lt["price"] = lt["symbol"].map(prices).astype(float).fillna(0.0)
    lt["quantity"] = lt["quantity"].astype(float)
    lt["unit_cost"] = lt["unit_cost"].astype(float)
    lt["mv"] = lt["quantity"] * lt["price"]
    value = acc["cash"].to_numpy() + acc["account_id"].map(lt.groupby("account_id")["mv"].sum()).fillna(0.0).to_numpy()
    acc["value"] = value
    held = lt.groupby(["account_id", "symbol"], as_index=False).agg(mv=("mv", "sum"), price=("price", "first"))
    tgt = acc[["account_id", "model_id", "value"]].merge(weights[weights["symbol"] != "CASH"], on="model_id")
    tgt["target"] = tgt["weight"].astype(float) * tgt["value"]
    pos = held.merge(tgt[["account_id", "symbol", "target"]], on=["account_id", "symbol"], how="outer")
    pos[["mv", "target"]] = pos[["mv", "target"]].fillna(0.0)
    delta = pos["target"] - pos["mv"]
    pos["sell"] = np.maximum(-delta, 0.0)
    trade = (np.abs(delta)).groupby(pos["account_id"]).sum()
    acc["trade_dollars"] = acc["account_id"].map(trade).fillna(0.0).to_numpy(float)
    # the lots sold: highest cost first within each holding
    sells = pos[pos["sell"] > 0][["account_id", "symbol", "sell"]]
    lt = lt.merge(sells, on=["account_id", "symbol"])
    acc["est_gain"] = 0.0
    acc["est_tax"] = 0.0
    if len(lt):
        lt = lt.sort_values(["account_id", "symbol", "unit_cost"], ascending=[True, True, False], kind="stable")
        lt["sell_sh"] = lt["sell"] / lt["price"].where(lt["price"] > 0, np.inf)
        cum = lt.groupby(["account_id", "symbol"])["quantity"].cumsum()
        take = np.clip(lt["sell_sh"] - (cum - lt["quantity"]), 0.0, lt["quantity"])
        lt["gain"] = take * (lt["price"] - lt["unit_cost"])
        short = pd.to_datetime(lt["acquired_date"]) > pd.Timestamp(as_of - timedelta(days=365))
        st_g = lt["gain"].where(short, 0.0).groupby(lt["account_id"]).sum()
        lt_g = lt["gain"].where(~short, 0.0).groupby(lt["account_id"]).sum()
        st_gain = acc["account_id"].map(st_g).fillna(0.0).to_numpy(float)
        lt_gain = acc["account_id"].map(lt_g).fillna(0.0).to_numpy(float)
        taxable = acc["taxable"].to_numpy(bool)
        st_rate = np.where(taxable, pd.to_numeric(accounts["st_rate"], errors="coerce").fillna(0.37).to_numpy(), 0.0)
        lt_rate = np.where(taxable, pd.to_numeric(accounts["lt_rate"], errors="coerce").fillna(0.20).to_numpy(), 0.0)
        acc["est_gain"] = st_gain + lt_gain
        acc["est_tax"] = [float(year_tax_v(s, lg, sr, lr)) for s, lg, sr, lr in zip(st_gain, lt_gain, st_rate, lt_rate)]
    return acc[["account_id", "value", "trade_dollars", "est_gain", "est_tax"]]


def record(conn: Connection, snapshot_id: int, previous_id: int | None, frames: dict, as_of: date) -> int:
    """At import (the caller's transaction): detect the model changes of the new book against
    ``previous_id`` and write them. Returns how many accounts changed model."""
    from storage import repo

    if previous_id is None:
        return 0
    old = repo.read_book_frames(conn, previous_id, tables=("accounts", "model_weights"))
    ch = detect(old["accounts"], old["model_weights"], frames["accounts"], frames["model_weights"])
    if not len(ch):
        return 0
    acc = frames["accounts"][frames["accounts"]["account_id"].isin(set(ch["account_id"]))]
    prices = frames["securities"].set_index("symbol")["price"].astype(float)
    ft = full_transition(acc, frames["lots"], prices, frames["model_weights"], as_of)
    ch = ch.merge(ft, on="account_id", how="left")
    ch.insert(0, "snapshot_id", snapshot_id)
    insert_frame(conn, m.ModelChange.__table__,
                 ch[["snapshot_id", *COLS, "trade_dollars", "est_gain", "est_tax"]].fillna(
                     {"trade_dollars": 0.0, "est_gain": 0.0, "est_tax": 0.0}))
    return len(ch)


def open_changes(conn: Connection, as_of: date) -> pd.DataFrame:
    """The latest model change of each account detected within ``WINDOW_DAYS`` of ``as_of``:
    account_id, model_id, old_model_id, kind, since (as_of of its book), trade_dollars, est_gain,
    est_tax (at detection)."""
    mc, s = m.ModelChange.__table__, m.BookSnapshot.__table__
    df = read_frame(conn, select(mc.c.account_id, mc.c.model_id, mc.c.old_model_id, mc.c.kind, mc.c.trade_dollars,
                                 mc.c.est_gain, mc.c.est_tax, mc.c.snapshot_id, s.c.as_of.label("since"))
                    .select_from(mc.join(s, s.c.id == mc.c.snapshot_id))
                    .where(s.c.as_of >= as_of - timedelta(days=WINDOW_DAYS)).order_by(mc.c.id))
    return df.drop_duplicates("account_id", keep="last").reset_index(drop=True)


def transition_facts(acc: pd.DataFrame, frames: dict, as_of: date, min_trade: float) -> pd.DataFrame:
    """For the accounts of ``acc`` with an open model change (``frames["model_changes"]``): whether
    they are still in transition, what is left to trade, and the progress; one row per such account."""
    ch = frames.get("model_changes")
    if ch is None or not len(ch):
        return pd.DataFrame({"account_id": pd.Series([], dtype=object)})
    ch = ch[ch["account_id"].isin(set(acc["account_id"]))]
    ch = ch.merge(acc[["account_id", "model_id"]], on=["account_id", "model_id"])  # moved on since: not this one
    if not len(ch):
        return pd.DataFrame({"account_id": pd.Series([], dtype=object)})
    a = acc[acc["account_id"].isin(set(ch["account_id"]))]
    prices = frames["securities"].set_index("symbol")["price"].astype(float)
    now = full_transition(a, frames["lots"], prices, frames["model_weights"], as_of)
    out = ch.merge(now.rename(columns={"trade_dollars": "left_dollars", "est_gain": "left_gain",
                                       "est_tax": "left_tax"}), on="account_id")
    out["in_transition"] = out["left_dollars"] > np.maximum(min_trade, DONE_FRACTION * out["value"])
    start = out["trade_dollars"].astype(float)
    out["progress"] = np.where(start > 0, 1.0 - np.minimum(out["left_dollars"] / start.where(start > 0, 1.0), 1.0),
                               1.0)
    return out


def describe(row) -> str:
    """Where an account stands in its transition, in words (report, Proposals)."""
    what = (f"moved from {row['old_model_id']} to {row['model_id']}" if row.get("kind") == "moved"
            else f"{row['model_id']} weights changed")
    if not row.get("in_transition"):
        return f"{what} on {row['since']}: transition done"
    return (f"{what} on {row['since']}: {row['progress']:.0%} traded before today, ${row['left_dollars']:,.0f} left to trade "
            f"(est. gain ${row['left_gain']:,.0f}, tax ${row['left_tax']:,.0f})")


def summary(conn: Connection) -> pd.DataFrame:
    """Today's list: one row per model change of the latest book's window (model, kind, since,
    accounts affected, accounts still in transition, dollars and estimated tax of a full
    transition at detection, and the gains and tax the accounts' budgets allow)."""
    from storage import repo

    snap = repo.snapshot_info(conn)
    if snap is None:
        return pd.DataFrame()
    ch = open_changes(conn, snap.as_of)
    if not len(ch):
        return pd.DataFrame(columns=["model_id", "kind", "since", "accounts", "in_transition", "trade_dollars",
                                     "est_gain", "est_tax", "within_budget_gain", "within_budget_tax"])
    a = m.Account.__table__
    bud = read_frame(conn, select(a.c.account_id, a.c.gains_budget, a.c.ytd_realized_st, a.c.ytd_realized_lt)
                     .where(a.c.snapshot_id == snap.id, a.c.account_id.in_(ch["account_id"].tolist())))
    ch = ch.merge(bud, on="account_id", how="left")
    room = (pd.to_numeric(ch["gains_budget"], errors="coerce")
            - pd.to_numeric(ch["ytd_realized_st"], errors="coerce").fillna(0.0)
            - pd.to_numeric(ch["ytd_realized_lt"], errors="coerce").fillna(0.0))
    gain = ch["est_gain"].astype(float)
    fit = np.where(room.isna(), gain, np.minimum(gain, np.maximum(room.fillna(0.0), 0.0)))
    ch["within_budget_gain"] = np.where(gain > 0, fit, gain)
    ch["within_budget_tax"] = np.where(gain > 0, ch["est_tax"] * ch["within_budget_gain"] / gain.where(gain > 0, 1.0),
                                       ch["est_tax"])
    prop = _in_transition(conn, ch["account_id"].tolist())
    ch["in_transition"] = ch["account_id"].isin(prop)
    ch["label"] = np.where(ch["kind"] == "moved", "moved from " + ch["old_model_id"].fillna("?").astype(str),
                           "weights changed")
    g = ch.groupby(["model_id", "label", "since"], as_index=False).agg(
        accounts=("account_id", "count"), in_transition=("in_transition", "sum"),
        trade_dollars=("trade_dollars", "sum"), est_gain=("est_gain", "sum"), est_tax=("est_tax", "sum"),
        within_budget_gain=("within_budget_gain", "sum"), within_budget_tax=("within_budget_tax", "sum"))
    return g.rename(columns={"label": "kind"}).sort_values(["since", "model_id"], ascending=[False, True])


def _in_transition(conn: Connection, accounts: list[str]) -> set:
    """Accounts whose latest run marks them with the model_change mandate kind."""
    run_id = repo.latest_run_id(conn)
    if run_id is None or not accounts:
        return set()
    p = m.Proposal.__table__
    rows = conn.execute(select(p.c.account_id).where(p.c.run_id == run_id, p.c.mandates.like("%model_change%")))
    return {r[0] for r in rows}


def mark_transitions(facts: pd.DataFrame, frames: dict, as_of: date, policy) -> dict[str, str]:
    """In ``facts`` (engine.decide.mandates.account_facts, changed in place): the ``model_change``
    mandate kind for the accounts in transition, and their optimizer fields (``tax_weight``,
    ``gains_cap`` when the policy trades the kind now and phases it). Returns {account: where it
    stands, in words} for every account with an open model change."""
    tf = transition_facts(facts, frames, as_of, policy.trading.min_trade_dollars)
    if not len(tf):
        return {}
    words = {r["account_id"]: describe(r) for r in tf.to_dict("records")}
    moving = set(tf.loc[tf["in_transition"], "account_id"])
    if not moving:
        return words
    ids = facts["account_id"].to_numpy(object)
    on = np.isin(ids, list(moving))
    kinds = facts["mandates"].to_numpy(object).copy()
    for i in np.flatnonzero(on):
        kinds[i] = ";".join([k for k in str(kinds[i]).split(";") if k] + ["model_change"])
    facts["mandates"] = kinds
    now = "model_change" in policy.mandates.trade_now
    facts["mandate_now"] = facts["mandate_now"].to_numpy(bool) | (on & now)
    weight = np.ones(len(facts))
    weight[on] = TRANSITION_TAX_WEIGHT
    facts["tax_weight"] = weight
    daily = policy.budget_settings().phase_daily_gains
    cap = np.full(len(facts), np.nan)
    if now and daily > 0:
        cap[on] = daily
    facts["gains_cap"] = cap
    return words


def today_frame(engine) -> pd.DataFrame:
    """:func:`summary` for the Today panel (one connection)."""
    with engine.connect() as conn:
        return summary(conn)
