"""The lab's check of cash-flow trading (issue 23): a cash-flow account never sells beyond its
cash need plus rounding, judged from the trades the simulated custodian executed.

Independent of the engine's own code for the rule (engine/decide/cash_flow.py, trade_limits.py):
it reads the day's book as the engine saw it (cash, holdings at the day's prices, the model's
cash weight, the listed cash requests, the account's restrictions) and the executions, and
recomputes, per account in ``trading_mode = cash_flow`` (or owing a ``raise_only`` request):

* the cash need: the requests due within the policy's cash horizon, less the cash the account
  holds above its model's cash weight (the account keeps the model cash it has; it never sells
  to top it up), at least 0;
* the restricted holdings it must sell: whatever of them it sold is allowed;
* the other sells allowed: what the need still lacks after the restricted sales' proceeds, plus
  the day's costs (``cost_bps`` of what is sold, ``ticket_cost`` a line), plus rounding: one
  share of each line sold (the optimizer rounds to whole shares).

Every sell beyond that is an excess; :func:`check_day` returns one row per cash-flow account
that traded that day, with its figures and its excess (0 when the rule held).
"""
from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pandas as pd

__all__ = ["check_day", "COLUMNS", "TOLERANCE"]

COLUMNS = ["day", "account_id", "cash", "value", "owed", "need", "restricted_sold", "sold", "lines",
           "allowed", "excess"]
TOLERANCE = 0.01  # dollars


def _flags(accounts: pd.DataFrame, requests: pd.DataFrame) -> np.ndarray:
    mode = accounts["trading_mode"] if "trading_mode" in accounts else pd.Series("", index=accounts.index)
    flow = mode.fillna("").astype(str).str.strip().str.lower().to_numpy() == "cash_flow"
    if "mode" in requests and len(requests):
        raising = set(requests.loc[requests["mode"].fillna("").astype(str).str.strip().str.lower() == "raise_only",
                                   "account_id"])
        flow |= accounts["account_id"].isin(raising).to_numpy(bool)
    return flow


def _restricted(accounts: pd.DataFrame, securities: pd.DataFrame) -> set[tuple[str, str]]:
    """{(account, symbol)} the account's restrictions (``sym:X``, ``tag:Y``) forbid holding."""
    tagged: dict[str, set[str]] = {}
    tags = securities["tags"] if "tags" in securities else pd.Series(None, index=securities.index)
    for sym, t in zip(securities["symbol"], tags):
        for tag in str(t or "").split(";"):
            if tag.strip():
                tagged.setdefault(tag.strip().lower(), set()).add(sym)
    out = set()
    for a, rules in zip(accounts["account_id"], accounts["restrictions"].fillna("")):
        for rule in str(rules).split(";"):
            kind, _, word = rule.strip().partition(":")
            if kind.strip().lower() == "sym" and word.strip():
                out.add((a, word.strip().upper()))
            elif kind.strip().lower() == "tag":
                out |= {(a, s) for s in tagged.get(word.strip().lower(), ())}
    return out


def check_day(frames: dict[str, pd.DataFrame], day: date, executions: pd.DataFrame, *, cost_bps: float,
              ticket_cost: float, horizon_days: int) -> pd.DataFrame:
    """The cash-flow accounts' sells of one day against their cash need (see the module).

    ``frames``: the book the day's decisions were made on (before the executions); ``executions``:
    the custodian's executions of the day (engine.lab.custodian.EXEC_COLUMNS)."""
    acc, cr = frames["accounts"], frames["cash_requests"]
    flow = _flags(acc, cr)
    if not flow.any() or not len(executions):
        return pd.DataFrame(columns=COLUMNS)
    ids = acc["account_id"].to_numpy(object)[flow]
    traded = executions[executions["account_id"].isin(set(ids))]
    if not len(traded):
        return pd.DataFrame(columns=COLUMNS)
    mine = acc[flow].set_index("account_id")
    cash = mine["cash"].astype(float)
    sec = frames["securities"]
    price = pd.to_numeric(sec.set_index("symbol")["price"], errors="coerce")
    lots = frames["lots"][frames["lots"]["account_id"].isin(set(ids))]
    mv = lots["quantity"].astype(float).to_numpy() * lots["symbol"].map(price).fillna(0.0).to_numpy(float)
    value = cash + pd.Series(mv, index=lots.index).groupby(lots["account_id"].to_numpy()).sum().reindex(
        cash.index).fillna(0.0)
    mw = frames["model_weights"]
    mcash = mw[mw["symbol"] == "CASH"].groupby("model_id")["weight"].sum()
    model_cash = mine["model_id"].map(mcash).fillna(0.0).astype(float) * value
    horizon = (day + timedelta(days=int(horizon_days))).isoformat()
    due = cr[pd.to_datetime(cr["due_date"]).dt.strftime("%Y-%m-%d").to_numpy(object) <= horizon] if len(cr) else cr
    owed = due.groupby("account_id")["amount"].sum().reindex(cash.index).fillna(0.0).astype(float) \
        if len(due) else pd.Series(0.0, index=cash.index)
    need = np.maximum(owed - np.maximum(cash - model_cash, 0.0), 0.0)

    forbidden = _restricted(acc[flow], sec)
    sells = traded[traded["side"] == "SELL"]
    is_r = np.array([(a, s) in forbidden for a, s in zip(sells["account_id"], sells["symbol"])], bool)
    value_sold = sells["value"].astype(float)
    r_sold = value_sold[is_r].groupby(sells["account_id"][is_r]).sum().reindex(cash.index).fillna(0.0)
    other = sells[~is_r]
    o_sold = value_sold[~is_r].groupby(other["account_id"]).sum().reindex(cash.index).fillna(0.0)
    # a line is one order (account, symbol, side, line number): several lots, one ticket
    per_line = other.groupby(["account_id", "symbol", "line"])["price"].max()
    one_share = per_line.groupby(level=0).sum().reindex(cash.index).fillna(0.0)
    n_lines = traded.groupby("account_id")[["symbol", "side", "line"]].apply(
        lambda d: len(d.drop_duplicates())).reindex(cash.index).fillna(0).astype(float)
    kappa = cost_bps / 1e4
    lacking = np.maximum(need - (1 - kappa) * r_sold, 0.0)
    allowed = (lacking + ticket_cost * n_lines) / (1 - kappa) + one_share
    excess = np.maximum(o_sold - allowed, 0.0)
    out = pd.DataFrame({"day": day.isoformat(), "account_id": cash.index, "cash": cash.to_numpy(),
                        "value": value.to_numpy(), "owed": owed.to_numpy(), "need": need.to_numpy(),
                        "restricted_sold": r_sold.to_numpy(), "sold": o_sold.to_numpy(),
                        "lines": n_lines.to_numpy(), "allowed": allowed.to_numpy(),
                        "excess": np.where(excess > TOLERANCE, excess, 0.0).round(2)})
    return out[out["account_id"].isin(set(traded["account_id"]))].reset_index(drop=True)[COLUMNS]
