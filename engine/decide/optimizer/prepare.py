"""One account's problem before the QP: securities, lots and their tax terms, the trading universe,
the asset-class bands and the tracking error."""
from __future__ import annotations
import math
import numpy as np
from engine.decide import band_rules, gains_budget, trade_limits
from engine.decide.harvest import harvest_cost, loss_value_rate
from engine.decide.optimizer import tax_free
from engine.decide.optimizer.model import AccountInput, OptimizerSettings, _INF, _arange, _max, _min, _nnz, _sum


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
        "band_hard", "b_lot", "gain_cap", "free2", "fs", "fU", "fUc", "fr0", "fk",
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
    p.own2 = own2 = tax_free.own2(inp, st)  # own_vol (own_vol_untaxed where no tax is paid)
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
    tax_free.prepare(p, inp, st, tax_true, sell_ok)  # the term where selling costs no tax

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
            st.harvest_substitute_bps, st.cost_bps, st.ticket_cost, st.harvest_round_trip)


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
    legs = 4 if st.harvest_round_trip else 2
    cand &= hv * lot_val > harvest_cost(lot_val, cost_bps=st.cost_bps, ticket_cost=st.ticket_cost,
                                         substitute_bps=st.harvest_substitute_bps, legs=legs)
    tax_obj = tax_true * ~loss
    # the QP charges the two legs it trades (cost_bps each); the switch back's two are charged here
    tax_obj -= (hv - (st.harvest_substitute_bps + (legs - 2) * st.cost_bps) * 1e-4) * cand
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
