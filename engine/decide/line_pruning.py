"""Order lines that do not pay their ticket are dropped (the optimizer's last step).

The optimizer's QP prices a trade by its size (``cost_bps``) but not the fixed cost of an order
line (``ticket_cost``: operations, review, settlement), which is not convex. So after rounding it
may keep a drift line whose tracking-error benefit is smaller than the ticket it costs. This
step removes such lines greedily, one at a time, the one whose removal improves the score most,
until no removal improves it:

    gain of dropping a line = its ticket + its trading cost + the tax it realizes
                              − the drift benefit it brings − its rating benefit

With ``min_drift_dollars`` (``[trading] min_drift_trade_dollars``) a line under that many dollars
is dropped whatever it brings (the smallest first), under the same protections: small drift
lines are the bulk of the order lines a rebalancer adds over the band rebalancer. Not in a model
change's transition, whose small daily steps toward the new model are the mandate's lines.

A line is never dropped when it is a mandate's or a harvest's (a restriction sale, a harvested
loss or the buy of its group's substitute), when dropping it would leave the cash requirement
unmet or a class outside a band it is inside after the trades (or move one that is outside
further out; bands on the value after the trades' costs, as the lab checks them). In a band
mandate's account the drift lines that ride along with the band's are pruned the same way: a
band's own lines stay, as dropping one moves its class back out. Pure numpy.
"""
from __future__ import annotations

import numpy as np

from engine.decide import band_rules


def prune_lines(p, st, buy_sh: np.ndarray, sell_sh: np.ndarray, lot_sh: np.ndarray, te2):
    """(buy_sh, sell_sh, lot_sh) without the order lines that do not pay their ticket.

    ``p``: the optimizer's prepared account (engine.decide.optimizer._Prep); ``te2(p, w)``: squared
    tracking error of security weights ``w``. Inputs are not modified."""
    if st.ticket_cost <= 0 and st.min_drift_dollars <= 0:
        return buy_sh, sell_sh, lot_sh
    traded = (buy_sh > 0) | (sell_sh > 0)
    if not traded.any():
        return buy_sh, sell_sh, lot_sh
    V, price = p.V, p.price
    # a model change's transition trades toward the new model a budget's worth a day: its lines are
    # the mandate's, however small, so only the ticket rule applies to them
    min_drift = 0.0 if p.inp.tax_weight != 1.0 else st.min_drift_dollars
    keep = _protected(p, buy_sh, sell_sh, lot_sh)
    sold_tax = _tax_per_security(p, lot_sh)
    buy_sh, sell_sh, lot_sh = buy_sh.copy(), sell_sh.copy(), lot_sh.copy()
    creq = p.creq * V
    k = p.kappa
    pos = _band_positions(p) if len(p.band_k) else None
    while True:
        net = (buy_sh - sell_sh) * price
        w1 = p.h0 + net / V
        te1 = None  # computed when a line needs it: a line under min_drift is dropped without it
        lines = int(((buy_sh > 0) | (sell_sh > 0)).sum())
        cash = p.c0 * V - net.sum() - k * np.abs(net).sum() - st.ticket_cost * lines
        Wk1 = np.bincount(p.ci, w1, p.K)
        if len(p.band_k):  # the bands on the value after the trades' costs (as the lab checks them)
            bands = band_rules.after_costs(p, st, buy_sh, sell_sh, 0)
            w = Wk1[p.band_k]
            out1 = (w < bands[0] - 1e-9) | (w > bands[1] + 1e-9)
            band_ok = _BandCheck(p, Wk1, out1, bands, pos)
        else:
            out1 = None
        best, best_gain = -1, 0.0
        for s in np.flatnonzero(((buy_sh > 0) | (sell_sh > 0)) & ~keep):
            ns = float(net[s])
            d = ns / V
            cash2 = cash + ns + k * abs(ns) + st.ticket_cost
            if cash2 < creq - 0.005 and cash2 < cash:
                continue
            if out1 is not None and not band_ok(p.ci[s], d):
                continue
            if abs(ns) < min_drift:  # too small a drift line: dropped, smallest first
                gain = 1e12 - abs(ns)
            else:
                if te1 is None:
                    te1 = te2(p, w1)
                w1s = w1[s]
                w1[s] -= d  # w1 with this line dropped (set back below, bit for bit)
                drift_loss = p.lam * V * (te2(p, w1) - te1) / st.te_ref
                w1[s] = w1s
                rating = p.rv * float(p.rho[s] * net[s])
                gain = st.ticket_cost + k * abs(net[s]) + (sold_tax[s] if sell_sh[s] > 0 else 0.0) \
                    - drift_loss - rating
            if gain > best_gain + 1e-9:
                best, best_gain = s, gain
        if best < 0:
            return buy_sh, sell_sh, lot_sh
        buy_sh[best] = 0
        sell_sh[best] = 0
        lot_sh[p.lot_sec == best] = 0


