"""The simulated custodian: carries the book's frames forward one business day at a time.

On each day: prices move (:meth:`Custodian.mark`), the day's approved trades execute at the
day's price (:meth:`execute`: sells relieve exactly the lots and shares the trade names, buys
open a lot at the day's price and date, cash moves by the trades and their costs), cash
requests due are paid (:meth:`pay_requests`; one the account's cash cannot pay stays listed and
is paid late), new requests arrive (:meth:`add_requests`). Transactions carry each sell's
realized gain (for the wash-sale rules); ``last_trade_date`` updates.

Invariants, checked every day (:class:`InvariantError` otherwise): an account's value changes
only by market moves, costs and payouts; nothing is sold that is not held; and (``strict_wash``,
the engine's variants) no account buys a security it sold at a loss in the last 30 days.

The frames keep the column types :func:`storage.repo.read_book_frames` gives, so the engine
decides on a carried book exactly as on an imported one.
"""
from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pandas as pd

from engine.core.frames import lookup

KEEP_TRANSACTION_DAYS = 45  # the wash-sale window (30 days) with room to spare
TOL = 0.01  # dollars: the value invariant's tolerance per account


class InvariantError(AssertionError):
    """The simulated book broke an accounting invariant: a bug in the lab or the engine."""


EXEC_COLUMNS = ["account_id", "symbol", "side", "shares", "price", "value", "lot_id", "unit_cost",
                "acquired_date", "gain", "term", "line"]


