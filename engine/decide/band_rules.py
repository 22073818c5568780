"""Asset-class bands in the optimizer: where the QP holds each band, and what a band mandate
could not reach.

Pure numpy over one account's prepared arrays (engine/decide/optimizer.py ``_Prep``).

* Bands are on the account's value after its cash requests are paid: a request of ``n`` (a
  fraction of the pre-trade value V) leaves ``1 - n`` invested, so a band ``lo..hi`` holds the
  pre-trade fractions ``lo (1 - n) .. hi (1 - n)`` (:func:`scaled_bands`).
* Whole shares: the QP aims inside each band by a rounding margin (half a share of every
  security of the class, at most a quarter of the band's width), so rounding the solution to
  whole shares does not push a class back outside.  A class already inside its band is never
  asked to move by the margin alone (no churn at the edge).
* After the trades the account is worth ``V`` less their costs: the rounded trades are checked
  against the bands on that value (:func:`after_costs`), so a class aimed at its upper edge is
  not pushed out by the costs (a ticket on a small account is several basis points).
* Band mandates (``band`` in the policy's ``mandates.trade_now``): a class outside its band is
  aimed back to the edge, or ``band_trade_to`` of the way from the edge to the target, and the
  band's penalty dominates every tax and cost (it stays below the cash requirement's: cash owed
  to a client comes first).  Whatever the trades cannot reach is named with the reason
  (:func:`unreachable`).
"""
from __future__ import annotations

import numpy as np

HARD_BAND_PENALTY = 100.0  # $ of objective per $ of violation (x max(1, lambda)); tax is < $1 per $


def scaled_bands(lo: np.ndarray, hi: np.ndarray, V: float, cash_needed: float):
    """Bands as fractions of the pre-trade value V once ``cash_needed`` dollars are paid out."""
    if cash_needed <= 0 or V <= 0:
        return lo, hi
    s = max(1.0 - cash_needed / V, 0.0)
    return lo * s, hi * s


def after_costs(p, st, buy_sh, sell_sh, extra_lines: int = 1):
    """(lo, hi) of each band as fractions of the pre-trade value V once the trades' costs are
    paid too: the account is worth ``V - costs`` after trading, so a class must hold at most
    ``hi (V - costs - owed)`` dollars (``band_hi`` already takes the owed cash out).  Costs are the
    trades' (``cost_bps`` and a ticket a line) and ``extra_lines`` more tickets (a repair may add
    a line).  The lower edge stays ``lo (V - owed)``: costs only raise a class's share of what is
    left, so holding it on the value before them is the safe side whatever the costs come to
    (a class a hair under its lower edge is bought back in, not counted in by the costs)."""
    V = p.V
    price = p.price
    lines = int(np.count_nonzero(buy_sh) + np.count_nonzero(sell_sh)) + extra_lines
    c = (p.kappa * float((buy_sh + sell_sh) @ price) + st.ticket_cost * lines) / V
    s = max(1.0 - float(p.inp.cash_needed) / V, 1e-9)
    f = max(s - c, 0.0) / s
    return p.band_lo, p.band_hi * f


def qp_bounds(p, st):
    """(lo, hi) the QP holds each band at (fractions of V), and whether the band mandate holds."""
    k = p.band_k
    lo, hi = p.band_lo, p.band_hi
    V = p.V
    W0 = p.Wk0[k]
    delta = p.u.half_k[k] * (1.0 / V)  # half a share of every security of the class
    np.minimum(delta, 0.25 * (hi - lo), out=delta)  # (a band has at least one finite side)
    lo_q = lo + delta
    hi_q = hi - delta
    if p.band_hard:
        f = float(st.band_trade_to)
        if f > 0:
            s = max(1.0 - float(p.inp.cash_needed) / V, 0.0)
            T = p.Tk[k] * s
            lo_q = np.where(W0 < lo, np.minimum(lo + f * (T - lo) + delta, hi_q), lo_q)
            hi_q = np.where(W0 > hi, np.maximum(hi - f * (hi - T) - delta, lo_q), hi_q)
    # a class inside its band is not moved by the margin alone (no bound beyond today's weight)
    np.minimum(lo_q, np.where(W0 < lo, np.inf, W0), out=lo_q)
    np.maximum(hi_q, np.where(W0 > hi, -np.inf, W0), out=hi_q)
    return lo_q, hi_q


def band_penalty(p, st) -> float:
    if p.band_hard:
        return max(float(st.band_penalty), HARD_BAND_PENALTY * max(1.0, p.lam))
    return float(st.band_penalty)


def outside(p, Wk: np.ndarray, tol: float = 1e-9) -> np.ndarray:
    """bool per band: the class weight ``Wk`` (all classes) is outside its band."""
    w = Wk[p.band_k]
    return (w < p.band_lo - tol) | (w > p.band_hi + tol)


