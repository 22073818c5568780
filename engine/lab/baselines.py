"""The naive ways firms rebalance today, as policy-lab variants.

- **band**: any asset class outside its band (the policy's 5/25 rule, the same
  :func:`engine.decide.mandates.account_facts` the engine uses) → trade every holding back to target.
- **calendar**: a full rebalance to target on day 1 and every quarter (63 business days).

Both sell first-in first-out lots, know nothing of taxes or wash sales, and raise the cash a
client request due within the policy's horizon needs (a full rebalance that keeps the request
in cash) — as such firms do. Accounts the engine would suspend for bad data or that a hold
keeps are not traded (bad data stops any rebalancer); restricted securities are never bought
and are sold. Trades of less than the policy's minimum trade size are left out, except a
sale of a whole position the target no longer holds.
"""
from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd

from engine.book.checks import run_checks
from engine.core.frames import holdings, lookup
from engine.decide.mandates import CASH, account_facts
from engine.decide.optimizer import TradeLine
from engine.core.policy import Policy

QUARTER = 63  # business days


def accounts_to_trade(kind: str, day_index: int, facts: pd.DataFrame, blocked: set[str]) -> np.ndarray:
    """The accounts a baseline trades on a day (``day_index`` 0 = day 1)."""
    ok = ~facts["account_id"].isin(blocked).to_numpy(bool)
    cash = facts["cash_shortfall"].to_numpy(float) > 0.005
    if kind == "band":
        trigger = (facts["band_breach"].to_numpy(object) != "") | cash
    elif kind == "calendar":
        trigger = np.full(len(facts), day_index % QUARTER == 0) | cash
    else:
        raise ValueError(f"unknown baseline {kind!r}")
    return facts["account_id"].to_numpy(object)[ok & trigger]


def baseline_trades(kind: str, frames: dict[str, pd.DataFrame], as_of: date, day_index: int, policy: Policy,
                    holds: set[str] = frozenset()) -> dict[str, list[TradeLine]]:
    """The day's trades of baseline ``kind`` ("band" or "calendar")."""
    return baseline_day(kind, frames, as_of, day_index, policy, holds)[0]


def baseline_day(kind: str, frames: dict[str, pd.DataFrame], as_of: date, day_index: int, policy: Policy,
                 holds: set[str] = frozenset()) -> tuple[dict[str, list[TradeLine]], set[str]]:
    """The day's trades of baseline ``kind`` and the accounts it may not trade (suspended for bad
    data or held)."""
    hold = holdings(frames["lots"])
    susp = run_checks(frames, as_of, policy, hold)
    facts, extras = account_facts(frames, as_of, policy, set(), hold)
    blocked = set(susp["account_id"]) | set(holds)
    ids = accounts_to_trade(kind, day_index, facts, blocked)
    return rebalance_to_target(frames, facts, extras, ids, policy, reason=kind), blocked


