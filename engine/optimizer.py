"""Per-account tax-aware rebalancing optimizer and its cost/benefit score.

Pure numpy (+ scipy.sparse, a cvxpy dependency) and the PIQP / Clarabel QP solvers; no Qt,
no database, no pandas in the hot path.  The workflow builds one :class:`AccountInput` per
account and calls :func:`optimize_many` (in worker processes through any
``concurrent.futures.Executor``).

Model (all quantities below are fractions of the pre-trade account value ``V`` = holdings
+ cash; dollars = fraction x V)
---------------------------------------------------------------------------------------------
Variables: ``x_l`` dollars sold from tax lot ``l`` (``0 <= x_l <= value_l``), ``y_s`` dollars
bought of security ``s`` (``y_s >= 0``).  Post-trade weights ``w = h0 - A x + y`` (``A`` maps
lots to their security), cash ``c = c0 + (1-k) sum x - (1+k) sum y`` with ``k = cost_bps/1e4``.

Risk proxy (tracking error).  A diagonal factor model: every security loads 1 on its
asset-class factor (vol ``sigma_k``: ``OptimizerSettings.class_vol`` or an entry of
``class_vols``) and 1 on the idiosyncratic factor of its drift group (vol
``sigma_e = idio_vol``); factors are independent, cash is riskless.  With active class weights
``a_k = W_k - T_k`` and active group weights ``a_g = W_g - T_g`` (``W`` post-trade weight summed
over the class / group, ``T`` the model weight summed the same way)::

    TE^2(w) = sum_k sigma_k^2 a_k^2 + sigma_e^2 sum_g a_g^2

A substitute held in place of a model security is in the same drift group, so it is not drift.

Objective (dollars)::

    minimize  lambda * V * TE^2(w) / te_ref                         (drift cost)
            + sum_l tax_l * x_l                                      (realized tax)
            + k * (sum x + sum y)                                    (trading cost)
            - rating_value * sum_s rho_s * (y_s - sum_{l in s} x_l)  (rating value)
            + band_penalty * band slack + cash_penalty * cash shortfall

* ``te_ref`` (default 1%) converts TE^2 into dollars: at ``TE = te_ref`` the drift cost is
  ``lambda * V * TE``, i.e. lambda times one standard deviation of a year's active return.
  A higher ``tradeoff_lambda`` makes drift matter more against tax dollars.
* ``tax_l = rate_l * (1 - unit_cost_l / price)`` per dollar sold (short- or long-term rate;
  0 when the account is not taxable).  A loss lot has negative tax (a benefit).  Only
  *harvest candidates* (loss >= ``harvest_min_loss_pct`` of cost and >= ``harvest_min_loss_dollars``)
  carry that benefit in the objective; smaller losses are tax-neutral there, so tiny losses do
  not cause churn.  The score always uses the true tax.
* ``rho_s = (5.5 - rating_s) / 4.5`` in [-1, 1] (1 best -> +1, 10 worst -> -1, unrated -> 0);
  ``rating_value = rating_value_bps / 1e4``.
* Constraints: cash after trade >= model cash weight * V + cash_needed (softened by a large
  penalty so a frozen account still gets a best effort; the shortfall is reported); no buys of
  ``!can_buy``, no sells of ``!can_sell``, ``must_sell`` holdings sold in full (and never
  bought), asset-class bands ``lo <= W_k <= hi`` softened with ``band_penalty``; long only.
  A lot with ``lot_loss_sale_blocked`` is never sold at a loss, except when its security is
  ``must_sell`` (a restriction is a mandate; the wash-sale loss is then disallowed and counted
  as zero tax benefit).

Solve sequence (Moehle, Kochenderfer, Boyd, Ang: fix trade directions to stay convex)
1. Optimality certificate for "no trade": if no mandate is active (no must-sell, cash met,
   inside every band) and every marginal buy and lot sale has a non-negative directional
   derivative at the current portfolio, doing nothing is optimal -> return at once.
2. Relaxed solve (buys and loss sales of the same security both allowed).
3. Securities that were both bought and loss-sold get one direction: SELL (no buy) when the
   loss sold >= the amount bought, else BUY (no loss sales); securities that could conflict
   but did not trade are BUY-side (loss lots frozen).  Re-solve only if a conflict existed.
4. Trades under the minimum size (dollars or shares) are pinned to zero and the problem is
   re-solved once (restriction sales are exempt).
5. Round to whole shares (never more than held, per lot), drop lines still under the minimum,
   net a buy against a same-security (gain) sale, re-check cash (trim buys, then add sales) and
   name lots: losses first, then highest basis (= highest unit cost first).

The QP is assembled directly in solver form (sparse CSC, ~5 non-zeros per lot) and solved by
PIQP; later solves of the same account only update variable bounds, reusing PIQP's symbolic
factorization.  This was measured against a cvxpy DPP problem compiled once per padded shape:
cvxpy's per-solve overhead (parameter mapping, solver-interface setup, unpacking) dominated the
solver time, see bench/bench_optimizer.py.  :func:`build_cvxpy_problem` states the same
relaxed problem in cvxpy; the tests check that both give the same optimum.

Score (computed on the final, rounded trades, in dollars; ``score_bps`` = score / V * 1e4)::

    score = drift_benefit + harvest_benefit + rating_benefit - trading_cost - tax_cost
    drift_benefit   = lambda * V * (TE_pre^2 - TE_post^2) / te_ref   (same term as the objective)
    tax_cost        = sum of tax on lots sold at a gain                (>= 0)
    harvest_benefit = sum of tax saved on lots sold at a loss          (>= 0; disallowed
                      wash-sale losses count 0)
    realized_tax    = tax_cost - harvest_benefit                        (net, may be < 0)
    rating_benefit  = rating_value * sum_s rho_s * (bought$_s - sold$_s)
    trading_cost    = k * traded$ + ticket_cost * number of order lines
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Callable, Iterable

import numpy as np
import scipy.sparse as sp

__all__ = [
    "OptimizerSettings",
    "AccountInput",
    "TradeLine",
    "AccountResult",
    "optimize_account",
    "optimize_many",
    "tracking_error",
    "build_cvxpy_problem",
]

REASONS = ("cash", "restriction", "band", "drift", "harvest")
_INF = np.inf


# --------------------------------------------------------------------------- data classes
@dataclass(frozen=True)
class OptimizerSettings:
    """Firm policy for the optimizer.  Money amounts are dollars."""

    tradeoff_lambda: float = 1.0  # dispersion-vs-tax weight (higher = care more about drift)
    cost_bps: float = 5.0  # trading cost, bps of traded value
    ticket_cost: float = 0.0  # $ per order line (score and cash check; not in the convex objective)
    min_trade_dollars: float = 500.0
    min_trade_shares: int = 1
    harvest_min_loss_pct: float = 0.05  # harvest candidate: loss >= this fraction of cost ...
    harvest_min_loss_dollars: float = 1000.0  # ... and >= this many dollars
    band_penalty: float = 100.0  # $ of objective per $ of asset-class band violation
    solver: str = "PIQP"  # "PIQP" or "CLARABEL"; the other one is the fallback
    # --- risk proxy and valuation (added) ---
    te_ref: float = 0.01  # drift $ = lambda * V * TE^2 / te_ref
    class_vol: float = 0.15  # default asset-class factor vol
    class_vols: tuple[tuple[str, float], ...] = ()  # per-class overrides, e.g. (("FIXED_INCOME", .05),)
    idio_vol: float = 0.10  # idiosyncratic vol of a drift (substitute) group
    rating_value_bps: float = 10.0  # $ value (bps of moved value) per unit of rating score rho
    cash_penalty: float = 1000.0  # $ of objective per $ of unmet cash requirement (x max(1, lambda))


@dataclass
class AccountInput:
    account_id: str
    cash: float  # current cash $
    taxable: bool
    st_rate: float  # short-term tax rate (fraction), 0 if not taxable
    lt_rate: float
    # securities relevant to this account (held U model U their substitutes), index s
    symbols: np.ndarray  # str[S]
    price: np.ndarray  # float[S]
    asset_class: np.ndarray  # str[S]
    drift_group: np.ndarray  # str[S] substitute group key (or the symbol itself)
    target_w: np.ndarray  # float[S] model weight (0 for non-model)
    rating: np.ndarray  # float[S] 1 best..10 worst (NaN = unrated -> neutral)
    can_buy: np.ndarray  # bool[S]
    can_sell: np.ndarray  # bool[S]
    must_sell: np.ndarray  # bool[S]
    model_cash_w: float  # model weight of CASH
    cash_needed: float  # $ of cash requests due (raised on top of model cash)
    class_bands: dict  # asset_class -> (lo_w, hi_w), soft
    # tax lots, index l
    lot_id: np.ndarray  # str[L]
    lot_sec: np.ndarray  # int[L] index into symbols
    lot_qty: np.ndarray  # float[L] shares
    lot_unit_cost: np.ndarray  # float[L]
    lot_short_term: np.ndarray  # bool[L]
    lot_loss_sale_blocked: np.ndarray  # bool[L]


@dataclass(frozen=True, slots=True)
class TradeLine:
    symbol: str
    side: str  # "BUY" | "SELL"
    shares: int
    est_price: float
    value: float  # shares * est_price, $
    lots: tuple[tuple[str, int], ...]  # sells: (lot_id, shares) per lot; () for buys
    reason: str  # one of REASONS


@dataclass
class AccountResult:
    account_id: str
    status: str  # "optimal" | "failed: <solver status/message>"
    trades: list[TradeLine]
    drift_benefit: float = 0.0
    harvest_benefit: float = 0.0
    rating_benefit: float = 0.0
    trading_cost: float = 0.0
    tax_cost: float = 0.0  # tax on realized gains (>= 0); see realized_tax for the net
    score: float = 0.0
    score_bps: float = 0.0
    te_pre: float = 0.0
    te_post: float = 0.0
    turnover: float = 0.0  # traded $ / V
    realized_gain: float = 0.0  # $ (net of losses)
    realized_tax: float = 0.0  # tax_cost - harvest_benefit
    largest_trade: float = 0.0
    class_weights_pre: dict = field(default_factory=dict)  # class -> weight, plus "CASH"
    class_weights_post: dict = field(default_factory=dict)
    class_targets: dict = field(default_factory=dict)
    # --- added ---
    value: float = 0.0  # V, pre-trade account value $
    cash_post: float = 0.0  # $ after the trades and their costs
    cash_required: float = 0.0  # model_cash_w * V + cash_needed
    cash_shortfall: float = 0.0  # $ of the requirement that could not be raised
    n_solves: int = 0
    solve_time: float = 0.0  # seconds spent inside the QP solver(s)


# --------------------------------------------------------------------------- preparation
class _Prep:
    """Derived arrays of one account (fractions of V unless named *_d for dollars).

    Lot-level arrays (index l) serve rounding and the score.  The QP works on *buckets*:
    sellable lots of one security with identical objective data (must-sell flag, loss flag,
    tax per dollar) are interchangeable in the QP, so they share one variable (exact).
    """

    __slots__ = (
        "inp", "S", "L", "V", "price", "lot_sec", "qty", "cost", "lot_val", "h0", "c0", "creq",
        "gi", "ci", "G", "K", "classes", "Tg", "Tk", "sig_k", "cg", "ck", "kappa", "rho", "rv",
        "loss", "tax_true", "tax_obj", "candidate", "must_lot", "sell_ok", "buy_ok", "must_sec",
        "band_k", "band_lo", "band_hi", "lam", "idio2", "buy_eff",
        "B", "b_sec", "b_val", "b_tax", "b_must", "b_loss",
    )


def _prepare(inp: AccountInput, st: OptimizerSettings) -> _Prep:
    p = _Prep()
    p.inp = inp
    price = np.asarray(inp.price, dtype=float)
    S = price.shape[0]
    lot_sec = np.asarray(inp.lot_sec, dtype=np.intp)
    L = lot_sec.shape[0]
    qty = np.asarray(inp.lot_qty, dtype=float)
    cost = np.asarray(inp.lot_unit_cost, dtype=float)
    if S and not (np.isfinite(price).all() and price.min() > 0):
        raise ValueError("price must be finite and > 0")
    if L:
        if lot_sec.min() < 0 or lot_sec.max() >= S:
            raise ValueError("lot_sec out of range")
        if not (np.isfinite(qty).all() and qty.min() >= 0 and np.isfinite(cost).all()):
            raise ValueError("lot quantities must be finite and >= 0, unit costs finite")
    if not math.isfinite(inp.cash):
        raise ValueError("cash must be finite")
    lot_px = price[lot_sec]
    lot_val_d = qty * lot_px
    V = float(inp.cash) + float(lot_val_d.sum())
    p.S, p.L, p.V = S, L, V
    if V <= 0:
        return p
    p.price, p.lot_sec, p.qty, p.cost = price, lot_sec, qty, cost
    p.lot_val = lot_val = lot_val_d / V
    p.h0 = np.bincount(lot_sec, lot_val, S)
    p.c0 = float(inp.cash) / V
    p.creq = float(inp.model_cash_w) + float(inp.cash_needed) / V

    classes, p.ci = _codes(inp.asset_class)
    groups, p.gi = _codes(inp.drift_group)
    p.classes = classes
    p.K = len(classes)
    p.G = len(groups)
    target = np.asarray(inp.target_w, dtype=float)
    p.Tg = np.bincount(p.gi, target, p.G)
    p.Tk = np.bincount(p.ci, target, p.K)
    sig = np.full(p.K, float(st.class_vol))
    if st.class_vols:
        over = dict(st.class_vols)
        for k, name in enumerate(classes):
            if name in over:
                sig[k] = over[name]
    p.sig_k = sig
    p.lam = lam = float(st.tradeoff_lambda)
    p.idio2 = float(st.idio_vol) ** 2
    p.cg = lam * p.idio2 / st.te_ref
    p.ck = lam * sig**2 / st.te_ref
    p.kappa = st.cost_bps * 1e-4
    rating = np.asarray(inp.rating, dtype=float)
    rho = (5.5 - rating) / 4.5
    rho[np.isnan(rho)] = 0.0
    p.rho = np.clip(rho, -1.0, 1.0)
    p.rv = st.rating_value_bps * 1e-4

    can_buy = np.asarray(inp.can_buy, dtype=bool)
    can_sell = np.asarray(inp.can_sell, dtype=bool)
    must = np.asarray(inp.must_sell, dtype=bool)
    blocked = np.asarray(inp.lot_loss_sale_blocked, dtype=bool)
    p.loss = loss = cost > lot_px
    held = qty > 0
    must_lot = must[lot_sec] & can_sell[lot_sec] & held
    if inp.taxable:
        rate = np.where(np.asarray(inp.lot_short_term, dtype=bool), inp.st_rate, inp.lt_rate)
        tax_true = rate * (1.0 - cost / lot_px)
        tax_true[must_lot & blocked & loss] = 0.0  # wash sale: the loss is disallowed
        loss_d = (cost - lot_px) * qty
        p.candidate = loss & (loss_d >= st.harvest_min_loss_pct * cost * qty) & (
            loss_d >= st.harvest_min_loss_dollars)
        p.tax_obj = np.where(loss & ~p.candidate, 0.0, tax_true)
    else:
        tax_true = np.zeros(L)
        p.candidate = np.zeros(L, dtype=bool)
        p.tax_obj = tax_true
    p.tax_true = tax_true
    p.must_lot = must_lot
    p.sell_ok = sell_ok = can_sell[lot_sec] & held & (~(blocked & loss) | must_lot)
    p.buy_ok = can_buy & ~must
    p.must_sec = np.bincount(lot_sec, must_lot, S) > 0 if L else np.zeros(S, dtype=bool)
    # direction rule: a security holding a harvestable loss is not bought when a buyable
    # substitute exists (buying the substitute is the same exposure and keeps the harvest open)
    harv = p.candidate & sell_ok & ~must_lot
    p.buy_eff = p.buy_ok
    if harv.any():
        hs = np.bincount(lot_sec, harv, S) > 0
        clean_subs = np.bincount(p.gi, p.buy_ok & ~hs, p.G)[p.gi]
        p.buy_eff = p.buy_ok & ~(hs & (clean_subs > 0))

    # buckets of interchangeable sellable lots
    idx = np.flatnonzero(sell_ok)
    if len(idx):
        bs, bm, bl, bt = lot_sec[idx], must_lot[idx], loss[idx], p.tax_obj[idx]
        order = np.lexsort((bt, bl, bm, bs))
        bs, bm, bl, bt = bs[order], bm[order], bl[order], bt[order]
        start = np.empty(len(idx), dtype=bool)
        start[0] = True
        start[1:] = (bs[1:] != bs[:-1]) | (bm[1:] != bm[:-1]) | (bl[1:] != bl[:-1]) | (
            bt[1:] != bt[:-1])
        st_idx = np.flatnonzero(start)
        p.b_sec, p.b_must, p.b_loss, p.b_tax = bs[st_idx], bm[st_idx], bl[st_idx], bt[st_idx]
        p.b_val = np.add.reduceat(lot_val[idx][order], st_idx)
    else:
        p.b_sec = np.zeros(0, dtype=np.intp)
        p.b_must = p.b_loss = np.zeros(0, dtype=bool)
        p.b_tax = p.b_val = np.zeros(0)
    p.B = len(p.b_sec)

    # bands on classes present in the account
    bk, blo, bhi = [], [], []
    if inp.class_bands:
        get = inp.class_bands.get
        for k, name in enumerate(classes):
            band = get(name)
            if band is not None:
                lo, hi = band
                lo = -_INF if lo is None or not math.isfinite(lo) else float(lo)
                hi = _INF if hi is None or not math.isfinite(hi) else float(hi)
                if lo > -_INF or hi < _INF:
                    bk.append(k)
                    blo.append(lo)
                    bhi.append(hi)
    p.band_k = np.asarray(bk, dtype=np.intp)
    p.band_lo = np.asarray(blo, dtype=float)
    p.band_hi = np.asarray(bhi, dtype=float)
    return p


def _codes(values) -> tuple[list, np.ndarray]:
    """Distinct values (first-seen order) and the code of each element (faster than np.unique
    on short string arrays)."""
    seen: dict = {}
    codes = [seen.setdefault(v, len(seen)) for v in (values.tolist() if hasattr(values, "tolist") else values)]
    return list(seen), np.array(codes, dtype=np.intp)


def _te2(p: _Prep, w: np.ndarray) -> float:
    """Squared tracking error of security weights w (fractions of V)."""
    ag = np.bincount(p.gi, w, p.G) - p.Tg
    ak = np.bincount(p.ci, w, p.K) - p.Tk
    return float(p.idio2 * (ag @ ag) + (p.sig_k**2 * ak) @ ak)


def tracking_error(inp: AccountInput, settings: OptimizerSettings,
                   w: np.ndarray | None = None) -> float:
    """TE (fraction) of weights ``w`` per security (fractions of V; default: current holdings)."""
    p = _prepare(inp, settings)
    if p.V <= 0:
        return 0.0
    return math.sqrt(_te2(p, p.h0 if w is None else np.asarray(w, dtype=float)))


# --------------------------------------------------------------------------- QP assembly
def _csc_checked(data, indices, indptr, shape):
    return sp.csc_matrix((data, indices, indptr), shape=shape)


def _csc_fast(data, indices, indptr, shape):
    # scipy's constructor validates its input (~40 us a matrix, 3 matrices an account); ours
    # are valid by construction, so set the fields directly.  Checked once at import below.
    m = sp.csc_matrix.__new__(sp.csc_matrix)
    m.data, m.indices, m.indptr, m._shape = data, indices, indptr, shape
    return m


def _pick_csc():
    try:
        m = _csc_fast(np.array([1.0, 2.0]), np.array([1, 0], np.int32),
                      np.array([0, 1, 2], np.int32), (2, 2))
        if m.shape == (2, 2) and m.nnz == 2 and m.toarray()[1, 0] == 1.0:
            return _csc_fast
    except Exception:  # noqa: BLE001 - scipy internals changed: use the public constructor
        pass
    return _csc_checked


_csc = _pick_csc()


class _QP:
    __slots__ = ("n", "P", "c", "A", "b", "Gm", "hl", "hu", "xl", "xu", "oy", "og", "oe",
                 "ob", "osc", "ocp", "nb", "const")


def _build_qp(p: _Prep, st: OptimizerSettings) -> _QP:
    """Relaxed QP in PIQP form: min 1/2 z'Pz + c'z, A z = b, hl <= Gm z <= hu, xl <= z <= xu.

    z = [x (B lot buckets sold), y (S bought), g (G group weights), e (K class weights),
    band slack lo (nb), band slack hi (nb), cash shortfall sc, post-trade cash cp].
    Every dense relation (group/class sums, the cash balance) is an equality row so the KKT
    system stays sparse; the inequality rows have 2-3 non-zeros each.
    """
    B, S, G, K = p.B, p.S, p.G, p.K
    nb = len(p.band_k)
    oy, og = B, B + S
    oe = og + G
    ob = oe + K
    osc = ob + 2 * nb
    ocp = osc + 1
    n = ocp + 1
    q = _QP()
    q.n, q.oy, q.og, q.oe, q.ob, q.osc, q.ocp, q.nb = n, oy, og, oe, ob, osc, ocp, nb
    kap = p.kappa
    i32 = np.int32
    bsec = p.b_sec

    # objective
    Pd = np.zeros(n)
    Pd[og:oe] = 2.0 * p.cg
    Pd[oe:ob] = 2.0 * p.ck
    ar = np.arange(n + 1, dtype=i32)
    q.P = _csc(Pd, ar[:n], ar, (n, n))
    c = np.zeros(n)
    c[:B] = kap + p.b_tax + p.rv * p.rho[bsec]
    c[oy:og] = kap - p.rv * p.rho
    c[og:oe] = -2.0 * p.cg * p.Tg
    c[oe:ob] = -2.0 * p.ck * p.Tk
    c[ob:osc] = st.band_penalty
    c[osc] = st.cash_penalty * max(1.0, p.lam)
    q.c = c
    q.const = float(p.cg * (p.Tg @ p.Tg) + (p.ck * p.Tk) @ p.Tk)

    # equality rows: 0..G-1 group weights, G..G+K-1 class weights, G+K cash balance
    rc = G + K
    o = 3 * B
    o2 = o + 3 * S
    a_idx = np.empty(o2 + G + K + 1, dtype=i32)
    a_val = np.empty(o2 + G + K + 1)
    a_idx[0:o:3] = p.gi[bsec]
    a_idx[1:o:3] = p.ci[bsec] + G
    a_idx[2:o:3] = rc
    a_val[0:o:3] = 1.0
    a_val[1:o:3] = 1.0
    a_val[2:o:3] = -(1.0 - kap)
    a_idx[o:o2:3] = p.gi
    a_idx[o + 1:o2:3] = p.ci + G
    a_idx[o + 2:o2:3] = rc
    a_val[o:o2:3] = -1.0
    a_val[o + 1:o2:3] = -1.0
    a_val[o + 2:o2:3] = 1.0 + kap
    a_idx[o2:] = np.arange(G + K + 1)
    a_val[o2:] = 1.0
    a_ptr = np.empty(n + 1, dtype=i32)
    a_ptr[:og + 1] = np.arange(0, 3 * og + 1, 3)
    a_ptr[og + 1:ob + 1] = 3 * og + np.arange(1, G + K + 1)
    a_ptr[ob + 1:] = a_ptr[ob]
    a_ptr[n] = a_ptr[ob] + 1
    q.A = _csc(a_val, a_idx, a_ptr, (rc + 1, n))
    q.b = np.concatenate([np.bincount(p.gi, p.h0, G), np.bincount(p.ci, p.h0, K), [p.c0]])

    # inequality rows: 0 cash requirement (cp + sc >= creq), 1..nb bands
    g_idx = np.zeros(3 * nb + 2, dtype=i32)
    g_val = np.ones(3 * nb + 2)
    g_ptr = np.empty(n + 1, dtype=i32)
    if nb:
        cnt = np.zeros(n, dtype=i32)
        cnt[oe + p.band_k] = 1
        cnt[ob:ocp + 1] = 1
        g_ptr[0] = 0
        np.cumsum(cnt, out=g_ptr[1:])
        order = np.argsort(p.band_k, kind="stable")  # e columns appear in class order
        g_idx[:nb] = 1 + order
        g_idx[nb:2 * nb] = 1 + np.arange(nb)
        g_idx[2 * nb:3 * nb] = 1 + np.arange(nb)
        g_val[2 * nb:3 * nb] = -1.0
    else:
        g_ptr[:osc + 1] = 0
        g_ptr[osc + 1] = 1
        g_ptr[ocp + 1] = 2
    q.Gm = _csc(g_val, g_idx, g_ptr, (1 + nb, n))
    q.hl = np.concatenate([[p.creq], p.band_lo])
    q.hu = np.concatenate([[_INF], p.band_hi])

    # bounds
    xl = np.zeros(n)
    xu = np.full(n, _INF)
    xu[:B] = p.b_val
    xl[:B] = np.where(p.b_must, p.b_val, 0.0)
    xu[oy:og][~p.buy_eff] = 0.0
    xl[og:ob] = -_INF
    xl[ocp] = min(0.0, p.c0)  # never leave cash worse than it was
    q.xl, q.xu = xl, xu
    return q


# --------------------------------------------------------------------------- solvers
class _SolverError(Exception):
    pass


class _Session:
    """Solves one account's QP repeatedly; later solves change only variable bounds."""

    __slots__ = ("q", "order", "piqp", "solve_time", "n_solves")

    def __init__(self, q: _QP, st: OptimizerSettings):
        self.q = q
        self.order = ("CLARABEL", "PIQP") if st.solver.upper() == "CLARABEL" else ("PIQP", "CLARABEL")
        self.piqp = None
        self.solve_time = 0.0
        self.n_solves = 0

    def solve(self, xl: np.ndarray, xu: np.ndarray) -> np.ndarray:
        errors = []
        for name in self.order:
            try:
                if name == "PIQP":
                    return self._piqp(xl, xu)
                return self._clarabel(xl, xu)
            except _SolverError as exc:
                errors.append(f"{name} {exc}")
        raise _SolverError("; ".join(errors))

    def _piqp(self, xl, xu):
        q = self.q
        t0 = time.perf_counter()
        s = self.piqp
        if s is None:
            s = _piqp_mod().SparseSolver()
            s.settings.verbose = False
            s.setup(q.P, q.c, q.A, q.b, q.Gm, q.hl, q.hu, xl, xu)
            self.piqp = s
        else:
            s.update(x_l=xl, x_u=xu)
        status = s.solve()
        self.solve_time += time.perf_counter() - t0
        self.n_solves += 1
        if status != _piqp_mod().PIQP_SOLVED:
            self.piqp = None
            raise _SolverError(str(status).rsplit(".", 1)[-1])
        return np.clip(s.result.x, xl, xu)

    def _clarabel(self, xl, xu):
        import clarabel

        q = self.q
        t0 = time.perf_counter()
        n = q.n
        eye = sp.identity(n, format="csr")
        fixed = np.isfinite(xl) & (xl == xu)
        lo = np.isfinite(xl) & ~fixed
        up = np.isfinite(xu) & ~fixed
        gl = np.isfinite(q.hl)
        gu = np.isfinite(q.hu)
        Gr = q.Gm.tocsr()
        blocks_eq = [q.A.tocsr(), eye[fixed]]
        b_eq = [q.b, xl[fixed]]
        blocks_in = [-Gr[gl], Gr[gu], -eye[lo], eye[up]]
        b_in = [-q.hl[gl], q.hu[gu], -xl[lo], xu[up]]
        Amat = sp.vstack(blocks_eq + blocks_in, format="csc")
        bvec = np.concatenate(b_eq + b_in)
        m_eq = sum(bl.shape[0] for bl in blocks_eq)
        cones = [clarabel.ZeroConeT(m_eq), clarabel.NonnegativeConeT(Amat.shape[0] - m_eq)]
        cs = clarabel.DefaultSettings()
        cs.verbose = False
        r = clarabel.DefaultSolver(sp.triu(q.P, format="csc"), q.c, Amat, bvec, cones, cs).solve()
        self.solve_time += time.perf_counter() - t0
        self.n_solves += 1
        status = str(r.status)
        if status not in ("Solved", "AlmostSolved"):
            raise _SolverError(status)
        return np.clip(np.asarray(r.x), xl, xu)


