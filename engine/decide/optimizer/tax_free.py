"""The per-security tracking term that acts only where selling costs no tax (issue #16, fifth
session: dispersion without tax).

The optimizer's per-security term (``own_vol``, :func:`engine.decide.optimizer.qp._add_security_term`)
charges every deviation of a security's weight from the model's; in a taxable account most of
it can only be closed by selling a gain, so at a weight that tracks the model it costs tax, and
at a weight that does not it does nothing.  This term charges only the part of a deviation that
selling can close without realizing a gain:

* a security's *free* lots are the sellable ones whose tax per dollar sold is at most
  ``free_tax_bps`` (0: lots at a loss or at zero gain; a wash-sale blocked loss is not sellable,
  so not free).  Its other lots (taxed, or not sellable) are ``g_s`` (weight before the trades);
  the term allows the security up to ``U_s = max(t_s, g_s)`` and charges what is held above it::

      free(w) = own_free^2 x ( sum_s max(0, w_s - U_s)^2 + max(0, c - U_c)^2 )

  with ``t_s`` the model weight, ``c`` the cash weight after the trades and ``U_c`` the model's
  cash weight plus the cash requested (cash above that is free to invest; not in a cash-flow
  account, which invests by its own rule).  An underweight is not charged here: the free
  overweights sold (or the cash) buy it, and the group and class terms say where.
* a group that the model holds but none of whose model securities can be bought today is not
  charged (``U_s`` infinite): its substitutes have nothing to go back to.  That is a harvest's
  substitute, on the harvest's day (the direction rule keeps the loss security from being
  bought) and through the wash-sale window after it (the loss security cannot be bought back);
  without this the term would charge every harvest for the substitute it buys.  Once the model
  security can be bought again, a substitute that sells without tax is switched back.
* in the objective it is ``lambda x V x free(w) / te_ref`` dollars, like the tracking error;
  the score counts its change as drift benefit (``te_pre``/``te_post`` stay the risk model's).

In the QP: one variable ``o_s >= 0`` a security (and one for cash), one inequality row each
(``-sum x_l(s) + y_s - o_s <= U_s - h0_s``; ``cp - o_c <= U_c``) and ``cs_free x o^2`` in the
objective.  Only accounts where the term is set (taxable, ``own_vol_free > 0``) pay for it.

``own_vol_untaxed`` is the other half of the idea: in an account that pays no tax every lot is
free, so there the whole per-security term applies at that vol (``own_vol`` raised to it)."""
from __future__ import annotations

import numpy as np

from engine.decide.optimizer import csc_append
from engine.decide.optimizer.model import _INF


def own2(inp, st) -> float:
    """The per-security term's vol squared for this account (``own_vol``, raised to
    ``own_vol_untaxed`` in an account that pays no tax)."""
    vol = float(st.own_vol)
    if not inp.taxable and st.own_vol_untaxed > vol:
        vol = float(st.own_vol_untaxed)
    return vol * vol


def prepare(p, inp, st, tax_true: np.ndarray, sell_ok: np.ndarray) -> None:
    """Set the free term's fields of prepared account ``p``: ``free2`` (vol squared, 0 = off),
    ``fs`` (objective weight), ``fU`` (allowed weight a security), ``fUc`` (allowed cash, inf =
    none) and ``fr0`` (the term before the trades, as a squared tracking error)."""
    vol = float(st.own_vol_free)
    if not inp.taxable or vol <= 0:
        p.free2 = p.fs = p.fr0 = 0.0
        p.fU = p.fk = None
        p.fUc = _INF
        return
    p.free2 = free2 = vol * vol
    p.fs = p.lam * free2 / st.te_ref
    free = sell_ok & (tax_true <= float(st.free_tax_bps) * 1e-4)
    taxed = np.bincount(p.lot_sec, p.lot_val * ~free, p.S) if p.L else np.zeros(p.S)
    p.fU = U = np.maximum(p.Ts, taxed)
    # a model group with no model security to buy today: nothing to switch back to
    stuck = (p.Tg > 0) & (np.bincount(p.gi, (p.Ts > 0) & p.buy_eff, p.G) == 0)
    U[stuck[p.gi]] = _INF
    # the QP's rows: where the term can be positive (bought, or held above U now)
    p.fk = np.flatnonzero(np.isfinite(U) & (p.buy_eff | (p.h0 > U)))
    p.fUc = _INF if inp.cash_flow else float(inp.model_cash_w) + float(inp.cash_needed) / p.V
    p.fr0 = te2(p, p.h0)


def te2(p, w: np.ndarray) -> float:
    """The free term at security weights ``w`` as a squared tracking error (0 when off); the
    cash after the trades is taken as the cash before less the net bought (costs apart)."""
    if not p.free2:
        return 0.0
    o = w - p.fU  # -inf where not charged
    np.maximum(o, 0.0, out=o)
    out = float(o @ o)
    if p.fUc < _INF:
        oc = p.c0 - float(np.add.reduce(w - p.h0)) - p.fUc
        if oc > 0:
            out += oc * oc
    return p.free2 * out


def half_gradient(p) -> tuple[np.ndarray, float]:
    """Half the gradient of ``fs x free`` at the holdings: per security weight, and per cash."""
    o = np.maximum(p.h0 - p.fU, 0.0)
    oc = max(p.c0 - p.fUc, 0.0) if p.fUc < _INF else 0.0
    return p.fs * o, p.fs * oc


def add_to_qp(p, q, csc) -> None:
    """Append the free term's variables, rows and objective to QP ``q`` (after every other
    term: its rows touch the lot, buy and post-trade cash columns).  The CSC arrays are built
    directly (scipy's hstack/vstack cost ~1 ms an account): each column gains at most one
    entry, in a row below every existing one, so it goes at the column's end; ``csc`` builds a
    matrix from valid CSC arrays (qp._csc)."""
    S, B, n = p.S, p.B, q.n
    fk = p.fk
    k = len(fk)
    row = np.full(S, -1, np.int64)  # each charged security's row, after the existing ones
    cash = p.fUc < _INF
    m = k + cash
    if not m:
        return
    nn = n + m
    rG = q.Gm.shape[0]
    add_row = np.full(nn, -1, np.int64)  # the new entry's row in each column (-1: none)
    add_val = np.zeros(nn)
    row[fk] = rG + np.arange(k)
    add_row[:B] = row[p.b_sec]
    add_val[:B] = -1.0
    add_row[q.oy:q.oy + S] = row
    add_val[q.oy:q.oy + S] = 1.0
    add_row[n:] = rG + np.arange(m)
    add_val[n:] = -1.0
    if cash:
        add_row[q.ocp] = rG + k
        add_val[q.ocp] = 1.0
    q.Gm = csc_append.append_entries(q.Gm, nn, rG + m, add_row, add_val, csc)
    q.hl = np.concatenate([q.hl, np.full(m, -_INF)])
    hu = p.fU[fk] - p.h0[fk]
    q.hu = np.concatenate([q.hu, hu, [p.fUc]] if cash else [q.hu, hu])
    q.A = csc_append.widen(q.A, nn, csc)
    q.P = csc_append.diagonal(np.concatenate([q.P.diagonal(), np.full(m, 2.0 * p.fs)]), csc)
    q.c = np.concatenate([q.c, np.zeros(m)])
    q.xl = np.concatenate([q.xl, np.zeros(m)])
    q.xu = np.concatenate([q.xu, np.full(m, _INF)])
    q.n = nn
