"""Prices for the policy lab: a seeded factor model, or a replayed price-history CSV.

A :class:`PricePath` holds one price per business day and security, day 0 being the book's
own ``as_of`` prices. Every variant of a simulation runs on the same path.

Factor model: a security's daily log return is its asset class's factor, plus its substitute
group's factor, plus its own noise (70 / 15 / 15 % of the class's variance), with realistic
annual volatilities per class. Securities without a price (or with a stale one) keep it: the
feed does not update them, so their data problems persist as they would in a real book.
"""
from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd

from engine.core.tasks import RefusedError

TRADING_DAYS = 252
# annual volatility by asset class (words in the class name, first match wins)
CLASS_VOLS = (("small", 0.22), ("emerging", 0.22), ("reit", 0.20), ("commodit", 0.20),
              ("intl", 0.17), ("international", 0.17), ("large", 0.16), ("equity", 0.16),
              ("high yield", 0.08), ("tips", 0.06), ("muni", 0.045), ("bond", 0.05))
DEFAULT_VOL = 0.15
SHARES = (0.70, 0.15, 0.15)  # class factor, substitute-group factor, own noise


def class_vol(asset_class: str) -> float:
    name = str(asset_class).lower()
    return next((v for k, v in CLASS_VOLS if k in name), DEFAULT_VOL)


def business_days(as_of: date, days: int) -> list[date]:
    """``days`` business days starting with ``as_of`` itself (day 1 trades on the book as imported)."""
    return [d.date() for d in pd.bdate_range(pd.Timestamp(as_of), periods=days)] if days > 0 else []


@dataclass
class PricePath:
    dates: list[date]          # day 0 = as_of
    symbols: np.ndarray        # the book's securities, in securities-frame order
    prices: np.ndarray         # float[days, securities]; NaN = no price
    moving: np.ndarray         # bool[securities]: priced by the feed each day (else left as in the book)

    def returns(self, day: int) -> np.ndarray:
        """Simple returns from day-1 to day (0 where either price is missing)."""
        if day == 0:
            return np.zeros(len(self.symbols))
        a, b = self.prices[day - 1], self.prices[day]
        with np.errstate(invalid="ignore", divide="ignore"):
            r = b / a - 1.0
        return np.where(np.isfinite(r), r, 0.0)


def _moving(securities: pd.DataFrame, as_of: date) -> tuple[np.ndarray, np.ndarray]:
    price = pd.to_numeric(securities["price"], errors="coerce").to_numpy(float)
    current = (pd.to_datetime(securities["price_date"]) >= pd.Timestamp(as_of)).to_numpy(bool)
    return price, np.isfinite(price) & (price > 0) & current


def factor_path(securities: pd.DataFrame, as_of: date, days: int, seed: int = 1) -> PricePath:
    """Prices from the seeded factor model for ``days`` business days from ``as_of``."""
    price0, moving = _moving(securities, as_of)
    dates = business_days(as_of, days)
    rng = np.random.default_rng(seed)
    classes = securities["asset_class"].astype(str).to_numpy(object)
    groups = np.array([g if isinstance(g, str) and g else f"\x00{s}" for g, s in
                       zip(securities["substitute_group"].tolist(), securities["symbol"].tolist())], dtype=object)
    cls_codes, cls_names = pd.factorize(classes)
    grp_codes, _ = pd.factorize(groups)
    vol = np.array([class_vol(c) for c in cls_names]) / math.sqrt(TRADING_DAYS)
    s_vol = vol[cls_codes]
    n = max(days - 1, 0)
    f_cls = rng.standard_normal((n, len(cls_names))) * vol * math.sqrt(SHARES[0])
    # a group's factor scales with its class's vol (groups never span classes unless allowed)
    grp_vol = np.zeros(grp_codes.max() + 1 if len(grp_codes) else 0)
    grp_vol[grp_codes] = s_vol
    f_grp = rng.standard_normal((n, len(grp_vol))) * grp_vol * math.sqrt(SHARES[1])
    own = rng.standard_normal((n, len(price0))) * s_vol * math.sqrt(SHARES[2])
    logr = f_cls[:, cls_codes] + f_grp[:, grp_codes] + own - 0.5 * s_vol ** 2
    logr[:, ~moving] = 0.0
    prices = np.empty((days, len(price0)))
    if days:
        prices[0] = price0
        if n:
            prices[1:] = price0 * np.exp(np.cumsum(logr, axis=0))
        prices = np.round(prices, 4)
        prices[:, ~np.isfinite(price0)] = np.nan
    return PricePath(dates, securities["symbol"].to_numpy(object), prices, moving)


