"""The same problem stated in cvxpy, for the tests that check the solver-form QP against it."""
from __future__ import annotations
import numpy as np
import scipy.sparse as sp
from engine.decide import band_rules
from engine.decide.optimizer.model import AccountInput, OptimizerSettings
from engine.decide.optimizer.prepare import _prepare


def build_cvxpy_problem(inp: AccountInput, settings: OptimizerSettings):
    """The relaxed first-solve problem stated in cvxpy over individual lots; returns
    (problem, x, y).

    Its optimal value equals the assembled QP's (fractions of V, without the constant drift
    term).  Used by the tests to check the hand-assembled QP and the lot buckets; not in the
    hot path.
    """
    import cvxpy as cp

    p = _prepare(inp, settings)
    L, S = p.L, p.S
    A = sp.csr_matrix((np.ones(L), (p.lot_sec, np.arange(L))), shape=(S, L))
    Gs = sp.csr_matrix((np.ones(S), (p.gi, np.arange(S))), shape=(p.G, S))
    Ks = sp.csr_matrix((np.ones(S), (p.ci, np.arange(S))), shape=(p.K, S))
    x = cp.Variable(L)
    y = cp.Variable(S)
    w = p.h0 - A @ x + y
    ag = Gs @ w - p.Tg
    ak = Ks @ w - p.Tk
    cash = p.c0 + (1 - p.kappa) * cp.sum(x) - (1 + p.kappa) * cp.sum(y)
    short = cp.Variable(nonneg=True)
    cons = [x >= 0, x <= p.lot_val * p.sell_ok, y >= 0, cash + short >= p.creq,
            cash >= min(0.0, p.c0)]
    if (~p.buy_eff).any():
        cons.append(y[np.flatnonzero(~p.buy_eff)] == 0)
    must_lot = p.must_sec[p.lot_sec] & p.sell_ok
    if must_lot.any():
        mi = np.flatnonzero(must_lot)
        cons.append(x[mi] == p.lot_val[mi])
    pen = 0
    if len(p.band_k):
        Wb = (Ks @ w)[p.band_k]
        slo = cp.Variable(len(p.band_k), nonneg=True)
        shi = cp.Variable(len(p.band_k), nonneg=True)
        blo, bhi = band_rules.qp_bounds(p, settings)  # with the rounding margin
        fin_lo = np.isfinite(blo)
        fin_hi = np.isfinite(bhi)
        if fin_lo.any():
            cons.append((Wb + slo)[np.flatnonzero(fin_lo)] >= blo[fin_lo])
        if fin_hi.any():
            cons.append((Wb - shi)[np.flatnonzero(fin_hi)] <= bhi[fin_hi])
        pen = band_rules.band_penalty(p, settings) * (cp.sum(slo) + cp.sum(shi))
    lot_px = p.price[p.lot_sec]
    loss = p.cost > lot_px
    legs = 4 if settings.harvest_round_trip else 2
    tax_obj = p.tax_true * ~loss - (p.hv - (settings.harvest_substitute_bps + (legs - 2) * settings.cost_bps) * 1e-4) \
        * (p.candidate & (p.hv > 0))
    obj = (p.cg * cp.sum_squares(ag) + cp.sum(cp.multiply(p.ck, cp.square(ak)))
           + (p.kappa + tax_obj + p.rv * p.rho[p.lot_sec]) @ x + (p.kappa - p.rv * p.rho) @ y
           + pen + settings.cash_penalty * max(1.0, p.lam) * short)
    const = float(p.cg * (p.Tg @ p.Tg) + (p.ck * p.Tk) @ p.Tk)
    if p.cs > 0:
        obj = obj + p.cs * cp.sum_squares(w - p.Ts)
        const += float(p.cs * (p.Ts @ p.Ts))
    if p.fs > 0:  # the free term (tax_free.py): overweights above U, cash above U_c
        charged = np.flatnonzero(np.isfinite(p.fU))
        if len(charged):
            obj = obj + p.fs * cp.sum_squares(cp.pos(w[charged] - p.fU[charged]))
        if np.isfinite(p.fUc):
            obj = obj + p.fs * cp.square(cp.pos(cash - p.fUc))
    prob = cp.Problem(cp.Minimize(obj - const), cons)
    return prob, x, y
