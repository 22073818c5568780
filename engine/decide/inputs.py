"""The optimizer's inputs: one :class:`AccountInput` per candidate account, built from the
whole book's frames indexed once (:class:`InputBuilder`), and the optimizer's settings from the
policy (:func:`optimizer_settings`). The run (:mod:`engine.decide.workflow`), the re-score of an
edited proposal (:mod:`engine.decide.rescore`) and the policy lab all build inputs here, so an
account is seen the same way by each."""
from __future__ import annotations

import uuid
from datetime import date, timedelta

import numpy as np
import pandas as pd

from engine.decide import household_wash
from engine.core.frames import lookup, sets_by
from engine.decide.mandates import account_limits
from engine.decide.optimizer import (AccountInput, OptimizerSettings, derive_lot_terms,
                              read_only)
from engine.core.policy import Policy


def optimizer_settings(policy: Policy) -> OptimizerSettings:
    t, h = policy.trading, policy.harvest
    return OptimizerSettings(tradeoff_lambda=t.tradeoff_lambda, cost_bps=t.cost_bps,
                             ticket_cost=t.ticket_cost, min_trade_dollars=t.min_trade_dollars,
                             min_trade_shares=t.min_trade_shares,
                             harvest_min_loss_pct=t.harvest_min_loss_pct,
                             harvest_min_loss_dollars=t.harvest_min_loss_dollars,
                             band_penalty=t.band_penalty, own_vol=t.security_vol,
                             own_vol_untaxed=t.security_vol_untaxed, own_vol_free=t.security_vol_free,
                             free_tax_bps=t.free_tax_bps,
                             prune_lines=t.drop_unpaid_lines, min_drift_dollars=t.min_drift_trade_dollars,
                             harvest_value=h.value, harvest_discount_rate=h.discount_rate,
                             harvest_horizon_years=h.horizon_years, harvest_st_conversion=h.st_conversion,
                             harvest_substitute_bps=h.substitute_bps, harvest_round_trip=h.round_trip,
                             band_mandate="band" in policy.mandates.trade_now,
                             band_trade_to=policy.bands.trade_to_fraction,
                             budget_hard=policy.budget_settings().hard,
                             invest_threshold=policy.budget_settings().invest_threshold)