_PIQP = None


def _piqp_mod():
    global _PIQP
    if _PIQP is None:
        import piqp

        _PIQP = piqp
    return _PIQP


# --------------------------------------------------------------------------- main entry
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
    none = np.zeros(S, dtype=np.int64)
    if _no_trade_is_optimal(p):
        return _finish(p, st, none, none, None, "optimal", 0, 0.0)

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
        xl, xu = xl.copy(), xu.copy()
        xub, xuy = xu[:B], xu[oy:og]  # views
        # (a) trade direction per security: never buy and loss-sell the same security
        loss_b = p.b_loss & ~p.b_must
        loss_sold = np.bincount(bsec, x * loss_b, S)
        can_conflict = (np.bincount(bsec, loss_b, S) > 0) & (xuy > 0)
        conflict = can_conflict & (loss_sold > tol) & (y > tol)
        # (b) minimum trade size (not for restriction sales; not next to a conflict, whose
        #     group is about to be re-balanced through a substitute)
        sold_d = np.bincount(bsec, x, S) * V
        bought_d = y * V
        min_d = np.maximum(st.min_trade_dollars, st.min_trade_shares * p.price)
        noise = tol * V
        calm = ~(np.bincount(p.gi, conflict, p.G) > 0)[p.gi]
        tiny_buy = (bought_d > noise) & (bought_d < min_d) & calm
        tiny_sell = (sold_d > noise) & (sold_d < min_d) & calm & ~p.must_sec
        if conflict.any() or tiny_buy.any() or tiny_sell.any():
            sell_side = can_conflict & (loss_sold > tol) & (loss_sold >= y)
            buy_side = can_conflict & ~sell_side
            xuy[sell_side | tiny_buy] = 0.0
            xub[(buy_side[bsec] & loss_b) | tiny_sell[bsec]] = 0.0
            np.minimum(xl, xu, out=xl)
            z = sess.solve(xl, xu)
    except _SolverError as exc:
        return _finish(p, st, none, none, None, f"failed: {exc}", sess.n_solves,
                       sess.solve_time)
    sold_d = np.bincount(p.b_sec, z[:B], S) * V
    buy_sh, sell_sh, lot_sh = _round(p, st, sold_d, z[oy:og] * V)
    return _finish(p, st, buy_sh, sell_sh, lot_sh, "optimal", sess.n_solves, sess.solve_time)


