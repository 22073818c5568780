"""Wash sales across a household's accounts (IRS Pub. 550; Rev. Rul. 2008-5, the IRA trap).

Accounts with the same ``household_id`` (accounts.csv) are one taxpayer for the wash-sale
rules; a blank ``household_id`` makes an account its own household. Securities with the same
``identical_group`` (securities.csv) are substantially identical; a symbol is always
identical to itself. Within the policy's ``wash_sale_days`` window before ``as_of``:

* a loss sale of a security in any *taxable* account of the household (or in the account
  itself, as before households) blocks buying that security or its identical group in
  **every** account of the household, taxable or not;
* a buy (a BUY transaction or a lot acquired in the window) in any account of the household
  blocks loss sales of that security or its identical group in every account of it;
* a member that is suspended today, or that the last book listed in the household and today's
  does not, leaves the household's coverage incomplete: the other members still trade, but
  carry ``WASH_COVERAGE_INCOMPLETE:<member>`` and sell at a loss no security (or identical
  group) that member held on the last good book.

Within one run (:func:`settle`), the accounts of a household are decided together: when one
member's proposal sells a security at a loss in a taxable account and another's buys it (or a
security identical to it), the loss sale stands and the buyers are optimized again with that
group blocked, until no proposal of the household washes another's. Every blocked buy or loss
sale says which account's trade blocked it (:meth:`HouseholdWash.blocks_for`).

Pure pandas/numpy: no database (the run loads the last good book, engine.decide.workflow).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta

import numpy as np
import pandas as pd

FLAG = "WASH_COVERAGE_INCOMPLETE"
MAX_ROUNDS = 8  # re-optimization rounds of :func:`settle` (each blocks at least one more pair)


def household_of(accounts: pd.DataFrame) -> pd.Series:
    """account_id -> household key: ``H:<household_id>``, or ``A:<account_id>`` when blank."""
    ids = accounts["account_id"].astype(object)
    hh = accounts["household_id"] if "household_id" in accounts else pd.Series([None] * len(accounts))
    hh = pd.Series(hh.to_numpy(object), index=ids.to_numpy(object))
    blank = hh.isna() | (hh.astype(str).str.strip() == "")
    own = "A:" + pd.Series(ids.to_numpy(object), index=ids.to_numpy(object)).astype(str)
    return pd.Series(np.where(blank.to_numpy(bool), own.to_numpy(object), ("H:" + hh.astype(str)).to_numpy(object)),
                     index=ids.to_numpy(object), dtype=object)


def identical_of(securities: pd.DataFrame) -> pd.Series:
    """symbol -> identical key: ``G:<identical_group>``, or ``S:<symbol>`` when blank."""
    sym = securities["symbol"].astype(object).to_numpy(object)
    grp = securities["identical_group"] if "identical_group" in securities else pd.Series([None] * len(sym))
    grp = pd.Series(grp.to_numpy(object))
    blank = (grp.isna() | (grp.astype(str).str.strip() == "")).to_numpy(bool)
    keys = np.where(blank, np.array(["S:" + str(s) for s in sym], dtype=object),
                    ("G:" + grp.astype(str)).to_numpy(object))
    return pd.Series(keys, index=sym, dtype=object)


def household_label(key: str) -> str:
    return key[2:] if isinstance(key, str) and key[:2] in ("H:", "A:") else str(key)


@dataclass
class HouseholdWash:
    """The household wash-sale state of one book on one day."""

    household: pd.Series  # account_id -> household key
    ident: pd.Series  # symbol -> identical key
    members: dict[str, list[str]]  # household key -> accounts (today's book), households of 2+
    taxable: dict[str, bool]
    # (household key, identical key) -> (why, account whose trade blocks): buys there are
    # blocked (a loss sale in the window) / loss sales there are blocked (a buy in the window)
    buy_why: dict[tuple[str, str], tuple[str, str]] = field(default_factory=dict)
    loss_why: dict[tuple[str, str], tuple[str, str]] = field(default_factory=dict)
    # account -> {symbol: why}: the account's own loss sales (tax-exempt ones block only itself)
    own_buy_why: dict[str, dict[str, str]] = field(default_factory=dict)
    # account -> members whose data is missing today (suspended or absent from the book)
    incomplete: dict[str, list[str]] = field(default_factory=dict)

    # ------------------------------------------------------------------ queries
    def symbols_of(self, ident_key: str) -> list[str]:
        return self._by_ident().get(ident_key, [])

    def _by_ident(self) -> dict[str, list[str]]:
        cache = self.__dict__.get("_ident_members")
        if cache is None:
            cache = {}
            for s, k in self.ident.items():
                cache.setdefault(k, []).append(s)
            self.__dict__["_ident_members"] = cache
        return cache

    def hh(self, account_id: str) -> str:
        return self.household.get(account_id, "A:" + str(account_id))

    def accounts_of(self, h: str) -> list[str]:
        if h in self.members:
            return self.members[h]
        solo = self.__dict__.get("_solo")
        if solo is None:
            solo = self.__dict__["_solo"] = dict(zip(self.household.to_numpy(object), self.household.index))
        a = solo.get(h)
        return [] if a is None else [a]

    def no_buy(self) -> dict[str, set[str]]:
        """account -> symbols it may not buy (wash sale: sold at a loss in the household)."""
        out: dict[str, set[str]] = {}
        for (h, k) in self.buy_why:
            syms = self.symbols_of(k) or [k[2:]]
            for a in self.accounts_of(h):
                out.setdefault(a, set()).update(syms)
        for a, d in self.own_buy_why.items():
            for s in d:
                out.setdefault(a, set()).update(self.symbols_of(self.ident.get(s, "S:" + s)) or [s])
        return out

    def loss_pair_codes(self, hh_index: dict, ident_index: dict) -> np.ndarray:
        """The blocked (household, identical) pairs as ``hh_code * len(ident_index) + ident_code``."""
        n = len(ident_index)
        codes = [hh_index[h] * n + ident_index[k] for h, k in self.loss_why
                 if h in hh_index and k in ident_index]
        return np.array(codes, dtype=np.int64)

    def blocks_for(self, account_id: str, held: set[str] | None = None) -> list[dict]:
        """What another member's trade (or a missing member) blocks in this account:
        [{group, symbols, blocked: BUY | LOSS_SALE, by: account, why}]."""
        h = self.hh(account_id)
        index = self.__dict__.get("_by_hh")
        if index is None:  # (household) -> [(kind, group, why, by)], built once per state
            index = {}
            for kind, table in (("BUY", self.buy_why), ("LOSS_SALE", self.loss_why)):
                for (hk, k), (why, by) in sorted(table.items()):
                    if hk in self.members:
                        index.setdefault(hk, []).append((kind, k, why, by))
            self.__dict__["_by_hh"] = index
        out = []
        for kind, k, why, by in index.get(h, []):
            if by != account_id:
                syms = self.symbols_of(k) or [k[2:]]
                if kind == "LOSS_SALE" and held is not None and not set(syms) & held:
                    continue
                out.append({"group": k[2:], "symbols": syms, "blocked": kind, "by": by, "why": why})
        return out

    def block_buys(self, account_id: str, symbol: str, why: str, by: str) -> None:
        self.__dict__.pop("_by_hh", None)
        self.buy_why.setdefault((self.hh(account_id), self.ident.get(symbol, "S:" + symbol)), (why, by))


def build(frames: dict[str, pd.DataFrame], as_of: date, window_days: int, *,
          suspended: set[str] | frozenset = frozenset(), last_good: pd.DataFrame | None = None) -> HouseholdWash:
    """The household wash-sale state from the book frames.

    ``suspended``: accounts suspended today; ``last_good``: DataFrame[account_id, household_id,
    symbol] of the holdings of household members on the last good book (``frames["household_last_good"]``
    when the run loaded it; None: only today's suspended members are known)."""
    acc = frames["accounts"]
    household = household_of(acc)
    ident = identical_of(frames["securities"])
    taxable = dict(zip(acc["account_id"].tolist(), acc["taxable"].astype(bool).tolist()))
    hh_sizes = household.value_counts()
    multi = hh_sizes[hh_sizes > 1].index
    members = {h: g.index.tolist() for h, g in household[household.isin(multi)].groupby(household[household.isin(multi)])}
    w = HouseholdWash(household, ident, members, taxable)
    window = pd.Timestamp(as_of - timedelta(days=window_days))

    def key_frame(df: pd.DataFrame) -> pd.DataFrame:
        df = df.copy()
        df["hh"] = df["account_id"].map(household).fillna("A:" + df["account_id"].astype(str))
        df["ident"] = df["symbol"].map(ident).fillna("S:" + df["symbol"].astype(str))
        return df

    tx = frames.get("transactions")
    if tx is not None and len(tx):
        tx = tx[pd.to_datetime(tx["trade_date"]) >= window]
        loss = tx[(tx["side"] == "SELL") & (pd.to_numeric(tx["realized_gain"], errors="coerce") < 0)]
        if len(loss):
            loss = key_frame(loss).sort_values("trade_date", kind="stable")
            tax = loss["account_id"].map(taxable).fillna(False).to_numpy(bool)
            cols = [loss[c].to_numpy(object) for c in ("account_id", "symbol", "trade_date", "hh", "ident")]
            for a, s, d, h, k in zip(*(c[tax] for c in cols)):
                w.buy_why[(h, k)] = (f"loss sale of {s} in {a} on {d}", a)
            for a, s, d in zip(*(c[~tax] for c in cols[:3])):
                w.own_buy_why.setdefault(a, {})[s] = f"loss sale of {s} in {a} on {d}"
        buys = tx[tx["side"] == "BUY"][["account_id", "symbol", "trade_date"]].rename(columns={"trade_date": "d"})
    else:
        buys = pd.DataFrame({"account_id": [], "symbol": [], "d": []})
    lots = frames["lots"]
    recent = lots[pd.to_datetime(lots["acquired_date"]) >= window]
    buys = pd.concat([buys, recent[["account_id", "symbol", "acquired_date"]].rename(columns={"acquired_date": "d"})])
    if len(buys):
        buys = key_frame(buys).sort_values("d", kind="stable")
        # numpy columns: iterating arrow-backed strings one by one costs ~1 us a value
        for a, s, d, h, k in zip(*(buys[c].to_numpy(object) for c in ("account_id", "symbol", "d", "hh", "ident"))):
            w.loss_why[(h, k)] = (f"buy of {s} in {a} on {d}", a)
    _coverage(w, frames, suspended, last_good)
    return w


def _coverage(w: HouseholdWash, frames, suspended, last_good: pd.DataFrame | None) -> None:
    """Members suspended today or missing from the book: flag the others, block loss sales of
    what the missing member held on the last good book (today's lots for a suspended member
    when no last good book is known)."""
    missing: dict[str, set[str]] = {}  # household key -> members without good data today
    held = []
    for a in suspended:
        h = w.household.get(a)
        if h is not None and h in w.members:
            missing.setdefault(h, set()).add(a)
    today = set(w.household.index)
    if last_good is not None and len(last_good):
        lg = last_good[last_good["household_id"].notna() & (last_good["household_id"].astype(str) != "")]
        for a, hid in zip(lg["account_id"], lg["household_id"]):
            h = "H:" + str(hid)
            if a not in today and (h in w.members or h in w.household.values):
                missing.setdefault(h, set()).add(a)
        held.append(lg[["account_id", "symbol"]])
    if not missing:
        return
    lots = frames["lots"]
    sus_lots = lots[lots["account_id"].isin([a for ms in missing.values() for a in ms])]
    if last_good is not None and len(last_good):
        prior = set(last_good["account_id"])
        sus_lots = sus_lots[~sus_lots["account_id"].isin(prior)]  # the last good book wins
        held_df = pd.concat(held + [sus_lots[["account_id", "symbol"]]])
    else:
        held_df = sus_lots[["account_id", "symbol"]]
    acc_h = {a: h for h, ms in missing.items() for a in ms}
    for a, s in zip(held_df["account_id"], held_df["symbol"]):
        h = acc_h.get(a)
        if h is None:
            continue
        k = w.ident.get(s, "S:" + str(s))
        w.loss_why.setdefault((h, k), (f"{s} held by {a} on the last good book ({a} has no good data today)", a))
    for h, ms in missing.items():
        for a in w.members.get(h, []):
            if a not in ms:
                w.incomplete[a] = sorted(ms)


def coverage_flags(w: HouseholdWash, account_id: str) -> list[str]:
    return [f"{FLAG}:{m}" for m in w.incomplete.get(account_id, [])]


# --------------------------------------------------------------------------- one run
def proposed_sides(w: HouseholdWash, account_id: str, trades, lot_cost: dict) -> tuple[dict, dict]:
    """(identical key -> symbol bought, identical key -> symbol sold at a loss) of one proposal;
    ``lot_cost``: lot_id -> unit cost of the account's lots. Only taxable accounts' loss sales count."""
    buys, losses = {}, {}
    taxable = w.taxable.get(account_id, True)
    for t in trades:
        k = w.ident.get(t.symbol, "S:" + t.symbol)
        if t.side == "BUY":
            buys.setdefault(k, t.symbol)
        elif taxable and any(lot_cost.get(lot, -np.inf) > t.est_price for lot, _ in t.lots):
            losses.setdefault(k, t.symbol)
    return buys, losses


def conflicts(w: HouseholdWash, proposals: dict[str, tuple[dict, dict]]) -> list[tuple[str, str, str, str]]:
    """(buyer, symbol bought, seller, symbol sold at a loss) where one proposal of a household
    buys what another (or the same, in another symbol of its identical group) sells at a loss."""
    by_hh: dict[str, list[str]] = {}
    for a in proposals:
        by_hh.setdefault(w.hh(a), []).append(a)
    out = []
    for accounts in by_hh.values():
        loss_at: dict[str, tuple[str, str]] = {}
        for a in sorted(accounts):
            for k, s in proposals[a][1].items():
                loss_at.setdefault(k, (a, s))
        if not loss_at:
            continue
        for a in sorted(accounts):
            for k, s in proposals[a][0].items():
                hit = loss_at.get(k)
                if hit is not None and (hit[0] != a or hit[1] != s):
                    out.append((a, s, hit[0], hit[1]))
    return out


def settle(results: dict, w: HouseholdWash, lot_costs, reoptimize) -> dict:
    """Decide the accounts of each household together: no proposal buys what another member's
    proposal sells at a loss. ``lot_costs(account) -> {lot_id: unit cost}``;
    ``reoptimize(account_ids) -> {account: result}`` optimizes again under the buy blocks added
    to ``w`` (the caller's builder reads ``w.no_buy()``). Returns the settled results; accounts
    re-optimized carry their blocks in ``w.buy_why``."""
    def sides(a):
        r = results[a]
        return proposed_sides(w, a, r.trades if r.status == "optimal" else [], lot_costs(a))

    watched = {a for a in results if w.hh(a) in w.members} | \
        {a for a in results if any(k.startswith("G:") for k in map(w.ident.get, (t.symbol for t in results[a].trades))
                                   if k)}
    props = {a: sides(a) for a in watched}
    for _ in range(MAX_ROUNDS):
        found = conflicts(w, props)
        if not found:
            return results
        again = set()
        for buyer, bought, seller, sold in found:
            w.block_buys(buyer, bought, f"loss sale of {sold} proposed today in {seller}", seller)
            again.add(buyer)
        for a, r in reoptimize(sorted(again)).items():
            results[a] = r
            props[a] = sides(a)
    # still washing after MAX_ROUNDS: the remaining buys are dropped (cash only grows)
    for buyer, bought, seller, sold in conflicts(w, props):
        r = results[buyer]
        k = w.ident.get(bought, "S:" + bought)
        r.trades = [t for t in r.trades if not (t.side == "BUY" and w.ident.get(t.symbol, "S:" + t.symbol) == k)]
        props[buyer] = sides(buyer)
    return results


def household_detail(w: HouseholdWash, account_id: str, held: set[str] | None = None) -> dict | None:
    """The proposal detail's ``household`` entry (None for an account that is its own household)."""
    h = w.hh(account_id)
    if h not in w.members:
        return None
    return {"household_id": household_label(h), "members": w.members[h],
            "wash_blocks": w.blocks_for(account_id, held), "coverage_incomplete": w.incomplete.get(account_id, [])}


# --------------------------------------------------------------------------- manual trades
def add_pending(w: HouseholdWash, pending: pd.DataFrame, lot_cost: dict) -> None:
    """Trades entered or proposed today that the book does not show yet (DataFrame[account_id,
    symbol, side, est_price, lots]): their buys block loss sales, their loss sales in taxable
    accounts block buys, across the household. ``lot_cost``: (account, lot_id) -> unit cost."""
    for a, s, side, px, lots in zip(pending["account_id"], pending["symbol"], pending["side"],
                                    pending["est_price"], pending["lots"]):
        key = (w.hh(a), w.ident.get(s, "S:" + s))
        if side == "BUY":
            w.loss_why.setdefault(key, (f"buy of {s} in {a} entered or proposed today", a))
        elif w.taxable.get(a, True) and px is not None and not pd.isna(px) and isinstance(lots, str):
            parts = [p.rsplit(":", 1)[0] for p in lots.split(";") if p]
            if any(lot_cost.get((a, lot), -np.inf) > float(px) for lot in parts):
                w.buy_why.setdefault(key, (f"loss sale of {s} in {a} entered or proposed today", a))


def manual_wash(w: HouseholdWash, account_id: str, trades, *, prices: dict, lots: pd.DataFrame,
                cash_out: bool, allocate) -> tuple[list[str], list[str]]:
    """(errors, warnings) for manual trades of ``account_id``: a buy of what a household member
    sold at a loss is refused; a loss sale of what a member bought is refused, or, for a
    cash-out (``cash_out``), allowed with the disallowed loss shown. ``lots``: the account's
    lots; ``allocate(lots_of_symbol, quantity, price) -> [(lot_id, shares)]`` as the export
    relieves them."""
    errors, warnings = [], []
    h = w.hh(account_id)
    label = household_label(h)
    own = w.own_buy_why.get(account_id, {})
    taxable = w.taxable.get(account_id, True)
    for n, t in enumerate(trades, 1):
        sym = (t.symbol or "").strip().upper()
        if not sym or t.side not in ("BUY", "SELL"):
            continue
        where = f"line {n} ({t.side} {t.quantity} {sym})"
        key = (h, w.ident.get(sym, "S:" + sym))
        if t.side == "BUY":
            hit = w.buy_why.get(key)
            why = hit[0] if hit else own.get(sym)
            if why:
                errors.append(f"{where}: household wash sale (household {label}): {why}; buying {sym} "
                              "within the window would disallow that loss")
            continue
        hit = w.loss_why.get(key)
        px = prices.get(sym)
        if not hit or not taxable or px is None or pd.isna(px) or float(px) <= 0:
            continue
        mine = lots[lots["symbol"] == sym]
        alloc = ([(t.lot_id, t.quantity)] if t.lot_id else allocate(mine, int(t.quantity), float(px)))
        cost = dict(zip(mine["lot_id"], mine["unit_cost"].astype(float)))
        loss = sum(q * (float(px) - cost[lot]) for lot, q in alloc if lot in cost and cost[lot] > float(px))
        if loss >= 0:
            continue
        text = (f"{where}: household wash sale (household {label}): {hit[0]}; the loss of "
                f"${-loss:,.2f} on this sale is disallowed")
        if cash_out:
            warnings.append(text + " (allowed: the cash-out needs it)")
        else:
            errors.append(text + "; refused (only a cash-out may sell at a washed loss)")
    return errors, warnings


def household_scores(w: HouseholdWash, detail: list, ids, score: np.ndarray, value: np.ndarray) -> None:
    """Each member's proposal detail gets ``household.score_bps``: the members' scores summed over
    the household's value (members without a score count 0), shown beside the account's own."""
    pos = {a: i for i, a in enumerate(ids)}
    for h, members in w.members.items():
        idx = [pos[a] for a in members if a in pos]
        total = float(np.nansum(value[idx])) if idx else 0.0
        if total <= 0:
            continue
        bps = float(np.nansum(score[idx])) / total * 1e4
        for i in idx:
            if detail[i] is not None and "household" in detail[i]:
                detail[i]["household"]["score_bps"] = round(bps, 3)