def replay_path(path: str | Path, securities: pd.DataFrame, as_of: date, days: int) -> PricePath:
    """Prices replayed from a price-history CSV ``date,symbol,close``.

    Day 0 is the book's ``as_of``; days 1.. are the file's first ``days - 1`` dates after it (a
    date on or before ``as_of`` is ignored). Securities the file does not list keep the book's
    price. Refused, naming file, line and column: a missing column, a bad date or number, a
    symbol not in the book, a non-positive close, a duplicate, a gap (a symbol listed on some
    dates but not all), or fewer dates than the simulation needs.
    """
    path = Path(path)
    name = str(path)

    def refuse(line, column, msg):
        where = name + (f", line {line}" if line else "") + (f", column {column}" if column else "")
        raise RefusedError(f"{where}: {msg}")

    try:
        fh = path.open(newline="", encoding="utf-8")
    except OSError as exc:
        raise RefusedError(f"{name}: cannot read the price history ({exc.strerror})") from None
    known = {s: i for i, s in enumerate(securities["symbol"].tolist())}
    closes: dict[date, dict[str, float]] = {}
    first_line: dict[date, int] = {}
    with fh:
        reader = csv.reader(fh)
        header = [h.strip().lower() for h in next(reader, [])]
        for col in ("date", "symbol", "close"):
            if col not in header:
                refuse(1, col, "required column is missing (expected date,symbol,close)")
        ci = {c: header.index(c) for c in ("date", "symbol", "close")}
        for line, row in enumerate(reader, start=2):
            if not any(x.strip() for x in row):
                continue
            cell = {c: (row[i].strip() if i < len(row) else "") for c, i in ci.items()}
            try:
                d = date.fromisoformat(cell["date"])
            except ValueError:
                refuse(line, "date", f"{cell['date']!r} is not a date (YYYY-MM-DD)")
            sym = cell["symbol"].upper()
            if sym not in known:
                refuse(line, "symbol", f"{sym!r} is not a symbol of the book's securities")
            try:
                close = float(cell["close"])
            except ValueError:
                refuse(line, "close", f"{cell['close']!r} is not a number")
            if not math.isfinite(close) or close <= 0:
                refuse(line, "close", f"{cell['close']} is not a positive price")
            day = closes.setdefault(d, {})
            if sym in day:
                refuse(line, "symbol", f"{sym} is listed twice on {d}")
            day[sym] = close
            first_line.setdefault(d, line)
    listed = set().union(*closes.values()) if closes else set()
    for d in sorted(closes):
        missing = sorted(listed - set(closes[d]))
        if missing:
            refuse(first_line[d], "symbol", f"gap: {', '.join(missing[:5])} "
                   f"{'has' if len(missing) == 1 else 'have'} no close on {d}")
    later = sorted(d for d in closes if d > as_of)
    if len(later) < days - 1:
        refuse(None, "date", f"has {len(later)} date(s) after the book's as-of {as_of}; "
               f"the simulation needs {days - 1}")
    price0, moving = _moving(securities, as_of)
    prices = np.tile(price0, (max(days, 0), 1))
    cols = np.array([known[s] for s in sorted(listed)], dtype=np.intp)
    for k, d in enumerate(later[:days - 1], start=1):
        prices[k, cols] = [closes[d][s] for s in sorted(listed)]
    moving = moving.copy()
    moving[cols] = True
    return PricePath([as_of] + later[:days - 1], securities["symbol"].to_numpy(object), prices, moving)