def _no_trade_is_optimal(p: _Prep) -> bool:
    """Exact certificate that x = y = 0 solves the (convex) problem: no mandate is active and
    no single buy or lot sale has a negative directional derivative of the objective."""
    if p.B and p.b_must.any() or p.c0 < p.creq:
        return False
    Wk = np.bincount(p.ci, p.h0, p.K)
    if len(p.band_k):
        wb = Wk[p.band_k]
        if (wb < p.band_lo - 1e-12).any() or (wb > p.band_hi + 1e-12).any():
            return False
    ag = np.bincount(p.gi, p.h0, p.G) - p.Tg
    grad = 2.0 * p.cg * ag[p.gi] + 2.0 * (p.ck * (Wk - p.Tk))[p.ci]
    buy_m = p.kappa - p.rv * p.rho + grad
    if (buy_m[p.buy_eff] < 0).any():
        return False
    bsec = p.b_sec
    sell_m = p.kappa + p.b_tax + p.rv * p.rho[bsec] - grad[bsec]
    return not (sell_m < 0).any()


# --------------------------------------------------------------------------- rounding
def _round(p: _Prep, st: OptimizerSettings, sold: np.ndarray, bought: np.ndarray):
    """Whole shares, minimum size, cash re-check, lot naming.

    Returns buy shares[S], sell shares[S] and shares sold per lot[L] (int64)."""
    S = p.S
    price = p.price
    sec = p.lot_sec
    kap = p.kappa
    bought = np.where(p.buy_ok, bought, 0.0)
    both = (sold > 0) & (bought > 0)
    if both.any():  # a buy against a same-security sale is pure cost: net them
        m = np.minimum(sold, bought)
        sold = np.where(both, sold - m, sold)
        bought = np.where(both, bought - m, bought)
    # whole shares available to sell per security (each eligible lot gives floor(qty))
    lot_whole = np.where(p.sell_ok, np.floor(p.qty + 1e-9), 0.0)
    avail = np.bincount(sec, lot_whole, S).astype(np.int64)
    must_sec = p.must_sec
    sell_sh = np.minimum(np.rint(sold / price), avail).astype(np.int64)
    sell_sh[must_sec] = avail[must_sec]
    buy_sh = np.rint(bought / price).astype(np.int64)
    min_d = st.min_trade_dollars
    min_s = max(int(st.min_trade_shares), 1)
    small = (sell_sh > 0) & ((sell_sh < min_s) | (sell_sh * price < min_d)) & ~must_sec
    sell_sh[small] = 0
    buy_sh[(buy_sh > 0) & ((buy_sh < min_s) | (buy_sh * price < min_d))] = 0
    sell_sh[buy_sh > 0] = 0  # a security is either bought or sold

    # cash re-check (ticket costs included): trim buys, then sell more
    V = p.V
    tick = st.ticket_cost
    sv = float(sell_sh @ price)
    bv = float(buy_sh @ price)
    n_lines = int(np.count_nonzero(sell_sh) + np.count_nonzero(buy_sh))
    deficit = p.creq * V - (p.c0 * V + (1 - kap) * sv - (1 + kap) * bv - tick * n_lines)
    if deficit > 1e-6:
        deficit = _repair_cash(p, st, deficit, buy_sh, sell_sh, avail, min_s, min_d)

    # lots: losses first, then highest basis == highest unit cost first; eligible lots only
    lot_sh = np.zeros(p.L, dtype=np.int64)
    if sell_sh.any():
        elig = np.flatnonzero((lot_whole > 0) & (sell_sh[sec] > 0))
        order = elig[np.lexsort((-p.cost[elig], sec[elig]))]
        ss = sec[order]
        ws = lot_whole[order]
        cs = np.cumsum(ws)
        first = np.searchsorted(ss, ss, side="left")
        before = cs - ws - (cs[first] - ws[first])  # shares of the same security ahead
        lot_sh[order] = np.clip(sell_sh[ss] - before, 0, ws)
    return buy_sh, sell_sh, lot_sh


