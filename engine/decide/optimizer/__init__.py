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
and one equality row per security (:func:`_add_security_term`).  ``own_vol_untaxed`` raises
``own_vol`` in an account that pays no tax; ``own_vol_free`` adds, in a taxable account, a term
that charges only the overweight that lots sellable without tax can sell, and cash above the
model's (``tax_free.py``: one variable and one inequality row per security it can charge).

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

The package, by step: ``model``, ``prepare`` (with ``tax_free``), ``qp``, ``solve``, ``rounding``, ``score``, ``account``, ``reference``."""
from __future__ import annotations

from engine.decide.optimizer.model import (  # noqa: F401
    AccountInput as AccountInput,
    AccountResult as AccountResult,
    OptimizerSettings as OptimizerSettings,
    REASONS as REASONS,
    TradeLine as TradeLine,
    _AR as _AR,
    _INF as _INF,
    _arange as _arange,
    _max as _max,
    _min as _min,
    _new_line as _new_line,
    _result as _result,
    _sum as _sum,
)
from engine.decide.optimizer.prepare import (  # noqa: F401
    _BANDS_CACHE as _BANDS_CACHE,
    _Bands as _Bands,
    _CACHE_MAX as _CACHE_MAX,
    _CODES_CACHE as _CODES_CACHE,
    _NO_BANDS as _NO_BANDS,
    _Prep as _Prep,
    _UNIV_CACHE as _UNIV_CACHE,
    _Universe as _Universe,
    _band_record as _band_record,
    _bands as _bands,
    _codes as _codes,
    _min_shares as _min_shares,
    _new_universe as _new_universe,
    _prepare as _prepare,
    _te2 as _te2,
    _terms_key as _terms_key,
    _universe as _universe,
    derive_lot_terms as derive_lot_terms,
    lot_terms as lot_terms,
    read_only as read_only,
    tracking_error as tracking_error,
)
from engine.decide.optimizer.qp import (  # noqa: F401
    _QP as _QP,
    _add_security_term as _add_security_term,
    _build_qp as _build_qp,
    _csc as _csc,
    _csc_checked as _csc_checked,
    _csc_fast as _csc_fast,
    _pick_csc as _pick_csc,
)
from engine.decide.optimizer.solve import (  # noqa: F401
    _ORDER_CLARABEL as _ORDER_CLARABEL,
    _ORDER_PIQP as _ORDER_PIQP,
    _PIQP as _PIQP,
    _Session as _Session,
    _SolverError as _SolverError,
    _piqp_mod as _piqp_mod,
)
from engine.decide.optimizer.rounding import (  # noqa: F401
    _repair_cash as _repair_cash,
    _round as _round,
)
from engine.decide.optimizer.score import (  # noqa: F401
    _STR_ONLY as _STR_ONLY,
    _WHY as _WHY,
    _finish as _finish,
    _trade_lines as _trade_lines,
    score_trades as score_trades,
)
from engine.decide.optimizer.account import (  # noqa: F401
    _no_trade_is_optimal as _no_trade_is_optimal,
    gc_paused as gc_paused,
    optimize_account as optimize_account,
    optimize_many as optimize_many,
)
from engine.decide.optimizer.reference import (  # noqa: F401
    build_cvxpy_problem as build_cvxpy_problem,
)

__all__ = ['OptimizerSettings', 'AccountInput', 'TradeLine', 'AccountResult', 'optimize_account', 'optimize_many', 'score_trades', 'tracking_error', 'build_cvxpy_problem']
