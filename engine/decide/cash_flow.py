"""Cash-flow trading (issue 23): an account in ``trading_mode = cash_flow`` (or with a cash
request of ``mode = raise_only`` owed) trades only to meet cash needs, to sell restricted
holdings and to invest excess cash; it never sells to rebalance.

* Sells: restriction sales in full, and at most the cash the requests need beyond the cash
  and the restriction sales' proceeds (one linear row over the other lots sold). Which lots
  is the optimizer's tax-aware choice, the overweight classes first (selling them also lowers
  drift).
* Buys: only when the cash left above the model's cash weight (after the requests and the
  restriction sales) is more than ``invest_threshold`` of the account's value; the optimizer
  then invests it where drift falls most, i.e. the most underweight classes first.
* The optimizer's whole-share rounding may sell a share more than the need (cash re-check):
  "never beyond the need plus rounding".
"""
from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["sell_cap", "may_invest", "account_modes", "CASH_FLOW", "RAISE_ONLY"]

CASH_FLOW = "cash_flow"
RAISE_ONLY = "raise_only"


def sell_cap(b_val: np.ndarray, must: np.ndarray, creq: float, c0: float, kappa: float) -> float:
    """Most the lots other than restriction sales may sell (fraction of V) in a cash-flow account."""
    proceeds = (1 - kappa) * float(np.add.reduce(b_val[must])) if len(b_val) else 0.0
    need = creq - c0 - proceeds
    return max(need, 0.0) / (1 - kappa)


def may_invest(b_val: np.ndarray, must: np.ndarray, creq: float, c0: float, kappa: float,
               threshold: float) -> bool:
    """Whether the cash above the requirement (after restriction sales) exceeds the threshold."""
    proceeds = (1 - kappa) * float(np.add.reduce(b_val[must])) if len(b_val) else 0.0
    return c0 + proceeds - creq > threshold


def account_modes(acc: pd.DataFrame, owed_requests: pd.DataFrame) -> np.ndarray:
    """bool per account of ``acc``: trades cash-flow only this run (its ``trading_mode`` is
    cash_flow, or a request it owes has ``mode = raise_only``)."""
    mode = acc["trading_mode"] if "trading_mode" in acc else pd.Series([None] * len(acc))
    flow = mode.fillna("").astype(str).str.lower().to_numpy() == CASH_FLOW
    if "mode" in owed_requests and len(owed_requests):
        raise_only = owed_requests.loc[owed_requests["mode"].fillna("").astype(str).str.lower() == RAISE_ONLY,
                                       "account_id"]
        flow |= acc["account_id"].isin(set(raise_only)).to_numpy(bool)
    return flow