def _repair_cash(p, st, deficit, buy_sh, sell_sh, avail, min_s, min_d):
    price = p.price
    kap = p.kappa
    tick = st.ticket_cost
    # (a) trim buys, largest first
    for s in np.argsort(-(buy_sh * price)).tolist():
        if deficit <= 1e-6 or buy_sh[s] == 0:
            break
        need = int(math.ceil(deficit / ((1 + kap) * price[s]) - 1e-9))
        new = buy_sh[s] - need
        if new <= 0 or new < min_s or new * price[s] < min_d:
            new = 0
        deficit -= (buy_sh[s] - new) * price[s] * (1 + kap) + (tick if new == 0 else 0.0)
        buy_sh[s] = new
    if deficit <= 1e-6:
        return deficit
    # (b) sell more: securities already sold first (largest first), then the most overweight
    room = avail - sell_sh
    cand = np.flatnonzero((room > 0) & (buy_sh == 0))
    if not len(cand):
        return deficit
    over = (np.bincount(p.gi, p.h0, p.G) - p.Tg)[p.gi]
    key = np.where(sell_sh[cand] > 0, 1e12 + sell_sh[cand] * price[cand], over[cand])
    for s in cand[np.argsort(-key)].tolist():
        if deficit <= 1e-6:
            break
        new_line = sell_sh[s] == 0
        extra = tick if new_line else 0.0
        need = int(math.ceil((deficit + extra) / ((1 - kap) * price[s]) - 1e-9))
        if new_line:
            need = max(need, min_s, int(math.ceil(min_d / price[s] - 1e-9)))
        add = min(need, int(room[s]))
        if new_line and (add < min_s or add * price[s] < min_d):
            continue
        sell_sh[s] += add
        deficit -= add * price[s] * (1 - kap) - extra
    return deficit


