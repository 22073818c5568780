"""Growing a QP's CSC matrices by rows and columns without scipy's hstack/vstack (~1 ms an
account each): for terms whose every column gains at most one entry, in a row below every
existing one — so the entry goes at the column's end and the column's rows stay in order."""
from __future__ import annotations

import numpy as np


def append_entries(M, n_cols: int, n_rows: int, add_row: np.ndarray, add_val: np.ndarray, csc):
    """``M`` (its row indices sorted in each column) widened to ``n_cols`` columns and ``n_rows``
    rows, with one entry ``add_val[j]`` at row ``add_row[j]`` in each column ``j`` where
    ``add_row[j] >= 0``; every such row is at or below ``M``'s last. ``csc`` makes the matrix
    from valid CSC arrays (:data:`engine.decide.optimizer.qp._csc`); indices are int32."""
    i32 = np.int32
    n = M.shape[1]
    old_ptr = np.asarray(M.indptr, dtype=np.int64)
    old_cnt = np.zeros(n_cols, np.int64)
    old_cnt[:n] = np.diff(old_ptr)
    has = add_row >= 0
    ptr = np.zeros(n_cols + 1, np.int64)
    np.cumsum(old_cnt + has, out=ptr[1:])
    nnz = int(ptr[-1])
    data = np.empty(nnz)
    idx = np.empty(nnz, i32)
    if old_ptr[-1]:
        col = np.repeat(np.arange(n), old_cnt[:n])
        at = ptr[col] + np.arange(old_ptr[-1]) - old_ptr[col]
        data[at] = M.data
        idx[at] = M.indices
    at = ptr[:-1][has] + old_cnt[has]
    data[at] = add_val[has]
    idx[at] = add_row[has]
    return csc(data, idx, ptr.astype(i32), (n_rows, n_cols))


def widen(M, n_cols: int, csc):
    """``M`` with empty columns added on the right up to ``n_cols``."""
    i32 = np.int32
    ptr = np.concatenate([np.asarray(M.indptr, dtype=i32), np.full(n_cols - M.shape[1], M.indptr[-1], i32)])
    return csc(np.asarray(M.data), np.asarray(M.indices, dtype=i32), ptr, (M.shape[0], n_cols))


def diagonal(d: np.ndarray, csc, keep_zeros: bool = True):
    """The diagonal matrix of ``d``; without its zero entries when not ``keep_zeros`` (what
    ``scipy.sparse.diags(d, format="csc")`` stores)."""
    i32 = np.int32
    n = len(d)
    if keep_zeros:
        ar = np.arange(n + 1, dtype=i32)
        return csc(d, ar[:n], ar, (n, n))
    nz = d != 0
    ptr = np.zeros(n + 1, i32)
    np.cumsum(nz, out=ptr[1:])
    return csc(d[nz], np.flatnonzero(nz).astype(i32), ptr, (n, n))
