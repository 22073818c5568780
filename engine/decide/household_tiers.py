"""Tiers by household value (policy ``tier_by = "household"``): every member of a household
(accounts.csv ``household_id``) is tiered by the household's combined value, so a $482K IRA of
a $30M family is reviewed as the family is. An account's explicit ``group`` still wins; an
account without a household keeps its own value. ``tier_basis`` says which rule set the tier."""
from __future__ import annotations

import numpy as np
import pandas as pd

from engine.decide.household_wash import household_label, household_of


def tier_by_household(acc: pd.DataFrame, policy) -> None:
    """Re-tier ``acc`` (account facts with value, group, tier, tier_basis) in place."""
    from engine.decide.tiers import assign_tiers

    if "household_id" not in acc or not acc["household_id"].notna().any():
        return
    hh = household_of(acc).to_numpy(object)
    in_hh = np.array([str(h).startswith("H:") for h in hh], dtype=bool)
    if not in_hh.any():
        return
    value = acc["value"].to_numpy(float)
    total = pd.Series(value).groupby(hh).transform("sum").to_numpy(float)
    size = pd.Series(value).groupby(hh).transform("size").to_numpy(int)
    tier = assign_tiers(np.where(in_hh, total, value), acc["group"].to_numpy(object), policy)
    acc["tier"] = tier
    basis = acc["tier_basis"].to_numpy(object).copy()
    for i in np.flatnonzero(in_hh):
        note = (f"tier by household {household_label(hh[i])}: {size[i]} accounts, ${total[i]:,.0f}")
        basis[i] = note if not isinstance(basis[i], str) or not basis[i] else f"{basis[i]}; {note}"
    acc["tier_basis"] = basis