# --------------------------------------------------------------------------- score
def _finish(p: _Prep, st: OptimizerSettings, buy_sh, sell_sh, lot_sh, status, n_solves,
            solve_time) -> AccountResult:
    inp = p.inp
    V = p.V
    price = p.price
    sell_val = sell_sh * price
    buy_val = buy_sh * price
    sv = float(sell_val.sum())
    bv = float(buy_val.sum())
    traded = sv + bv
    n_lines = int(np.count_nonzero(sell_sh) + np.count_nonzero(buy_sh))
    trading_cost = p.kappa * traded + st.ticket_cost * n_lines
    w0 = p.h0
    te0 = _te2(p, w0)
    Wk0 = np.bincount(p.ci, w0, p.K)
    creq = p.creq * V
    cash_post = p.c0 * V + sv - bv - trading_cost
    if n_lines:
        lot_px = price[p.lot_sec]
        sold_val = lot_sh * lot_px
        gain = float(lot_sh @ (lot_px - p.cost))
        tax = sold_val * p.tax_true
        tax_cost = float(tax[tax > 0].sum())
        harvest = float(-tax[tax < 0].sum())
        w1 = w0 + (buy_val - sell_val) / V
        te1 = _te2(p, w1)
        Wk1 = np.bincount(p.ci, w1, p.K)
        rating = p.rv * float(p.rho @ (buy_val - sell_val))
        trades = _trade_lines(p, buy_sh, sell_sh, lot_sh, Wk0)
        largest = float(max(sell_val.max(), buy_val.max()))
    else:
        gain = tax_cost = harvest = rating = largest = 0.0
        te1, Wk1, trades = te0, Wk0, []
    drift = p.lam * V * (te0 - te1) / st.te_ref
    score = drift + harvest + rating - trading_cost - tax_cost
    classes = [str(c) for c in p.classes]
    cw_pre = dict(zip(classes, Wk0.tolist()))
    cw_pre["CASH"] = p.c0
    cw_post = dict(zip(classes, Wk1.tolist()))
    cw_post["CASH"] = cash_post / V
    ctg = dict(zip(classes, p.Tk.tolist()))
    ctg["CASH"] = float(inp.model_cash_w)
    short = creq - cash_post
    return AccountResult(
        account_id=inp.account_id, status=status, trades=trades,
        drift_benefit=drift, harvest_benefit=harvest, rating_benefit=rating,
        trading_cost=trading_cost, tax_cost=tax_cost, score=score, score_bps=score / V * 1e4,
        te_pre=math.sqrt(max(te0, 0.0)), te_post=math.sqrt(max(te1, 0.0)),
        turnover=traded / V, realized_gain=gain, realized_tax=tax_cost - harvest,
        largest_trade=largest,
        class_weights_pre=cw_pre, class_weights_post=cw_post, class_targets=ctg,
        value=V, cash_post=cash_post, cash_required=creq,
        cash_shortfall=short if short > 0.005 else 0.0,
        n_solves=n_solves, solve_time=solve_time,
    )


