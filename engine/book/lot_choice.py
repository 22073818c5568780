"""Tax-minimal lots for the shares sold of one security (issue 23).

Within one term (short or long), the lots with the highest unit cost carry the least gain per
share, so for a given number of shares from that term the highest-cost-first choice nets the
least gain (losses come first by themselves). Across the two terms the tax code nets short-term
against short-term and long-term against long-term, then a net loss of one against a net gain of
the other (engine.decide.gains_budget.year_tax), so a short-term loss is worth more than a long-term
one and a long-term gain costs less than a short-term one -- but only as far as netting allows.
:func:`name_lots` therefore tries every split of the shares between the two terms (each term
highest cost first) and keeps the one with the least tax for the year, given what else the
year has realized. Lots that may not be sold at a loss (wash sale) are left out by the caller.
"""
from __future__ import annotations

import numpy as np

__all__ = ["name_lots", "year_tax_v"]


def year_tax_v(st, lt, st_rate: float, lt_rate: float) -> np.ndarray:
    """engine.decide.gains_budget.year_tax over arrays of (st, lt) net gains."""
    st = np.asarray(st, float)
    lt = np.asarray(lt, float)
    both = st * st_rate + lt * lt_rate
    net = st + lt
    return np.where((st >= 0) & (lt >= 0), both,
                    np.where((st < 0) & (lt < 0), 0.0,
                             np.where(st < 0, np.maximum(net, 0.0) * lt_rate,
                                      np.maximum(net, 0.0) * st_rate)))


def _year_tax(st: float, lt: float, sr: float, lr: float) -> float:
    if st >= 0 and lt >= 0:
        return st * sr + lt * lr
    if st < 0 and lt < 0:
        return 0.0
    if st < 0:
        return max(lt + st, 0.0) * lr
    return max(st + lt, 0.0) * sr


def _gain_at(q: list, g: list, k: float) -> float:
    """Net gain of the first ``k`` shares of lots (quantities ``q``, gain per share ``g``) in order."""
    out = 0.0
    for qi, gi in zip(q, g):
        if k <= 0:
            break
        t = qi if qi < k else k
        out += t * gi
        k -= t
    return out


def name_lots(n: int, whole: np.ndarray, cost: np.ndarray, price: float, short: np.ndarray,
              st_rate: float, lt_rate: float, ytd_st: float = 0.0, ytd_lt: float = 0.0) -> np.ndarray:
    """Shares to take from each lot (int array like ``whole``) to sell ``n`` shares at ``price``
    with the least tax for the year (``ytd_*``: net gains realized before, this year).

    The tax is piecewise linear in k, the shares taken from short-term lots (each term highest
    cost first), so it is least at one of: the ends, a lot boundary of either term, or the whole
    shares either side of where a term's net or the total net changes sign. Lots are few: plain
    Python over them is faster than numpy here."""
    whole = [float(int(w + 1e-9)) for w in np.asarray(whole, float).tolist()]
    cost = np.asarray(cost, float).tolist()
    short = np.asarray(short, bool).tolist()
    n = int(min(n, sum(whole)))
    take = np.zeros(len(whole), dtype=np.int64)
    if n <= 0:
        return take
    sti = sorted((i for i, s in enumerate(short) if s and whole[i] > 0), key=lambda i: -cost[i])
    lti = sorted((i for i, s in enumerate(short) if not s and whole[i] > 0), key=lambda i: -cost[i])
    q_st, g_st = [whole[i] for i in sti], [price - cost[i] for i in sti]
    q_lt, g_lt = [whole[i] for i in lti], [price - cost[i] for i in lti]
    n_st, n_lt = int(sum(q_st)), int(sum(q_lt))
    if sti and lti:
        lo, hi = max(0, n - n_lt), min(n, n_st)
        ks = {lo, hi}
        acc = 0.0
        for qv in q_st:
            acc += qv
            ks.add(acc)
        acc = 0.0
        for qv in q_lt:
            acc += qv
            ks.add(n - acc)
        ks = sorted(k for k in ks if lo <= k <= hi)

        def nets(k):
            return ytd_st + _gain_at(q_st, g_st, k), ytd_lt + _gain_at(q_lt, g_lt, n - k)

        vals = [nets(k) for k in ks]
        extra = set()
        for (k1, (s1, l1)), (k2, (s2, l2)) in zip(zip(ks, vals), zip(ks[1:], vals[1:])):
            for a, b in ((s1, s2), (l1, l2), (s1 + l1, s2 + l2)):
                if a * b < 0:
                    z = k1 + (k2 - k1) * a / (a - b)
                    extra.update((float(int(z)), float(int(z) + 1)))
        ks = sorted(set(ks) | {k for k in extra if lo <= k <= hi})
        best = None
        for k in ks:  # least tax, then the least net gain (a loss not needed carries forward), then fewer ST
            s_, l_ = nets(k)
            key = (round(_year_tax(s_, l_, st_rate, lt_rate), 6), round(s_ + l_, 6), k)
            if best is None or key < best:
                best = key
        k_st = int(best[2])
    else:
        k_st = n if sti else 0
    for idx, m in ((sti, k_st), (lti, n - k_st)):
        left = m
        for i in idx:
            if left <= 0:
                break
            t = int(min(whole[i], left))
            take[i] = t
            left -= t
    return take


def rename_sold(p, sell_sh: np.ndarray, lot_whole: np.ndarray, order: np.ndarray, lot_sh: np.ndarray) -> np.ndarray:
    """The optimizer's lot naming (optimizer._round, highest cost first) made tax-minimal for a
    taxable account: every security sold from both short- and long-term lots is named again by
    :func:`name_lots`, given the year's other gains. ``order``: the eligible lots, grouped by
    security. Changes ``lot_sh`` in place; returns the lots sold in naming order."""
    inp = p.inp
    sec = p.lot_sec[order]
    short = np.asarray(inp.lot_short_term, dtype=bool)
    st_n = np.bincount(sec, short[order], p.S)
    lt_n = np.bincount(sec, ~short[order], p.S)
    mixed = np.flatnonzero((st_n > 0) & (lt_n > 0) & (sell_sh > 0))
    if not len(mixed):
        return order[lot_sh[order] > 0]
    gain = lot_sh * (p.lot_px - p.cost)
    mark = np.zeros(p.S, bool)
    mark[mixed] = True
    is_mixed = mark[p.lot_sec]
    ytd_st = float(inp.ytd_st) + float(gain[short & ~is_mixed].sum())
    ytd_lt = float(inp.ytd_lt) + float(gain[~short & ~is_mixed].sum())
    for s in mixed.tolist():
        idx = order[sec == s]
        take = name_lots(int(sell_sh[s]), lot_whole[idx], p.cost[idx], float(p.price[s]), short[idx],
                         float(inp.st_rate), float(inp.lt_rate), ytd_st, ytd_lt)
        lot_sh[idx] = take
        g = take * (float(p.price[s]) - p.cost[idx])
        ytd_st += float(g[short[idx]].sum())
        ytd_lt += float(g[~short[idx]].sum())
    return order[lot_sh[order] > 0]
