"""Tax-minimal lots for the shares sold of one security (issue 23).

Within one term (short or long), the lots with the highest unit cost carry the least gain per
share, so for a given number of shares from that term the highest-cost-first choice nets the
least gain (losses come first by themselves). Across the two terms the tax code nets short-term
against short-term and long-term against long-term, then a net loss of one against a net gain of
the other (engine.gains_budget.year_tax), so a short-term loss is worth more than a long-term
one and a long-term gain costs less than a short-term one -- but only as far as netting allows.
:func:`name_lots` therefore tries every split of the shares between the two terms (each term
highest cost first) and keeps the one with the least tax for the year, given what else the
year has realized. Lots that may not be sold at a loss (wash sale) are left out by the caller.
"""
from __future__ import annotations

import numpy as np

__all__ = ["name_lots", "year_tax_v"]


def year_tax_v(st, lt, st_rate: float, lt_rate: float) -> np.ndarray:
    """engine.gains_budget.year_tax over arrays of (st, lt) net gains."""
    st = np.asarray(st, float)
    lt = np.asarray(lt, float)
    both = st * st_rate + lt * lt_rate
    net = st + lt
    return np.where((st >= 0) & (lt >= 0), both,
                    np.where((st < 0) & (lt < 0), 0.0,
                             np.where(st < 0, np.maximum(net, 0.0) * lt_rate,
                                      np.maximum(net, 0.0) * st_rate)))


def _cum(whole: np.ndarray, gain_ps: np.ndarray, idx: np.ndarray, k: np.ndarray) -> np.ndarray:
    """Net gain of taking k shares (array) from lots ``idx`` in that order."""
    q = whole[idx]
    g = gain_ps[idx]
    edges = np.concatenate([[0.0], np.cumsum(q)])
    gains = np.concatenate([[0.0], np.cumsum(q * g)])
    j = np.clip(np.searchsorted(edges, k, side="right") - 1, 0, len(q))
    part = k - edges[j]
    nxt = np.where(j < len(q), g[np.minimum(j, len(q) - 1)] if len(q) else 0.0, 0.0)
    return gains[j] + part * nxt


def name_lots(n: int, whole: np.ndarray, cost: np.ndarray, price: float, short: np.ndarray,
              st_rate: float, lt_rate: float, ytd_st: float = 0.0, ytd_lt: float = 0.0) -> np.ndarray:
    """Shares to take from each lot (int array like ``whole``) to sell ``n`` shares at ``price``
    with the least tax for the year (``ytd_*``: net gains realized before, this year)."""
    whole = np.floor(np.asarray(whole, float) + 1e-9)
    cost = np.asarray(cost, float)
    short = np.asarray(short, bool)
    n = int(min(n, whole.sum()))
    take = np.zeros(len(whole), dtype=np.int64)
    if n <= 0:
        return take
    gain_ps = price - cost
    sti = np.flatnonzero(short & (whole > 0))
    lti = np.flatnonzero(~short & (whole > 0))
    sti = sti[np.argsort(-cost[sti], kind="stable")]
    lti = lti[np.argsort(-cost[lti], kind="stable")]
    n_st, n_lt = int(whole[sti].sum()), int(whole[lti].sum())
    if len(sti) and len(lti):
        k = np.arange(max(0, n - n_lt), min(n, n_st) + 1, dtype=float)  # shares from short-term lots
        g_st, g_lt = _cum(whole, gain_ps, sti, k), _cum(whole, gain_ps, lti, n - k)
        tax = year_tax_v(ytd_st + g_st, ytd_lt + g_lt, st_rate, lt_rate)
        # ties: the least net gain (a loss not needed this year carries forward), then fewer ST shares
        k_st = int(k[int(np.lexsort((k, np.round(g_st + g_lt, 6), np.round(tax, 6)))[0])])
    else:
        k_st = n if len(sti) else 0
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
    is_mixed = np.isin(p.lot_sec, mixed)
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
