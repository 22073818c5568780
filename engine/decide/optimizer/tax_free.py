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
* in the objective it is ``lambda x V x free(w) / te_ref`` dollars, like the tracking error;
  the score counts its change as drift benefit (``te_pre``/``te_post`` stay the risk model's).

In the QP: one variable ``o_s >= 0`` a security (and one for cash), one inequality row each
(``-sum x_l(s) + y_s - o_s <= U_s - h0_s``; ``cp - o_c <= U_c``) and ``cs_free x o^2`` in the
objective.  Only accounts where the term is set (taxable, ``own_vol_free > 0``) pay for it.

``own_vol_untaxed`` is the other half of the idea: in an account that pays no tax every lot is
free, so there the whole per-security term applies at that vol (``own_vol`` raised to it)."""
from __future__ import annotations

import numpy as np
import scipy.sparse as sp

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
        p.fU = None
        p.fUc = _INF
        return
    p.free2 = free2 = vol * vol
    p.fs = p.lam * free2 / st.te_ref
    free = sell_ok & (tax_true <= float(st.free_tax_bps) * 1e-4)
    taxed = np.bincount(p.lot_sec, p.lot_val * ~free, p.S) if p.L else np.zeros(p.S)
    p.fU = np.maximum(p.Ts, taxed)
    p.fUc = _INF if inp.cash_flow else float(inp.model_cash_w) + float(inp.cash_needed) / p.V
    p.fr0 = te2(p, p.h0)


def te2(p, w: np.ndarray) -> float:
    """The free term at security weights ``w`` as a squared tracking error (0 when off); the
    cash after the trades is taken as the cash before less the net bought (costs apart)."""
    if not p.free2:
        return 0.0
    o = w - p.fU
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


def add_to_qp(p, q) -> None:
    """Append the free term's variables, rows and objective to QP ``q`` (after every other
    term: its rows touch the lot, buy and post-trade cash columns)."""
    S, B, n = p.S, p.B, q.n
    cash = p.fUc < _INF
    m = S + cash
    rows = [p.b_sec, np.arange(S), np.arange(S)]
    cols = [np.arange(B), q.oy + np.arange(S), n + np.arange(S)]
    vals = [-np.ones(B), np.ones(S), -np.ones(S)]
    if cash:
        rows += [np.array([S, S])]
        cols += [np.array([q.ocp, n + S])]
        vals += [np.array([1.0, -1.0])]
    R = sp.csc_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
                      shape=(m, n + m))
    G = sp.hstack([q.Gm, sp.csc_matrix((q.Gm.shape[0], m))], format="csc")
    q.Gm = sp.vstack([G, R], format="csc")
    q.Gm.sort_indices()
    hu = p.fU - p.h0
    q.hl = np.concatenate([q.hl, np.full(m, -_INF)])
    q.hu = np.concatenate([q.hu, hu, [p.fUc]] if cash else [q.hu, hu])
    q.A = sp.hstack([q.A, sp.csc_matrix((q.A.shape[0], m))], format="csc")
    q.P = sp.diags(np.concatenate([q.P.diagonal(), np.full(m, 2.0 * p.fs)]), format="csc")
    q.c = np.concatenate([q.c, np.zeros(m)])
    q.xl = np.concatenate([q.xl, np.zeros(m)])
    q.xu = np.concatenate([q.xu, np.full(m, _INF)])
    q.n = n + m