def _trade_lines(p: _Prep, buy_sh, sell_sh, lot_sh, Wk0) -> list[TradeLine]:
    """Order lines with lots and reasons (precedence: restriction, band, harvest, cash, drift)."""
    inp = p.inp
    price = p.price
    S = p.S
    sell = sell_sh > 0
    buy = buy_sh > 0
    traded = np.flatnonzero(sell | buy)
    reason = np.full(S, "drift", dtype=object)
    # harvest: a sale that realizes a harvest-candidate loss, and buys in the same group
    harvest_lot = (lot_sh > 0) & p.candidate & (p.tax_true < 0)
    if harvest_lot.any():
        harvest_sec = np.bincount(p.lot_sec, harvest_lot, S) > 0
        harvest_grp = np.bincount(p.gi, harvest_sec, p.G) > 0
        reason[buy & harvest_grp[p.gi]] = "harvest"
        reason[harvest_sec & sell] = "harvest"
    # cash: other sales that raise the cash requests (a shortfall against the model cash
    # weight alone is drift)
    deficit = min(float(inp.cash_needed), (p.creq - p.c0) * p.V)
    deficit -= float((sell_sh * price)[p.must_sec].sum())
    if deficit > 0:
        cand = np.flatnonzero(sell & ~p.must_sec & (reason == "drift"))
        vals = sell_sh[cand] * price[cand]
        order = np.argsort(-vals)
        for s, v in zip(cand[order].tolist(), vals[order].tolist()):
            if deficit <= 0:
                break
            reason[s] = "cash"
            deficit -= v
    # band: trades that move a class from outside its band toward it
    if len(p.band_k):
        wb = Wk0[p.band_k]
        over = np.zeros(p.K, dtype=bool)
        under = np.zeros(p.K, dtype=bool)
        over[p.band_k] = wb > p.band_hi + 1e-9
        under[p.band_k] = wb < p.band_lo - 1e-9
        reason[sell & over[p.ci]] = "band"
        reason[buy & under[p.ci]] = "band"
    reason[sell & p.must_sec] = "restriction"

    syms = inp.symbols
    sec = p.lot_sec
    lots_of = {}
    sold_lots = np.flatnonzero(lot_sh)
    if len(sold_lots):
        # lots in naming order (highest unit cost first), grouped by security
        sold_lots = sold_lots[np.lexsort((-p.cost[sold_lots], sec[sold_lots]))]
        ls = sec[sold_lots]
        cut = (np.flatnonzero(ls[1:] != ls[:-1]) + 1).tolist()
        ids = [str(i) for i in np.asarray(inp.lot_id)[sold_lots].tolist()]
        pairs = list(zip(ids, lot_sh[sold_lots].tolist()))
        for s0, a, b in zip(ls[[0] + cut].tolist(), [0] + cut, cut + [len(pairs)]):
            lots_of[s0] = tuple(pairs[a:b])
    out = []
    px_l = price[traded].tolist()
    sym_l = [str(v) for v in np.asarray(syms)[traded].tolist()]
    sell_l = sell_sh[traded].tolist()
    buy_l = buy_sh[traded].tolist()
    why = reason[traded].tolist()
    for j, s in enumerate(traded.tolist()):
        px = px_l[j]
        if sell_l[j] > 0:
            sh = sell_l[j]
            out.append(TradeLine(sym_l[j], "SELL", sh, px, sh * px, lots_of.get(s, ()), why[j]))
        else:
            sh = buy_l[j]
            out.append(TradeLine(sym_l[j], "BUY", sh, px, sh * px, (), why[j]))
    return out


