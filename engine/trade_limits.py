"""The optimizer's extra rows for gains budgets and cash-flow trading (engine/gains_budget.py,
engine/cash_flow.py): appended to the QP's inequality rows, or bounds set to zero, before the
first solve. Only accounts with a budget or in cash-flow mode get here."""
from __future__ import annotations

import math

import numpy as np
import scipy.sparse as sp

from engine.cash_flow import may_invest, sell_cap
from engine.gains_budget import budget_row

_EPS = 1e-9


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
    budget = inp.gains_budget if st.budget_hard else math.nan
    if math.isfinite(inp.gains_cap):  # a phased transition: at most this much gain today
        budget = min(budget if math.isfinite(budget) else math.inf, ytd + max(inp.gains_cap, 0.0))
    if inp.taxable and math.isfinite(budget) and p.b_lot is not None:
        lots = p.b_lot
        gain_ps = 1.0 - p.cost[lots] / p.lot_px[lots]
        r = budget_row(gain_ps, p.b_val, p.b_must, p.creq - p.c0, k, p.V, budget, ytd)
        rows.append((r.coef, r.allowed))
        exhausted = r.exhausted
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
    data = np.concatenate([c for c, _ in rows])
    idx = np.concatenate([np.full(B, i, dtype=np.int32) for i in range(len(rows))])
    cols = np.concatenate([np.arange(B, dtype=np.int32)] * len(rows))
    extra = sp.csc_matrix((data, (idx, cols)), shape=(len(rows), q.n))
    q.Gm = sp.vstack([q.Gm, extra], format="csc")
    q.hl = np.concatenate([q.hl, np.full(len(rows), -np.inf)])
    q.hu = np.concatenate([q.hu, np.array([h for _, h in rows])])