def rebalance_to_target(frames, facts: pd.DataFrame, extras: dict, account_ids, policy: Policy,
                        reason: str = "band") -> dict[str, list[TradeLine]]:
    """Full rebalances of ``account_ids`` to their model's weights, FIFO lots."""
    if not len(account_ids):
        return {}
    t = policy.trading
    ids = set(account_ids)
    sec = frames["securities"]
    price = pd.Series(pd.to_numeric(sec["price"], errors="coerce").to_numpy(float),
                      index=sec["symbol"].to_numpy(object))
    f = facts[facts["account_id"].isin(ids)].set_index("account_id")
    # targets: the model's securities, restricted ones left out (the rest scaled up)
    mw = frames["model_weights"]
    mw = mw[mw["symbol"] != CASH][["model_id", "symbol", "weight"]]
    tgt = f[["model_id"]].reset_index().merge(mw, on="model_id")
    rp = extras["restricted"]
    if len(rp):
        bad = pd.MultiIndex.from_frame(rp[["account_id", "symbol"]])
        keep = ~pd.MultiIndex.from_frame(tgt[["account_id", "symbol"]]).isin(bad)
        total = tgt.groupby("account_id")["weight"].transform("sum")
        tgt = tgt[keep]
        kept = tgt.groupby("account_id")["weight"].transform("sum")
        tgt = tgt.assign(weight=tgt["weight"] * total[keep] / kept.where(kept > 0, 1.0))
    value = f["value"].astype(float)
    invest = (value * (1.0 - f["model_cash_w"]) - f["cash_needed"]).clip(lower=0.0) * (1.0 - t.cost_bps / 1e4)
    px_t = lookup(tgt["symbol"], price).astype(float)
    with np.errstate(invalid="ignore", divide="ignore"):
        want = np.floor(tgt["account_id"].map(invest).to_numpy(float) * tgt["weight"].to_numpy(float) / px_t)
    tgt = tgt.assign(target=np.where(np.isfinite(want), want, np.nan))
    lots = frames["lots"]
    lots = lots[lots["account_id"].isin(ids)]
    held = holdings(lots)
    pos = held.merge(tgt[["account_id", "symbol", "target"]], on=["account_id", "symbol"], how="outer")
    pos["quantity"] = pos["quantity"].fillna(0.0)
    pos["price"] = lookup(pos["symbol"], price).astype(float)
    pos = pos[np.isfinite(pos["price"]) & (pos["price"] > 0)]
    pos["target"] = pos["target"].fillna(0.0)
    pos["delta"] = pos["target"] - pos["quantity"]
    small = (pos["delta"].abs() * pos["price"] < t.min_trade_dollars) & ~((pos["target"] == 0) & (pos["quantity"] > 0))
    pos = pos[(pos["delta"].abs() >= 1) & ~small]
    # FIFO lots per (account, symbol)
    lots = lots.sort_values(["account_id", "symbol", "acquired_date", "lot_id"], kind="stable")
    fifo: dict = {}
    for a, s, lid, q in zip(lots["account_id"].tolist(), lots["symbol"].tolist(), lots["lot_id"].tolist(),
                            lots["quantity"].tolist()):
        fifo.setdefault((a, s), []).append((lid, q))
    cash = f["cash"].astype(float)
    out: dict[str, list[TradeLine]] = {}
    for a, g in pos.groupby("account_id", sort=True):
        lines, proceeds = [], 0.0
        for s, d, p in zip(g["symbol"].tolist(), g["delta"].tolist(), g["price"].tolist()):
            if d > 0:
                continue
            want_sell = int(np.floor(-d + 1e-9))
            picked, left = [], want_sell
            for lid, q in fifo.get((a, s), []):
                if left <= 0:
                    break
                take = int(min(np.floor(q + 1e-9), left))
                if take > 0:
                    picked.append((lid, take))
                    left -= take
            n = want_sell - left
            if n > 0:
                lines.append(TradeLine(s, "SELL", n, p, n * p, tuple(picked), reason))
                proceeds += n * p
        buys = [(s, int(np.floor(d + 1e-9)), p) for s, d, p in
                zip(g["symbol"].tolist(), g["delta"].tolist(), g["price"].tolist()) if d > 0]
        fee = lambda v: v * t.cost_bps / 1e4 + t.ticket_cost  # noqa: E731
        avail = cash[a] + proceeds - sum(fee(x.value) for x in lines) - \
            float(f["cash_needed"][a]) - float(f["model_cash_w"][a]) * float(value[a])
        need = sum(n * p + fee(n * p) for _, n, p in buys)
        scale = 1.0 if need <= max(avail, 0.0) or need <= 0 else max(avail, 0.0) / need
        for s, n, p in buys:
            n = int(np.floor(n * scale))
            if n >= 1 and n * p >= t.min_trade_dollars:
                lines.append(TradeLine(s, "BUY", n, p, n * p, (), reason))
        if lines:
            out[a] = lines
    return out