class Custodian:
    def __init__(self, frames: dict[str, pd.DataFrame], as_of: date, *, cost_bps: float, ticket_cost: float,
                 strict_wash: bool = True, wash_days: int = 30):
        self.frames = {k: v.copy() for k, v in frames.items()}
        self.as_of = as_of
        self.cost_bps = cost_bps
        self.ticket_cost = ticket_cost
        self.strict_wash = strict_wash
        self.wash_days = wash_days
        sec = self.frames["securities"]
        self.sec_index = pd.Series(np.arange(len(sec)), index=sec["symbol"].to_numpy(object))
        self.price = pd.to_numeric(sec["price"], errors="coerce").to_numpy(float)
        self.account_ids = self.frames["accounts"]["account_id"].to_numpy(object)
        self.acc_pos = pd.Series(np.arange(len(self.account_ids)), index=self.account_ids)
        self.sec_of = dict(zip(self.sec_index.index.tolist(), range(len(self.sec_index))))
        self.acc_of = dict(zip(self.account_ids.tolist(), range(len(self.account_ids))))
        self._seq = 0
        self._codes_of = (None, None)
        self.prev_day: date | None = None  # the simulated day before as_of (None on day 1)

    def lot_codes(self) -> tuple[np.ndarray, np.ndarray]:
        """(security index, account index) of every lot (-1 unknown), cached per lots frame."""
        lots = self.frames["lots"]
        if self._codes_of[0] is not lots:
            sec = lookup(lots["symbol"], self.sec_index, -1).astype(np.int64)
            acc = lookup(lots["account_id"], self.acc_pos, -1).astype(np.int64)
            self._codes_of = (lots, (sec, acc))
        return self._codes_of[1]

    # ------------------------------------------------------------------ valuation
    def values(self, price: np.ndarray | None = None) -> np.ndarray:
        """Account values (cash + priced holdings) in accounts-frame order."""
        price = self.price if price is None else price
        lots = self.frames["lots"]
        sec, acc = self.lot_codes()
        px = np.where(sec >= 0, np.nan_to_num(price[np.maximum(sec, 0)]), 0.0)
        mv = lots["quantity"].to_numpy(float) * px
        out = self.frames["accounts"]["cash"].to_numpy(float).copy()
        ok = acc >= 0
        np.add.at(out, acc[ok], mv[ok])
        return out

    # ------------------------------------------------------------------ the day
    def mark(self, day: date, price: np.ndarray, moving: np.ndarray) -> np.ndarray:
        """Move to ``day`` at ``price``; returns each account's market move in dollars."""
        before = self.values()
        self.price = np.where(moving, price, self.price)
        if day != self.as_of:
            self.prev_day = self.as_of
        self.as_of = day
        sec = self.frames["securities"]
        sec["price"] = self.price
        if moving.any():
            pdate = sec["price_date"].to_numpy(object).copy()
            pdate[moving] = day.isoformat()
            sec["price_date"] = pd.array(pdate, dtype=sec["price_date"].dtype)
        feeds = self.frames["feeds"]
        if len(feeds):
            ok = (feeds["status"] == "ok").to_numpy(bool)
            fd = feeds["file_date"].to_numpy(object).copy()
            fd[ok] = day.isoformat()
            feeds["file_date"] = pd.array(fd, dtype=feeds["file_date"].dtype)
        return self.values() - before

    def execute(self, trades: dict[str, list]) -> tuple[pd.DataFrame, np.ndarray]:
        """Execute trade lines (engine.decide.optimizer.TradeLine-like: symbol, side, shares, lots) at
        today's prices. Returns (executions, costs per account)."""
        acc = self.frames["accounts"]
        lots = self.frames["lots"]
        day = self.as_of.isoformat()
        costs = np.zeros(len(self.account_ids))
        cash = acc["cash"].to_numpy(float).copy()
        # the lots of the accounts that trade, by (account, lot id)
        _, lot_acc = self.lot_codes()
        trading = np.zeros(len(self.account_ids), bool)
        trading[[self.acc_of[a] for a, lines in trades.items() if lines]] = True
        idx = np.flatnonzero(trading[np.maximum(lot_acc, 0)] & (lot_acc >= 0))
        key = dict(zip(zip(lots["account_id"].to_numpy(object)[idx].tolist(),
                           lots["lot_id"].to_numpy(object)[idx].tolist()), idx.tolist()))
        lot_sym = lots["symbol"].to_numpy(object)
        qty = lots["quantity"].to_numpy(float).copy()
        sold = np.zeros(len(qty), bool)
        cost = lots["unit_cost"].to_numpy(float)
        acquired = lots["acquired_date"].to_numpy(object)
        lt_cut = (self.as_of - timedelta(days=365)).isoformat()
        window = (self.as_of - timedelta(days=self.wash_days)).isoformat()
        tx = self.frames["transactions"]
        recent_loss = set()
        if self.strict_wash and len(tx):
            rl = tx[(tx["side"] == "SELL") & (pd.to_numeric(tx["realized_gain"]) < 0)
                    & (tx["trade_date"].astype(object) >= window)]
            recent_loss = set(zip(rl["account_id"].tolist(), rl["symbol"].tolist()))
        rows, new_lots, new_tx = [], [], []
        traded = []
        for a, lines in trades.items():
            if not lines:
                continue
            ai = self.acc_of[a]
            traded.append(ai)
            for n, t in enumerate(lines):
                si = self.sec_of.get(t.symbol)
                if si is None:
                    raise InvariantError(f"{a}: trade in {t.symbol}, not a security of the book")
                px = float(self.price[si])
                if not np.isfinite(px) or px <= 0:
                    raise InvariantError(f"{a}: trade in {t.symbol}, which has no price")
                shares = int(t.shares)
                value = shares * px
                fee = value * self.cost_bps / 1e4 + self.ticket_cost
                costs[ai] += fee
                if t.side == "SELL":
                    named = sum(int(q) for _, q in t.lots)
                    if named != shares:
                        raise InvariantError(f"{a}: SELL {shares} {t.symbol} names {named} shares of lots")
                    gain_line = 0.0
                    for lot_id, q in t.lots:
                        i = key.get((a, lot_id), -1)
                        if i < 0 or lot_sym[i] != t.symbol:
                            raise InvariantError(f"{a}: SELL {t.symbol} names lot {lot_id}, which it does not hold")
                        if q > qty[i] + 1e-9:
                            raise InvariantError(f"{a}: SELL {q} of lot {lot_id} ({t.symbol}) holding {qty[i]:g}")
                        qty[i] -= q
                        sold[i] = True
                        gain = (px - cost[i]) * q
                        gain_line += gain
                        rows.append((a, t.symbol, "SELL", q, px, q * px, lot_id, cost[i], acquired[i], gain,
                                     "LT" if acquired[i] <= lt_cut else "ST", n))
                    cash[ai] += value - fee
                    new_tx.append((a, t.symbol, day, "SELL", float(shares), px, gain_line))
                else:
                    if (a, t.symbol) in recent_loss:
                        raise InvariantError(f"{a}: BUY {t.symbol} within {self.wash_days} days of selling it "
                                             f"at a loss (a wash sale)")
                    self._seq += 1
                    lot_id = f"SIM{self._seq:07d}"
                    new_lots.append((a, lot_id, t.symbol, float(shares), px, day))
                    rows.append((a, t.symbol, "BUY", shares, px, value, lot_id, px, day, 0.0, "", n))
                    cash[ai] -= value + fee
                    new_tx.append((a, t.symbol, day, "BUY", float(shares), px, np.nan))
        ex = pd.DataFrame.from_records(rows, columns=EXEC_COLUMNS)
        if not len(ex):
            return ex, costs
        lots = lots.assign(quantity=qty)
        lots = lots[~(sold & (qty <= 1e-9))]  # lots sold out leave; others (a planted negative one) stay
        if new_lots:
            add = pd.DataFrame.from_records(new_lots, columns=["account_id", "lot_id", "symbol", "quantity",
                                                               "unit_cost", "acquired_date"])
            lots = pd.concat([lots, add.astype(lots.dtypes.to_dict())], ignore_index=True)
        self.frames["lots"] = lots.reset_index(drop=True)
        acc["cash"] = cash
        last = acc["last_trade_date"].to_numpy(object).copy()
        last[traded] = day
        acc["last_trade_date"] = pd.array(last, dtype=acc["last_trade_date"].dtype)
        # the custodian's share counts move by the executed shares (a planted break persists)
        net = ex.assign(d=np.where(ex["side"] == "BUY", 1.0, -1.0) * ex["shares"].astype(float))
        net = net.groupby(["account_id", "symbol"], as_index=False)["d"].sum()
        pos = self.frames["custodian_positions"]
        merged = pos.merge(net, on=["account_id", "symbol"], how="outer")
        merged["quantity"] = merged["quantity"].fillna(0.0) + merged["d"].fillna(0.0)
        merged = merged[merged["quantity"].abs() > 1e-9].drop(columns="d")
        self.frames["custodian_positions"] = merged.astype(pos.dtypes.to_dict()).reset_index(drop=True)
        txf = pd.DataFrame.from_records(new_tx, columns=["account_id", "symbol", "trade_date", "side", "quantity",
                                                         "price", "realized_gain"])
        keep = tx[tx["trade_date"].astype(object) >= (self.as_of - timedelta(days=KEEP_TRANSACTION_DAYS)).isoformat()]
        self.frames["transactions"] = pd.concat([keep, txf.astype(tx.dtypes.to_dict())], ignore_index=True)
        return ex, costs

    def pay_requests(self) -> pd.DataFrame:
        """Pay every listed request due before the next business day that the account's cash
        covers (it then leaves the book): a request due on a weekend or holiday is wired the
        business day before, as a custodian does. Returns the paid requests with a ``late`` flag
        (paid after the due date)."""
        cr = self.frames["cash_requests"]
        if not len(cr):
            return cr.assign(late=pd.Series([], dtype=bool), paid_date=pd.Series([], dtype=object))
        day = self.as_of.isoformat()
        next_day = (pd.Timestamp(self.as_of) + pd.offsets.BDay(1)).date().isoformat()
        due = (cr["due_date"].astype(object) < next_day).to_numpy(bool)
        acc = self.frames["accounts"]
        cash = acc["cash"].to_numpy(float).copy()
        paid = np.zeros(len(cr), bool)
        ai = lookup(cr["account_id"], self.acc_pos, -1).astype(np.int64)
        amount = cr["amount"].to_numpy(float)
        order = np.argsort(cr["due_date"].astype(object).to_numpy(), kind="stable")
        for i in order:
            if due[i] and ai[i] >= 0 and cash[ai[i]] + 1e-6 >= amount[i]:
                cash[ai[i]] -= amount[i]
                paid[i] = True
        acc["cash"] = cash
        # late: paid after its due date (a request due on a weekend is wired the business day
        # before, so it is on time); on day 1, overdue in the book
        out = cr[paid].assign(late=(cr["due_date"][paid].astype(object) < day).to_numpy(bool), paid_date=day)
        self.frames["cash_requests"] = cr[~paid].reset_index(drop=True)
        return out

    def add_requests(self, new: pd.DataFrame) -> None:
        if len(new):
            cr = self.frames["cash_requests"]
            cols = [c for c in cr.columns]
            add = new.reindex(columns=cols)
            self.frames["cash_requests"] = pd.concat([cr, add.astype(cr.dtypes.to_dict())], ignore_index=True)

    def check_value(self, before: np.ndarray, move: np.ndarray, costs: np.ndarray, payouts: np.ndarray) -> None:
        after = self.values()
        err = np.abs(after - (before + move - costs - payouts))
        bad = np.flatnonzero(err > TOL + 1e-9 * np.abs(before))
        if len(bad):
            i = bad[0]
            raise InvariantError(
                f"{self.account_ids[i]} on {self.as_of}: value {after[i]:,.2f} is not the day's start "
                f"{before[i]:,.2f} + market {move[i]:,.2f} - costs {costs[i]:,.2f} - payouts {payouts[i]:,.2f}")
