"""One accounting module for every policy-lab variant, computed from the executed path.

A :class:`Ledger` records each simulated day as the custodian left it (executions, costs,
payouts, market moves, account values and asset-class holdings after trading) and computes,
the same way for the engine's variants and the naive baselines:

- accounts traded, order lines, one-sided turnover (max(buys, sells) / book value, per day and
  summed over the period);
- asset-class drift after trading (½ Σ |w − target| over the classes and cash): mean and 95th
  percentile over accounts; account-days with a class outside its band;
- tracking error: the annualized standard deviation of an account's daily return minus its
  model's return (ex post), mean and 95th percentile;
- dispersion: standard deviation of cumulative returns among accounts of the same model, in bps,
  averaged over models weighted by account count; ``dispersion_managed_bps`` the same over the
  accounts the rebalancer managed every day (``managed_accounts``: never suspended for bad data
  nor held), ``dispersion_last20_bps`` / ``dispersion_managed_last20_bps`` over the returns of the
  last 20 days only (less sensitive to the day-1 book), and the split of each account's active
  return into its parts, their shares of the dispersion and its floor (engine/lab/dispersion.py);
- realized short- and long-term gains, losses harvested, wash-sale losses disallowed (a loss
  sale with a buy of the same security in the account within 30 days before or after:
  disallowed in proportion to the shares bought back), tax paid (per account, short- and
  long-term nets offset each other, losses carried no further), all in taxable accounts;
- cash requests paid late (count and dollars): paid after a simulated day on which they were
  already due (a request due on a weekend paid the next business day is on time), with those
  due by the last day and still unpaid; apart from them (``unpayable_requests``), those whose
  account was suspended for bad data on the day the request was due (the last simulated day on
  or before its due date): no rebalancer may trade such an account, the product sends the
  request to the manual cash-out queue (URGENT), and the lab does not simulate manual trades;
- after-tax wealth: value at the end − the tax of realized gains and of liquidating every lot
  at the end's prices (a deferral is worth nothing here: the lower basis a harvest leaves is
  taxed at the end); and ``after_tax_wealth_deferred``, the same with the tax the unrealized
  gains add paid ``horizon_years`` later, discounted at ``discount_rate`` (the policy's
  ``[harvest]`` section, the same for every variant): what a deferral is honestly worth; and
  ``after_tax_wealth_ex_market``, that less the market's move on what the variant held over the
  period (``market_move``): the lab's prices are martingales (each day's log return carries
  −½σ², so every security's expected price is today's), so the market's move is worth zero in
  expectation whatever a variant holds, and this is the decision's worth without one path's luck;
- account-days outside a band after trading, and of them those the decision does not excuse
  (``account_days_outside_band_unflagged``: not suspended, not held, not flagged
  ``BAND_UNREACHABLE`` that day); bands are checked on the value left once the cash requests
  due within the policy's horizon are paid (the cash held for them is the client's, not
  invested), as the engine holds them.
"""
from __future__ import annotations

import math
from datetime import date, timedelta

import numpy as np
import pandas as pd

from engine.core.frames import lookup
from engine.decide.harvest import deferral_factor
from engine.lab.dispersion import DispersionSplit, dispersion_of, summary_columns
from engine.lab.market import TRADING_DAYS
from engine.decide.mandates import CASH, band_width
from engine.core.policy import Policy

WASH_DAYS = 30
LAST_DAYS = 20  # the window of dispersion_last20_bps


def tax_of(st: np.ndarray, lt: np.ndarray, st_rate: np.ndarray, lt_rate: np.ndarray) -> np.ndarray:
    """Tax per account of net short- and long-term gains: a net loss of one term offsets a
    gain of the other; a loss left over is worth nothing here."""
    st2 = np.where(lt < 0, np.maximum(st + lt, 0.0), np.maximum(st, 0.0))
    lt2 = np.where(st < 0, np.maximum(lt + st, 0.0), np.maximum(lt, 0.0))
    return st2 * st_rate + lt2 * lt_rate


