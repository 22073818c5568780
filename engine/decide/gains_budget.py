"""Capital-gains budgets (issue 23): the year's tax as the tax code nets it, what a lot's gain
or loss is worth given this year's realized gains, and the optimizer's budget row.

* **Netting.** Short-term gains and losses net against each other, long-term likewise; a net
  loss of one kind then offsets a net gain of the other (:func:`year_tax`). A net loss for the
  year costs no tax this year (its deduction and carry-forward are the harvest valuation's
  business, engine/decide/harvest.py).
* **What a lot is worth this year.** With this year's realized gains known
  (``ytd_realized_st`` / ``ytd_realized_lt``), a lot's tax per dollar of gain is the marginal
  tax of :func:`year_tax` in the direction of its gain: a short-term loss that offsets
  short-term gains saves at the short-term rate, a long-term gain realized after a net
  short-term loss costs nothing until the loss is used up (:func:`marginal_rates`). Accounts
  without realized gains this year keep today's terms.
* **The budget** (``gains_budget``, else the tier's default): net realized gains of the
  proposal plus this year's stay within it: one linear row over the lots sold,
  ``sum gain_per_$ x <= allowed``. Mandates that must trade (a restriction sale, a cash
  request due) may exceed it only by what they need: ``allowed`` is the larger of the budget
  left and the least gain the mandates can be met with (restriction sales in full, then the
  cash need from the lots with the least gain per dollar first). Such a proposal is flagged
  ``OVER_BUDGET`` with the amount. A budget already used up leaves the account trading its
  mandates only (no buys, no sale beyond the cash need). Under an advisory policy
  (``[budgets] hard = false``) the row is left out and only the flag is raised.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

__all__ = ["budget_notes", "year_tax", "marginal_rates", "lot_rates", "BudgetRow", "budget_row", "budget_state",
           "account_budgets", "OVER_BUDGET"]

OVER_BUDGET = "OVER_BUDGET"
_EPS = 1e-9


def year_tax(st_gain: float, lt_gain: float, st_rate: float, lt_rate: float) -> float:
    """Tax on a year's net short- and long-term gains, netted as the tax code nets them."""
    if st_gain >= 0 and lt_gain >= 0:
        return st_gain * st_rate + lt_gain * lt_rate
    if st_gain < 0 and lt_gain < 0:
        return 0.0
    if st_gain < 0:  # a net short-term loss offsets the net long-term gain
        return max(lt_gain + st_gain, 0.0) * lt_rate
    return max(st_gain + lt_gain, 0.0) * st_rate  # a net long-term loss offsets short-term gains


def marginal_rates(ytd_st: float, ytd_lt: float, st_rate: float, lt_rate: float) -> dict:
    """Tax per dollar of one more dollar of (kind, direction) given this year's realized gains:
    keys ("ST", +1), ("ST", -1), ("LT", +1), ("LT", -1); a loss's rate is what it saves (>= 0)."""
    base = year_tax(ytd_st, ytd_lt, st_rate, lt_rate)
    out = {}
    for kind in ("ST", "LT"):
        for sign in (1, -1):
            d = 1.0 * sign
            st, lt = (ytd_st + d, ytd_lt) if kind == "ST" else (ytd_st, ytd_lt + d)
            out[(kind, sign)] = abs(year_tax(st, lt, st_rate, lt_rate) - base)
    return out


def lot_rates(short: np.ndarray, loss: np.ndarray, ytd_st: float, ytd_lt: float, st_rate: float,
              lt_rate: float) -> tuple[np.ndarray, np.ndarray]:
    """Per-lot (st_rate, lt_rate) arrays for ``optimizer.lot_terms`` that price each lot at its
    marginal rate this year. A loss that saves nothing this year (the year is at a net loss
    already) keeps the account's rates: its value is the harvest valuation's (carry-forward)."""
    m = marginal_rates(ytd_st, ytd_lt, st_rate, lt_rate)
    short = np.asarray(short, dtype=bool)
    loss = np.asarray(loss, dtype=bool)
    st = np.full(len(short), float(st_rate))
    lt = np.full(len(short), float(lt_rate))
    st_m = np.where(loss, m[("ST", -1)], m[("ST", 1)])
    lt_m = np.where(loss, m[("LT", -1)], m[("LT", 1)])
    keep = loss & (np.where(short, st_m, lt_m) <= 0)
    st = np.where(short & ~keep, st_m, st)
    lt = np.where(~short & ~keep, lt_m, lt)
    return st, lt


