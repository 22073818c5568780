"""The QP in solver form (CSC matrices, bounds), assembled from a prepared account."""
from __future__ import annotations
import numpy as np
import scipy.sparse as sp
from engine.decide import band_rules, trade_limits
from engine.decide.optimizer import csc_append, tax_free
from engine.decide.optimizer.model import OptimizerSettings, _INF, _arange
from engine.decide.optimizer.prepare import _Prep


def _csc_checked(data, indices, indptr, shape):
    return sp.csc_matrix((data, indices, indptr), shape=shape)


def _csc_fast(data, indices, indptr, shape):
    # scipy's constructor validates its input (~40 us a matrix, 3 matrices an account); ours
    # are valid by construction, so set the fields directly.  Checked once at import below.
    m = sp.csc_matrix.__new__(sp.csc_matrix)
    m.data, m.indices, m.indptr, m._shape = data, indices, indptr, shape
    return m


def _pick_csc():
    try:
        m = _csc_fast(np.array([1.0, 2.0]), np.array([1, 0], np.int32),
                      np.array([0, 1, 2], np.int32), (2, 2))
        if m.shape == (2, 2) and m.nnz == 2 and m.toarray()[1, 0] == 1.0:
            return _csc_fast
    except Exception:  # noqa: BLE001 - scipy internals changed: use the public constructor
        pass
    return _csc_checked


_csc = _pick_csc()


class _QP:
    __slots__ = ("n", "P", "c", "A", "b", "Gm", "hl", "hu", "xl", "xu", "oy", "og", "oe",
                 "ob", "osc", "ocp", "nb")


def _build_qp(p: _Prep, st: OptimizerSettings) -> _QP:
    """Relaxed QP in PIQP form: min 1/2 z'Pz + c'z, A z = b, hl <= Gm z <= hu, xl <= z <= xu.

    z = [x (B lot buckets sold), y (S bought), g (G group weights), e (K class weights),
    band slack lo (nb), band slack hi (nb), cash shortfall sc, post-trade cash cp].
    Every dense relation (group/class sums, the cash balance) is an equality row so the KKT
    system stays sparse; the inequality rows have 2-3 non-zeros each.  The objective is the
    dollar objective / V without its constant.
    """
    B, S, G, K = p.B, p.S, p.G, p.K
    nb = len(p.band_k)
    oy = B
    og = B + S
    oe = og + G
    ob = oe + K
    osc = ob + 2 * nb
    ocp = osc + 1
    n = ocp + 1
    q = _QP()
    q.n, q.oy, q.og, q.oe, q.ob, q.osc, q.ocp, q.nb = n, oy, og, oe, ob, osc, ocp, nb
    kap = p.kappa
    i32 = np.int32
    bsec = p.b_sec
    u = p.u
    # objective
    Pd = np.zeros(n)
    Pd[og:ob] = u.pd
    ar = _arange(n + 1)
    q.P = _csc(Pd, ar[:n], ar, (n, n))
    c = np.empty(n)
    c[:B] = p.b_tax + u.rvr[bsec]
    c[:B] += kap
    c[oy:ob] = u.c_y
    c[ob:osc] = band_rules.band_penalty(p, st)
    c[osc] = st.cash_penalty * max(1.0, p.lam)
    c[ocp] = 0.0
    q.c = c

    # equality rows: 0..G-1 group weights, G..G+K-1 class weights, G+K cash balance
    rc = G + K
    o = 3 * B
    o2 = o + 3 * S
    m = o2 + rc + 1
    a_idx = np.empty(m, dtype=i32)
    a_val = np.empty(m)
    a_idx[0:o] = u.a_x[bsec].ravel()
    a_idx[o:o2] = u.a_y_idx
    a_val[0:o] = 1.0
    a_val[2:o:3] = kap - 1.0
    a_val[o:o2] = u.a_y_val
    a_idx[o2:] = ar[:rc + 1]
    a_val[o2:] = 1.0
    a_ptr = np.empty(n + 1, dtype=i32)
    np.multiply(ar[:og + 1], 3, out=a_ptr[:og + 1])
    np.add(ar[1:rc + 1], 3 * og, out=a_ptr[og + 1:ob + 1])
    a_ptr[ob + 1:] = 3 * og + rc
    a_ptr[n] = m
    q.A = _csc(a_val, a_idx, a_ptr, (rc + 1, n))
    b = np.empty(rc + 1)
    b[:G] = p.ag0
    b[:G] += p.Tg
    b[G:rc] = p.Wk0
    b[rc] = p.c0
    q.b = b

    # inequality rows: 0 cash requirement (cp + sc >= creq), 1..nb bands (see _band_record)
    bd = p.bands
    g_ptr = np.empty(n + 1, dtype=i32)
    g_ptr[:oe + 1] = 0
    g_ptr[oe + 1:] = bd.g_tail
    q.Gm = _csc(bd.g_val, bd.g_idx, g_ptr, (1 + nb, n))
    hl = bd.hl.copy()
    hl[0] = p.creq
    if nb:
        hu = bd.hu.copy()
        hl[1:], hu[1:] = band_rules.qp_bounds(p, st)
    else:
        hu = bd.hu
    q.hl, q.hu = hl, hu

    # bounds
    xl = np.zeros(n)
    xu = np.empty(n)
    xu[:B] = p.b_val
    if p.b_must is not None:
        xl[:B][p.b_must] = p.b_val[p.b_must]
    xu[oy:og] = _INF
    xu[oy:og][~p.buy_eff] = 0.0
    xl[og:ob] = -_INF
    xu[og:] = _INF
    xl[ocp] = min(0.0, p.c0)  # never leave cash worse than it was
    q.xl, q.xu = xl, xu
    if p.cs > 0:
        _add_security_term(p, q)
    if trade_limits.applies(p.inp):  # a gains budget row, cash-flow limits
        trade_limits.apply(p, st, q)
    if p.fs > 0:  # last: its rows touch the lot, buy and cash columns
        tax_free.add_to_qp(p, q, _csc)
    return q