def _protected(p, buy_sh, sell_sh, lot_sh) -> np.ndarray:
    """Securities whose lines stay: restriction sales, harvested losses and their groups' buys."""
    keep = np.zeros(p.S, dtype=bool)
    if p.any_must:
        keep |= p.must_sec
    if p.inp.taxable:
        harvested = (lot_sh > 0) & p.candidate & (p.tax_true < 0)
        if harvested.any():
            hs = np.zeros(p.S, dtype=bool)
            hs[p.lot_sec[harvested]] = True
            groups = np.bincount(p.gi, hs, p.G) > 0
            keep |= hs | (groups[p.gi] & (buy_sh > 0))
    return keep


def _tax_per_security(p, lot_sh) -> np.ndarray:
    """Tax the sale of each security realizes (gains at their rate; a loss outside a harvest is
    worth nothing here, as in the optimizer's objective)."""
    out = np.zeros(p.S)
    if not p.inp.taxable or not len(lot_sh):
        return out
    tax = lot_sh * p.lot_px * p.tax_true
    np.add.at(out, p.lot_sec, np.maximum(tax, 0.0))
    return out


def _bands_no_worse(p, Wk1, Wk2, out1, bands) -> bool:
    """Inside bands stay inside; a band already outside gets no further out."""
    w1, w2 = Wk1[p.band_k], Wk2[p.band_k]
    lo, hi = bands
    inside2 = (w2 >= lo - 1e-9) & (w2 <= hi + 1e-9)
    ok_in = inside2 | out1
    dist1 = np.maximum(lo - w1, 0) + np.maximum(w1 - hi, 0)
    dist2 = np.maximum(lo - w2, 0) + np.maximum(w2 - hi, 0)
    return bool(ok_in.all() and (dist2 <= dist1 + 1e-12).all())


class _BandCheck:
    """:func:`_bands_no_worse` of the class weights ``Wk1`` with one line dropped, checking only
    the band of the class that changes: the other bands compare each weight with itself, which
    passes (NaN aside, which fails as it does there) — computed once. The changed band's test is
    the same arithmetic on Python floats (IEEE doubles, as numpy's), so the same answer."""

    def __init__(self, p, Wk1, out1, bands, pos) -> None:
        self.p, self.Wk1, self.out1, self.bands, self.pos = p, Wk1, out1, bands, pos
        self.ok = _pointwise_ok(p, Wk1, Wk1, out1, bands)
        self.n_bad = len(self.ok) - int(np.count_nonzero(self.ok))

    def __call__(self, c, d) -> bool:
        if self.pos is None:
            Wk2 = self.Wk1.copy()
            Wk2[c] -= d
            return _bands_no_worse(self.p, self.Wk1, Wk2, self.out1, self.bands)
        j = self.pos.get(int(c))
        if j is None:  # a class without a band: no band moves
            return self.n_bad == 0
        if self.n_bad > 1 or (self.n_bad == 1 and self.ok[j]):
            return False  # another band fails whatever this one does
        w1 = float(self.Wk1[c])
        w2 = w1 - d
        lo, hi = float(self.bands[0][j]), float(self.bands[1][j])
        inside2 = (w2 >= lo - 1e-9) and (w2 <= hi + 1e-9)
        dist1 = max(lo - w1, 0.0) + max(w1 - hi, 0.0)
        dist2 = max(lo - w2, 0.0) + max(w2 - hi, 0.0)
        return bool((inside2 or self.out1[j]) and dist2 <= dist1 + 1e-12)


def _band_positions(p) -> dict | None:
    """Class index -> its position in ``p.band_k``; None when a class has two bands."""
    pos = {int(c): j for j, c in enumerate(p.band_k)}
    return pos if len(pos) == len(p.band_k) else None


def _pointwise_ok(p, Wk1, Wk2, out1, bands) -> np.ndarray:
    """Per band, the test of :func:`_bands_no_worse` (whose answer is this array's ``all()``)."""
    w1, w2 = Wk1[p.band_k], Wk2[p.band_k]
    lo, hi = bands
    inside2 = (w2 >= lo - 1e-9) & (w2 <= hi + 1e-9)
    dist1 = np.maximum(lo - w1, 0) + np.maximum(w1 - hi, 0)
    dist2 = np.maximum(lo - w2, 0) + np.maximum(w2 - hi, 0)
    return (inside2 | out1) & (dist2 <= dist1 + 1e-12)
