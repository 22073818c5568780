"""The optimizer's extra rows for gains budgets and cash-flow trading (engine/decide/gains_budget.py,
engine/decide/cash_flow.py): appended to the QP's inequality rows, or bounds set to zero, before the
first solve. Only accounts with a budget or in cash-flow mode get here."""
from __future__ import annotations

import math

import numpy as np
import scipy.sparse as sp

from engine.decide.cash_flow import may_invest, sell_cap
from engine.decide.gains_budget import budget_row

_EPS = 1e-9


def effective_budget(inp, st) -> float:
    """The net gains the account may have realized this year after this proposal (NaN: none):
    its budget (when the policy's budgets are hard), or this year's gains plus a phased
    transition's daily cap, whichever is less."""
    budget = inp.gains_budget if st.budget_hard else math.nan
    if math.isfinite(inp.gains_cap):
        budget = min(budget if math.isfinite(budget) else math.inf, inp.ytd_st + inp.ytd_lt + max(inp.gains_cap, 0.0))
    return budget if inp.taxable else math.nan


def mandates_only(inp, st) -> bool:
    """Cash-flow trading, or a budget already used up: the account trades its mandates only."""
    if inp.cash_flow:
        return True
    budget = effective_budget(inp, st)
    return math.isfinite(budget) and budget - (inp.ytd_st + inp.ytd_lt) <= 0.005


def cash_requirement(inp, st, c0: float, V: float) -> float:
    """The cash the account must hold after its trades (fraction of V): model cash plus the cash
    requests; an account trading its mandates only raises the requests, never model cash it lacks
    (that would be selling to rebalance)."""
    mc, cn = float(inp.model_cash_w), float(inp.cash_needed) / V
    if (inp.cash_flow or math.isfinite(inp.gains_budget) or math.isfinite(inp.gains_cap)) and mandates_only(inp, st):
        return cn + min(mc, max(c0, 0.0))
    return mc + cn


def applies(inp) -> bool:
    return bool(inp.cash_flow) or (bool(inp.taxable) and (math.isfinite(inp.gains_budget)
                                                          or math.isfinite(inp.gains_cap)))


def apply(p, st, q) -> None:
    """Add the budget row and the cash-flow limits of account ``p`` (optimizer._Prep) to ``q``."""
    inp = p.inp
    B = p.B
    k = p.kappa
    must = p.b_must if p.b_must is not None else np.zeros(B, bool)
    rows: list[tuple[np.ndarray, float]] = []
    exhausted = False
    ytd = inp.ytd_st + inp.ytd_lt
    budget = effective_budget(inp, st)  # a phased transition: at most its daily cap of gains today
    if math.isfinite(budget) and p.b_lot is not None:
        lots = p.b_lot
        gain_ps = 1.0 - p.cost[lots] / p.lot_px[lots]
        # what the mandates must raise: the cash requests beyond the cash above model cash
        need = max(float(inp.cash_needed) / p.V - max(p.c0 - float(inp.model_cash_w), 0.0), 0.0)
        r = budget_row(gain_ps, p.b_val, p.b_must, need, k, p.V, budget, ytd)
        rows.append((r.coef, r.allowed))
        exhausted = r.exhausted
        p.gain_cap = r.allowed * p.V  # the rounded trades are held to it too
    if inp.cash_flow or exhausted:
        cap = sell_cap(p.b_val, must, p.creq, p.c0, k)
        if cap <= _EPS:
            q.xu[:B][~must] = 0.0
        else:
            rows.append(((~must).astype(float), cap + 1e-9))
        if exhausted or not may_invest(p.b_val, must, p.creq, p.c0, k, st.invest_threshold):
            q.xu[q.oy:q.og] = 0.0
    if not rows or not B:
        return
    # the new rows touch only the lot columns (0..B-1), which the other inequality rows leave
    # empty: build the CSC arrays directly (scipy's vstack costs milliseconds an account)
    G = q.Gm
    m, r = G.shape[0], len(rows)
    old_ptr = np.asarray(G.indptr)
    if old_ptr[B] != 0:  # not the layout assumed: the general way
        extra = sp.csc_matrix((np.concatenate([c for c, _ in rows]),
                               (np.repeat(np.arange(r), B), np.tile(np.arange(B), r))), shape=(r, q.n))
        q.Gm = sp.vstack([G, extra], format="csc")
    else:
        data = np.concatenate([np.column_stack([c for c, _ in rows]).ravel(), G.data])
        idx = np.concatenate([np.tile(np.arange(m, m + r, dtype=G.indices.dtype), B), G.indices])
        ptr = np.concatenate([np.arange(B + 1, dtype=old_ptr.dtype) * r, old_ptr[B + 1:] + B * r])
        q.Gm = sp.csc_matrix((data, idx, ptr), shape=(m + r, q.n))
    q.hl = np.concatenate([q.hl, np.full(len(rows), -np.inf)])
    q.hu = np.concatenate([q.hu, np.array([h for _, h in rows])])