@dataclass(frozen=True)
class BudgetRow:
    """The optimizer's budget constraint on one account (fractions of V)."""
    coef: np.ndarray  # gain per $ sold, per QP lot bucket
    allowed: float  # upper bound of sum coef * x
    exhausted: bool  # the budget was used up before the proposal: mandates only
    mandate_gain: float  # least gain ($) the mandates can be met with


def budget_row(gain_ps: np.ndarray, b_val: np.ndarray, b_must: np.ndarray | None, need: float,
               kappa: float, V: float, budget: float, ytd: float) -> BudgetRow:
    """``gain_ps``, ``b_val``: gain per $ sold and value (fraction of V) of each sellable bucket;
    ``need``: cash to raise (fraction of V, before restriction sales' proceeds)."""
    must = np.zeros(len(b_val), bool) if b_must is None else np.asarray(b_must, bool)
    must_gain = float(gain_ps[must] @ b_val[must])
    need = need - (1 - kappa) * float(_sum(b_val[must]))
    cash_gain = 0.0
    if need > _EPS:  # the cheapest gain that raises the need: least gain per $ first
        free = np.flatnonzero(~must)
        order = free[np.argsort(gain_ps[free], kind="stable")]
        got = np.cumsum(b_val[order]) * (1 - kappa)
        k = int(np.searchsorted(got, need - _EPS))
        take = b_val[order].copy()
        if k < len(order):
            prev = got[k - 1] if k else 0.0
            take[k] = (need - prev) / (1 - kappa)
            take[k + 1:] = 0.0
        cash_gain = float(gain_ps[order] @ take)
    mandate = must_gain + cash_gain
    room = (budget - ytd) / V
    exhausted = room <= _EPS
    allowed = max(room, mandate) if not exhausted else max(mandate, 0.0)
    return BudgetRow(np.asarray(gain_ps, float), allowed + 1e-9, exhausted, mandate * V)


def _sum(a) -> float:
    return float(np.add.reduce(a)) if len(a) else 0.0


def budget_state(budget: float, ytd_st: float, ytd_lt: float, realized: float) -> dict:
    """Budget used and left after a proposal realizing ``realized`` net gains ($)."""
    if not math.isfinite(budget):
        return {}
    used = ytd_st + ytd_lt + realized
    return {"gains_budget": budget, "budget_used": used, "budget_left": budget - used,
            "over_budget": max(used - budget, 0.0)}


def account_budgets(acc: pd.DataFrame, tier_budgets: dict[str, float | None]) -> pd.DataFrame:
    """Per account: gains_budget (its own, else its tier's default; NaN = none; only taxable
    accounts), ytd_realized_st, ytd_realized_lt (blank = 0)."""
    n = len(acc)

    def col(name):
        return pd.to_numeric(acc[name], errors="coerce").to_numpy(float) if name in acc else np.full(n, np.nan)

    own = col("gains_budget")
    tier = acc["tier"].map(lambda t: tier_budgets.get(t)).to_numpy(object) if "tier" in acc else [None] * n
    tier = np.array([np.nan if v is None else float(v) for v in tier], dtype=float)
    budget = np.where(np.isfinite(own), own, tier)
    taxable = acc["taxable"].to_numpy(bool) if "taxable" in acc else np.zeros(n, bool)
    budget = np.where(taxable, budget, np.nan)
    return pd.DataFrame({"account_id": acc["account_id"].to_numpy(object), "gains_budget": budget,
                         "ytd_realized_st": np.nan_to_num(col("ytd_realized_st")),
                         "ytd_realized_lt": np.nan_to_num(col("ytd_realized_lt"))})


