"""Integrity checks: which accounts have bad data, with a detail a user can act on.

Vectorized over the whole book (no per-account loops). Output: one row per account and
reason code, with the details of every offending symbol joined.
"""
from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pandas as pd

from engine.core.frames import holdings, lookup
from engine.core.policy import Policy
from engine.book.price_checks import bad_prices

CODES = ("UNKNOWN_SECURITY", "MISSING_PRICE", "STALE_PRICE", "BAD_PRICE", "RECON_BREAK", "CORP_ACTION_PENDING",
         "FEED_MISSING", "NEGATIVE_POSITION", "UNKNOWN_TIER")
COLUMNS = ["account_id", "code", "detail"]


def _qty(x: float) -> str:
    return f"{x:,.0f}" if float(x).is_integer() else f"{x:,.4f}".rstrip("0")


def _rows(df: pd.DataFrame, code: str, detail: pd.Series) -> pd.DataFrame:
    out = pd.DataFrame({"account_id": df["account_id"].to_numpy(), "detail": detail.to_numpy(dtype=object)})
    out = out.groupby("account_id", sort=False)["detail"].agg(lambda s: "; ".join(dict.fromkeys(s)))
    return pd.DataFrame({"account_id": out.index, "code": code, "detail": out.to_numpy()})


def _values(acc: pd.DataFrame, hold: pd.DataFrame, price: pd.Series) -> np.ndarray:
    """Cash plus holdings at the book's prices (unpriced holdings left out), per row of ``acc``."""
    h = hold[hold["account_id"].isin(acc["account_id"])]
    mv = (h["quantity"].to_numpy(float) * lookup(h["symbol"], price).astype(float))
    by = pd.Series(np.nan_to_num(mv), index=h["account_id"].to_numpy(object)).groupby(level=0).sum()
    return pd.to_numeric(acc["cash"], errors="coerce").fillna(0.0).to_numpy(float) + \
        by.reindex(acc["account_id"].to_numpy(object)).fillna(0.0).to_numpy(float)