# --------------------------------------------------------------------------- inputs
class InputBuilder:
    """Builds one AccountInput per candidate account from whole-book frames (index once)."""

    def __init__(self, frames, facts: pd.DataFrame, extras: dict, as_of: date, policy: Policy,
                 freeze: set[str], suspended: set[str] | frozenset = frozenset()):
        sec = frames["securities"].reset_index(drop=True)
        # tells this builder's universes from any other's (a worker's optimizer caches on it)
        self.token = uuid.uuid4().bytes
        self._universes: dict = {}
        self.symbols = sec["symbol"].to_numpy(object)
        self.index = {s: i for i, s in enumerate(self.symbols)}
        self.price = sec["price"].astype(float).to_numpy()
        self.aclass = sec["asset_class"].to_numpy(object)
        grp = sec["substitute_group"].to_numpy(object)
        self.group = np.array([g if isinstance(g, str) and g else s for g, s in zip(grp, self.symbols)],
                              dtype=object)
        self.rating = pd.to_numeric(sec["rating"], errors="coerce").to_numpy(float)
        priced = np.isfinite(self.price) & (self.price > 0)
        frozen = np.isin(self.symbols, list(freeze))
        self.base_buy = priced & ~frozen
        self.base_sell = ~frozen
        # substitutes: same group (and same class unless cross-class substitution is allowed)
        key = self.group if policy.trading.cross_class_substitution else \
            np.array([f"{g}\x00{c}" for g, c in zip(self.group, self.aclass)], dtype=object)
        members: dict[str, list[int]] = {}
        for i, k in enumerate(key):
            members.setdefault(k, []).append(i)
        self.subs = [np.array(members[k]) for k in key]
        # the same as integer codes (build() works on boolean masks over the securities)
        kcode = {k: j for j, k in enumerate(members)}
        self.sub_key = np.array([kcode[k] for k in key], dtype=np.intp)
        self.n_keys = len(kcode)
        self.price0 = np.nan_to_num(self.price, nan=0.0)
        # models: universe (model securities and their substitutes) and targets
        mw = frames["model_weights"]
        mw = mw[mw["symbol"] != "CASH"]
        self.models = {}
        self.model_mask = {}
        for mid, g in mw.groupby("model_id"):
            idx = np.array([self.index[s] for s in g["symbol"]])
            tgt = np.zeros(len(self.symbols))
            tgt[idx] = g["weight"].to_numpy(float)
            univ = np.unique(np.concatenate([self.subs[i] for i in idx])) if len(idx) else idx
            self.models[mid] = (univ, tgt)
            mask = np.zeros(len(self.symbols), bool)
            mask[univ] = True
            self.model_mask[mid] = mask
        # lots grouped by account
        lots = frames["lots"]
        lots = lots[lots["symbol"].isin(self.index)]
        lots = lots.sort_values("account_id", kind="stable")
        sec_index = pd.Series(np.arange(len(self.symbols)), index=self.symbols)
        self.lot_acc = lots["account_id"].to_numpy(object)
        self.lot_id = lots["lot_id"].to_numpy(object)
        self.lot_sec = lookup(lots["symbol"], sec_index).astype(np.int64)
        self.lot_qty = lots["quantity"].to_numpy(float)
        self.lot_cost = lots["unit_cost"].to_numpy(float)
        acq = pd.to_datetime(lots["acquired_date"])
        self.lot_short = (acq > pd.Timestamp(as_of - timedelta(days=365))).to_numpy(bool)
        starts = {}
        if len(self.lot_acc):
            uniq, first = np.unique(self.lot_acc, return_index=True)
            bounds = np.append(first, len(self.lot_acc))
            order = np.argsort(first)
            uniq, bounds_s = uniq[order], np.sort(first)
            ends = np.append(bounds_s[1:], len(self.lot_acc))
            starts = {a: (s, e) for a, s, e in zip(uniq, bounds_s, ends)}
        self.slices = starts
        # wash sales across each household (engine.decide.household_wash): securities bought recently
        # (no loss sale) or sold at a loss (no buy) by any member, with their identical groups
        self.wash = household_wash.build(frames, as_of, policy.trading.wash_sale_days, suspended=suspended,
                                         last_good=frames.get("household_last_good"))
        self.loss_sold = self.wash.no_buy()
        rp = extras["restricted"]
        self.restricted = sets_by(rp["account_id"], rp["symbol"])
        cb = extras["class_bands"]
        self.bands: dict[str, dict] = {}
        for a, c, lo, hi in zip(cb["account_id"].tolist(), cb["asset_class"].tolist(), cb["lo"].tolist(),
                                cb["hi"].tolist()):
            self.bands.setdefault(a, {})[c] = (lo, hi)
        taxable = facts["taxable"].to_numpy(bool)
        st = facts["st_rate"].to_numpy(float)
        lt = facts["lt_rate"].to_numpy(float)
        st = np.where(taxable, np.where(np.isnan(st), 0.37, st), 0.0)
        lt = np.where(taxable, np.where(np.isnan(lt), 0.20, lt), 0.0)
        # each lot's account as its position in facts (lots are grouped by account)
        fpos = {a: i for i, a in enumerate(facts["account_id"].tolist())}
        at = np.full(len(self.lot_acc), -1, dtype=np.int64)
        if starts:
            bounds = np.array(list(starts.values()), dtype=np.int64).reshape(-1, 2)
            at = np.repeat(np.array([fpos.get(a, -1) for a in starts], dtype=np.int64),
                           bounds[:, 1] - bounds[:, 0])
        known = at >= 0
        at = np.where(known, at, 0)
        # wash sale: a lot of a security (or identical group) that a member of the account's
        # household bought in the window is not sold at a loss (pairs coded as household x group)
        self.lot_blocked = read_only(self._loss_blocked(facts, at) & known)
        # the lots' tax terms for the whole book at once (the optimizer would derive them per
        # account, with the same arithmetic)
        lot_px = self.price0[self.lot_sec]
        if len(taxable):
            lot_taxable, lot_st, lot_lt = taxable[at] & known, st[at], lt[at]
        else:  # no accounts: no lot is ever built
            lot_taxable, lot_st, lot_lt = np.zeros(len(at), bool), np.zeros(len(at)), np.zeros(len(at))
        with np.errstate(divide="ignore", invalid="ignore"):  # unpriced: refused per account
            terms = derive_lot_terms(lot_px, self.lot_qty, self.lot_cost, self.lot_short, lot_taxable,
                                     lot_st, lot_lt, optimizer_settings(policy))
        # shared by every account's input (and by forked workers): read-only
        self.lot_terms = terms[:1] + tuple(read_only(a) for a in terms[1:])
        self.facts = dict(zip(facts["account_id"].tolist(), zip(
            facts["model_id"].tolist(), facts["cash"].astype(float).tolist(), taxable.tolist(), st.tolist(),
            lt.tolist(), facts["model_cash_w"].astype(float).tolist(), facts["cash_needed"].astype(float).tolist())))
        # gains budgets and cash-flow trading: only the accounts that have them
        self.limits = account_limits(facts, policy)

    def retarget(self, account_id: str, model_id: str, symbols, weights) -> None:
        """Give ``account_id`` a new model ``model_id`` (``symbols`` and ``weights``, no CASH; the
        securities of the account's present model or a subset), e.g. a household member's located
        model once the other members are decided (engine.decide.household_location.complete)."""
        old = self.facts[account_id]
        univ, _ = self.models[old[0]]
        tgt = np.zeros(len(self.symbols))
        tgt[np.array([self.index[s] for s in symbols], dtype=np.intp)] = np.asarray(weights, float)
        self.models[model_id] = (univ, tgt)
        self.model_mask[model_id] = self.model_mask[old[0]]
        self.facts[account_id] = (model_id,) + tuple(old[1:])

    def build(self, account_id: str, lot_terms: bool = True) -> AccountInput:
        """The account's optimizer input. ``lot_terms=False`` leaves the whole-book lot terms
        out (for inputs that are pickled to another process: the optimizer derives them there,
        cheaper than shipping them)."""
        model_id, cash, taxable, st, lt, model_cash_w, cash_needed = self.facts[account_id]
        key, lpx, mv, loss, held, tax, cand, tax_obj, hv = self.lot_terms
        s, e = self.slices.get(account_id, (0, 0))
        lsec = self.lot_sec[s:e]
        nsec = len(self.symbols)
        univ_m, tgt = self.models.get(model_id, (None, None))
        # universe: the model's (with substitutes), held securities and their substitutes
        keys = np.zeros(self.n_keys, bool)
        keys[self.sub_key[lsec]] = True
        mark = keys[self.sub_key]
        if univ_m is not None:
            mark |= self.model_mask[model_id]
        univ = mark.nonzero()[0]
        inv = np.empty(nsec, np.int64)
        inv[univ] = np.arange(len(univ))
        pos = inv[lsec]
        # accounts of one model mostly share their universe: its arrays are built once
        ukey = (self.token, model_id, univ.tobytes())
        shared = self._universes.get(ukey)
        if shared is None:
            shared = tuple(read_only(a) for a in (
                self.symbols[univ], self.price0[univ], self.aclass[univ], self.group[univ],
                tgt[univ] if tgt is not None else np.zeros(len(univ)), self.rating[univ]))
            if len(self._universes) >= 4096:
                self._universes.clear()
            self._universes[ukey] = shared
        syms, price, aclass, group, target, rating = shared
        restricted = self.restricted.get(account_id)
        lossb = self.loss_sold.get(account_id)
        can_buy = self.base_buy[univ]
        can_sell = self.base_sell[univ]
        if restricted:
            rmask = self._sec_mask(restricted)[univ]
            can_buy &= ~rmask
            held_mask = np.zeros(len(univ), bool)
            held_mask[pos] = True
            must_sell = rmask & held_mask & can_sell
        else:
            must_sell = np.zeros(len(univ), bool)
        if lossb:
            can_buy &= ~self._sec_mask(lossb)[univ]
        return AccountInput(
            account_id=account_id, cash=cash, taxable=taxable, st_rate=st, lt_rate=lt,
            symbols=syms, price=price, asset_class=aclass, drift_group=group, target_w=target,
            rating=rating,
            can_buy=can_buy, can_sell=can_sell, must_sell=must_sell,
            model_cash_w=model_cash_w, cash_needed=cash_needed,
            class_bands=self.bands.get(account_id, {}),
            lot_id=self.lot_id[s:e], lot_sec=pos, lot_qty=self.lot_qty[s:e],
            lot_unit_cost=self.lot_cost[s:e], lot_short_term=self.lot_short[s:e],
            lot_loss_sale_blocked=self.lot_blocked[s:e], universe_key=ukey,
            lot_terms=(key, lpx[s:e], mv[s:e], loss[s:e], held[s:e], tax[s:e], cand[s:e],
                       tax_obj[s:e], hv[s:e]) if lot_terms else None,
            **self.limits.get(account_id, {}))

    def _loss_blocked(self, facts: pd.DataFrame, at: np.ndarray) -> np.ndarray:
        """bool[lots]: the lot's (household, identical group) had a buy in the window."""
        if not self.wash.loss_why or not len(at):
            return np.zeros(len(at), bool)
        acc_ids = facts["account_id"].to_numpy(object)
        hh_codes, hh_keys = pd.factorize(self.wash.household.reindex(acc_ids).fillna(
            pd.Series(["A:" + str(a) for a in acc_ids], index=acc_ids)).to_numpy(object))
        id_codes, id_keys = pd.factorize(self.wash.ident.reindex(self.symbols).to_numpy(object))
        codes = self.wash.loss_pair_codes({k: i for i, k in enumerate(hh_keys)}, {k: i for i, k in enumerate(id_keys)})
        if not len(codes):
            return np.zeros(len(at), bool)
        return np.isin(hh_codes.astype(np.int64)[at] * len(id_keys) + id_codes[self.lot_sec], codes)

    def _sec_mask(self, symbols) -> np.ndarray:
        """bool[securities]: True for the given symbols (unknown ones are ignored)."""
        mask = np.zeros(len(self.symbols), bool)
        get = self.index.get
        idx = [i for i in map(get, symbols) if i is not None]
        if idx:
            mask[idx] = True
        return mask
