"""From the QP's continuous solution to whole shares: minimum trade sizes, and cash repaired
after rounding."""
from __future__ import annotations
import math
import numpy as np
from engine.book import lot_choice
from engine.decide import band_rules, gains_budget, trade_limits
from engine.decide.optimizer.model import OptimizerSettings, _nnz
from engine.decide.optimizer.prepare import _Prep


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
    if p.own2 == 0:
        _one_buy_per_group(p, bought)
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
    if p.band_hard:  # a band mandate's trades are rounded inward; the minimum trade size does
        min_k = band_rules.band_min_shares(p, min_k, min_s)  # not apply to its classes' lines
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
    # a cash-flow account sells its cash need and no more: whole shares, never rounded up to the
    # minimum trade (that would sell beyond the need to no purpose)
    floor_d = 0.0 if p.inp.cash_flow else min_d
    for cap in ((True, False) if class_room is not None else (False,)):
        for s in order:
            if deficit <= 1e-6:
                return deficit
            px = float(price[s])
            new_line = sell_sh[s] == 0
            extra = tick if new_line else 0.0
            need = int(math.ceil((deficit + extra) / ((1 - kap) * px) - 1e-9))
            if new_line:
                need = max(need, min_s, int(math.ceil(floor_d / px - 1e-9)))
            add = min(need, int(avail[s] - sell_sh[s]))
            if cap and np.isfinite(class_room[p.ci[s]]):  # a class without a lower edge has no cap
                add = min(add, int(class_room[p.ci[s]] // px))
            if add <= 0 or new_line and (add < min_s or add * px < floor_d):
                continue
            sell_sh[s] += add
            if class_room is not None:
                class_room[p.ci[s]] -= add * px
            deficit -= add * px * (1 - kap) - extra
    return deficit


def _one_buy_per_group(p: _Prep, bought: np.ndarray) -> None:
    """Buys of one drift group in one security (in place).  Without the per-security term the
    members of a group are the same exposure to the QP, which may then spread a buy over several
    of them (an interior-point solution of a flat face): one order line each, for nothing.  The
    group's buy goes to its best-rated member bought, then a model security, then the largest buy
    (the same tracking error, trading cost and cash; a rating benefit no lower)."""
    tol = 1.0  # $: solver noise is no buy
    b = np.flatnonzero(bought > tol)
    if len(b) < 2:
        return
    g = p.gi[b]
    if len(np.unique(g)) == len(g):
        return
    # order: group, then best first (rating, model security, size)
    order = np.lexsort((-bought[b], p.Ts[b] <= 0, -p.rho[b], g))
    bo, go = b[order], g[order]
    first = np.r_[True, go[1:] != go[:-1]]
    head = bo[first][np.cumsum(first) - 1]  # the chosen member of each buy's group
    tot = np.bincount(head, bought[bo], p.S)
    bought[bo] = 0.0
    bought += tot
