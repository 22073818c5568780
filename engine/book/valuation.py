"""The value an account's tier is set by: never one that drops what cannot be priced.

A holding without a usable price today (blank, zero or negative: the account is suspended
for it) is valued at its last known price — the newest valid price of the symbol in an earlier
book snapshot (security masters are kept for every snapshot) — or, when the symbol was never
priced, at its cost basis. The tier, and so the review level and four-eyes, follows that value;
``tier_basis`` says in words which prices set it.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from sqlalchemy import select

from storage import models as m
from storage.bulk import in_chunks

SEC = m.Security.__table__


def unpriced(price) -> np.ndarray:
    """bool: no usable price (NaN, zero or negative)."""
    p = np.asarray(price, dtype=float)
    return ~(np.isfinite(p) & (p > 0))


def last_known_prices(conn, snapshot_id: int, symbols) -> pd.DataFrame:
    """DataFrame[symbol, price, price_date]: each symbol's newest valid price in a book snapshot
    older than ``snapshot_id`` (symbols never priced are absent)."""
    rows = []
    for part in in_chunks(sorted(set(symbols))):
        rows += conn.execute(select(SEC.c.symbol, SEC.c.price, SEC.c.price_date, SEC.c.snapshot_id).where(
            SEC.c.snapshot_id < snapshot_id, SEC.c.symbol.in_(part), SEC.c.price > 0)).all()
    df = pd.DataFrame(rows, columns=["symbol", "price", "price_date", "snapshot_id"])
    if not len(df):
        return pd.DataFrame({"symbol": pd.Series([], dtype=object), "price": pd.Series([], dtype=float),
                             "price_date": pd.Series([], dtype=object)})
    df = df.sort_values(["symbol", "snapshot_id"], kind="stable").drop_duplicates("symbol", keep="last")
    df["price"] = df["price"].astype(float)
    df["price_date"] = df["price_date"].astype(str)
    return df[["symbol", "price", "price_date"]].reset_index(drop=True)


def unpriced_symbols(symbols, price: pd.Series) -> list[str]:
    """The symbols (e.g. of the held lots) without a usable price in ``price`` (symbol → price)."""
    syms = pd.Series(pd.unique(np.asarray(symbols, dtype=object)), dtype=object)
    if not len(syms):
        return []
    px = syms.map(price[~price.index.duplicated()]).astype(float).to_numpy()
    return sorted(syms[unpriced(px)].tolist())


def fill_unpriced(hold: pd.DataFrame, lots: pd.DataFrame, last: pd.DataFrame | None) -> pd.DataFrame:
    """For holdings without a usable ``price`` (DataFrame[account_id, symbol, quantity, price]):
    DataFrame[account_id, extra, basis] — the value the book prices leave out, per account, and
    the words saying how it was valued (last known price, else cost basis)."""
    miss = hold[unpriced(hold["price"].to_numpy(float))] if len(hold) else hold
    if not len(miss):
        return pd.DataFrame({"account_id": pd.Series([], dtype=object), "extra": pd.Series([], dtype=float),
                             "basis": pd.Series([], dtype=object)})
    lastp = {} if last is None or not len(last) else dict(zip(last["symbol"], zip(last["price"], last["price_date"])))
    cost = {}
    if len(lots):
        sub = lots[lots["symbol"].isin(set(miss["symbol"])) & lots["account_id"].isin(set(miss["account_id"]))]
        if len(sub):
            c = (sub["quantity"].astype(float) * sub["unit_cost"].astype(float)).groupby(
                [sub["account_id"], sub["symbol"]]).sum()
            cost = c.to_dict()
    extra: dict[str, float] = {}
    words: dict[str, list[str]] = {}
    for a, s, q in zip(miss["account_id"].tolist(), miss["symbol"].tolist(), miss["quantity"].astype(float).tolist()):
        if s in lastp:
            px, day = lastp[s]
            v = q * float(px)
            w = f"valued with last known price of {s} (${float(px):,.2f} on {day})"
        else:
            v = float(cost.get((a, s), 0.0))
            w = f"valued at cost basis of {s} (${v:,.2f}; no price known)"
        extra[a] = extra.get(a, 0.0) + v
        words.setdefault(a, []).append(w)
    ids = list(extra)
    return pd.DataFrame({"account_id": ids, "extra": [extra[a] for a in ids],
                         "basis": ["; ".join(words[a]) for a in ids]})
