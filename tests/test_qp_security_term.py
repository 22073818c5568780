"""The per-security tracking term's QP rows built from arrays (engine/decide/optimizer/qp.py,
csc_append) are exactly the matrices scipy's vstack/hstack/diags made before: same data,
indices, pointers and dtypes, so the solver gets the same input and proposals stay identical."""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import scipy.sparse as sp

from engine.decide import optimizer as opt
from engine.decide.optimizer import OptimizerSettings, csc_append, qp
from test_optimizer import account, balanced, harvest_account, random_account
from test_optimizer_free_tracking import substitute_account

SETTINGS = OptimizerSettings()
INF = np.inf


def reference_security_term(p, q) -> None:
    """The term as built with scipy's public constructors (the code this replaced)."""
    S, B, n = p.S, p.B, q.n
    rows = np.concatenate([p.b_sec, np.arange(S)])
    cols = np.concatenate([np.arange(B), q.oy + np.arange(S)])
    vals = np.concatenate([np.ones(B), -np.ones(S)])
    X = sp.csc_matrix((vals, (rows, cols)), shape=(S, n))
    A = sp.vstack([sp.hstack([q.A, sp.csc_matrix((q.A.shape[0], S))]),
                   sp.hstack([X, sp.identity(S, format="csc")])], format="csc")
    A.sort_indices()
    q.A = A
    q.b = np.concatenate([q.b, p.h0])
    q.P = sp.diags(np.concatenate([q.P.diagonal(), np.full(S, 2.0 * p.cs)]), format="csc")
    q.c = np.concatenate([q.c, -2.0 * p.cs * p.Ts])
    q.Gm = sp.hstack([q.Gm, sp.csc_matrix((q.Gm.shape[0], S))], format="csc")
    q.xl = np.concatenate([q.xl, np.full(S, -INF)])
    q.xu = np.concatenate([q.xu, np.full(S, INF)])
    q.n = n + S


def same_matrix(a, b) -> bool:
    return (a.shape == b.shape and a.indices.dtype == b.indices.dtype and a.indptr.dtype == b.indptr.dtype
            and np.array_equal(a.indptr, b.indptr) and np.array_equal(a.indices, b.indices)
            and np.array_equal(a.data, b.data))


def book():
    rng = np.random.default_rng(21)
    out = [harvest_account(), substitute_account(100.0), substitute_account(40.0, taxable=False),
           account(*balanced()[:2], cash_needed=50_000.0, model_cash=0.02)]
    return out + [random_account(rng, i) for i in range(60)]


def test_the_security_term_is_the_matrices_scipy_made(monkeypatch):
    built = 0
    for st in (replace(SETTINGS, own_vol=0.06), replace(SETTINGS, own_vol=0.03, own_vol_free=0.06, tradeoff_lambda=3.0),
               replace(SETTINGS, own_vol_untaxed=0.06, own_vol_free=0.06)):
        for inp in book():
            p = opt._prepare(inp, st)
            if p.V <= 0 or not p.cs > 0:
                continue
            new = qp._build_qp(p, st)
            monkeypatch.setattr(qp, "_add_security_term", reference_security_term)
            ref = qp._build_qp(p, st)
            monkeypatch.undo()
            for name in ("A", "P", "Gm"):
                assert same_matrix(getattr(new, name), getattr(ref, name)), name
            for name in ("b", "c", "xl", "xu", "hl", "hu"):
                assert np.array_equal(getattr(new, name), getattr(ref, name)), name
            assert new.n == ref.n
            built += 1
    assert built > 100


def test_appended_entries_keep_rows_sorted_and_explicit_zeros():
    rng = np.random.default_rng(3)
    for _ in range(200):
        m, n, k = rng.integers(1, 6), rng.integers(1, 8), rng.integers(0, 4)
        dense = rng.normal(size=(m, n)) * (rng.random((m, n)) < 0.5)
        M = sp.csc_matrix(dense)
        M.data[rng.random(M.nnz) < 0.2] = 0.0  # explicit zeros stay where they are
        dense = M.toarray()
        add_row = np.where(rng.random(n + k) < 0.6, rng.integers(m, m + 3, n + k), -1)
        add_val = rng.normal(size=n + k)
        got = csc_append.append_entries(M, n + k, m + 3, add_row, add_val, qp._csc)
        want = np.zeros((m + 3, n + k))
        want[:m, :n] = dense
        has = add_row >= 0
        want[add_row[has], np.flatnonzero(has)] = add_val[has]
        assert np.array_equal(got.toarray(), want)
        assert got.nnz == M.nnz + int((add_row >= 0).sum())  # explicit zeros kept, nothing summed away
        assert got.has_sorted_indices
    d = np.array([0.0, 2.0, 0.0, 3.0])
    assert same_matrix(csc_append.diagonal(d, qp._csc, keep_zeros=False), sp.diags(d, format="csc"))
    assert csc_append.diagonal(d, qp._csc).nnz == 4
