# Kept whole for now, long because inputs, QP assembly, solving, rounding and the score share the per-universe caches of the hot path; splitting it into a package with a bit-identical check (bench/compare_proposals.py) is issue #14's open part.
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

    TE^2(w) = sum_k sigma_k^2 a_k^2 + sigma_e^2 sum_g a_g^2 + sigma_s^2 sum_s a_s^2

A substitute held in place of a model security is in the same drift group, so it is drift only
through the last term: ``a_s = w_s - t_s`` per security, at the security's own vol
``sigma_s = own_vol`` (substitutes are not perfect stand-ins; 0, the default, treats them as
perfect and leaves the QP as it was).  When ``own_vol > 0`` the QP gets one weight variable
and one equality row per security (:func:`_add_security_term`).

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
  0 when the account is not taxable) on a gain.  A loss lot is worth its *harvest value*
  (engine/decide/harvest.py: the full tax, or the present value of the deferral and of the
  short-to-long-term conversion).  Only *harvest candidates* (loss >= ``harvest_min_loss_pct``
  of cost and >= ``harvest_min_loss_dollars``, and a value above both legs' trading cost, two
  tickets and the substitute's tracking cost) carry minus that value (plus the tracking cost)
  in the objective; other losses are tax-neutral there, so losses that do not pay cause no
  churn.  The score uses the true tax on gains and the harvest value on losses.
* ``rho_s = (5.5 - rating_s) / 4.5`` in [-1, 1] (1 best -> +1, 10 worst -> -1, unrated -> 0);
  ``rating_value = rating_value_bps / 1e4``.
* Constraints: cash after trade >= model cash weight * V + cash_needed (softened by a large
  penalty so a frozen account still gets a best effort; the shortfall is reported; cash never
  ends below min(0, current cash)); no buys of ``!can_buy``, no sells of ``!can_sell`` (a halt
  beats a restriction), ``must_sell`` holdings sold in full (and never bought), asset-class
  bands ``lo <= W_k <= hi`` softened with ``band_penalty``; long only.  Bands (engine/decide/band_rules.py)
  hold on the value left after the cash requests, with a margin for whole shares; when the band
  mandate trades now (``band_mandate``), an account outside a band gets a penalty that beats any
  tax (``>= 100 x max(1, lambda)``, below the cash requirement's) and is aimed at the edge or
  ``band_trade_to`` of the way to the target; what it cannot reach is named (``band_unreachable``).
  A lot with ``lot_loss_sale_blocked`` is never sold at a loss, except when its security is
  ``must_sell`` (a restriction is a mandate; the wash-sale loss is then disallowed and counted
  as zero tax benefit).
* Weights are fractions of the pre-trade V before and after the trades (costs are small).
  Bands are read for the asset classes of the account's securities; other keys (e.g. "CASH")
  are ignored.  Pre-/post-trade class weights are reported with a "CASH" entry.

Solve sequence (Moehle, Kochenderfer, Boyd, Ang: fix trade directions to stay convex)
1. Optimality certificate for "no trade": if no mandate is active (no must-sell, cash met,
   inside every band) and no single buy or lot sale has a negative directional derivative of
   the objective at the current portfolio, doing nothing is optimal -> return at once, no solve.
2. Direction rule before solving: a security holding a harvest-candidate loss is not bought
   when its drift group has a buyable security without such a loss (the same exposure, and the
   harvest stays open).
3. First solve.  Then (a) every security that was both bought and loss-sold gets one
   direction: SELL (no buys) when the loss sold >= the amount bought, else BUY (loss lots
   frozen); every other security that could conflict is BUY-side.  (b) Trades under the minimum
   size (dollars or shares) are pinned to zero (restriction sales are exempt; groups with a
   conflict are left free, they are about to be re-balanced through a substitute).  If (a) or
   (b) changed anything, solve once more (only bounds change: PIQP reuses its factorization
   set-up).
4. Round to whole shares (never more than held, per lot: each lot gives floor(qty)), drop
   lines still under the minimum, net a buy against a same-security sale, re-check cash with
   ticket costs (trim buys largest first, then sell more: securities already sold first, then
   the most overweight groups, within each class's room above its band first), move any class
   the rounded trades pushed outside its band back in by whole shares (a band mandate's trades
   are rounded inward and kept at the minimum size) and name lots: losses first, then highest
   basis (= highest unit cost first; a blocked lot at a loss is never named unless the holding
5. ``prune_lines``: drop, one at a time, the order lines whose ticket and trading cost exceed
   what they bring (engine/decide/line_pruning.py: never a mandate's, a harvest's, or one the cash or
   a band needs).
   is restricted); in a taxable account a security sold from both short- and long-term lots is
   named tax-minimally for the year, netted as the tax code nets them (engine/book/lot_choice.py).

The QP is assembled directly in solver form (sparse CSC, 3 non-zeros per lot bucket and per
security) and solved by PIQP (Clarabel as fallback, or the other way round).  Measured against
one cvxpy DPP problem compiled per padded shape (bench/bench_optimizer.py --cvxpy-dpp): cvxpy's
per-solve overhead (parameter tensors, solver-interface set-up, unpacking) was ~5x this
module's whole per-account time.  :func:`build_cvxpy_problem` states the first-solve problem in
cvxpy over individual lots; the tests check that both have the same optimum.

Score (computed on the final, rounded trades, in dollars; ``score_bps`` = score / V * 1e4)::

    score = drift_benefit + harvest_benefit + rating_benefit - trading_cost - tax_cost
    drift_benefit   = lambda * V * (TE_pre^2 - TE_post^2) / te_ref   (same term as the objective)
    tax_cost        = sum of tax on lots sold at a gain                (>= 0)
    harvest_benefit = what the losses sold are worth: loss x harvest value rate (>= 0; the
                      policy's [harvest] valuation, engine/decide/harvest.py; disallowed wash-sale
                      losses count 0)
    tax_saved       = sum of tax saved this year on lots sold at a loss (rate x loss)
    realized_tax    = tax_cost - tax_saved                              (net, may be < 0)
    rating_benefit  = rating_value * sum_s rho_s * (bought$_s - sold$_s)
    trading_cost    = k * traded$ + ticket_cost * number of order lines
"""
from __future__ import annotations

import gc
import math
import time
from collections.abc import Callable, Iterable
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from typing import NamedTuple

import numpy as np
import scipy.sparse as sp

from engine.book import lot_choice
from engine.decide import band_rules, gains_budget, trade_limits
from engine.decide.harvest import harvest_cost, loss_value_rate
from engine.decide.line_pruning import prune_lines

__all__ = [
    "OptimizerSettings",
    "AccountInput",
    "TradeLine",
    "AccountResult",
    "optimize_account",
    "optimize_many",
    "score_trades",
    "tracking_error",
    "build_cvxpy_problem",
]

REASONS = ("cash", "restriction", "band", "drift", "harvest")
_INF = np.inf
# reductions called directly: ndarray.sum()/.min()/.max()/.any() go through numpy's
# Python-level wrappers (~1 us each on these short arrays); same results
_sum = np.add.reduce
_min = np.minimum.reduce
_max = np.maximum.reduce
try:  # the C function behind np.count_nonzero (whose Python wrapper costs ~0.3 us a call)
    from numpy._core.multiarray import count_nonzero as _nnz
except ImportError:  # pragma: no cover - other numpy layouts
    _nnz = np.count_nonzero
# on bool arrays, _nnz is a truth test of "any"


# --------------------------------------------------------------------------- data classes
@dataclass(frozen=True)
class OptimizerSettings:
    """Firm policy for the optimizer.  Money amounts are dollars."""

    tradeoff_lambda: float = 1.0  # dispersion-vs-tax weight (higher = care more for drift)
    cost_bps: float = 5.0  # trading cost, bps of traded value
    ticket_cost: float = 0.0  # $ per order line (score and cash check; not in the QP)
    min_trade_dollars: float = 500.0
    min_trade_shares: int = 1
    harvest_min_loss_pct: float = 0.05  # harvest candidate: loss >= this fraction of cost ...
    harvest_min_loss_dollars: float = 1000.0  # ... and >= this many dollars
    band_penalty: float = 100.0  # $ of objective per $ of asset-class band violation
    solver: str = "PIQP"  # "PIQP" or "CLARABEL"; the other one is the fallback
    # --- risk proxy and valuation (added) ---
    te_ref: float = 0.01  # drift $ = lambda * V * TE^2 / te_ref
    class_vol: float = 0.15  # default asset-class factor vol
    class_vols: tuple[tuple[str, float], ...] = ()  # overrides, e.g. (("FIXED_INCOME", .05),)
    idio_vol: float = 0.10  # idiosyncratic vol of a drift (substitute) group
    own_vol: float = 0.0  # a security's own vol apart from its group (0: substitutes are perfect stand-ins)
    prune_lines: bool = False  # drop order lines that do not pay their ticket (engine/decide/line_pruning.py)
    rating_value_bps: float = 10.0  # $ value (bps of moved value) per unit of rating score rho
    cash_penalty: float = 1000.0  # objective $ per $ of unmet cash need (x max(1, lambda))
    # --- harvest valuation (engine/decide/harvest.py; the policy's [harvest] section) ---
    harvest_value: str = "full"  # "full": loss x rate; "deferral": present value of the deferral
    harvest_discount_rate: float = 0.05  # a year
    harvest_horizon_years: float = 10.0  # when the deferred gain is expected to be realized
    harvest_st_conversion: bool = True  # a short-term loss saves ST tax now, its basis pays LT later
    harvest_substitute_bps: float = 0.0  # cost of the substitute's tracking difference, bps of a lot
    # --- band mandates (engine/decide/band_rules.py) ---
    band_mandate: bool = False  # the band mandate kind trades now: reachable bands hold
    band_trade_to: float = 0.0  # a class outside its band trades back to the edge (0) .. target (1)
    # --- gains budgets and cash-flow trading (engine/decide/gains_budget.py, engine/decide/cash_flow.py) ---
    budget_hard: bool = True  # budgets bind the optimizer (False: advisory, flagged only)
    invest_threshold: float = 0.01  # cash-flow: invest cash above model cash + this fraction of V


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
    # optional: a hashable key that is equal only for accounts with equal securities, prices,
    # classes, groups, targets and ratings (e.g. the builder's (book, model, securities));
    # derived per-universe arrays are memoized on it (without it, on the arrays' contents)
    universe_key: object = None
    # optional: the lots' tax terms derived for a whole book at once by :func:`lot_terms`
    # (see :func:`derive_lot_terms`); without them they are derived here, per account.
    # Both optional fields describe the other fields: set them to None in a modified copy.
    lot_terms: tuple | None = None
    # optional: net realized gains allowed this year ($; NaN = no budget), net gains realized
    # this year so far, and cash-flow trading (engine/decide/gains_budget.py, engine/decide/cash_flow.py)
    gains_budget: float = math.nan
    ytd_st: float = 0.0
    ytd_lt: float = 0.0
    cash_flow: bool = False
    # optional: a model change's transition (engine/book/model_changes.py): net gains this proposal may
    # realize (NaN: no cap) and the weight of tax against drift in the objective
    gains_cap: float = math.nan
    tax_weight: float = 1.0


class TradeLine(NamedTuple):
    """One order line (a named tuple: cheap to build and to pickle)."""

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
    solve_time: float = 0.0  # seconds inside the QP solver(s): creation, set-up, solves, result, release
    tax_saved: float = 0.0  # tax the losses sold save this year (rate x loss; harvest_benefit is their value)
    band_unreachable: tuple = ()  # band mandate: "<class> (<why>)" per band it could not reach
    budget: dict = field(default_factory=dict)  # gains budget: used, left, over (gains_budget.budget_state)

    def __reduce__(self):
        # results cross process boundaries: the field values as one tuple pickle ~2x faster
        # than the dataclass's default (its __dict__, keys included); trade lines go as plain
        # tuples (a named tuple would be rebuilt through its Python __new__)
        v = list(self.__dict__.values())
        v[2] = list(map(tuple, v[2]))  # trades
        return (_result, tuple(v))


def _result(account_id, status, trades, *values) -> AccountResult:
    return AccountResult(account_id, status, list(map(_new_line, trades)), *values)


# --------------------------------------------------------------------------- preparation
class _Prep:
    """Derived arrays of one account (fractions of V unless named *_d for dollars).

    Lot-level arrays (index l) serve rounding and the score.  The QP works on *buckets* of
    sellable lots: in a tax-exempt account all lots of a security with the same loss flag are
    interchangeable in the QP and share one variable (exact); in a taxable one a bucket is a lot.
    """

    __slots__ = (
        "inp", "S", "L", "V", "price", "lot_sec", "qty", "cost", "lot_val", "lot_px", "h0", "c0",
        "creq",
        "gi", "ci", "G", "K", "classes", "Tg", "Tk", "sig2", "cg", "ck", "kappa", "rho", "rv",
        "tax_true", "candidate", "sell_ok", "buy_ok", "buy_eff", "must_sec", "any_must",
        "band_k", "band_lo", "band_hi", "lam", "idio2", "Wk0", "ag0", "te0", "own2", "cs", "Ts",
        "B", "b_sec", "b_val", "b_tax", "b_must", "b_loss", "sold_lots", "u", "bands", "hv",
        "band_hard", "b_lot", "gain_cap",
    )


def _prepare(inp: AccountInput, st: OptimizerSettings) -> _Prep:
    p = _Prep()
    p.inp = inp
    price = np.asarray(inp.price, dtype=float)
    S = len(price)
    lot_sec = np.asarray(inp.lot_sec, dtype=np.intp)
    L = len(lot_sec)
    qty = np.asarray(inp.lot_qty, dtype=float)
    cost = np.asarray(inp.lot_unit_cost, dtype=float)
    cash = float(inp.cash)
    if L and not (_min(lot_sec) >= 0 and _max(lot_sec) < S):
        raise ValueError("lot_sec out of range")
    unpriced = None
    if S and not (_min(price) > 0 and math.isfinite(_sum(price))):
        # an unpriced security that is not held is simply not tradable; a held one is bad data
        unpriced = ~(price > 0) | ~np.isfinite(price)
        if L and unpriced[lot_sec].any():
            bad = np.asarray(inp.symbols)[lot_sec[unpriced[lot_sec]]]
            raise ValueError(f"held security without a valid price: {', '.join(map(str, bad[:5]))}")
        price = np.where(unpriced, 1.0, price)
    if L and not (_min(qty) >= 0 and math.isfinite(_sum(qty)) and math.isfinite(_sum(cost))):
        raise ValueError("lot quantities must be finite and >= 0, unit costs finite")
    if not math.isfinite(cash):
        raise ValueError("cash must be finite")
    pre = inp.lot_terms
    if pre is not None and len(pre[1]) == L and pre[0] == _terms_key(st):
        _, lot_px, lot_val, loss, held, tax_true, cand, tax_obj, hv = pre
        lot_val = lot_val * 1.0  # a copy (scaled by 1/V below)
    else:
        lot_px = price[lot_sec]
        lot_val = qty * lot_px
        held = qty > 0
        if inp.taxable:
            loss, tax_true, cand, tax_obj, hv = lot_terms(
                lot_px, qty, cost, np.asarray(inp.lot_short_term, dtype=bool), inp.st_rate,
                inp.lt_rate, st)
        else:
            loss = cost > lot_px
            hv = tax_obj = tax_true = np.zeros(L)
            cand = tax_true != 0.0
    if inp.taxable and (inp.ytd_st or inp.ytd_lt):  # priced at this year's marginal rates
        short = np.asarray(inp.lot_short_term, dtype=bool)
        st_r, lt_r = gains_budget.lot_rates(short, cost > lot_px, inp.ytd_st, inp.ytd_lt, inp.st_rate,
                                            inp.lt_rate)
        loss, tax_true, cand, tax_obj, hv = lot_terms(lot_px, qty, cost, short, st_r, lt_r, st)
    if inp.tax_weight != 1.0 and inp.taxable:
        tax_obj = tax_obj * inp.tax_weight
    V = cash + float(_sum(lot_val))
    p.S, p.L, p.V = S, L, V
    p.gain_cap = None  # $ of net gain the proposal may realize (trade_limits: a budget row)
    if V <= 0:
        return p
    lot_val *= 1.0 / V
    p.price, p.lot_sec, p.qty, p.cost, p.lot_val = price, lot_sec, qty, cost, lot_val
    p.lot_px = lot_px
    p.h0 = np.bincount(lot_sec, lot_val, S) if L else np.zeros(S)
    p.c0 = cash / V
    p.creq = float(inp.model_cash_w) + float(inp.cash_needed) / V
    if inp.cash_flow or inp.gains_budget == inp.gains_budget or inp.gains_cap == inp.gains_cap:
        p.creq = trade_limits.cash_requirement(inp, st, p.c0, V)  # mandates only: never model cash

    u = _universe(inp, price, st)
    p.u = u
    p.classes = classes = u.classes
    p.ci, p.gi, p.G, p.Tg, p.Tk, p.K = u.ci, u.gi, u.G, u.Tg, u.Tk, u.K
    p.Wk0 = np.bincount(p.ci, p.h0, u.K)
    p.ag0 = np.bincount(p.gi, p.h0, u.G) - u.Tg
    sig2 = p.sig2 = u.sig2
    p.lam = u.lam
    p.idio2 = u.idio2
    ak = p.Wk0 - u.Tk
    p.te0 = float(u.idio2 * (p.ag0 @ p.ag0) + (sig2 * ak) @ ak)
    p.own2 = own2 = float(st.own_vol) ** 2
    p.Ts = u.Ts
    p.cs = p.lam * own2 / st.te_ref
    if own2 > 0:
        as0 = p.h0 - u.Ts
        p.te0 += own2 * float(as0 @ as0)
    p.cg, p.ck, p.kappa, p.rho, p.rv = u.cg, u.ck, u.kappa, u.rho, u.rv

    can_sell = np.asarray(inp.can_sell, dtype=bool)
    must = np.asarray(inp.must_sell, dtype=bool)
    p.buy_ok = buy_ok = np.asarray(inp.can_buy, dtype=bool) & ~must  # never buy a restricted one
    if unpriced is not None:
        buy_ok &= ~unpriced
    must = must & can_sell  # a halt beats a restriction: it is sold once the halt lifts
    sell_ok = can_sell[lot_sec] & held
    p.any_must = any_must = bool(_nnz(must))
    blocked_loss = np.asarray(inp.lot_loss_sale_blocked, dtype=bool) & loss
    if any_must:
        must_lot = must[lot_sec] & held
        sell_ok &= ~blocked_loss | must_lot
        p.must_sec = np.bincount(lot_sec, must_lot, S) > 0
    else:
        must_lot = None
        sell_ok &= ~blocked_loss
        p.must_sec = must
    p.sell_ok = sell_ok
    if inp.taxable and any_must:
        disallowed = must_lot & blocked_loss
        if _nnz(disallowed):
            tax_true = tax_true.copy()
            tax_true[disallowed] = 0.0  # wash sale: the loss is disallowed
            tax_obj = tax_obj.copy()
            tax_obj[disallowed] = 0.0
            hv = hv.copy()
            hv[disallowed] = 0.0
    p.tax_true, p.candidate, p.hv = tax_true, cand, hv

    # direction rule: a security holding a harvestable loss is not bought when a buyable
    # substitute without such a loss exists (same exposure, and the harvest stays open)
    p.buy_eff = buy_ok
    if inp.taxable:
        harv = cand & sell_ok
        if any_must:
            harv &= ~must_lot
        if _nnz(harv):
            hs = np.bincount(lot_sec, harv, S) > 0
            clean = np.bincount(p.gi, buy_ok & ~hs, p.G)[p.gi]
            p.buy_eff = buy_ok & ~(hs & (clean > 0))

    # QP variables for sellable lots.  Tax-exempt: one bucket per security and loss flag (all
    # its lots are interchangeable in the QP); taxable: one per lot (tax per dollar differs).
    idx = sell_ok.nonzero()[0]
    if len(idx) and not inp.taxable:
        bs, bl = lot_sec[idx], loss[idx]
        order = np.lexsort((bl, bs))
        bs, bl = bs[order], bl[order]
        start = np.empty(len(idx), dtype=bool)
        start[0] = True
        np.not_equal(bs[1:], bs[:-1], out=start[1:])
        start[1:] |= bl[1:] != bl[:-1]
        si = start.nonzero()[0]
        p.b_sec, p.b_loss, p.b_tax = bs[si], bl[si], np.zeros(len(si))
        p.b_val = np.add.reduceat(lot_val[idx[order]], si)
        p.b_lot = None
    else:
        p.b_sec, p.b_loss, p.b_tax, p.b_val = lot_sec[idx], loss[idx], tax_obj[idx], lot_val[idx]
        p.b_lot = idx
    p.b_must = must[p.b_sec] if any_must else None
    p.B = len(p.b_sec)

    # bands on classes present in the account
    p.bands = bd = _bands(classes, inp.class_bands)
    p.band_k = bd.k
    p.band_lo, p.band_hi = band_rules.scaled_bands(bd.lo, bd.hi, V, float(inp.cash_needed))
    p.band_hard = bool(st.band_mandate and len(bd.k) and _nnz(band_rules.outside(p, p.Wk0))
                       and not inp.cash_flow)  # a cash-flow account never sells to rebalance
    return p


def _terms_key(st: OptimizerSettings) -> tuple:
    """The settings the lots' tax terms depend on (whole-book terms are used only when equal)."""
    return (st.harvest_min_loss_pct, st.harvest_min_loss_dollars, st.harvest_value,
            st.harvest_discount_rate, st.harvest_horizon_years, st.harvest_st_conversion,
            st.harvest_substitute_bps, st.cost_bps, st.ticket_cost)


def lot_terms(lot_px, qty, cost, short, st_rate, lt_rate, st: OptimizerSettings):
    """Tax terms of taxable lots, elementwise: (loss, tax per $ sold, harvest candidate, tax per
    $ in the objective, harvest value per $ sold).  Rates are scalars (one account) or per-lot
    arrays (a whole book at once, :func:`derive_lot_terms`); both give the same numbers.

    A loss lot is worth its harvest value (engine/decide/harvest.py: the present value of the deferral
    under the policy's ``[harvest]`` settings); it is a candidate when that value exceeds the
    harvest's costs and the policy's minimum loss.  In the objective a candidate sale carries
    minus its value plus the substitute's tracking cost; other losses are neutral there."""
    loss = cost > lot_px
    rate = lt_rate + (st_rate - lt_rate) * short
    gain_ps = 1.0 - cost / lot_px  # gain per $ sold (< 0 on a loss)
    tax_true = rate * gain_ps
    hv = loss_value_rate(short, st_rate, lt_rate, value=st.harvest_value,
                         discount_rate=st.harvest_discount_rate,
                         horizon_years=st.harvest_horizon_years,
                         st_conversion=st.harvest_st_conversion) * -gain_ps
    hv *= loss  # harvest value per $ sold, >= 0 on losses, 0 elsewhere
    loss_ps = cost - lot_px
    lot_val = qty * lot_px
    cand = loss & (loss_ps >= st.harvest_min_loss_pct * cost) & (loss_ps * qty >= st.harvest_min_loss_dollars)
    cand &= hv * lot_val > harvest_cost(lot_val, cost_bps=st.cost_bps, ticket_cost=st.ticket_cost,
                                         substitute_bps=st.harvest_substitute_bps)
    tax_obj = tax_true * ~loss
    tax_obj -= (hv - st.harvest_substitute_bps * 1e-4) * cand
    return loss, tax_true, cand, tax_obj, hv


def derive_lot_terms(lot_px, qty, cost, short, taxable, st_rate, lt_rate,
                     settings: OptimizerSettings) -> tuple:
    """Per-lot inputs of :func:`_prepare` for many accounts at once (arrays over lots; rates and
    ``taxable`` per lot).  Slice every array but the first entry (the settings key) with an
    account's lots and pass the tuple as ``AccountInput.lot_terms``."""
    lot_px = np.asarray(lot_px, dtype=float)
    qty = np.asarray(qty, dtype=float)
    cost = np.asarray(cost, dtype=float)
    loss, tax_true, cand, tax_obj, hv = lot_terms(
        lot_px, qty, cost, np.asarray(short, dtype=bool), np.asarray(st_rate, dtype=float),
        np.asarray(lt_rate, dtype=float), settings)
    exempt = ~np.asarray(taxable, dtype=bool)
    tax_true[exempt] = 0.0
    tax_obj[exempt] = 0.0
    hv[exempt] = 0.0
    cand &= ~exempt
    return (_terms_key(settings), lot_px, qty * lot_px, loss, qty > 0, tax_true, cand, tax_obj, hv)


# Accounts of one model share their universe (and often their bands): the codes and bands
# below are memoized per process.  Cached arrays are read-only; a cache is simply emptied
# when it grows past _CACHE_MAX entries.
_CACHE_MAX = 4096
_CODES_CACHE: dict = {}
_BANDS_CACHE: dict = {}


def read_only(a: np.ndarray) -> np.ndarray:
    """``a``, made read-only (shared arrays: caches, whole-book terms)."""
    a.flags.writeable = False
    return a


_UNIV_CACHE: dict = {}


class _Universe:
    """What accounts with the same securities (and prices, targets, ratings) share, and the
    parts of their QP that depend only on it and on the settings (read-only arrays)."""

    __slots__ = ("classes", "ci", "gi", "G", "K", "Tg", "Tk", "Ts", "rho", "price", "st",
                 "sig2", "lam", "idio2", "cg", "ck", "kappa", "rv", "rvr", "pd", "c_y", "a_x",
                 "a_y_idx", "a_y_val", "min_w", "min_buy", "ctg", "settled", "half_k")

    def settle(self, st: OptimizerSettings) -> _Universe:
        """This universe with its settings-dependent parts for ``st``: a new record, kept as
        ``self.settled`` once complete (one assignment: a thread never sees half of it)."""
        out = _Universe()
        for name in ("classes", "ci", "gi", "G", "K", "Tg", "Tk", "Ts", "rho", "price", "ctg", "half_k"):
            setattr(out, name, getattr(self, name))
        out._settle(st)
        out.settled = None
        self.settled = out
        return out

    def _settle(self, st: OptimizerSettings) -> None:
        self.st = st
        classes, K = self.classes, self.K
        vol = st.class_vol
        if st.class_vols:
            over = dict(st.class_vols)
            sig2 = np.array([over.get(c, vol) for c in classes], dtype=float) ** 2
        else:
            sig2 = np.empty(K)
            sig2.fill(vol * vol)
        self.sig2 = read_only(sig2)
        self.lam = lam = float(st.tradeoff_lambda)
        self.idio2 = idio2 = float(st.idio_vol) ** 2
        self.cg = cg = lam * idio2 / st.te_ref
        self.ck = ck = read_only(sig2 * (lam / st.te_ref))
        self.kappa = kap = st.cost_bps * 1e-4
        self.rv = rv = st.rating_value_bps * 1e-4
        self.rvr = rvr = read_only(rv * self.rho)
        G, S = self.G, len(self.ci)
        # QP pieces (see _build_qp): P's diagonal on (g, e); c on (y, g, e); A's columns
        pd = np.empty(G + K)
        pd[:G] = 2.0 * cg
        pd[G:] = 2.0 * ck
        self.pd = read_only(pd)
        c = np.empty(S + G + K)
        np.subtract(kap, rvr, out=c[:S])
        np.multiply(self.Tg, -2.0 * cg, out=c[S:S + G])
        np.multiply(self.Tk, ck, out=c[S + G:])
        c[S + G:] *= -2.0
        self.c_y = read_only(c)
        rc = G + K
        a_x = np.empty((S, 3), dtype=np.int32)  # rows of a sold lot of security s
        a_x[:, 0] = self.gi
        a_x[:, 1] = self.ci
        a_x[:, 1] += G
        a_x[:, 2] = rc
        self.a_x = read_only(a_x)
        self.a_y_idx = read_only(a_x.ravel().copy())  # a bought security: the same rows
        a_y_val = np.empty(3 * S)
        a_y_val.fill(-1.0)
        a_y_val[2::3] = 1.0 + kap
        self.a_y_val = read_only(a_y_val)
        # minimum trade (dollars per security); a buy of k shares is too small when k < min_buy
        price = self.price
        self.min_w = read_only(np.maximum(st.min_trade_shares * price, st.min_trade_dollars))
        self.min_buy = read_only(_min_shares(price, max(int(st.min_trade_shares), 1),
                                           st.min_trade_dollars))


def _min_shares(price: np.ndarray, min_s: int, min_d: float) -> np.ndarray:
    """Smallest whole k with k >= min_s and k * price >= min_d, per security (exact: the
    same test as ``k < min_s or k * price < min_d``, which is monotone in k)."""
    k = np.maximum(np.ceil(min_d / price), min_s).astype(np.int64)
    lower = k - 1
    ok = (lower >= min_s) & (lower * price >= min_d)
    k[ok] = lower[ok]
    k[k * price < min_d] += 1
    return k


def _universe(inp: AccountInput, price: np.ndarray, st: OptimizerSettings) -> _Universe:
    """The account's universe record (memoized on ``inp.universe_key`` when given, else on the
    classes, groups, targets, ratings and prices), settled for ``st``."""
    key = inp.universe_key
    if key is None:
        try:
            key = (tuple(np.asarray(inp.asset_class).tolist()),
                   tuple(np.asarray(inp.drift_group).tolist()),
                   np.asarray(inp.target_w, dtype=float).tobytes(),
                   np.asarray(inp.rating, dtype=float).tobytes(), price.tobytes())
        except TypeError:  # unhashable labels: no cache
            key = None
    u = _UNIV_CACHE.get(key) if key is not None else None
    if u is None:
        u = _new_universe(inp, price)
        if key is not None:
            if len(_UNIV_CACHE) >= _CACHE_MAX:
                _UNIV_CACHE.clear()
            _UNIV_CACHE[key] = u
    done = u.settled
    if done is None or (done.st is not st and done.st != st):
        done = u.settle(st)
    return done


def _new_universe(inp: AccountInput, price: np.ndarray) -> _Universe:
    target = np.asarray(inp.target_w, dtype=float)
    rating = np.asarray(inp.rating, dtype=float)
    u = _Universe()
    u.classes, u.ci = _codes(np.asarray(inp.asset_class))
    groups, u.gi = _codes(np.asarray(inp.drift_group))
    u.G = G = len(groups)
    u.K = K = len(u.classes)
    rho = (5.5 - rating) * (1.0 / 4.5)
    rho[np.isnan(rho)] = 0.0  # unrated
    np.minimum(rho, 1.0, out=rho)
    np.maximum(rho, -1.0, out=rho)
    u.rho = read_only(rho)
    u.Tg = read_only(np.bincount(u.gi, target, G))
    u.Tk = read_only(np.bincount(u.ci, target, K))
    u.Ts = read_only(target.copy())
    u.ctg = dict(zip(u.classes, u.Tk.tolist()))
    u.price = read_only(price.copy())
    u.half_k = read_only(np.bincount(u.ci, price, K) * 0.5)  # half a share of each, per class
    u.st = u.settled = None
    return u


def _codes(values) -> tuple[list, np.ndarray]:
    """Distinct values (first-seen order, as str) and the code of each element (faster than
    np.unique on short string arrays)."""
    vals = values.tolist() if hasattr(values, "tolist") else list(values)
    try:
        key = tuple(vals)
        hit = _CODES_CACHE.get(key)
    except TypeError:  # unhashable labels: no cache
        key = hit = None
    if hit is not None:
        return hit
    seen: dict = {}
    codes = [seen.setdefault(v, len(seen)) for v in vals]
    out = [str(v) for v in seen], read_only(np.array(codes, dtype=np.intp))
    if key is not None:
        if len(_CODES_CACHE) >= _CACHE_MAX:
            _CODES_CACHE.clear()
        _CODES_CACHE[key] = out
    return out


class _Bands:
    """The finite asset-class bands of an account (class index, lo, hi, in class order) and
    the parts of the QP's inequality rows that depend only on them (read-only)."""

    __slots__ = ("k", "lo", "hi", "g_idx", "g_val", "g_tail", "hl", "hu")


def _band_record(K: int, bk: list, blo: list, bhi: list) -> _Bands:
    r = _Bands()
    nb = len(bk)
    r.k = read_only(np.array(bk, dtype=np.intp))
    r.lo = read_only(np.array(blo, dtype=float))
    r.hi = read_only(np.array(bhi, dtype=float))
    # rows: 0 cash requirement (cp + sc >= creq), 1..nb bands; columns from the class
    # weights e on: e (K), band slack lo (nb), band slack hi (nb), sc, cp
    ar = _arange(nb + 1)
    g_idx = np.zeros(3 * nb + 2, dtype=np.int32)
    g_idx[:nb] = ar[1:nb + 1]  # band k is increasing: e columns come in band order
    g_idx[nb:2 * nb] = ar[1:nb + 1]
    g_idx[2 * nb:3 * nb] = ar[1:nb + 1]
    g_val = np.empty(3 * nb + 2)
    g_val.fill(1.0)
    g_val[2 * nb:3 * nb] = -1.0
    cnt = np.zeros(K + 2 * nb + 2, dtype=np.int32)
    cnt[r.k] = 1
    cnt[K:] = 1
    r.g_idx, r.g_val = g_idx, g_val  # shared, handed to PIQP (which wants writeable arrays)
    r.g_tail = read_only(np.add.accumulate(cnt).astype(np.int32))  # column pointers after e0
    hl = np.empty(nb + 1)
    hu = np.empty(nb + 1)
    hl[0] = np.nan  # the account's cash requirement
    hu[0] = _INF
    hl[1:] = r.lo
    hu[1:] = r.hi
    r.hl, r.hu = read_only(hl), hu
    return r


_NO_BANDS: dict = {}  # K -> record without bands


def _bands(classes: list, class_bands) -> _Bands:
    """The band record of the account's classes (memoized)."""
    if not class_bands:
        hit = _NO_BANDS.get(len(classes))
        if hit is None:
            hit = _NO_BANDS[len(classes)] = _band_record(len(classes), [], [], [])
        return hit
    try:
        key = (tuple(classes), tuple(class_bands.items()))
        hit = _BANDS_CACHE.get(key)
    except TypeError:  # e.g. bands given as lists: no cache
        key = hit = None
    if hit is not None:
        return hit
    bk, blo, bhi = [], [], []
    get = class_bands.get
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
    out = _band_record(len(classes), bk, blo, bhi)
    if key is not None:
        if len(_BANDS_CACHE) >= _CACHE_MAX:
            _BANDS_CACHE.clear()
        _BANDS_CACHE[key] = out
    return out


def _te2(p: _Prep, w: np.ndarray) -> float:
    """Squared tracking error of security weights w (fractions of V)."""
    ag = np.bincount(p.gi, w, p.G) - p.Tg
    ak = np.bincount(p.ci, w, p.K) - p.Tk
    out = float(p.idio2 * (ag @ ag) + (p.sig2 * ak) @ ak)
    if p.own2 > 0:
        a_s = w - p.Ts
        out += p.own2 * float(a_s @ a_s)
    return out


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
_AR = np.arange(4096, dtype=np.int32)


def _arange(n: int) -> np.ndarray:
    return _AR[:n] if n <= 4096 else np.arange(n, dtype=np.int32)


class _QP:
    __slots__ = ("n", "P", "c", "A", "b", "Gm", "hl", "hu", "xl", "xu", "oy", "og", "oe",
                 "ob", "osc", "ocp", "nb")


def _build_qp(p: _Prep, st: OptimizerSettings) -> _QP:
    """Relaxed QP in PIQP form: min 1/2 z'Pz + c'z, A z = b, hl <= Gm z <= hu, xl <= z <= xu.

    z = [x (B lot buckets sold), y (S bought), g (G group weights), e (K class weights),
    band slack lo (nb), band slack hi (nb), cash shortfall sc, post-trade cash cp].
    Every dense relation (group/class sums, the cash balance) is an equality row so the KKT
    system stays sparse; the inequality rows have 2-3 non-zeros each.  The objective is the
    dollar objective / V without its constant.
    """
    B, S, G, K = p.B, p.S, p.G, p.K
    nb = len(p.band_k)
    oy = B
    og = B + S
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
    u = p.u
    # objective
    Pd = np.zeros(n)
    Pd[og:ob] = u.pd
    ar = _arange(n + 1)
    q.P = _csc(Pd, ar[:n], ar, (n, n))
    c = np.empty(n)
    c[:B] = p.b_tax + u.rvr[bsec]
    c[:B] += kap
    c[oy:ob] = u.c_y
    c[ob:osc] = band_rules.band_penalty(p, st)
    c[osc] = st.cash_penalty * max(1.0, p.lam)
    c[ocp] = 0.0
    q.c = c

    # equality rows: 0..G-1 group weights, G..G+K-1 class weights, G+K cash balance
    rc = G + K
    o = 3 * B
    o2 = o + 3 * S
    m = o2 + rc + 1
    a_idx = np.empty(m, dtype=i32)
    a_val = np.empty(m)
    a_idx[0:o] = u.a_x[bsec].ravel()
    a_idx[o:o2] = u.a_y_idx
    a_val[0:o] = 1.0
    a_val[2:o:3] = kap - 1.0
    a_val[o:o2] = u.a_y_val
    a_idx[o2:] = ar[:rc + 1]
    a_val[o2:] = 1.0
    a_ptr = np.empty(n + 1, dtype=i32)
    np.multiply(ar[:og + 1], 3, out=a_ptr[:og + 1])
    np.add(ar[1:rc + 1], 3 * og, out=a_ptr[og + 1:ob + 1])
    a_ptr[ob + 1:] = 3 * og + rc
    a_ptr[n] = m
    q.A = _csc(a_val, a_idx, a_ptr, (rc + 1, n))
    b = np.empty(rc + 1)
    b[:G] = p.ag0
    b[:G] += p.Tg
    b[G:rc] = p.Wk0
    b[rc] = p.c0
    q.b = b

    # inequality rows: 0 cash requirement (cp + sc >= creq), 1..nb bands (see _band_record)
    bd = p.bands
    g_ptr = np.empty(n + 1, dtype=i32)
    g_ptr[:oe + 1] = 0
    g_ptr[oe + 1:] = bd.g_tail
    q.Gm = _csc(bd.g_val, bd.g_idx, g_ptr, (1 + nb, n))
    hl = bd.hl.copy()
    hl[0] = p.creq
    if nb:
        hu = bd.hu.copy()
        hl[1:], hu[1:] = band_rules.qp_bounds(p, st)
    else:
        hu = bd.hu
    q.hl, q.hu = hl, hu

    # bounds
    xl = np.zeros(n)
    xu = np.empty(n)
    xu[:B] = p.b_val
    if p.b_must is not None:
        xl[:B][p.b_must] = p.b_val[p.b_must]
    xu[oy:og] = _INF
    xu[oy:og][~p.buy_eff] = 0.0
    xl[og:ob] = -_INF
    xu[og:] = _INF
    xl[ocp] = min(0.0, p.c0)  # never leave cash worse than it was
    q.xl, q.xu = xl, xu
    if p.cs > 0:
        _add_security_term(p, q)
    if trade_limits.applies(p.inp):  # a gains budget row, cash-flow limits
        trade_limits.apply(p, st, q)
    return q


def _add_security_term(p: _Prep, q: _QP) -> None:
    """The per-security tracking term (``own_vol > 0``): S weight variables v at the end of z,
    one equality row each (x of the security's lots - its buy + v = its weight before), and
    ``cs * (v - t)^2`` in the objective.  Built with scipy's public constructors: only
    policies that set ``own_vol`` pay for it."""
    S, B, n = p.S, p.B, q.n
    rows = np.concatenate([p.b_sec, np.arange(S)])
    cols = np.concatenate([np.arange(B), q.oy + np.arange(S)])
    vals = np.concatenate([np.ones(B), -np.ones(S)])
    X = sp.csc_matrix((vals, (rows, cols)), shape=(S, n))
    A = sp.vstack([sp.hstack([q.A, sp.csc_matrix((q.A.shape[0], S))]),
                   sp.hstack([X, sp.identity(S, format="csc")])], format="csc")
    A.sort_indices()
    q.A = A
    q.b = np.concatenate([q.b, p.h0])
    Pd = np.concatenate([q.P.diagonal(), np.full(S, 2.0 * p.cs)])
    q.P = sp.diags(Pd, format="csc")
    q.c = np.concatenate([q.c, -2.0 * p.cs * p.Ts])
    q.Gm = sp.hstack([q.Gm, sp.csc_matrix((q.Gm.shape[0], S))], format="csc")
    q.xl = np.concatenate([q.xl, np.full(S, -_INF)])
    q.xu = np.concatenate([q.xu, np.full(S, _INF)])
    q.n = n + S


# --------------------------------------------------------------------------- solvers
class _SolverError(Exception):
    pass


class _Session:
    """Solves one account's QP repeatedly; later solves change only variable bounds."""

    __slots__ = ("q", "order", "piqp", "solve_time", "n_solves")

    def __init__(self, q: _QP, st: OptimizerSettings):
        self.q = q
        self.order = _ORDER_CLARABEL if st.solver.upper() == "CLARABEL" else _ORDER_PIQP
        self.piqp = None
        self.solve_time = 0.0
        self.n_solves = 0

    def close(self) -> None:
        """Release the solver (its factorization); timed as solver time like its set-up."""
        if self.piqp is not None:
            t0 = time.perf_counter()
            self.piqp = None
            self.solve_time += time.perf_counter() - t0

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
        piqp = _piqp_mod()
        t0 = time.perf_counter()
        s = self.piqp
        if s is None:
            s = piqp.SparseSolver()
            s.settings.verbose = False
            s.settings.preconditioner_iter = 2  # the QP is well scaled (fractions of V)
            s.settings.preconditioner_scale_cost = True
            s.setup(q.P, q.c, q.A, q.b, q.Gm, q.hl, q.hu, xl, xu)
            self.piqp = s
        else:
            s.update(x_l=xl, x_u=xu)
        status = s.solve()
        solved = status == piqp.PIQP_SOLVED
        x = s.result.x if solved else None  # the solver's read-only buffer
        self.solve_time += time.perf_counter() - t0
        self.n_solves += 1
        if not solved:
            s = None
            self.close()
            raise _SolverError(str(status).rsplit(".", 1)[-1])
        z = np.minimum(x, xu)  # a copy, within the bounds
        np.maximum(z, xl, out=z)
        return z

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
        Gr = sp.csr_matrix(q.Gm)
        blocks_eq = [sp.csr_matrix(q.A), eye[fixed]]
        b_eq = [q.b, xl[fixed]]
        blocks_in = [-Gr[gl], Gr[gu], -eye[lo], eye[up]]
        b_in = [-q.hl[gl], q.hu[gu], -xl[lo], xu[up]]
        Amat = sp.vstack(blocks_eq + blocks_in, format="csc")
        bvec = np.concatenate(b_eq + b_in)
        m_eq = sum(bl.shape[0] for bl in blocks_eq)
        cones = [clarabel.ZeroConeT(m_eq), clarabel.NonnegativeConeT(Amat.shape[0] - m_eq)]
        cs = clarabel.DefaultSettings()
        cs.verbose = False
        P = sp.triu(sp.csc_matrix(q.P), format="csc")
        r = clarabel.DefaultSolver(P, q.c, Amat, bvec, cones, cs).solve()
        self.solve_time += time.perf_counter() - t0
        self.n_solves += 1
        status = str(r.status)
        if status not in ("Solved", "AlmostSolved"):
            raise _SolverError(status)
        return np.clip(np.asarray(r.x), xl, xu)


_ORDER_PIQP = ("PIQP", "CLARABEL")
_ORDER_CLARABEL = ("CLARABEL", "PIQP")
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
        buy_sh, sell_sh, lot_sh = prune_lines(p, st, buy_sh, sell_sh, lot_sh, _te2)
    return _finish(p, st, buy_sh, sell_sh, lot_sh, "optimal", sess.n_solves, sess.solve_time)


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
    grad *= 2.0
    rvr = p.u.rvr
    buy_m = grad - rvr
    if _nnz(buy_m[p.buy_eff] < -p.kappa):
        return False
    bsec = p.b_sec
    sell_m = p.b_tax + (rvr - grad)[bsec]
    return not _nnz(sell_m < -p.kappa)


# --------------------------------------------------------------------------- rounding
def _round(p: _Prep, st: OptimizerSettings, sold: np.ndarray, bought: np.ndarray):
    """Whole shares, minimum size, cash re-check, lot naming.

    Returns buy shares[S], sell shares[S] and shares sold per lot[L] (int64)."""
    price = p.price
    sec = p.lot_sec
    kap = p.kappa
    # a buy against a same-security sale is pure cost: net them (both are >= 0, so the
    # minimum is 0 wherever one side is 0)
    m = np.minimum(sold, bought)
    sold -= m
    bought -= m
    # whole shares available to sell per security (each eligible lot gives floor(qty))
    lot_whole = np.floor(p.qty + 1e-9)
    lot_whole *= p.sell_ok
    avail = np.bincount(sec, lot_whole, p.S).astype(np.int64)
    sell_sh = np.rint(sold / price).astype(np.int64)
    np.minimum(sell_sh, avail, out=sell_sh)
    buy_sh = np.rint(bought / price).astype(np.int64)
    buy_sh *= p.buy_ok
    min_d = st.min_trade_dollars
    min_s = max(int(st.min_trade_shares), 1)
    min_k = p.u.min_buy  # k shares are under the minimum trade when k < min_k
    if p.band_hard:  # a band mandate's trades are rounded inward and kept at the minimum size
        band_rules.round_inward(p, sold, bought, buy_sh, sell_sh, avail, min_k)
    buy_sh[buy_sh < min_k] = 0
    small = sell_sh < min_k
    small |= buy_sh > 0
    if p.any_must:
        must = p.must_sec
        sell_sh[must] = avail[must]
        small &= ~must
    sell_sh[small] = 0

    # cash re-check (ticket costs included): trim buys, then sell more
    V = p.V
    tick = st.ticket_cost
    sv = float(sell_sh @ price)
    bv = float(buy_sh @ price)
    n_lines = int(_nnz(sell_sh) + _nnz(buy_sh)) if tick else 0
    deficit = (p.creq - p.c0) * V - (1 - kap) * sv + (1 + kap) * bv + tick * n_lines
    if deficit > 1e-6:
        _repair_cash(p, st, deficit, buy_sh, sell_sh, avail, min_s, min_d)
    if len(p.band_k) and not trade_limits.applies(p.inp):  # rounding must not leave a class outside its
        band_rules.repair(p, st, buy_sh, sell_sh, avail, min_k)  # band (a budget or cash flow limits that)

    # lots: losses first, then highest basis == highest unit cost first; eligible lots only
    lot_sh = np.zeros(p.L, dtype=np.int64)
    selling = sell_sh[sec] > 0
    selling &= lot_whole > 0
    elig = (selling).nonzero()[0]
    p.sold_lots = elig  # lots sold, in naming order (grouped by security)
    if len(elig):
        order = elig[np.lexsort((-p.cost[elig], sec[elig]))]
        ss = sec[order]
        ws = lot_whole[order]
        cs = np.add.accumulate(ws)
        cs -= ws  # shares in earlier lots (all securities)
        first = ss.searchsorted(ss)
        cs -= cs[first]  # shares in earlier lots of the same security
        take = sell_sh[ss] - cs
        np.minimum(take, ws, out=take)
        np.maximum(take, 0, out=take)
        lot_sh[order] = take
        p.sold_lots = order[take > 0]
        if p.inp.taxable:  # short- against long-term lots: the least tax for the year
            p.sold_lots = lot_choice.rename_sold(p, sell_sh, lot_whole, order, lot_sh)
        if p.gain_cap is not None:  # whole shares must not take the proposal over its budget
            gains_budget.trim_to_budget(p, p.gain_cap, buy_sh, sell_sh, lot_sh, min_k)
            p.sold_lots = p.sold_lots[lot_sh[p.sold_lots] > 0]
    return buy_sh, sell_sh, lot_sh


def _repair_cash(p, st, deficit, buy_sh, sell_sh, avail, min_s, min_d):
    price = p.price
    kap = p.kappa
    tick = st.ticket_cost
    # (a) trim buys, largest first (not a band mandate's buys of a class under its band)
    trim = buy_sh * price
    under = band_rules.under_band_securities(p) if p.band_hard else None
    if under is not None:
        trim *= ~under
    for s in (-trim).argsort().tolist():
        if deficit <= 1e-6 or trim[s] == 0:
            break
        px = float(price[s])
        need = int(math.ceil(deficit / ((1 + kap) * px) - 1e-9))
        new = int(buy_sh[s]) - need
        if new < min_s or new * px < min_d:
            new = 0
        deficit -= (buy_sh[s] - new) * px * (1 + kap) + (tick if new == 0 else 0.0)
        buy_sh[s] = new
    if deficit <= 1e-6:
        return deficit
    # (b) sell more: securities already sold first (largest first), then the most overweight
    room = avail - sell_sh
    ok = (room > 0) & (buy_sh == 0)
    if under is not None and _nnz(ok & ~under):  # not a class the band mandate is raising
        ok &= ~under
    cand = np.flatnonzero(ok)
    if not len(cand):
        return deficit
    over = p.ag0[p.gi]
    key = np.where(sell_sh[cand] > 0, 1e12 + sell_sh[cand] * price[cand], over[cand])
    order = cand[(-key).argsort()].tolist()
    # first within the room each class has above its band (dollars), then, cash first, beyond
    class_room = band_rules.class_room(p, buy_sh, sell_sh) if len(p.band_k) else None
    for cap in ((True, False) if class_room is not None else (False,)):
        for s in order:
            if deficit <= 1e-6:
                return deficit
            px = float(price[s])
            new_line = sell_sh[s] == 0
            extra = tick if new_line else 0.0
            need = int(math.ceil((deficit + extra) / ((1 - kap) * px) - 1e-9))
            if new_line:
                need = max(need, min_s, int(math.ceil(min_d / px - 1e-9)))
            add = min(need, int(avail[s] - sell_sh[s]))
            if cap:
                add = min(add, int(class_room[p.ci[s]] // px))
            if add <= 0 or new_line and (add < min_s or add * px < min_d):
                continue
            sell_sh[s] += add
            if class_room is not None:
                class_room[p.ci[s]] -= add * px
            deficit -= add * px * (1 - kap) - extra
    return deficit


# --------------------------------------------------------------------------- score
def _finish(p: _Prep, st: OptimizerSettings, buy_sh, sell_sh, lot_sh, status, n_solves,
            solve_time) -> AccountResult:
    inp = p.inp
    V = p.V
    w0 = p.h0
    te0 = p.te0
    Wk0 = p.Wk0
    creq = p.creq * V
    classes = p.classes
    if buy_sh is None:
        lines = 0
    else:
        traded_s = (sell_sh | buy_sh).nonzero()[0]  # both are >= 0; never both > 0
        lines = len(traded_s)
    if lines:
        price = p.price
        sell_val = sell_sh * price
        buy_val = buy_sh * price
        sv = float(_sum(sell_val))
        bv = float(_sum(buy_val))
        traded = sv + bv
        trading_cost = p.kappa * traded + st.ticket_cost * lines
        lot_px = p.lot_px
        gain = float(lot_sh @ (lot_px - p.cost))
        if inp.taxable:
            sold_d = lot_sh * lot_px
            tax = sold_d * p.tax_true
            tax_cost = float(_sum(tax[tax > 0]))
            saved = -float(_sum(tax[tax < 0]))
            harvest = float(sold_d @ p.hv)  # what the losses are worth (engine/decide/harvest.py)
        else:  # tax_true is all zeros
            tax_cost, harvest, saved = 0.0, 0.0, 0.0
        net = buy_val - sell_val
        w1 = net * (1.0 / V)
        w1 += w0
        Wk1 = np.bincount(p.ci, w1, p.K)
        ag = np.bincount(p.gi, w1, p.G) - p.Tg
        ak = Wk1 - p.Tk
        te1 = float(p.idio2 * (ag @ ag) + (p.sig2 * ak) @ ak)  # == _te2(p, w1)
        if p.own2 > 0:
            a_s = w1 - p.Ts
            te1 += p.own2 * float(a_s @ a_s)
        rating = p.rv * float(p.rho @ net)
        largest = float(max(_max(sell_val), _max(buy_val)))
        cash_post = p.c0 * V + sv - bv - trading_cost
        trades = _trade_lines(p, traded_s, buy_sh, sell_sh, lot_sh, Wk0)
        cw_post = dict(zip(classes, Wk1.tolist()))
    else:
        traded = trading_cost = gain = tax_cost = harvest = saved = rating = largest = 0.0
        te1 = te0
        cash_post = p.c0 * V
        trades = []
        cw_post = dict(zip(classes, Wk0.tolist()))
    drift = p.lam * V * (te0 - te1) / st.te_ref
    score = drift + harvest + rating - trading_cost - tax_cost
    cw_pre = dict(zip(classes, Wk0.tolist()))
    cw_pre["CASH"] = p.c0
    cw_post["CASH"] = cash_post / V
    ctg = p.u.ctg.copy()
    ctg["CASH"] = float(inp.model_cash_w)
    short = creq - cash_post
    unreached = (band_rules.unreachable(p, Wk1 if lines else Wk0, -short)
                 if st.band_mandate and (p.band_hard or lines) else ())
    return AccountResult(
        account_id=inp.account_id, status=status, trades=trades, drift_benefit=drift,
        harvest_benefit=harvest, rating_benefit=rating, trading_cost=trading_cost,
        tax_cost=tax_cost, score=score, score_bps=score / V * 1e4, te_pre=math.sqrt(te0),
        te_post=math.sqrt(te1), turnover=traded / V, realized_gain=gain,
        realized_tax=tax_cost - saved, largest_trade=largest, class_weights_pre=cw_pre,
        class_weights_post=cw_post, class_targets=ctg, value=V, cash_post=cash_post,
        cash_required=creq, cash_shortfall=short if short > 0.005 else 0.0, n_solves=n_solves,
        solve_time=solve_time, tax_saved=saved, band_unreachable=unreached,
        budget=gains_budget.budget_state(inp.gains_budget, inp.ytd_st, inp.ytd_lt, gain)
        if inp.taxable and inp.gains_budget == inp.gains_budget else {},
    )


def score_trades(inp: AccountInput, settings: OptimizerSettings, trades) -> AccountResult:
    """Score given order lines for an account, with the code that scores the optimizer's own
    trades (:func:`_finish`): an edited proposal is described by the numbers of its trades.

    ``trades``: ``(symbol, side, shares, lots)`` per line, ``lots`` the ``(lot_id, shares)`` a
    sell relieves (``()`` for buys; a sell without lots relieves the highest basis first).
    Raises ValueError for a symbol outside the account's universe, a lot of another security,
    or a sell of more shares than its lots hold.
    """
    p = _prepare(inp, settings)
    if p.V <= 0:
        raise ValueError(f"account {inp.account_id}: value {p.V:,.2f} <= 0 cannot be scored")
    syms = {str(s): i for i, s in enumerate(np.asarray(inp.symbols).tolist())}
    lots = {str(lid): j for j, lid in enumerate(np.asarray(inp.lot_id).tolist())}
    buy_sh = np.zeros(p.S, dtype=np.int64)
    sell_sh = np.zeros(p.S, dtype=np.int64)
    lot_sh = np.zeros(p.L, dtype=np.int64)
    for symbol, side, shares, named in trades:
        s = syms.get(str(symbol))
        if s is None:
            raise ValueError(f"{symbol} is not among account {inp.account_id}'s securities")
        shares = int(shares)
        if side == "BUY":
            buy_sh[s] += shares
            continue
        sell_sh[s] += shares
        if not named:  # highest basis first among the security's lots
            left = shares
            for j in sorted((j for j in range(p.L) if p.lot_sec[j] == s), key=lambda j: -p.cost[j]):
                take = min(left, int(np.floor(p.qty[j] + 1e-9)) - int(lot_sh[j]))
                if take > 0:
                    lot_sh[j] += take
                    left -= take
            named = ()
            if left > 0:
                raise ValueError(f"sells {shares:,} {symbol} but the account's lots hold fewer")
        for lot_id, q in named:
            j = lots.get(str(lot_id))
            if j is None or p.lot_sec[j] != s:
                raise ValueError(f"lot {lot_id} is not a lot of {symbol} in account {inp.account_id}")
            lot_sh[j] += int(q)
    if _nnz(lot_sh > np.floor(p.qty + 1e-9)):
        raise ValueError(f"account {inp.account_id}: a lot is sold beyond its shares")
    if _nnz((buy_sh > 0) & (sell_sh > 0)):
        raise ValueError(f"account {inp.account_id}: a security is both bought and sold")
    p.sold_lots = np.flatnonzero(lot_sh > 0)
    return _finish(p, settings, buy_sh, sell_sh, lot_sh, "optimal", 0, 0.0)


_WHY = ("drift", "cash", "harvest", "band", "restriction")  # increasing precedence


def _trade_lines(p: _Prep, traded, buy_sh, sell_sh, lot_sh, Wk0) -> list[TradeLine]:
    """Order lines of the ``traded`` securities with lots and reasons (precedence:
    restriction, band, harvest, cash, drift)."""
    inp = p.inp
    price = p.price
    t_sell = sell_sh[traded]
    t_buy = buy_sh[traded]
    is_sell = t_sell > 0
    why = np.zeros(len(traded), dtype=np.int8)
    # harvest: a sale that realizes a harvest-candidate loss, and buys in the same group
    sold_lots = p.sold_lots
    harvest_lot = sold_lots[p.candidate[sold_lots]] if inp.taxable else sold_lots[:0]
    if len(harvest_lot):
        harvest_lot = harvest_lot[p.tax_true[harvest_lot] < 0]
        harvest_sec = np.zeros(p.S, dtype=bool)
        harvest_sec[p.lot_sec[harvest_lot]] = True
        harvest_grp = np.bincount(p.gi, harvest_sec, p.G) > 0
        hv = np.where(is_sell, harvest_sec[traded], harvest_grp[p.gi[traded]])
        why[hv] = 2
    # cash: other sales that raise the cash requests (a shortfall against the model cash
    # weight alone is drift)
    need = float(inp.cash_needed)
    if need > 0:
        deficit = min(need, (p.creq - p.c0) * p.V)
        if p.any_must:
            deficit -= float(sell_sh[p.must_sec] @ price[p.must_sec])
        if deficit > 0:
            cand = (is_sell & (why == 0)).nonzero()[0]
            vals = t_sell[cand] * price[traded[cand]]
            order = (-vals).argsort()
            for j, v in zip(cand[order].tolist(), vals[order].tolist()):
                if deficit <= 0:
                    break
                why[j] = 1
                deficit -= v
    # band: trades that move a class from outside its band toward it
    if len(p.band_k):
        wb = Wk0[p.band_k]
        hi = wb > p.band_hi + 1e-9
        lo = wb < p.band_lo - 1e-9
        if _nnz(hi) or _nnz(lo):
            out_hi = np.zeros(p.K, dtype=bool)
            out_lo = np.zeros(p.K, dtype=bool)
            out_hi[p.band_k] = hi
            out_lo[p.band_k] = lo
            tc = p.ci[traded]
            why[np.where(is_sell, out_hi[tc], out_lo[tc])] = 3
    if p.any_must:
        why[is_sell & p.must_sec[traded]] = 4

    # lots per sold security, in naming order (highest unit cost first)
    lots_of = {}
    if len(sold_lots):
        ids = np.asarray(inp.lot_id)[sold_lots].tolist()
        if set(map(type, ids)) != _STR_ONLY:
            ids = [str(i) for i in ids]
        get = lots_of.get
        for s0, pair in zip(p.lot_sec[sold_lots].tolist(), zip(ids, lot_sh[sold_lots].tolist())):
            lst = get(s0)
            if lst is None:
                lots_of[s0] = [pair]
            else:
                lst.append(pair)
    out = []
    append = out.append
    new = _new_line
    syms = np.asarray(inp.symbols)[traded].tolist()
    if set(map(type, syms)) != _STR_ONLY:
        syms = [str(v) for v in syms]
    for s, sym, px, sh_s, sh_b, w in zip(traded.tolist(), syms, price[traded].tolist(),
                                         t_sell.tolist(), t_buy.tolist(), why.tolist()):
        if sh_s > 0:
            lots = lots_of.get(s)
            append(new((sym, "SELL", sh_s, px, sh_s * px, tuple(lots) if lots else (),
                        _WHY[w])))
        else:
            append(new((sym, "BUY", sh_b, px, sh_b * px, (), _WHY[w])))
    return out


_new_line = partial(tuple.__new__, TradeLine)  # TradeLine from a tuple, without Python calls
_STR_ONLY = {str}


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


# --------------------------------------------------------------------------- cvxpy reference
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
    tax_obj = p.tax_true * ~loss - (p.hv - settings.harvest_substitute_bps * 1e-4) * (p.candidate & (p.hv > 0))
    obj = (p.cg * cp.sum_squares(ag) + cp.sum(cp.multiply(p.ck, cp.square(ak)))
           + (p.kappa + tax_obj + p.rv * p.rho[p.lot_sec]) @ x + (p.kappa - p.rv * p.rho) @ y
           + pen + settings.cash_penalty * max(1.0, p.lam) * short)
    const = float(p.cg * (p.Tg @ p.Tg) + (p.ck * p.Tk) @ p.Tk)
    if p.cs > 0:
        obj = obj + p.cs * cp.sum_squares(w - p.Ts)
        const += float(p.cs * (p.Ts @ p.Ts))
    prob = cp.Problem(cp.Minimize(obj - const), cons)
    return prob, x, y