def unreachable(p, Wk1: np.ndarray, cash_left: float, bands=None) -> tuple[str, ...]:
    """``<class> (<why>)`` for every band still outside after a band mandate's trades
    (``cash_left``: dollars of cash after the trades above the requirement; ``bands``: the
    (lo, hi) to check, by default the bands before the trades' costs — the optimizer passes
    :func:`after_costs`, the value the client is left with, which is what the lab checks)."""
    cash_short = cash_left < -0.005 and float(p.inp.cash_needed) > 0
    no_cash = cash_left < max(float(np.max(p.price, initial=0.0)), 1.0)
    if not len(p.band_k):
        return ()
    lo_b, hi_b = (p.band_lo, p.band_hi) if bands is None else bands
    w = Wk1[p.band_k]
    out = (w < lo_b - 1e-9) | (w > hi_b + 1e-9)  # the tolerance the band mandate starts at
    if not out.any():
        return ()
    inp = p.inp
    syms = np.asarray(inp.symbols)
    can_buy = np.asarray(inp.can_buy, dtype=bool)
    can_sell = np.asarray(inp.can_sell, dtype=bool)
    blocked = np.asarray(inp.lot_loss_sale_blocked, dtype=bool) & (p.cost > p.lot_px)
    held = p.qty > 0
    words = []
    for j in np.flatnonzero(out).tolist():
        k = int(p.band_k[j])
        name = p.classes[k]
        in_k = p.ci == k
        why = []
        if Wk1[k] > hi_b[j]:
            lot_k = in_k[p.lot_sec] & held
            frozen = sorted(set(syms[in_k & ~can_sell & (p.h0 > 0)].tolist()))
            if frozen:
                why.append("cannot sell " + ", ".join(map(str, frozen)) + ": halted or frozen")
            wash = sorted(set(syms[p.lot_sec[lot_k & blocked & can_sell[p.lot_sec]]].tolist()))
            if wash:
                why.append("wash-sale blocked lots of " + ", ".join(map(str, wash)))
        else:
            if not (in_k & p.buy_ok).any():
                why.append("no buyable security: restricted, halted or wash-sale blocked")
            elif cash_short:
                why.append("cash needed")
            elif no_cash:
                why.append("not enough cash or sellable holdings to buy with")
            no_buy = sorted(set(syms[in_k & ~can_buy].tolist()))
            if no_buy and (in_k & p.buy_ok).any():
                why.append("cannot buy " + ", ".join(map(str, no_buy)))
        if not why:
            why.append("whole shares and minimum trade size")
        words.append(f"{name} ({', and '.join(why)})")
    return tuple(words)


def band_min_shares(p, min_k: np.ndarray, min_trade_shares: int) -> np.ndarray:
    """The minimum trade, in shares per security, for a band mandate: a security of a class
    outside its band trades from ``min_trade_shares`` (one share) up, not from the minimum
    trade size — a band narrower than the minimum trade would otherwise be stepped over
    (bought past its other edge, then sold back the next day) or left outside.  Other
    securities keep ``min_k``."""
    out_k = np.zeros(p.K, dtype=bool)
    out_k[p.band_k] = outside(p, p.Wk0)
    return np.where(out_k[p.ci], np.minimum(min_k, max(int(min_trade_shares), 1)), min_k)


def round_inward(p, sold, bought, buy_sh, sell_sh, avail, min_k) -> None:
    """Whole shares for a band mandate's trades (in place): a buy of a class under its band and
    a sale of a class over it are rounded up (not to the nearest share) and raised to the
    minimum trade (``min_k``: :func:`band_min_shares`), so rounding never leaves the class short
    of the edge the QP reached.  Sales stay within the shares available."""
    out_lo = np.zeros(p.K, dtype=bool)
    out_hi = np.zeros(p.K, dtype=bool)
    w = p.Wk0[p.band_k]
    out_lo[p.band_k] = w < p.band_lo
    out_hi[p.band_k] = w > p.band_hi
    tol = 1.0  # $: solver noise is no trade
    price = p.price
    b = out_lo[p.ci] & (bought > tol) & p.buy_ok
    if b.any():
        up = np.maximum(np.ceil(bought[b] / price[b] - 1e-9).astype(np.int64), min_k[b])
        buy_sh[b] = up
    s = out_hi[p.ci] & (sold > tol)
    if s.any():
        up = np.maximum(np.ceil(sold[s] / price[s] - 1e-9).astype(np.int64), min_k[s])
        sell_sh[s] = np.minimum(up, avail[s])