def _add_security_term(p: _Prep, q: _QP) -> None:
    """The per-security tracking term (``own_vol > 0``): S weight variables v at the end of z,
    one equality row each (x of the security's lots - its buy + v = its weight before), and
    ``cs * (v - t)^2`` in the objective.  The CSC arrays are built directly
    (:mod:`engine.decide.optimizer.csc_append`), equal to what scipy's vstack/hstack/diags give
    (``tests/test_qp_security_term.py`` keeps that construction as the reference)."""
    S, B, n = p.S, p.B, q.n
    nn = n + S
    A = q.A if q.A.has_sorted_indices else q.A.sorted_indices()
    rA = A.shape[0]
    add_row = np.full(nn, -1, np.int64)
    add_val = np.zeros(nn)
    add_row[:B] = rA + np.asarray(p.b_sec, dtype=np.int64)  # x of the security's lots ...
    add_val[:B] = 1.0
    add_row[q.oy:q.oy + S] = rA + np.arange(S)  # ... - its buy ...
    add_val[q.oy:q.oy + S] = -1.0
    add_row[n:] = rA + np.arange(S)  # ... + v
    add_val[n:] = 1.0
    q.A = csc_append.append_entries(A, nn, rA + S, add_row, add_val, _csc)
    q.b = np.concatenate([q.b, p.h0])
    q.P = csc_append.diagonal(np.concatenate([q.P.diagonal(), np.full(S, 2.0 * p.cs)]), _csc, keep_zeros=False)
    q.c = np.concatenate([q.c, -2.0 * p.cs * p.Ts])
    q.Gm = csc_append.widen(q.Gm, nn, _csc)
    q.xl = np.concatenate([q.xl, np.full(S, -_INF)])
    q.xu = np.concatenate([q.xu, np.full(S, _INF)])
    q.n = nn
