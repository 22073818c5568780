"""Per-account facts the workflow needs: value, tier, restrictions, cash needs, band breaches.

Vectorized with pandas over the whole book; one row per account out.
"""
from __future__ import annotations

from collections.abc import Mapping
from datetime import date

import numpy as np
import pandas as pd

from engine.decide.cash_flow import account_modes
from engine.book.cash_owed import OPEN, owed_mask, with_status
from engine.decide.gains_budget import account_budgets
from engine.core.frames import holdings, lookup
from engine.core.policy import Policy
from engine.book.valuation import fill_unpriced, unpriced
from engine.decide.tiers import assign_tiers as assign_tiers  # its home; re-exported

CASH = "CASH"




def threshold_bps(days_since_trade: np.ndarray, tiers: np.ndarray, policy: Policy) -> np.ndarray:
    """floor + (start − floor) · 2^(−days / half_life), per tier; never traded = floor."""
    start = np.array([policy.tier(t).threshold_start_bps for t in tiers], dtype=float)
    floor = np.array([policy.tier(t).threshold_floor_bps for t in tiers], dtype=float)
    half = np.array([policy.tier(t).half_life_days for t in tiers], dtype=float)
    days = np.where(np.isnan(days_since_trade), np.inf, np.maximum(days_since_trade, 0.0))
    return floor + (start - floor) * np.exp2(-days / half)


def band_width(target: np.ndarray, policy: Policy) -> np.ndarray:
    b = policy.bands
    return np.maximum(np.where(target >= b.cutoff, b.absolute, b.relative * target), b.min_width)


def restricted_pairs(accounts: pd.DataFrame, securities: pd.DataFrame) -> pd.DataFrame:
    """DataFrame[account_id, symbol, rule] of every (account, security) the account restricts."""
    r = accounts[["account_id", "restrictions"]].dropna()
    r = r[r["restrictions"].astype(str).str.strip() != ""]
    if not len(r):
        return pd.DataFrame({"account_id": [], "symbol": [], "rule": []}, dtype=object)
    r = r.assign(rule=r["restrictions"].astype(str).str.split(";")).explode("rule")
    r["rule"] = r["rule"].str.strip()
    r = r[r["rule"] != ""]
    kind = r["rule"].str.split(":", n=1).str[0].str.lower()
    word = r["rule"].str.split(":", n=1).str[1].fillna("").str.strip()
    syms = r[kind == "sym"].assign(symbol=word[kind == "sym"].str.upper())[["account_id", "symbol", "rule"]]
    tag_rules = r[kind == "tag"].assign(tag=word[kind == "tag"].str.lower())
    tags = securities[["symbol", "tags"]].dropna()
    tags = tags.assign(tag=tags["tags"].astype(str).str.split(";")).explode("tag")
    tags["tag"] = tags["tag"].str.strip().str.lower()
    by_tag = tag_rules.merge(tags[["symbol", "tag"]], on="tag")[["account_id", "symbol", "rule"]]
    return pd.concat([syms, by_tag], ignore_index=True).drop_duplicates(["account_id", "symbol"])