def budget_notes(detail: dict, reasons: list[str], r, cash_flow: bool) -> None:
    """A proposal's budget and trading mode in its detail (Proposals, report) and, when it is
    over its budget, why (reasons)."""
    detail["trading_mode"] = "cash_flow" if cash_flow else "full"
    b = r.budget
    if not b:
        return
    detail["budget"] = b
    if b["over_budget"] > 0.5:
        if b["gains_budget"] - b["budget_used"] + (r.realized_gain if r.trades else 0.0) <= 0:
            why = "already used by this year's realized gains; trading its mandates only"
        else:
            why = "the mandates (restriction sales, cash due) need it"
        reasons.append(f"{OVER_BUDGET}: ${b['over_budget']:,.0f} over the gains budget of "
                       f"${b['gains_budget']:,.0f} ({why})")


REPORT_COLUMNS = ["trading_mode", "gains_budget", "budget_used", "budget_left", "over_budget", "model_change"]


def report_columns(details) -> pd.DataFrame:
    """The report's budget, trading-mode and model-change columns from the proposals' detail
    (JSON text, or None for accounts not optimized)."""
    import json

    rows = []
    for text in details:
        d = json.loads(text) if isinstance(text, str) and text else {}
        b = d.get("budget") or {}
        rows.append((d.get("trading_mode", ""), *(round(b[k], 2) if k in b else None for k in
                                                  ("gains_budget", "budget_used", "budget_left", "over_budget")),
                     d.get("model_change", "")))
    return pd.DataFrame(rows, columns=REPORT_COLUMNS)


def trim_to_budget(p, allowed: float, buy_sh: np.ndarray, sell_sh: np.ndarray, lot_sh: np.ndarray,
                   min_k: np.ndarray) -> None:
    """After whole shares (a band mandate's sales round up, the cash re-check sells more), take
    back the shares with the most gain per share until the proposal's net gain is within
    ``allowed`` ($), then trim buys (largest first) by the cash no longer raised. Restriction
    sales are never taken back. In place."""
    gain_ps = p.lot_px - p.cost
    excess = float(lot_sh @ gain_ps) - allowed
    if excess <= 1e-6:
        return
    sec = p.lot_sec
    must = p.must_sec[sec] if p.any_must else np.zeros(p.L, bool)
    cand = np.flatnonzero((lot_sh > 0) & (gain_ps > 0) & ~must)
    freed = 0.0
    # never below the cash requirement: what may be sold less is the cash above it plus the buys
    kap = p.kappa
    buys = float(buy_sh @ p.price)
    surplus = p.c0 * p.V + float(sell_sh @ p.price) * (1 - kap) - buys * (1 + kap) - p.creq * p.V
    room = max(surplus + buys * (1 + kap), 0.0) / (1 - kap)
    for lot in cand[np.argsort(-gain_ps[cand], kind="stable")].tolist():
        px = float(p.price[sec[lot]])
        k = int(min(lot_sh[lot], math.ceil(excess / gain_ps[lot] - 1e-9), math.floor((room - freed) / px + 1e-9)))
        if k <= 0:
            continue
        lot_sh[lot] -= k
        sell_sh[sec[lot]] -= k
        excess -= k * gain_ps[lot]
        freed += k * px
        if excess <= 1e-6:
            break
    for s in np.flatnonzero((sell_sh > 0) & (sell_sh < min_k)).tolist():  # under the minimum: none
        if not (p.any_must and p.must_sec[s]) and freed + float(sell_sh[s]) * p.price[s] <= room:
            lots = np.flatnonzero((sec == s) & (lot_sh > 0))
            freed += float(sell_sh[s]) * p.price[s]
            lot_sh[lots] = 0
            sell_sh[s] = 0
    deficit = freed * (1 - p.kappa)
    for s in np.argsort(-(buy_sh * p.price), kind="stable").tolist():
        if deficit <= 1e-6 or buy_sh[s] == 0:
            break
        px = float(p.price[s])
        new = int(buy_sh[s]) - int(math.ceil(deficit / ((1 + p.kappa) * px) - 1e-9))
        if new < min_k[s]:
            new = 0
        deficit -= (buy_sh[s] - new) * px * (1 + p.kappa)
        buy_sh[s] = new