def under_band_securities(p) -> np.ndarray:
    """bool per security: its class is under its band before the trades."""
    out_lo = np.zeros(p.K, dtype=bool)
    out_lo[p.band_k] = p.Wk0[p.band_k] < p.band_lo
    return out_lo[p.ci]


def repair(p, st, buy_sh, sell_sh, avail, min_k) -> None:
    """After whole shares, the minimum size and the cash re-check: move every class that the
    rounded trades leave outside its band back inside by whole shares (in place), when the
    trades pushed it out (it was inside before) or a band mandate holds it.  Under its band:
    sell less of the class, then buy more of it, within the cash left above the requirement;
    over its band: buy less of it, then sell more of it.  A line is never left under the
    minimum size (it is dropped instead, which moves the class further in)."""
    nb = len(p.band_k)
    if not nb:
        return
    price = p.price
    V = p.V
    net = buy_sh - sell_sh
    Wk1 = p.Wk0 + np.bincount(p.ci, net * price, p.K) * (1.0 / V)
    k_all = p.band_k
    W = Wk1[k_all]
    W0 = p.Wk0[k_all]
    lo, hi = after_costs(p, st, buy_sh, sell_sh)  # the account after trading is worth V - costs
    fix_lo = W < lo - 1e-9
    fix_hi = W > hi + 1e-9
    if not p.band_hard:  # only what the trades pushed out
        fix_lo &= W0 >= p.band_lo
        fix_hi &= W0 <= p.band_hi
    if not (fix_lo.any() or fix_hi.any()):
        return
    kap = p.kappa
    tick = st.ticket_cost

    def slack() -> float:
        lines = int(np.count_nonzero(sell_sh) + np.count_nonzero(buy_sh))
        return ((p.c0 - p.creq) * V + (1 - kap) * float(sell_sh @ price) - (1 + kap) * float(buy_sh @ price)
                - tick * lines)

    for j in np.flatnonzero(fix_lo | fix_hi).tolist():
        k = int(k_all[j])
        members = np.flatnonzero(p.ci == k)
        if fix_lo[j]:
            need = (lo[j] - W[j]) * V + 1e-6
            # sell less of the class
            for s in members[np.argsort(-sell_sh[members] * price[members])].tolist():
                if need <= 0 or sell_sh[s] == 0 or p.any_must and p.must_sec[s]:
                    continue
                room = slack()
                cut = min(int(sell_sh[s]), int(np.ceil(need / price[s])), int(room // price[s]))
                if cut <= 0:
                    continue
                left = int(sell_sh[s]) - cut
                if 0 < left < min_k[s]:
                    if (left + cut) * price[s] > room:
                        continue
                    cut, left = cut + left, 0
                sell_sh[s] = left
                need -= cut * price[s]
            # buy more of it
            for s in members[np.argsort(-buy_sh[members] * price[members])].tolist():
                if need <= 0:
                    break
                if not p.buy_ok[s]:
                    continue
                add = max(int(np.ceil(need / price[s])), 0 if buy_sh[s] else int(min_k[s]))
                if add * price[s] * (1 + kap) + (0 if buy_sh[s] else tick) > slack():
                    continue
                buy_sh[s] += add
                need -= add * price[s]
        else:
            need = (W[j] - hi[j]) * V + 1e-6
            # buy less of the class
            for s in members[np.argsort(-buy_sh[members] * price[members])].tolist():
                if need <= 0:
                    break
                if buy_sh[s] == 0:
                    continue
                cut = min(int(buy_sh[s]), int(np.ceil(need / price[s])))
                left = int(buy_sh[s]) - cut
                if 0 < left < min_k[s]:
                    cut, left = cut + left, 0
                buy_sh[s] = left
                need -= cut * price[s]
            # sell more of it
            for s in members[np.argsort(-(avail[members] - sell_sh[members]) * price[members])].tolist():
                if need <= 0:
                    break
                room = int(avail[s] - sell_sh[s])
                if room <= 0 or buy_sh[s] > 0:
                    continue
                add = max(int(np.ceil(need / price[s])), 0 if sell_sh[s] else int(min_k[s]))
                add = min(add, room)
                if not sell_sh[s] and add < min_k[s]:
                    continue
                sell_sh[s] += add
                need -= add * price[s]


def class_room(p, buy_sh, sell_sh) -> np.ndarray:
    """Dollars each class can still be sold before it reaches its band's lower edge (after the
    given trades; unbounded for a class without a lower edge, 0 for one already under it)."""
    price = p.price
    Wd = p.Wk0 * p.V + np.bincount(p.ci, (buy_sh - sell_sh) * price, p.K)
    lo = np.zeros(p.K)
    lo[:] = -np.inf
    lo[p.band_k] = p.band_lo * p.V
    return np.maximum(Wd - lo, 0.0)
