"""What the optimizer takes and gives: its settings, one account's input, a trade line and the result."""
from __future__ import annotations
import math
from dataclasses import dataclass, field
from functools import partial
from typing import NamedTuple
import numpy as np


try:  # the C function behind np.count_nonzero (whose Python wrapper costs ~0.3 us a call)
    from numpy._core.multiarray import count_nonzero as _nnz
except ImportError:  # pragma: no cover - other numpy layouts
    _nnz = np.count_nonzero


REASONS = ("cash", "restriction", "band", "drift", "harvest")


_INF = np.inf


# reductions called directly: ndarray.sum()/.min()/.max()/.any() go through numpy's
# Python-level wrappers (~1 us each on these short arrays); same results
_sum = np.add.reduce


_min = np.minimum.reduce


_max = np.maximum.reduce


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
    # the per-security term where selling costs no tax (engine/decide/optimizer/tax_free.py):
    own_vol_untaxed: float = 0.0  # own_vol in an account that pays no tax (the larger of the two)
    own_vol_free: float = 0.0  # taxable: a security's overweight that its free lots can sell, at this vol
    free_tax_bps: float = 0.0  # a lot is free when its tax per $ sold is at most this (0: losses, zero gain)
    prune_lines: bool = False  # drop order lines that do not pay their ticket (engine/decide/line_pruning.py)
    min_drift_dollars: float = 0.0  # with prune_lines: drop drift lines under this many dollars too
    rating_value_bps: float = 10.0  # $ value (bps of moved value) per unit of rating score rho
    cash_penalty: float = 1000.0  # objective $ per $ of unmet cash need (x max(1, lambda))
    # --- harvest valuation (engine/decide/harvest.py; the policy's [harvest] section) ---
    harvest_value: str = "full"  # "full": loss x rate; "deferral": present value of the deferral
    harvest_discount_rate: float = 0.05  # a year
    harvest_horizon_years: float = 10.0  # when the deferred gain is expected to be realized
    harvest_st_conversion: bool = True  # a short-term loss saves ST tax now, its basis pays LT later
    harvest_substitute_bps: float = 0.0  # cost of the substitute's tracking difference, bps of a lot
    harvest_round_trip: bool = False  # a harvest pays for the switch back too (four legs and tickets)
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


_AR = np.arange(4096, dtype=np.int32)


def _arange(n: int) -> np.ndarray:
    return _AR[:n] if n <= 4096 else np.arange(n, dtype=np.int32)


_new_line = partial(tuple.__new__, TradeLine)  # TradeLine from a tuple, without Python calls