def account_facts(frames: dict[str, pd.DataFrame], as_of: date, policy: Policy,
                  request_states: Mapping[str, str] | None = None,
                  hold: pd.DataFrame | None = None,
                  entered_cash: pd.Series | None = None) -> tuple[pd.DataFrame, dict]:
    """One row per account: value, tier, days since last trade, mandates and their detail.

    ``request_states`` ({request_id: status}, see :mod:`engine.book.cash_owed`) says which listed
    cash requests already had their cash raised; ``entered_cash`` (account → dollars) is the net
    cash of trades entered for an account that the book does not show yet (manual trades
    awaiting approval or export). ``frames["last_prices"]`` (optional, see
    :func:`engine.book.valuation.last_known_prices`) values holdings the book cannot price, so the
    tier never drops them (``tier_basis`` says how they were valued).

    Returns (facts, extras) where extras holds frames the optimizer inputs are built from.
    """
    acc = frames["accounts"].copy()
    sec = frames["securities"]
    lots = frames["lots"]
    price = sec.set_index("symbol")["price"].astype(float)
    aclass = sec.set_index("symbol")["asset_class"]

    hold = (holdings(lots) if hold is None else hold).copy()
    hold["price"] = lookup(hold["symbol"], price).astype(float)
    px = hold["price"].to_numpy(float)
    hold["mv"] = hold["quantity"].to_numpy(float) * np.where(unpriced(px), 0.0, px)  # unpriced: see below
    hold["asset_class"] = pd.array(lookup(hold["symbol"], aclass, None), dtype="str")
    invested = hold.groupby("account_id", sort=False)["mv"].sum()
    acc["cash"] = acc["cash"].astype(float)
    acc["value"] = acc["cash"].to_numpy() + acc["account_id"].map(invested).fillna(0.0).to_numpy()
    # holdings without a usable price: last known price (else cost), never left out of the tier
    filled = fill_unpriced(hold, lots, frames.get("last_prices"))
    if len(filled):
        acc["value"] += acc["account_id"].map(filled.set_index("account_id")["extra"]).fillna(0.0).to_numpy(float)
    acc["tier_basis"] = acc["account_id"].map(filled.set_index("account_id")["basis"]).to_numpy(object) \
        if len(filled) else np.full(len(acc), None, dtype=object)
    acc["tier"] = assign_tiers(acc["value"].to_numpy(float), acc["group"].to_numpy(object), policy)
    if policy.tier_by == "household":  # the family's value sets every member's tier
        from engine.decide.household_tiers import tier_by_household

        tier_by_household(acc, policy)
    last = pd.to_datetime(acc["last_trade_date"])
    acc["days_since_trade"] = (pd.Timestamp(as_of) - last).dt.days.astype(float).to_numpy()

    # model weights, cash and asset-class targets
    mw = frames["model_weights"]
    model_cash = mw[mw["symbol"] == CASH].groupby("model_id")["weight"].sum()
    acc["model_cash_w"] = acc["model_id"].map(model_cash).fillna(0.0).to_numpy(float)
    mws = mw[mw["symbol"] != CASH].assign(asset_class=lambda d: d["symbol"].map(aclass))
    class_target = (mws.groupby(["model_id", "asset_class"], as_index=False)["weight"].sum()
                    .rename(columns={"weight": "target"}))

    # restrictions: held restricted securities must be sold
    restricted = restricted_pairs(acc, sec)
    held_restricted = restricted.merge(hold[hold["quantity"] > 0][["account_id", "symbol"]],
                                       on=["account_id", "symbol"])
    r_held = held_restricted.groupby("account_id")["symbol"].agg(lambda s: ";".join(sorted(s)))
    acc["restricted_held"] = acc["account_id"].map(r_held).fillna("").to_numpy(object)

    # cash owed (engine.book.cash_owed): listed requests due within the horizon or whose cash was
    # already raised; the optimizer keeps cash >= model cash + what they need beyond the cash
    # that trades entered for the account (not yet in the book) bring
    cr = frames["cash_requests"]
    states = request_states if isinstance(request_states, Mapping) else {}
    status = with_status(cr, states)
    owed = cr[owed_mask(cr, states, as_of, policy.mandates.cash_horizon_days)]
    owed_amt = owed.groupby("account_id")["amount"].sum()
    high = owed[owed["priority"] == "high"].groupby("account_id")["amount"].sum()
    entered = acc["account_id"].map(entered_cash if entered_cash is not None else {}).fillna(0.0).to_numpy(float)
    acc["cash_owed"] = acc["account_id"].map(owed_amt).fillna(0.0).to_numpy(float)
    acc["cash_needed"] = np.maximum(acc["cash_owed"].to_numpy(float) - entered, 0.0)
    acc["cash_high"] = acc["account_id"].map(high).fillna(0.0).to_numpy(float)
    spare = acc["cash"].to_numpy(float) - acc["model_cash_w"].to_numpy(float) * acc["value"].to_numpy(float)
    shortfall = acc["cash_needed"].to_numpy(float) - spare
    # a cash mandate is an owed request the account's cash (above model cash) does not cover
    acc["cash_shortfall"] = np.where(acc["cash_needed"].to_numpy(float) > 0, np.maximum(shortfall, 0.0), 0.0)
    # urgent (when suspended): an open high-priority request (whatever its due date) that the
    # account's spare cash and the trades entered for it do not cover
    hi_open = cr[(cr["priority"] == "high").to_numpy(bool) & (status == OPEN).to_numpy(bool)]
    not_owed = hi_open[~hi_open["request_id"].isin(owed["request_id"])]
    urgent_need = acc["cash_owed"].to_numpy(float) + acc["account_id"].map(
        not_owed.groupby("account_id")["amount"].sum()).fillna(0.0).to_numpy(float)
    acc["has_high_request"] = (acc["account_id"].isin(set(hi_open["account_id"])).to_numpy(bool)
                               & (np.maximum(spare, 0.0) + entered + 0.005 < urgent_need))
    acc["pending_request"] = acc["cash_owed"].to_numpy(float)

    # asset-class bands (the 5/25 rule) on current weights
    cls = hold.groupby(["account_id", "asset_class"], as_index=False)["mv"].sum()
    cls = cls.merge(acc[["account_id", "model_id", "value"]], on="account_id")
    cls = cls.merge(class_target, on=["model_id", "asset_class"], how="left")
    # classes of the model the account does not hold at all
    missing = class_target.merge(acc[["account_id", "model_id", "value"]], on="model_id")
    missing = missing.merge(cls[["account_id", "asset_class"]].dropna(), on=["account_id", "asset_class"],
                            how="left", indicator=True)
    missing = missing[missing["_merge"] == "left_only"].drop(columns="_merge").assign(mv=0.0)
    cls = pd.concat([cls, missing], ignore_index=True)
    cls["weight"] = np.where(cls["value"] > 0, cls["mv"] / cls["value"].where(cls["value"] > 0, 1.0), 0.0)
    cls["target"] = cls["target"].fillna(0.0)
    width = band_width(cls["target"].to_numpy(float), policy)
    cls["lo"] = np.maximum(cls["target"] - width, 0.0)
    cls["hi"] = np.minimum(cls["target"] + width, 1.0)
    out = cls[(cls["weight"] < cls["lo"] - 1e-9) | (cls["weight"] > cls["hi"] + 1e-9)]
    words = [f"{c} {w:.1%} outside {lo:.1%}–{hi:.1%}"
             for c, w, lo, hi in zip(out["asset_class"], out["weight"], out["lo"], out["hi"])]
    band_detail = pd.Series(words, index=out["account_id"].to_numpy(), dtype=object)
    band_detail = band_detail.groupby(level=0).agg("; ".join) if len(band_detail) else band_detail
    acc["band_breach"] = acc["account_id"].map(band_detail).fillna("").to_numpy(object)

    # cash-flow trading: a deposit above model cash + the invest threshold waits to be invested
    acc["cash_flow"] = account_modes(acc, owed)
    thr = policy.budget_settings().invest_threshold
    acc["cash_invest"] = acc["cash_flow"].to_numpy(bool) & (spare - acc["cash_needed"].to_numpy(float)
                                                            > thr * acc["value"].to_numpy(float))
    kinds = []
    for hi_amt, short, restricted_h, band, invest in zip(acc["cash_high"], acc["cash_shortfall"],
                                                         acc["restricted_held"], acc["band_breach"],
                                                         acc["cash_invest"]):
        k = []
        if invest:
            k.append("cash_invest")
        if short > 0.005:
            k.append("cash_high" if hi_amt > 0 else "cash_normal")
        if restricted_h:
            k.append("restriction")
        if band:
            k.append("band")
        kinds.append(";".join(k))
    acc["mandates"] = kinds
    budgets = account_budgets(acc, {t.name: t.gains_budget for t in policy.tiers})
    for c in ("gains_budget", "ytd_realized_st", "ytd_realized_lt"):
        acc[c] = budgets[c].to_numpy(float)
    now = set(policy.mandates.trade_now)
    acc["mandate_now"] = [bool(set(k.split(";")) & now) if k else False for k in kinds]
    extras = {"holdings": hold, "restricted": restricted, "class_bands": cls,
              "class_target": class_target}
    return acc.reset_index(drop=True), extras


