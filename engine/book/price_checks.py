"""Bad prices: a price at or below zero, above the policy's ceiling, or too far from the
security's last known price. Its holders are suspended with ``BAD_PRICE`` (engine.book.checks)
and nobody buys it at that price (the run treats it as unpriced, like a missing price).

The last known price of a security is the newest price of the earlier snapshots
(``storage.repo.price_history``: the few books imported before this one) that passed these
same rules itself, so one bad day never becomes the yardstick for the next: a price of
0.10 between two days at 100 is refused, and the 100 after it is not.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from engine.core.policy import Policy

RULES = ("not above zero", "above the ceiling", "moved too far")


def _px(x: float) -> str:
    if not np.isfinite(x):
        return "none"
    return f"${x:,.2f}" if abs(x) >= 1 or x == 0 else f"${x:.6g}"


def _passes(price: np.ndarray, last: np.ndarray, policy: Policy) -> np.ndarray:
    c = policy.checks
    ok = (price > 0) & (price <= c.max_price)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.maximum(price / last, last / price)
    return ok & (~np.isfinite(last) | (ratio <= c.max_price_move))


def last_known_prices(history: pd.DataFrame | None, policy: Policy) -> pd.DataFrame:
    """DataFrame[symbol, price, price_date]: per security, the newest price in ``history`` (the
    earlier snapshots' prices, oldest first) that passed the bad-price rules against the one
    before it. Securities never priced well before are absent."""
    empty = pd.DataFrame({"symbol": pd.Series([], dtype=object), "price": pd.Series([], dtype=float),
                          "price_date": pd.Series([], dtype=object)})
    if history is None or not len(history):
        return empty
    h = history.dropna(subset=["price"])
    if not len(h):
        return empty
    snaps = sorted(h["snapshot_id"].unique())
    price = h.pivot_table(index="symbol", columns="snapshot_id", values="price", aggfunc="last")
    price = price.reindex(columns=snaps)
    when = h.assign(price_date=h["price_date"].astype(str)).pivot_table(
        index="symbol", columns="snapshot_id", values="price_date", aggfunc="last").reindex(
        index=price.index, columns=snaps)
    last = np.full(len(price), np.nan)
    last_date = np.full(len(price), None, dtype=object)
    for j in range(len(snaps)):  # a handful of snapshots, vectorized over the securities
        p = price.iloc[:, j].to_numpy(float)
        ok = np.isfinite(p) & _passes(np.nan_to_num(p, nan=-1.0), last, policy)
        last = np.where(ok, p, last)
        last_date = np.where(ok, when.iloc[:, j].to_numpy(object), last_date)
    keep = np.isfinite(last)
    return pd.DataFrame({"symbol": price.index.to_numpy(object)[keep], "price": last[keep],
                         "price_date": last_date[keep]})


def bad_prices(securities: pd.DataFrame, policy: Policy, history: pd.DataFrame | None = None) -> pd.DataFrame:
    """DataFrame[symbol, price, last_price, rule, detail] of every security whose (non-blank)
    price breaks a rule; the detail names the price, the last known price and the rule."""
    c = policy.checks
    last = last_known_prices(history, policy).set_index("symbol")
    sym = securities["symbol"].to_numpy(object)
    price = pd.to_numeric(securities["price"], errors="coerce").to_numpy(float)
    lp = last["price"].reindex(sym).to_numpy(float)
    ld = last["price_date"].reindex(sym).to_numpy(object)
    priced = np.isfinite(price)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.maximum(price / lp, lp / price)
    nonpos = priced & (price <= 0)
    ceiling = priced & ~nonpos & (price > c.max_price)
    moved = priced & ~nonpos & ~ceiling & np.isfinite(lp) & (ratio > c.max_price_move)
    rows = []
    for i in np.flatnonzero(nonpos | ceiling | moved):
        was = f"last known price {_px(lp[i])}" + (f" on {ld[i]}" if isinstance(ld[i], str) else "")
        if nonpos[i]:
            rule, why = RULES[0], "a price must be above zero"
        elif ceiling[i]:
            rule, why = RULES[1], f"above the policy's ceiling of {_px(c.max_price)} (checks.max_price)"
        else:
            rule, why = RULES[2], (f"{ratio[i]:,.1f} times {'above' if price[i] > lp[i] else 'below'} it, "
                                   f"beyond the policy's limit of {c.max_price_move:g} times "
                                   "(checks.max_price_move)")
        rows.append((sym[i], price[i], lp[i], rule, f"{sym[i]} priced {_px(price[i])} ({was}): {why}"))
    return pd.DataFrame(rows, columns=["symbol", "price", "last_price", "rule", "detail"]).astype(
        {"symbol": object, "price": float, "last_price": float, "rule": object, "detail": object})


def unpriced_bad(frames: dict[str, pd.DataFrame], bad: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """``frames`` with the bad prices blanked (never traded at: a security with a bad price is
    not bought, as one with no price); the same dict when there are none."""
    if not len(bad):
        return frames
    sec = frames["securities"].copy()
    sec.loc[sec["symbol"].isin(bad["symbol"]), "price"] = np.nan
    return {**frames, "securities": sec}
