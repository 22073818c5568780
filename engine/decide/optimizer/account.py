"""One account end to end (prepare, the no-trade certificate, solve, round, finish) and a chunk of
accounts, the unit the executors hand to a worker."""
from __future__ import annotations
import gc
from collections.abc import Callable, Iterable
from contextlib import contextmanager
import numpy as np
from engine.decide import band_rules
from engine.decide.line_pruning import prune_lines
from engine.decide.optimizer import tax_free
from engine.decide.optimizer.model import AccountInput, AccountResult, OptimizerSettings, _nnz
from engine.decide.optimizer.prepare import _Prep, _prepare, _te2
from engine.decide.optimizer.qp import _build_qp
from engine.decide.optimizer.rounding import _round
from engine.decide.optimizer.score import _finish
from engine.decide.optimizer.solve import _Session, _SolverError


def optimize_account(inp: AccountInput, settings: OptimizerSettings) -> AccountResult:
    """Optimize one account.  Solver failures give status "failed: ..."; bad input raises
    ValueError (``optimize_many`` turns that into a failed result too)."""
    p = _prepare(inp, settings)
    S = p.S
    if p.V <= 0:
        res = AccountResult(inp.account_id,
                            "optimal" if p.V == 0 else "failed: account value <= 0", [])
        res.value = p.V
        res.cash_post = float(inp.cash)
        return res
    st = settings
    if _no_trade_is_optimal(p):
        return _finish(p, st, None, None, None, "optimal", 0, 0.0)

    q = _build_qp(p, st)
    sess = _Session(q, st)
    B, V = p.B, p.V
    oy, og = q.oy, q.og
    xl, xu = q.xl, q.xu
    try:
        z = sess.solve(xl, xu)
        x, y = z[:B], z[oy:og]
        tol = max(1.0 / V, 1e-7)  # solver noise: under $1 (or 1e-7 V) is no trade
        bsec = p.b_sec
        # (a) trade direction per security: never buy and loss-sell the same security
        loss_b = p.b_loss if p.b_must is None else p.b_loss & ~p.b_must
        loss_sold = np.bincount(bsec, x * loss_b, S)
        can_conflict = (np.bincount(bsec, loss_b, S) > 0) & p.buy_eff
        loss_pos = loss_sold > tol
        loss_pos &= can_conflict
        y_pos = y > tol
        conflict = loss_pos & y_pos
        # (b) minimum trade size (not for restriction sales; not in a group with a conflict,
        #     which is about to be re-balanced through a substitute)
        sold = np.bincount(bsec, x, S)
        min_w = p.u.min_w * (1.0 / V)
        tiny_buy = y_pos & (y < min_w)
        tiny_sell = (sold > tol) & (sold < min_w)
        if p.any_must:
            tiny_sell &= ~p.must_sec
        if p.band_hard:  # a band mandate's small trades stay (rounding takes them to whole
            # lines; the cash re-check sells whole lines for the band's buys)
            out_k = np.zeros(p.K, dtype=bool)
            out_k[p.band_k] = band_rules.outside(p, p.Wk0)
            tiny_buy &= ~out_k[p.ci]
            tiny_sell &= False
        has_conflict = bool(_nnz(conflict))
        if has_conflict:
            calm = (np.bincount(p.gi, conflict, p.G) == 0)[p.gi]
            tiny_buy &= calm
            tiny_sell &= calm
        if has_conflict or _nnz(tiny_buy) or _nnz(tiny_sell):
            xl, xu = xl.copy(), xu.copy()
            sell_side = loss_pos & (loss_sold >= y)
            buy_side = can_conflict & ~sell_side
            xu[oy:og][sell_side | tiny_buy] = 0.0
            xu[:B][(buy_side[bsec] & loss_b) | tiny_sell[bsec]] = 0.0
            np.minimum(xl, xu, out=xl)
            z = sess.solve(xl, xu)
    except _SolverError as exc:
        sess.close()
        return _finish(p, st, None, None, None, f"failed: {exc}", sess.n_solves,
                       sess.solve_time)
    sess.close()
    sold = np.bincount(p.b_sec, z[:B], S) if B else np.zeros(S)
    sold *= V
    bought = z[oy:og] * V
    buy_sh, sell_sh, lot_sh = _round(p, st, sold, bought)
    if st.prune_lines:
        buy_sh, sell_sh, lot_sh = prune_lines(p, st, buy_sh, sell_sh, lot_sh, _te2 if not p.fs else _te2_free)
    return _finish(p, st, buy_sh, sell_sh, lot_sh, "optimal", sess.n_solves, sess.solve_time)


def _te2_free(p: _Prep, w: np.ndarray) -> float:
    """The squared tracking error with the free term (tax_free.py) added: what line pruning weighs."""
    return _te2(p, w) + tax_free.te2(p, w)


def _no_trade_is_optimal(p: _Prep) -> bool:
    """Exact certificate that x = y = 0 solves the (convex) problem: no mandate is active and
    no single buy or lot sale has a negative directional derivative of the objective."""
    if p.any_must or p.c0 < p.creq:
        return False
    Wk = p.Wk0
    if len(p.band_k):
        wb = Wk[p.band_k]
        if _nnz(wb < p.band_lo - 1e-12) or _nnz(wb > p.band_hi + 1e-12):
            return False
    ag = p.ag0
    Wk = Wk - p.Tk
    Wk *= p.ck
    grad = ag[p.gi]
    grad *= p.cg
    grad += Wk[p.ci]
    if p.cs > 0:
        grad += p.cs * (p.h0 - p.Ts)
    oc = 0.0
    if p.fs > 0:
        gs, oc = tax_free.half_gradient(p)
        grad += gs
    grad *= 2.0
    rvr = p.u.rvr
    buy_m = grad - rvr
    if oc:  # a buy spends free cash (1 + kappa per $), a sale adds to it (1 - kappa)
        buy_m -= 2.0 * oc * (1.0 + p.kappa)
    if _nnz(buy_m[p.buy_eff] < -p.kappa):
        return False
    bsec = p.b_sec
    sell_m = p.b_tax + (rvr - grad)[bsec]
    if oc:
        sell_m += 2.0 * oc * (1.0 - p.kappa)
    return not _nnz(sell_m < -p.kappa)


def optimize_many(inputs: Iterable[AccountInput], settings: OptimizerSettings,
                  progress: Callable[[int], None] | None = None) -> list[AccountResult]:
    """Optimize accounts in order; never raises for one account (status "failed: ...").

    ``progress(done)`` is called after every account.  Parallelism: hand chunks of accounts
    to an executor's workers (each worker process calls this on its chunk).
    """
    out = []
    with gc_paused():
        for i, inp in enumerate(inputs, 1):
            try:
                res = optimize_account(inp, settings)
            except Exception as exc:  # noqa: BLE001 - one bad account never stops the book
                res = AccountResult(str(getattr(inp, "account_id", "?")),
                                    f"failed: {type(exc).__name__}: {exc}", [])
            out.append(res)
            if progress is not None:
                progress(i)
    return out


@contextmanager
def gc_paused():
    """Pause Python's cyclic garbage collector for a block (restored after).

    The optimizer creates no reference cycles, but it allocates many small containers, and
    every gen-0 overflow makes the collector walk the young objects; a full collection walks
    everything the process holds (a whole book's frames in a forked worker or in the run's
    process) and frees nothing.  Reference counting still frees all temporaries at once.
    """
    was = gc.isenabled()
    if was:
        gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()
