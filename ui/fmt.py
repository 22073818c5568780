"""Display formats: thousands separators, $ and bps units, ISO dates, local times. No Qt."""
from __future__ import annotations

import math
from datetime import date, datetime, timezone

import numpy as np
import pandas as pd

MINUS = "−"  # a real minus sign lines up with digits


def _missing(v) -> bool:
    if v is None:
        return True
    if isinstance(v, float) and math.isnan(v):
        return True
    if isinstance(v, np.floating) and np.isnan(v):
        return True
    return v is pd.NaT or (isinstance(v, np.datetime64) and np.isnat(v))


def money(v, decimals: int = 0) -> str:
    if _missing(v):
        return ""
    v = float(v)
    s = f"${abs(v):,.{decimals}f}"
    return f"{MINUS}{s}" if v < 0 and round(abs(v), decimals) != 0 else s


def money_nz(v) -> str:
    """Money, blank for zero (e.g. no cash request)."""
    return "" if _missing(v) or float(v) == 0 else money(v)


def money2(v) -> str:
    return money(v, 2)


def bps(v, decimals: int = 1) -> str:
    if _missing(v):
        return ""
    v = float(v)
    s = f"{abs(v):,.{decimals}f} bps"
    return f"{MINUS}{s}" if v < 0 and round(abs(v), decimals) != 0 else s


def count(v) -> str:
    if _missing(v):
        return ""
    v = int(v)
    return f"{MINUS}{abs(v):,}" if v < 0 else f"{v:,}"


def qty(v) -> str:
    """Share quantities: whole numbers without decimals, fractions with up to 4."""
    if _missing(v):
        return ""
    v = float(v)
    s = f"{abs(v):,.0f}" if v.is_integer() else f"{abs(v):,.4f}".rstrip("0").rstrip(".")
    return f"{MINUS}{s}" if v < 0 else s


def number(v, decimals: int = 2) -> str:
    if _missing(v):
        return ""
    v = float(v)
    s = f"{abs(v):,.{decimals}f}"
    return f"{MINUS}{s}" if v < 0 and round(abs(v), decimals) != 0 else s


def pct(v, decimals: int = 1) -> str:
    """A fraction as a percentage (0.125 -> 12.5%)."""
    if _missing(v):
        return ""
    return f"{float(v) * 100:,.{decimals}f}%"


def day(v) -> str:
    if _missing(v):
        return ""
    if isinstance(v, (np.datetime64,)):
        v = pd.Timestamp(v)
    if isinstance(v, str):
        return v[:10]
    return f"{v:%Y-%m-%d}"


def local_time(v) -> str:
    """A stored UTC time (naive) in the user's local time zone, to the minute."""
    if _missing(v):
        return ""
    if isinstance(v, np.datetime64):
        v = pd.Timestamp(v)
    if isinstance(v, pd.Timestamp):
        v = v.to_pydatetime()
    if isinstance(v, str):
        v = datetime.fromisoformat(v)
    if isinstance(v, datetime):
        if v.tzinfo is None:
            v = v.replace(tzinfo=timezone.utc)
        return f"{v.astimezone():%Y-%m-%d %H:%M}"
    if isinstance(v, date):
        return f"{v:%Y-%m-%d}"
    return str(v)


def yes(v) -> str:
    if _missing(v):
        return ""
    return "Yes" if bool(v) else ""


def text(v) -> str:
    if _missing(v):
        return ""
    return str(v)


def until(v) -> str:
    return day(v) or "until ended"


FORMATS = {"until": until, "text": text, "money": money, "money_nz": money_nz, "money2": money2, "bps": bps, "count": count, "qty": qty,
           "number": number, "pct": pct, "date": day, "datetime": local_time, "bool": yes}
NUMERIC = {"money", "money_nz", "money2", "bps", "count", "qty", "number", "pct"}
