"""Tiers: which review and threshold rules an account trades under, by its value (or the book's
``group`` naming a tier). Household tiers (:mod:`engine.decide.household_tiers`) reuse it on the
household's value."""
from __future__ import annotations

import numpy as np
import pandas as pd

from engine.core.policy import Policy

def assign_tiers(value: np.ndarray, group: np.ndarray, policy: Policy) -> np.ndarray:
    """Tier name per account: its ``group`` when that names a tier, else by value (min ≤ v < max)."""
    tiers = sorted(policy.tiers, key=lambda t: t.min_value)
    mins = np.array([t.min_value for t in tiers])
    names = np.array([t.name for t in tiers], dtype=object)
    idx = np.clip(np.searchsorted(mins, np.nan_to_num(value, nan=0.0), side="right") - 1, 0, len(tiers) - 1)
    out = names[idx]
    known = {t.name.lower(): t.name for t in tiers}
    grp = pd.Series(group, dtype=object).fillna("").astype(str).str.strip().str.lower()
    explicit = grp.map(known)
    has = explicit.notna().to_numpy()
    out[has] = explicit.to_numpy(dtype=object)[has]
    return out