def optimize_many(inputs: Iterable[AccountInput], settings: OptimizerSettings,
                  progress: Callable[[int], None] | None = None) -> list[AccountResult]:
    """Optimize accounts in order; never raises for one account (status "failed: ...").

    ``progress(done)`` is called after every account.  Parallelism: hand chunks of accounts
    to an executor's workers (each worker process calls this on its chunk).
    """
    out = []
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


# --------------------------------------------------------------------------- cvxpy reference
def build_cvxpy_problem(inp: AccountInput, settings: OptimizerSettings):
    """The relaxed (step 2) problem stated in cvxpy; returns (problem, x, y).

    Objective value is in fractions of V (dollars / V) without the constant drift term, like
    the assembled QP.  Used by the tests to check the hand-assembled QP; not in the hot path.
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
    cons = [x >= 0, x <= np.where(p.sell_ok, p.lot_val, 0.0), y >= 0,
            cash + short >= p.creq, short <= max(0.0, p.creq - min(0.0, p.c0))]
    if (~p.buy_eff).any():
        cons.append(y[np.flatnonzero(~p.buy_eff)] == 0)
    if p.must_lot.any():
        mi = np.flatnonzero(p.must_lot)
        cons.append(x[mi] == p.lot_val[mi])
    pen = 0
    if len(p.band_k):
        Wb = (Ks @ w)[p.band_k]
        slo = cp.Variable(len(p.band_k), nonneg=True)
        shi = cp.Variable(len(p.band_k), nonneg=True)
        fin_lo = np.isfinite(p.band_lo)
        fin_hi = np.isfinite(p.band_hi)
        if fin_lo.any():
            cons.append((Wb + slo)[np.flatnonzero(fin_lo)] >= p.band_lo[fin_lo])
        if fin_hi.any():
            cons.append((Wb - shi)[np.flatnonzero(fin_hi)] <= p.band_hi[fin_hi])
        pen = settings.band_penalty * (cp.sum(slo) + cp.sum(shi))
    obj = (p.cg * cp.sum_squares(ag) + cp.sum(cp.multiply(p.ck, cp.square(ak)))
           + (p.kappa + p.tax_obj + p.rv * p.rho[p.lot_sec]) @ x + (p.kappa - p.rv * p.rho) @ y
           + pen + settings.cash_penalty * max(1.0, p.lam) * short)
    const = float(p.cg * (p.Tg @ p.Tg) + (p.ck * p.Tk) @ p.Tk)
    prob = cp.Problem(cp.Minimize(obj - const), cons)
    return prob, x, y