def run_checks(frames: dict[str, pd.DataFrame], as_of: date, policy: Policy,
               hold: pd.DataFrame | None = None, price_history: pd.DataFrame | None = None,
               bad: pd.DataFrame | None = None) -> pd.DataFrame:
    """Every suspension of the book: DataFrame[account_id, code, detail].

    ``hold`` (engine.core.frames.holdings of the lots) may be passed in when already computed.
    ``price_history`` (storage.repo.price_history: the earlier snapshots' prices) gives each
    security its last known price for ``BAD_PRICE``; without it only the price's own limits
    (above zero, below the ceiling) are checked. ``bad`` (engine.book.price_checks.bad_prices) may be
    passed in instead when already computed."""
    sec = frames["securities"].set_index("symbol")
    lots = frames["lots"]
    pos = frames["custodian_positions"]
    accounts = frames["accounts"]
    out: list[pd.DataFrame] = []

    hold = holdings(lots) if hold is None else hold
    held = hold[["account_id", "symbol"]]
    held_all = pd.concat([held, pos[["account_id", "symbol"]]]).drop_duplicates()

    # UNKNOWN_SECURITY: a lot or a custodian position in a symbol the master does not know
    unknown = held_all[~held_all["symbol"].isin(sec.index)]
    if len(unknown):
        out.append(_rows(unknown, "UNKNOWN_SECURITY",
                         unknown["symbol"] + " is not in the security master"))

    known = held[held["symbol"].isin(sec.index)]
    price = sec["price"].astype(float)
    # MISSING_PRICE
    no_price = known[np.isnan(lookup(known["symbol"], price).astype(float))]
    if len(no_price):
        out.append(_rows(no_price, "MISSING_PRICE", no_price["symbol"] + " has no price"))
    # STALE_PRICE
    limit = pd.Timestamp(as_of - timedelta(days=policy.checks.stale_price_days))
    pdate = pd.to_datetime(sec["price_date"])
    stale_sym = pdate[(pdate < limit) & price.notna()]
    stale = known[known["symbol"].isin(stale_sym.index)]
    if len(stale):
        d = stale["symbol"].map(pdate)
        age = (pd.Timestamp(as_of) - d).dt.days
        out.append(_rows(stale, "STALE_PRICE",
                         stale["symbol"] + " priced " + d.dt.strftime("%Y-%m-%d") + ", "
                         + age.astype(str) + f" days before as-of (limit {policy.checks.stale_price_days})"))

    # BAD_PRICE: at or below zero, above the ceiling, or too far from the last known price
    bad = bad_prices(frames["securities"], policy, price_history) if bad is None else bad
    if len(bad):
        held_known = held_all[held_all["symbol"].isin(sec.index)]
        hit = held_known[held_known["symbol"].isin(bad["symbol"])]
        if len(hit):
            out.append(_rows(hit, "BAD_PRICE", hit["symbol"].map(bad.set_index("symbol")["detail"])))

    # RECON_BREAK: lots vs custodian share counts (only when the custodian file came)
    if len(pos):
        lot_q = hold.set_index(["account_id", "symbol"])["quantity"].rename("lots")
        cus_q = pos.groupby(["account_id", "symbol"], sort=False)["quantity"].sum().rename("custodian")
        rec = pd.concat([lot_q, cus_q], axis=1).fillna(0.0)
        brk = rec[(rec["lots"] - rec["custodian"]).abs() > policy.checks.recon_tolerance_shares].reset_index()
        if len(brk):
            det = [f"{s}: lots hold {_qty(a)}, custodian {_qty(b)}"
                   for s, a, b in zip(brk["symbol"], brk["lots"], brk["custodian"])]
            out.append(_rows(brk, "RECON_BREAK", pd.Series(det)))

    # CORP_ACTION_PENDING: not processed and effective on or before as_of
    ca = frames["corporate_actions"]
    if len(ca):
        eff = pd.to_datetime(ca["effective_date"])
        pending = ca[(~ca["processed"].astype(bool)) & (eff <= pd.Timestamp(as_of))]
        if len(pending):
            words = {}
            for r in pending.itertuples(index=False):
                kind = str(r.kind)
                ratio = r.ratio if r.ratio is not None and not pd.isna(r.ratio) else None
                what = f"{_qty(ratio)}:1 {kind}" if ratio and kind == "split" else kind
                if r.new_symbol and not pd.isna(r.new_symbol):
                    what += f" into {r.new_symbol}"
                words.setdefault(r.symbol, []).append(f"{r.symbol}: {what} effective {r.effective_date} "
                                                      "not processed")
            hit = held_all[held_all["symbol"].isin(list(words))]
            if len(hit):
                out.append(_rows(hit, "CORP_ACTION_PENDING", hit["symbol"].map(lambda s: "; ".join(words[s]))))

    # FEED_MISSING: the custodian's file failed, is older than as_of, or never came
    feeds = frames["feeds"]
    if len(feeds):
        fd = pd.to_datetime(feeds["file_date"])
        oldest = pd.Timestamp(as_of - timedelta(days=policy.checks.feed_max_age_days))
        why = {}
        for c, st, d in zip(feeds["custodian"], feeds["status"], fd):
            if st != "ok":
                why[c] = f"{c} feed {st} (file date {d:%Y-%m-%d})"
            elif d < oldest:
                why[c] = f"{c} file dated {d:%Y-%m-%d}, older than as-of {as_of:%Y-%m-%d}"
        known_c = set(feeds["custodian"])
        miss = accounts[accounts["custodian"].isin(list(why)) | ~accounts["custodian"].isin(known_c)]
        if len(miss):
            det = miss["custodian"].map(lambda c: why.get(c, f"no feed from {c} in feeds.csv"))
            out.append(_rows(miss, "FEED_MISSING", det))

    # NEGATIVE_POSITION
    neg_l = lots[lots["quantity"] < 0]
    neg_p = pos[pos["quantity"] < 0]
    neg = pd.concat([
        pd.DataFrame({"account_id": neg_l["account_id"],
                      "d": "lot " + neg_l["lot_id"] + " of " + neg_l["symbol"] + " holds "
                      + neg_l["quantity"].map(_qty).astype(str)}),
        pd.DataFrame({"account_id": neg_p["account_id"],
                      "d": "custodian holds " + neg_p["quantity"].map(_qty).astype(str) + " " + neg_p["symbol"]}),
    ])
    if len(neg):
        out.append(_rows(neg, "NEGATIVE_POSITION", neg["d"]))

    # UNKNOWN_TIER: a group that names no tier of the policy (matched as the tiers are: any case)
    grp = accounts.get("group", pd.Series("", index=accounts.index)).astype(object)
    grp = grp.where(grp.notna(), "").astype(str).str.strip()
    names = [t.name for t in policy.tiers]
    odd = accounts[(grp != "") & ~grp.str.casefold().isin([n.casefold() for n in names])]
    if len(odd):
        value = _values(odd, hold, price)
        det = [f"account value ${v:,.0f}: group '{g}' names no tier of the policy (tiers: {', '.join(names)})"
               for g, v in zip(grp[odd.index], value)]
        out.append(_rows(odd, "UNKNOWN_TIER", pd.Series(det)))

    if not out:
        return pd.DataFrame({c: pd.Series([], dtype=object) for c in COLUMNS})
    res = pd.concat(out, ignore_index=True)
    order = {c: i for i, c in enumerate(CODES)}
    res["_o"] = res["code"].map(order)
    return res.sort_values(["account_id", "_o"], kind="stable").drop(columns="_o").reset_index(drop=True)
