"""Raise cash from an account tax-minimally: the manual-trade dialog's "Suggest sells" and
``main.py manual ACCOUNT --raise AMOUNT`` (issue 23).

What can be trusted: lots of securities with a usable price, not frozen by a halt, never more
shares per security than the custodian holds less the manual sells already entered and not yet
exported, and no lot sold at a loss whose security was bought within the wash-sale window (the
optimizer's own rule). The target is the amount plus the policy's ``cash_cushion_pct`` (the
book's prices may be stale).

Which lots: for a taxable account, the least tax for the year per dollar raised first (losses
before gains, at this year's marginal rates, engine.decide.gains_budget), then the shares of each
security named again tax-minimally across short- and long-term lots, netted as the tax code nets
them (engine.book.lot_choice.name_lots); for a tax-exempt one, the largest holdings first (fewest
lines). The suggestion is only filled in: the operator edits it and enters it as usual.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import date, timedelta

import numpy as np
import pandas as pd
from sqlalchemy import Engine, select

from engine.decide.gains_budget import marginal_rates
from engine.book.lot_choice import name_lots, year_tax_v
from engine.desk.manual import ManualTrade
from engine.core.tasks import RefusedError
from storage import models as m
from storage.bulk import read_frame

__all__ = ["RaisePlan", "plan_raise", "suggest_sells"]


@dataclass
class RaisePlan:
    amount: float
    target: float  # amount x (1 + cushion)
    cushion_pct: float
    lines: pd.DataFrame  # symbol, lot_id, shares, price, value, gain, term
    left_out: list[str] = field(default_factory=list)  # what could not be used, and why

    @property
    def raised(self) -> float:
        return float(self.lines["value"].sum()) if len(self.lines) else 0.0

    @property
    def short(self) -> float:
        return max(self.target - self.raised, 0.0)

    def trades(self) -> list[ManualTrade]:
        return [ManualTrade(r.symbol, "SELL", int(r.shares), r.lot_id) for r in self.lines.itertuples(index=False)]

    def tax(self, st_rate: float, lt_rate: float, ytd_st: float = 0.0, ytd_lt: float = 0.0) -> float:
        """The year's tax these sells add (netted with this year's realized gains)."""
        if not len(self.lines):
            return 0.0
        st = float(self.lines.loc[self.lines["term"] == "ST", "gain"].sum())
        lt = float(self.lines.loc[self.lines["term"] == "LT", "gain"].sum())
        return float(year_tax_v(ytd_st + st, ytd_lt + lt, st_rate, lt_rate)
                     - year_tax_v(ytd_st, ytd_lt, st_rate, lt_rate))


def plan_raise(amount: float, lots: pd.DataFrame, prices: dict, as_of: date, *, taxable: bool,
               st_rate: float = 0.37, lt_rate: float = 0.20, ytd_st: float = 0.0, ytd_lt: float = 0.0,
               held: dict | None = None, frozen=(), recent_buys=(), cushion_pct: float = 0.0) -> RaisePlan:
    """Pure: sells raising ``amount`` (+ cushion) from ``lots`` (lot_id, symbol, quantity,
    unit_cost, acquired_date). ``held``: most shares to sell per symbol (custodian less pending
    sells; default: the lots); ``frozen``: symbols not to trade; ``recent_buys``: symbols bought
    within the wash-sale window (their loss lots are not sold)."""
    if not (isinstance(amount, (int, float)) and math.isfinite(amount) and amount > 0):
        raise RefusedError(f"amount to raise: {amount!r} is not a positive number of dollars")
    target = float(amount) * (1 + cushion_pct / 100.0)
    left_out: list[str] = []
    df = lots.copy()
    df["symbol"] = df["symbol"].astype(str)
    df["price"] = df["symbol"].map(lambda s: prices.get(s)).astype(float)
    df["whole"] = np.floor(df["quantity"].astype(float).to_numpy() + 1e-9)
    df["unit_cost"] = df["unit_cost"].astype(float)
    df["short"] = (pd.to_datetime(df["acquired_date"]) > pd.Timestamp(as_of - timedelta(days=365))).to_numpy(bool)
    bad_px = ~(df["price"] > 0)
    for s in sorted(set(df.loc[bad_px, "symbol"])):
        left_out.append(f"{s}: no usable price")
    fz = df["symbol"].isin(set(frozen)) & ~bad_px
    for s in sorted(set(df.loc[fz, "symbol"])):
        left_out.append(f"{s}: halted (frozen)")
    wash = df["symbol"].isin(set(recent_buys)) & (df["unit_cost"] > df["price"]) & ~bad_px & ~fz
    for r in df[wash].itertuples(index=False):
        left_out.append(f"{r.symbol} lot {r.lot_id}: at a loss and bought within the wash-sale window")
    df = df[~bad_px & ~fz & ~wash & (df["whole"] > 0)].reset_index(drop=True)
    cap = {s: float(q) for s, q in (held or {}).items()}
    df["gain_ps"] = df["price"] - df["unit_cost"]
    if taxable:  # tax per dollar raised at this year's marginal rates
        mr = marginal_rates(ytd_st, ytd_lt, st_rate, lt_rate)
        rate = np.where(df["short"], np.where(df["gain_ps"] < 0, mr[("ST", -1)], mr[("ST", 1)]),
                        np.where(df["gain_ps"] < 0, mr[("LT", -1)], mr[("LT", 1)]))
        key = rate * (df["gain_ps"] / df["price"]).to_numpy(float)
        key[(df["gain_ps"] < 0).to_numpy(bool)] -= 1e-9  # a loss that saves nothing this year still first
        order = np.lexsort((-df["unit_cost"].to_numpy(), key))
    else:
        order = np.argsort(-(df["whole"] * df["price"]).to_numpy(), kind="stable")
    shares = {}
    got = 0.0
    for i in order.tolist():
        if got >= target - 1e-9:
            break
        r = df.iloc[i]
        room = min(r["whole"], cap.get(r["symbol"], math.inf) - shares.get(r["symbol"], 0))
        if room <= 0:
            continue
        take = min(room, math.ceil((target - got) / r["price"] - 1e-9))
        shares[r["symbol"]] = shares.get(r["symbol"], 0) + int(take)
        got += take * r["price"]
    for s, c in cap.items():
        lot_q = float(df.loc[df["symbol"] == s, "whole"].sum())
        if c < lot_q - 1e-9:
            left_out.append(f"{s}: at most {max(c, 0):,.0f} of {lot_q:,.0f} shares (custodian holding less "
                            "sells already entered)")
    rows = []
    st_run, lt_run = float(ytd_st), float(ytd_lt)
    for s, n in shares.items():  # name each security's lots tax-minimally for the year
        g = df[df["symbol"] == s]
        if taxable:
            take = name_lots(n, g["whole"].to_numpy(), g["unit_cost"].to_numpy(), float(g["price"].iat[0]),
                             g["short"].to_numpy(), st_rate, lt_rate, st_run, lt_run)
        else:
            take = np.zeros(len(g), dtype=np.int64)
            left = n
            for j in np.argsort(-g["unit_cost"].to_numpy(), kind="stable"):
                t = int(min(g["whole"].iat[j], left))
                take[j], left = t, left - t
        for j in np.flatnonzero(take):
            r = g.iloc[j]
            gain = float(take[j] * r["gain_ps"])
            st_run += gain if r["short"] else 0.0
            lt_run += 0.0 if r["short"] else gain
            rows.append({"symbol": s, "lot_id": str(r["lot_id"]), "shares": int(take[j]), "price": float(r["price"]),
                         "value": float(take[j] * r["price"]), "gain": gain, "term": "ST" if r["short"] else "LT"})
    out = pd.DataFrame(rows, columns=["symbol", "lot_id", "shares", "price", "value", "gain", "term"])
    return RaisePlan(float(amount), target, cushion_pct, out, left_out)


def suggest_sells(engine: Engine, account_id: str, amount: float) -> tuple[RaisePlan, dict]:
    """The plan for an account of the latest book (see the module), and the facts it used:
    rates, this year's realized gains, the estimated tax."""
    from engine.desk.manual import _context
    from engine.decide.overrides import active_overrides

    with engine.connect() as conn:
        ctx = _context(conn, account_id)
        as_of = ctx["as_of"]
        policy = ctx["policy"]
        window = as_of - timedelta(days=policy.trading.wash_sale_days)
        tx = read_frame(conn, select(m.Transaction.symbol, m.Transaction.trade_date, m.Transaction.side).where(
            m.Transaction.snapshot_id == ctx["snapshot_id"], m.Transaction.account_id == account_id))
        freeze = set(active_overrides(conn, as_of).freeze)
    acc = ctx["account"]
    lots = ctx["lots"]
    recent = set()
    if len(tx):
        td = pd.to_datetime(tx["trade_date"])
        recent |= set(tx.loc[(tx["side"] == "BUY").to_numpy(bool) & (td >= pd.Timestamp(window)).to_numpy(bool),
                             "symbol"])
    if len(lots):
        recent |= set(lots.loc[(pd.to_datetime(lots["acquired_date"]) >= pd.Timestamp(window)).to_numpy(bool),
                               "symbol"])
    hold = ctx["holdings"]
    pend = ctx["pending"]
    sold = pend[pend["side"] == "SELL"].groupby("symbol")["quantity"].sum() if len(pend) else {}
    held = {s: float(q) - float(sold.get(s, 0.0)) for s, q in zip(hold["symbol"], hold["custodian_qty"])}
    taxable = bool(acc.get("taxable"))
    st_rate = _rate(acc.get("st_rate"), 0.37) if taxable else 0.0
    lt_rate = _rate(acc.get("lt_rate"), 0.20) if taxable else 0.0
    ytd_st = _rate(acc.get("ytd_realized_st"), 0.0)
    ytd_lt = _rate(acc.get("ytd_realized_lt"), 0.0)
    cushion = policy.budget_settings().cash_cushion_pct
    plan = plan_raise(amount, lots, ctx["prices"], as_of, taxable=taxable, st_rate=st_rate, lt_rate=lt_rate,
                      ytd_st=ytd_st, ytd_lt=ytd_lt, held=held, frozen=freeze, recent_buys=recent,
                      cushion_pct=cushion)
    facts = {"taxable": taxable, "st_rate": st_rate, "lt_rate": lt_rate, "ytd_st": ytd_st, "ytd_lt": ytd_lt,
             "tax": plan.tax(st_rate, lt_rate, ytd_st, ytd_lt) if taxable else 0.0}
    return plan, facts


def _rate(v, default: float) -> float:
    try:
        f = float(v)
    except (TypeError, ValueError):
        return default
    return default if not math.isfinite(f) else f


def raise_need(engine: Engine, account_id: str, request_id: str | None) -> float:
    """Dollars still to raise for ``request_id`` (else every listed request of the account):
    the request less the spare cash and the trades already entered for it (the manual-trade
    dialog's arithmetic, engine.desk.manual.ManualCheck)."""
    from engine.desk.manual import check_manual_trades

    return float(check_manual_trades(engine, account_id, [], request_id).short)