def account_limits(facts: pd.DataFrame, policy: Policy) -> dict[str, dict]:
    """The optimizer-input fields of the accounts with a gains budget, realized gains this
    year or cash-flow trading (engine/decide/gains_budget.py, engine/decide/cash_flow.py): {account: fields}."""
    if "gains_budget" not in facts:
        return {}
    b = facts["gains_budget"].to_numpy(float)
    s = facts["ytd_realized_st"].to_numpy(float)
    lt = facts["ytd_realized_lt"].to_numpy(float)
    flow = facts["cash_flow"].to_numpy(bool)
    taxable = facts["taxable"].to_numpy(bool)
    cap = facts["gains_cap"].to_numpy(float) if "gains_cap" in facts else np.full(len(facts), np.nan)
    weight = facts["tax_weight"].to_numpy(float) if "tax_weight" in facts else np.ones(len(facts))
    some = np.isfinite(b) | flow | (taxable & ((s != 0) | (lt != 0))) | np.isfinite(cap) | (weight != 1.0)
    return {a: {"gains_budget": float(b[i]), "ytd_st": float(s[i]), "ytd_lt": float(lt[i]),
                "cash_flow": bool(flow[i]), "gains_cap": float(cap[i]), "tax_weight": float(weight[i])}
            for i, a in zip(np.flatnonzero(some).tolist(), facts["account_id"].to_numpy(object)[some])}
