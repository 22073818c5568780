"""Solving the QP: a PIQP session (set up once, updated for the second solve) with Clarabel as fallback."""
from __future__ import annotations
import time
import numpy as np
import scipy.sparse as sp
from engine.decide.optimizer.model import OptimizerSettings
from engine.decide.optimizer.qp import _QP


class _SolverError(Exception):
    pass


class _Session:
    """Solves one account's QP repeatedly; later solves change only variable bounds."""

    __slots__ = ("q", "order", "piqp", "solve_time", "n_solves")

    def __init__(self, q: _QP, st: OptimizerSettings):
        self.q = q
        self.order = _ORDER_CLARABEL if st.solver.upper() == "CLARABEL" else _ORDER_PIQP
        self.piqp = None
        self.solve_time = 0.0
        self.n_solves = 0

    def close(self) -> None:
        """Release the solver (its factorization); timed as solver time like its set-up."""
        if self.piqp is not None:
            t0 = time.perf_counter()
            self.piqp = None
            self.solve_time += time.perf_counter() - t0

    def solve(self, xl: np.ndarray, xu: np.ndarray) -> np.ndarray:
        errors = []
        for name in self.order:
            try:
                if name == "PIQP":
                    return self._piqp(xl, xu)
                return self._clarabel(xl, xu)
            except _SolverError as exc:
                errors.append(f"{name} {exc}")
        raise _SolverError("; ".join(errors))

    def _piqp(self, xl, xu):
        q = self.q
        piqp = _piqp_mod()
        t0 = time.perf_counter()
        s = self.piqp
        if s is None:
            s = piqp.SparseSolver()
            s.settings.verbose = False
            s.settings.preconditioner_iter = 2  # the QP is well scaled (fractions of V)
            s.settings.preconditioner_scale_cost = True
            s.setup(q.P, q.c, q.A, q.b, q.Gm, q.hl, q.hu, xl, xu)
            self.piqp = s
        else:
            s.update(x_l=xl, x_u=xu)
        status = s.solve()
        solved = status == piqp.PIQP_SOLVED
        x = s.result.x if solved else None  # the solver's read-only buffer
        self.solve_time += time.perf_counter() - t0
        self.n_solves += 1
        if not solved:
            s = None
            self.close()
            raise _SolverError(str(status).rsplit(".", 1)[-1])
        z = np.minimum(x, xu)  # a copy, within the bounds
        np.maximum(z, xl, out=z)
        return z

    def _clarabel(self, xl, xu):
        import clarabel

        q = self.q
        t0 = time.perf_counter()
        n = q.n
        eye = sp.identity(n, format="csr")
        fixed = np.isfinite(xl) & (xl == xu)
        lo = np.isfinite(xl) & ~fixed
        up = np.isfinite(xu) & ~fixed
        gl = np.isfinite(q.hl)
        gu = np.isfinite(q.hu)
        Gr = sp.csr_matrix(q.Gm)
        blocks_eq = [sp.csr_matrix(q.A), eye[fixed]]
        b_eq = [q.b, xl[fixed]]
        blocks_in = [-Gr[gl], Gr[gu], -eye[lo], eye[up]]
        b_in = [-q.hl[gl], q.hu[gu], -xl[lo], xu[up]]
        Amat = sp.vstack(blocks_eq + blocks_in, format="csc")
        bvec = np.concatenate(b_eq + b_in)
        m_eq = sum(bl.shape[0] for bl in blocks_eq)
        cones = [clarabel.ZeroConeT(m_eq), clarabel.NonnegativeConeT(Amat.shape[0] - m_eq)]
        cs = clarabel.DefaultSettings()
        cs.verbose = False
        P = sp.triu(sp.csc_matrix(q.P), format="csc")
        r = clarabel.DefaultSolver(P, q.c, Amat, bvec, cones, cs).solve()
        self.solve_time += time.perf_counter() - t0
        self.n_solves += 1
        status = str(r.status)
        if status not in ("Solved", "AlmostSolved"):
            raise _SolverError(status)
        return np.clip(np.asarray(r.x), xl, xu)


_ORDER_PIQP = ("PIQP", "CLARABEL")


_ORDER_CLARABEL = ("CLARABEL", "PIQP")


_PIQP = None


def _piqp_mod():
    global _PIQP
    if _PIQP is None:
        import piqp

        _PIQP = piqp
    return _PIQP