def wash_disallowed(sells: pd.DataFrame, buys: pd.DataFrame, days: int = WASH_DAYS) -> np.ndarray:
    """Per lot-level sell row: the loss disallowed (≥ 0) by buys of the same security in the
    same account within ``days`` calendar days before or after the sale. ``sells``: account_id,
    symbol, date (ISO), shares, gain; ``buys``: account_id, symbol, date, shares."""
    out = np.zeros(len(sells))
    loss = sells["gain"].to_numpy(float) < 0
    if not loss.any() or not len(buys):
        return out
    by = {}
    for a, s, d, q in zip(buys["account_id"].tolist(), buys["symbol"].tolist(), buys["date"].tolist(),
                          buys["shares"].tolist()):
        by.setdefault((a, s), []).append((date.fromisoformat(str(d)), float(q)))
    ls = sells[loss]
    # shares sold at a loss per (account, symbol, day): the buys are shared among that day's lots
    day_sold = ls.groupby(["account_id", "symbol", "date"])["shares"].transform("sum").to_numpy(float)
    for k, (a, s, d, q, g) in enumerate(zip(ls["account_id"].tolist(), ls["symbol"].tolist(), ls["date"].tolist(),
                                            ls["shares"].tolist(), ls["gain"].tolist())):
        got = by.get((a, s))
        if not got:
            continue
        d0 = date.fromisoformat(str(d))
        back = sum(q2 for d2, q2 in got if abs((d2 - d0).days) <= days)
        if back > 0:
            out[np.flatnonzero(loss)[k]] = -g * min(1.0, back / day_sold[k])
    return out


