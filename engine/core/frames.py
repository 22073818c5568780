"""Small vectorized helpers over pandas frames used across the engine."""
from __future__ import annotations

import numpy as np
import pandas as pd


def lookup(keys: pd.Series, table: pd.Series, missing=np.nan) -> np.ndarray:
    """``table[keys]`` element-wise (like ``keys.map(table)``), via categorical codes: fast on
    millions of string keys. Keys not in the table get ``missing``."""
    index = pd.Index(table.index)
    if not index.is_unique:
        table = table[~index.duplicated()]
        index = pd.Index(table.index)
    codes = index.get_indexer(pd.Index(keys))
    vals = table.to_numpy()
    if vals.dtype.kind in "fiub" and not (isinstance(missing, float) and np.isnan(missing)):
        vals = vals.astype(object)
    elif vals.dtype.kind in "iub":
        vals = vals.astype(float)
    out = vals[np.clip(codes, 0, max(len(vals) - 1, 0))] if len(vals) else np.full(len(codes), missing, dtype=object)
    out = np.array(out, copy=True)
    if (codes < 0).any():
        if out.dtype.kind != "O" and not (isinstance(missing, float)):
            out = out.astype(object)
        out[codes < 0] = missing
    return out


def sets_by(keys: pd.Series, values: pd.Series) -> dict:
    """{key: set(values)} without a pandas groupby (fast for many small groups)."""
    out: dict = {}
    for k, v in zip(keys.tolist(), values.tolist()):
        out.setdefault(k, set()).add(v)
    return out


def holdings(lots: pd.DataFrame) -> pd.DataFrame:
    """Shares per account and symbol: DataFrame[account_id, symbol, quantity] (sum of lots)."""
    return lots.groupby(["account_id", "symbol"], sort=False, as_index=False)["quantity"].sum()