class Ledger:
    """The executed path of one variant, and its metrics."""

    def __init__(self, frames: dict[str, pd.DataFrame], as_of: date, policy: Policy):
        acc = frames["accounts"]
        sec = frames["securities"]
        self.policy = policy
        self.ids = acc["account_id"].to_numpy(object)
        self.acc_pos = pd.Series(np.arange(len(self.ids)), index=self.ids)
        self.model = acc["model_id"].to_numpy(object)
        taxable = acc["taxable"].to_numpy(bool)
        st = acc["st_rate"].to_numpy(float)
        lt = acc["lt_rate"].to_numpy(float)
        self.taxable = taxable
        self.st_rate = np.where(taxable, np.where(np.isnan(st), 0.37, st), 0.0)
        self.lt_rate = np.where(taxable, np.where(np.isnan(lt), 0.20, lt), 0.0)
        self.symbols = sec["symbol"].to_numpy(object)
        self.sec_index = pd.Series(np.arange(len(self.symbols)), index=self.symbols)
        classes = sorted(set(sec["asset_class"].astype(str))) + [CASH]
        self.classes = classes
        cpos = {c: i for i, c in enumerate(classes)}
        self.sec_class = np.array([cpos[str(c)] for c in sec["asset_class"]], dtype=np.intp)
        # targets per account and class (cash included) and band limits (classes only)
        mw = frames["model_weights"]
        cls_of = dict(zip(self.symbols, sec["asset_class"].astype(str)))
        models = sorted(set(mw["model_id"]))
        mpos = {mdl: i for i, mdl in enumerate(models)}
        mt = np.zeros((len(models), len(classes)))
        self.model_sec_w = np.zeros((len(models), len(self.symbols)))
        for mdl, s, w in zip(mw["model_id"].tolist(), mw["symbol"].tolist(), mw["weight"].astype(float).tolist()):
            if s == CASH:
                mt[mpos[mdl], cpos[CASH]] += w
            else:
                mt[mpos[mdl], cpos[cls_of[s]]] += w
                self.model_sec_w[mpos[mdl], self.sec_index[s]] += w
        self.acc_model = np.array([mpos.get(x, -1) for x in self.model], dtype=np.intp)
        self.known_model = self.acc_model >= 0
        self.target = np.where(self.known_model[:, None], mt[np.maximum(self.acc_model, 0)], 0.0)
        width = band_width(self.target, policy)
        self.lo = np.maximum(self.target - width, 0.0)
        self.hi = np.minimum(self.target + width, 1.0)
        self.band_cols = np.array([c != CASH for c in classes])
        tx = frames["transactions"]
        b = tx[tx["side"] == "BUY"]
        self.history_buys = pd.DataFrame({"account_id": b["account_id"].astype(object).to_numpy(),
                                          "symbol": b["symbol"].astype(object).to_numpy(),
                                          "date": b["trade_date"].astype(object).to_numpy(),
                                          "shares": b["quantity"].astype(float).to_numpy()})
        # households of two or more accounts: household index per account (-1: none)
        self.hh = np.full(len(self.ids), -1, dtype=np.intp)
        if "household_id" in acc.columns:
            from engine.decide.household_wash import household_of

            key = household_of(acc).to_numpy(object)
            multi = pd.Series(key).map(pd.Series(key).value_counts()).to_numpy(int) >= 2
            multi &= np.array([str(k).startswith("H:") for k in key], dtype=bool)
            if multi.any():
                codes, _ = pd.factorize(pd.Series(key[multi]))
                self.hh[multi] = codes
        self.n_hh = int(self.hh.max()) + 1
        drag = policy.tax_drag_bps or {}
        self.drag = np.array([float(drag.get(c, 0.0)) / 1e4 / TRADING_DAYS for c in classes])
        self.drag_total = np.zeros(len(self.ids))
        self.in_hh = self.hh >= 0
        self.start_value: np.ndarray | None = None
        self._codes = (None, None)
        self.dates: list[date] = []
        self.executions: list[pd.DataFrame] = []
        self.daily: list[dict] = []
        self.r_acc: list[np.ndarray] = []
        self.r_model: list[np.ndarray] = []
        self.paid: list[pd.DataFrame] = []
        self.suspended: list[np.ndarray] = []  # per day: accounts suspended for bad data
        self.unmanaged = np.zeros(len(self.ids), bool)  # suspended for bad data or held on some day so far
        self.split = DispersionSplit(len(self.ids), len(self.symbols), LAST_DAYS)
        lots = frames["lots"]
        self.split.hold(lookup(lots["account_id"], self.acc_pos, -1).astype(np.int64),
                        lookup(lots["symbol"], self.sec_index, -1).astype(np.int64),
                        lots["quantity"].to_numpy(float), lots["unit_cost"].to_numpy(float),
                        pd.to_numeric(sec["price"], errors="coerce").to_numpy(float), self.taxable, self.acc_model,
                        self.model_sec_w)
        self.unexcused: list[tuple[str, str]] = []  # (date, account) outside a band, not excused
        self.costs_total = np.zeros(len(self.ids))
        self.payouts_total = np.zeros(len(self.ids))
        self.market_total = np.zeros(len(self.ids))
        self.final_lots: pd.DataFrame | None = None
        self.final_price: np.ndarray | None = None
        self.unpaid: pd.DataFrame | None = None
        self.end_value: np.ndarray | None = None
        self.deferral = deferral_factor(policy.harvest.discount_rate, policy.harvest.horizon_years)

    # ------------------------------------------------------------------ recording
    def class_values(self, lots: pd.DataFrame, cash: np.ndarray, price: np.ndarray) -> np.ndarray:
        """Dollars per account and class (cash in the CASH column), float[accounts, classes]."""
        out = np.zeros((len(self.ids), len(self.classes)))
        if self._codes[0] is not lots:
            self._codes = (lots, (lookup(lots["symbol"], self.sec_index, -1).astype(np.int64),
                                  lookup(lots["account_id"], self.acc_pos, -1).astype(np.int64)))
        sec, acc = self._codes[1]
        ok = (sec >= 0) & (acc >= 0)
        mv = lots["quantity"].to_numpy(float)[ok] * np.nan_to_num(price[sec[ok]])
        np.add.at(out, (acc[ok], self.sec_class[sec[ok]]), mv)
        out[:, -1] += cash
        return out

    def record(self, day: date, start: np.ndarray, move: np.ndarray, costs: np.ndarray, payouts: np.ndarray,
               executions: pd.DataFrame, paid: pd.DataFrame, lots: pd.DataFrame, cash: np.ndarray,
               price: np.ndarray, sec_returns: np.ndarray, excused: np.ndarray | None = None,
               owed: np.ndarray | None = None, suspended: np.ndarray | None = None,
               held: np.ndarray | None = None, held_returns: np.ndarray | None = None) -> dict:
        """Record one day as the custodian left it; returns the day's metrics row. ``excused``:
        bool per account, outside a band by no fault of the decision (suspended, held, flagged
        BAND_UNREACHABLE); ``owed``: dollars per account of the listed cash requests due within
        the policy's horizon, not yet paid: bands are checked on the value left once they are paid
        (as the engine holds them), drift on today's value. ``held``: bool per account, held by
        an override that day; ``held_returns``: each security's return as the accounts held it
        (splits included; ``sec_returns`` when not given), for the split of the active return."""
        k = len(self.dates)
        if self.start_value is None:
            self.start_value = start.copy()
        self.dates.append(day)
        ex = executions.assign(day=k, date=day.isoformat())
        self.executions.append(ex)
        self.paid.append(paid.assign(day=k))
        self.suspended.append(np.zeros(len(self.ids), bool) if suspended is None else np.asarray(suspended, bool))
        self.unmanaged |= self.suspended[-1]
        if held is not None:
            self.unmanaged |= np.asarray(held, bool)
        self.costs_total += costs
        self.payouts_total += payouts
        self.market_total += move
        with np.errstate(invalid="ignore", divide="ignore"):
            r = np.where(start > 0, (move - costs) / start, 0.0)
        self.r_acc.append(r)
        model_r = self.model_sec_w @ sec_returns
        self.r_model.append(np.where(self.known_model, model_r[np.maximum(self.acc_model, 0)], 0.0))
        self.split.day(start, costs, r, sec_returns if held_returns is None else held_returns, sec_returns,
                       self.sec_class, self.acc_model, self.model_sec_w, self.target)
        cv = self.class_values(lots, cash, price)
        sec_i, acc_i = self._codes[1]
        self.split.hold(acc_i, sec_i, lots["quantity"].to_numpy(float), lots["unit_cost"].to_numpy(float), price,
                        self.taxable, self.acc_model, self.model_sec_w)
        value = cv.sum(axis=1)
        if self.drag.any():
            self.drag_total += np.where(self.taxable, cv @ self.drag, 0.0)
        self.end_value = value
        live = (value > 0) & self.known_model
        w = cv[live] / value[live, None]
        drift = 0.5 * np.abs(w - self.target[live]).sum(axis=1)
        bc = self.band_cols
        wb = w
        if owed is not None:
            net = np.maximum(value[live] - np.minimum(owed[live], cv[live, -1]), 1e-9)
            wb = cv[live] / net[:, None]
        outside = ((wb[:, bc] < self.lo[live][:, bc] - 1e-9) | (wb[:, bc] > self.hi[live][:, bc] + 1e-9)).any(axis=1)
        if excused is not None:
            bad = self.ids[live][outside & ~excused[live]]
            self.unexcused.extend((day.isoformat(), str(a)) for a in bad)
        buys = float(ex.loc[ex["side"] == "BUY", "value"].sum()) if len(ex) else 0.0
        sells = float(ex.loc[ex["side"] == "SELL", "value"].sum()) if len(ex) else 0.0
        book = float(start.sum())
        lines = int(len(ex.drop_duplicates(["account_id", "line", "side", "symbol"]))) if len(ex) else 0
        row = {"day": k + 1, "date": day.isoformat(),
               "accounts_traded": int(ex["account_id"].nunique()) if len(ex) else 0,
               "order_lines": lines, "buys": round(buys, 2), "sells": round(sells, 2),
               "turnover_pct": 100.0 * max(buys, sells) / book if book > 0 else 0.0,
               "drift_mean_pct": 100.0 * float(drift.mean()) if len(drift) else 0.0,
               "drift_p95_pct": 100.0 * float(np.percentile(drift, 95)) if len(drift) else 0.0,
               "outside_band": int(outside.sum()),
               "outside_band_unflagged": int((outside & ~excused[live]).sum()) if excused is not None
               else int(outside.sum()),
               "dispersion_bps": self.dispersion_bps(),
               "dispersion_managed_bps": self.dispersion_bps(managed=True),
               "dispersion_last20_bps": self.dispersion_bps(last=LAST_DAYS),
               "dispersion_managed_last20_bps": self.dispersion_bps(managed=True, last=LAST_DAYS),
               "managed_accounts": int(self.managed().sum()),
               "costs": round(float(costs.sum()), 2), "payouts": round(float(payouts.sum()), 2),
               "value": round(float(value.sum()), 2)}
        if self.n_hh:
            row.update(self._household_day(cv, value, ex, start))
        self.daily.append(row)
        return row

    def _household_day(self, cv: np.ndarray, value: np.ndarray, ex: pd.DataFrame, start: np.ndarray) -> dict:
        """The day's household drift (value-weighted over households), order lines and turnover of
        the household members."""
        m = self.in_hh & self.known_model
        h = self.hh[m]
        held = np.zeros((self.n_hh, cv.shape[1]))
        blend = np.zeros_like(held)
        np.add.at(held, h, cv[m])
        np.add.at(blend, h, self.target[m] * value[m, None])
        total = held.sum(axis=1)
        ok = total > 0
        drift = 0.5 * np.abs(held[ok] / total[ok, None] - blend[ok] / total[ok, None]).sum(axis=1)
        mine = ex[self.in_hh[lookup(ex["account_id"], self.acc_pos, 0).astype(np.int64)]] if len(ex) else ex
        buys = float(mine.loc[mine["side"] == "BUY", "value"].sum()) if len(mine) else 0.0
        sells = float(mine.loc[mine["side"] == "SELL", "value"].sum()) if len(mine) else 0.0
        return {"household_drift_pct": 100.0 * float((drift * total[ok]).sum() / total[ok].sum()) if ok.any() else 0.0,
                "household_order_lines": int(len(mine.drop_duplicates(["account_id", "line", "side", "symbol"])))
                if len(mine) else 0,
                "household_turnover_pct": 100.0 * max(buys, sells) / float(start[self.in_hh].sum())
                if start[self.in_hh].sum() > 0 else 0.0}

    def finish(self, lots: pd.DataFrame, price: np.ndarray, unpaid_requests: pd.DataFrame) -> None:
        self.final_lots = lots
        self.final_price = price
        self.unpaid = unpaid_requests

    # ------------------------------------------------------------------ metrics
    def cumulative_returns(self, last: int | None = None) -> np.ndarray:
        """Each account's cumulative return, over the last ``last`` days only when given."""
        if not self.r_acc:
            return np.zeros(len(self.ids))
        rs = self.r_acc[-last:] if last else self.r_acc
        return np.prod(1.0 + np.vstack(rs), axis=0) - 1.0

    def live(self) -> np.ndarray:
        """Accounts dispersion counts: of a known model, with a value on day 1."""
        return (self.start_value > 0) & self.known_model if self.start_value is not None else self.known_model

    def managed(self) -> np.ndarray:
        """Live accounts the rebalancer managed every day so far (never suspended for bad data, never held)."""
        return self.live() & ~self.unmanaged

    def dispersion_bps(self, managed: bool = False, last: int | None = None) -> float:
        mask = self.managed() if managed else self.live()
        return dispersion_of(self.cumulative_returns(last), self.model, mask)

    def dispersion_split(self) -> dict[str, float]:
        """The parts' shares of the dispersion and its floor, over all live and over managed accounts
        (engine/lab/dispersion.py)."""
        live, managed = self.live(), self.managed()
        return {**summary_columns(self.split.cum, self.model, {"": live, "managed_": managed}, self.unmanaged),
                **summary_columns(self.split.window(), self.model, {"last20_": live, "managed_last20_": managed},
                                  self.unmanaged)}

    def dispersion_parts(self) -> pd.DataFrame:
        """Per account: model, live, managed, each part's cumulative over the period
        (``cum_<part>``) and over the last days (``last20_<part>``), engine/lab/dispersion.py."""
        from engine.lab.dispersion import PARTS

        out = pd.DataFrame({"account_id": self.ids, "model_id": self.model, "live": self.live(),
                            "managed": self.managed()})
        win = self.split.window()
        for j, name in enumerate(PARTS):
            out[f"cum_{name}"] = self.split.cum[:, j]
        for j, name in enumerate(PARTS):
            out[f"last20_{name}"] = win[:, j]
        return out

    def all_executions(self) -> pd.DataFrame:
        from engine.lab.custodian import EXEC_COLUMNS

        if not self.executions:
            return pd.DataFrame(columns=EXEC_COLUMNS + ["day", "date"])
        return pd.concat(self.executions, ignore_index=True)

    def suspended_when_due(self, requests: pd.DataFrame) -> np.ndarray:
        """Per request: its account was suspended for bad data on the last simulated day on or
        before its due date (day 1 for a request already due then)."""
        if not len(requests) or not self.dates:
            return np.zeros(len(requests), bool)
        days = np.array([d.isoformat() for d in self.dates], dtype=object)
        k = np.searchsorted(days, requests["due_date"].astype(str).to_numpy(object), side="right") - 1
        k = np.clip(k, 0, len(days) - 1)
        ai = lookup(requests["account_id"], self.acc_pos, -1).astype(np.int64)
        susp = np.vstack(self.suspended)
        return np.where(ai >= 0, susp[k, np.maximum(ai, 0)], False)

    def taxes(self) -> dict:
        """Realized gains, disallowed wash-sale losses and tax per account (taxable accounts)."""
        ex = self.all_executions()
        n = len(self.ids)
        sells = ex[ex["side"] == "SELL"]
        buys = pd.concat([self.history_buys, ex.loc[ex["side"] == "BUY", ["account_id", "symbol", "date", "shares"]]],
                         ignore_index=True)
        dis = wash_disallowed(sells, buys)
        ai = lookup(sells["account_id"], self.acc_pos, -1).astype(np.int64)
        gain = sells["gain"].to_numpy(float)
        st_mask = (sells["term"] == "ST").to_numpy(bool)
        st = np.zeros(n)
        lt = np.zeros(n)
        np.add.at(st, ai[st_mask], gain[st_mask] + dis[st_mask])
        np.add.at(lt, ai[~st_mask], gain[~st_mask] + dis[~st_mask])
        loss = np.zeros(n)
        np.add.at(loss, ai, np.minimum(gain, 0.0))
        disallowed = np.zeros(n)
        np.add.at(disallowed, ai, dis)
        return {"st": st, "lt": lt, "losses": -loss, "disallowed": disallowed,
                "tax": tax_of(st, lt, self.st_rate, self.lt_rate)}

    def embedded(self) -> tuple[np.ndarray, np.ndarray]:
        """Unrealized short- and long-term gains per account at the end's prices."""
        lots = self.final_lots
        n = len(self.ids)
        sec = lookup(lots["symbol"], self.sec_index, -1).astype(np.int64)
        acc = lookup(lots["account_id"], self.acc_pos, -1).astype(np.int64)
        ok = (sec >= 0) & (acc >= 0)
        px = np.nan_to_num(self.final_price[np.maximum(sec, 0)])
        gain = np.where(ok & (px > 0), (px - lots["unit_cost"].to_numpy(float)) * lots["quantity"].to_numpy(float), 0.0)
        end = self.dates[-1] if self.dates else date.today()
        short = (lots["acquired_date"].astype(object).to_numpy() > (end - timedelta(days=365)).isoformat())
        st, lt = np.zeros(n), np.zeros(n)
        np.add.at(st, acc[ok & short], gain[ok & short])
        np.add.at(lt, acc[ok & ~short], gain[ok & ~short])
        return st, lt

    def tracking_error(self) -> np.ndarray:
        """Annualized ex-post tracking error per live account (days 2.. : day 1 has no market move)."""
        if len(self.r_acc) < 3:
            return np.zeros(0)
        live = (self.start_value > 0) & self.known_model
        diff = np.vstack(self.r_acc[1:]) - np.vstack(self.r_model[1:])
        return diff[:, live].std(axis=0, ddof=1) * math.sqrt(TRADING_DAYS)

    def summary(self) -> dict:
        tx = self.taxes()
        t = self.taxable
        est, elt = self.embedded()
        liquidation = tax_of(tx["st"] + est, tx["lt"] + elt, self.st_rate, self.lt_rate)
        value_end = float(self.end_value.sum()) if self.end_value is not None else 0.0
        start = float(self.start_value.sum()) if self.start_value is not None else 0.0
        ex = self.all_executions()
        days = len(self.dates)
        turnover = sum(r["turnover_pct"] for r in self.daily)
        paid = pd.concat(self.paid, ignore_index=True) if self.paid else pd.DataFrame()
        late = paid[paid["late"]] if len(paid) else paid
        last = self.dates[-1].isoformat() if self.dates else ""
        un = self.unpaid
        overdue = un[un["due_date"].astype(object) <= last] if un is not None and len(un) else pd.DataFrame()
        # requests of accounts suspended for bad data when due: the manual cash-out queue's
        late_susp = self.suspended_when_due(late)
        over_susp = self.suspended_when_due(overdue)
        unpayable = pd.concat([late[late_susp], overdue[over_susp]]) if len(late) or len(overdue) else late
        late, overdue = late[~late_susp], overdue[~over_susp]
        te = self.tracking_error()
        d = pd.DataFrame(self.daily)
        out = {
            "days": days, "accounts": int(len(self.ids)),
            "accounts_traded": int(ex["account_id"].nunique()) if len(ex) else 0,
            "account_days_traded": int(d["accounts_traded"].sum()) if len(d) else 0,
            "order_lines": int(d["order_lines"].sum()) if len(d) else 0,
            "turnover_pct": round(turnover, 4),
            "turnover_annual_pct": round(turnover * TRADING_DAYS / days, 4) if days else 0.0,
            "drift_mean_pct": round(float(d["drift_mean_pct"].mean()), 4) if len(d) else 0.0,
            "drift_p95_pct": round(float(d["drift_p95_pct"].mean()), 4) if len(d) else 0.0,
            "te_mean_pct": round(100 * float(te.mean()), 4) if len(te) else 0.0,
            "te_p95_pct": round(100 * float(np.percentile(te, 95)), 4) if len(te) else 0.0,
            "dispersion_bps": round(self.dispersion_bps(), 2),
            "dispersion_managed_bps": round(self.dispersion_bps(managed=True), 2),
            "dispersion_last20_bps": round(self.dispersion_bps(last=LAST_DAYS), 2),
            "dispersion_managed_last20_bps": round(self.dispersion_bps(managed=True, last=LAST_DAYS), 2),
            "managed_accounts": int(self.managed().sum()),
            "account_days_outside_band": int(d["outside_band"].sum()) if len(d) else 0,
            "account_days_outside_band_unflagged": int(d["outside_band_unflagged"].sum()) if len(d) else 0,
            "realized_st": round(float(tx["st"][t].sum()), 2),
            "realized_lt": round(float(tx["lt"][t].sum()), 2),
            "losses_harvested": round(float((tx["losses"] - tx["disallowed"])[t].sum()), 2),
            "wash_sale_disallowed": round(float(tx["disallowed"][t].sum()), 2),
            "tax_paid": round(float(tx["tax"].sum()), 2),
            "costs": round(float(self.costs_total.sum()), 2),
            "payouts": round(float(self.payouts_total.sum()), 2),
            "late_requests": int(len(late) + len(overdue)),
            "late_dollars": round(float((late["amount"].sum() if len(late) else 0.0)
                                        + (overdue["amount"].sum() if len(overdue) else 0.0)), 2),
            "unpayable_requests": int(len(unpayable)),
            "unpayable_dollars": round(float(unpayable["amount"].sum()) if len(unpayable) else 0.0, 2),
            "value_start": round(start, 2), "value_end": round(value_end, 2),
            "after_tax_wealth": round(value_end - float(liquidation.sum()), 2),
            "after_tax_wealth_deferred": round(value_end - float(tx["tax"].sum())
                                               - float((liquidation - tx["tax"]).sum()) * (1.0 - self.deferral), 2),
            "market_move": round(float(self.market_total.sum()), 2),
            "after_tax_wealth_ex_market": round(value_end - float(self.market_total.sum()) - float(tx["tax"].sum())
                                                - float((liquidation - tx["tax"]).sum()) * (1.0 - self.deferral), 2),
        }
        out.update(self.dispersion_split())
        if self.drag.any():
            out["tax_drag"] = round(float(self.drag_total.sum()), 2)
        if self.n_hh:
            m = self.in_hh
            if self.drag.any():
                out["household_tax_drag"] = round(float(self.drag_total[m].sum()), 2)
            end = self.end_value if self.end_value is not None else np.zeros(len(self.ids))
            out.update({
                "households": self.n_hh, "household_accounts": int(m.sum()),
                "household_drift_pct": round(float(d["household_drift_pct"].mean()), 4),
                "household_order_lines": int(d["household_order_lines"].sum()),
                "household_turnover_pct": round(float(d["household_turnover_pct"].sum()), 4),
                "household_tax_paid": round(float(tx["tax"][m].sum()), 2),
                "household_losses_harvested": round(float((tx["losses"] - tx["disallowed"])[m & t].sum()), 2),
                "household_after_tax_wealth": round(float(end[m].sum() - liquidation[m].sum()), 2),
                "household_after_tax_wealth_deferred": round(float(
                    end[m].sum() - tx["tax"][m].sum() - (liquidation[m] - tx["tax"][m]).sum() * (1.0 - self.deferral)), 2),
            })
        return out
