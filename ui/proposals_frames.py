"""The Proposals panel's frames: a run's proposals made ready for the table (coded columns,
ranks, the words of flags and reasons, lots as text). No widgets."""
from __future__ import annotations
import html
import numpy as np
import pandas as pd
from PySide6.QtGui import QColor
from engine.desk.review import (TRADING)
from ui import fmt
from ui.models import Col



TRADE_COLUMNS = [
    Col("side", "Side"),
    Col("symbol", "Symbol"),
    Col("quantity", "Shares", "qty", "Double-click (or F2) to change; Delete removes the trade"),
    Col("est_price", "Price", "money2", "Estimated price (the book's)"),
    Col("est_value", "Value", "money", "Shares × estimated price"),
    Col("reason", "Reason"),
    Col("status", "Status"),
    Col("lots_text", "Lots", tip="Tax lots a sell takes shares from", tooltip_key="lots_text"),
    Col("asset_class", "Asset class"),
    Col("weight_pre", "Weight before", "pct", "The security's weight in the account before the trades"),
    Col("weight_post", "Weight after", "pct", "The security's weight in the account after the trades"),
]


FLAG_WORDS = {"TURNOVER": "turnover", "TAX": "tax", "TRACKING_ERROR": "tracking error",
              "LARGE_TRADE": "large trade"}


GREY = QColor("#8a94a0")


HEAVY = ("detail",)  # read for the selected account only (from the source frame, by ``src``)


STATUS_WORDS = {"PROPOSED": "To review", "APPROVED": "Approved", "REJECTED": "Rejected"}


def _flags_words(v) -> str:
    if not isinstance(v, str) or not v:
        return ""
    return ", ".join(FLAG_WORDS.get(f, f) for f in v.split(";") if f)


def _reason_words(v) -> str:
    if not isinstance(v, str) or not v:
        return ""
    out = []
    for r in v.split(";"):
        if r.startswith("MANDATE:"):
            out.append(r[len("MANDATE:"):])
        elif r.startswith("WAITING:"):
            out.append(f"{r[len('WAITING:'):]} (waits)")
        elif r:
            out.append(r)
    return ", ".join(out)


class _Coded:
    """A text column as codes into its distinct values (statuses, flags, reasons repeat a lot):
    derived texts are computed once per distinct value and rows are gathered from small arrays."""

    def __init__(self, series: pd.Series | None, n: int):
        if series is None:
            self.codes, self.uniques = np.full(n, -1, np.intp), np.empty(0, object)
        else:
            codes, uniques = pd.factorize(series, use_na_sentinel=True)
            self.codes, self.uniques = np.asarray(codes, np.intp), np.asarray(uniques, dtype=object)

    def map(self, fn, order: np.ndarray, dtype=object) -> np.ndarray:
        """``fn`` of every distinct value (and of None for missing), gathered in ``order``."""
        mapped = np.array([fn(u) for u in self.uniques] + [fn(None)], dtype=dtype)
        return mapped[self.codes[order]]  # code -1 (missing) takes the last entry

    def values(self, order: np.ndarray) -> np.ndarray:
        return self.map(lambda v: v, order)


def prepare(df: pd.DataFrame, by_tier: bool = False) -> pd.DataFrame:
    """The proposals frame with the display columns the table needs, in review order (awaiting
    review first, then trading accounts, by score descending; grouped by tier first when
    ``by_tier``). ``src`` is each row's position in ``df``; the heavy ``detail`` JSON is left
    out (read for the selected account only). Text columns become object arrays once, so tier
    slices, sorting and the table model never convert them again. Vectorized: repeated texts
    are factorized and their display forms computed once per distinct value, never per row."""
    n = len(df)
    unique_text = ("account_id",)
    numeric = {c for c in df.columns if df[c].dtype.kind in "biufcmM"}
    coded = {c: _Coded(df[c], n) for c in df.columns if c not in numeric and c not in HEAVY and c not in unique_text}
    for c in ("category", "status", "decided_by", "flags", "reasons", "mandates", "tier"):
        coded.setdefault(c, _Coded(None, n))
    ident = np.arange(n)
    trading = coded["category"].map(lambda v: v in TRADING, ident, bool)
    score = pd.to_numeric(df["score_bps"], errors="coerce").to_numpy(float) if "score_bps" in df else np.zeros(n)
    score = np.where(np.isfinite(score), score, -np.inf)
    needs = coded["status"].map(lambda v: v == "PROPOSED", ident, bool) & trading
    keys = [-score, ~trading, ~needs]
    if by_tier and n:
        keys.append(_rank(coded["tier"]))
    order = np.lexsort(keys)

    cols: dict[str, np.ndarray] = {}
    for c in df.columns:
        if c in HEAVY:
            continue
        if c in numeric:
            cols[c] = df[c].to_numpy()[order]
        elif c in coded:
            cols[c] = coded[c].values(order)
        else:
            cols[c] = df[c].to_numpy(dtype=object, na_value=None)[order]
    trading_o, needs_o = trading[order], needs[order]
    review = coded["status"].map(lambda v: STATUS_WORDS.get(v, ""), order)
    auto = (review == "Approved") & coded["decided_by"].map(lambda v: v == "auto", order, bool)
    review[auto] = "Auto-approved"
    review[~trading_o] = ""
    reasons_text = coded["reasons"].map(_reason_words, order)
    mandates_text = coded["mandates"].map(lambda v: v.replace(";", ", ") if isinstance(v, str) else "", order)
    empty = reasons_text == ""
    reasons_text[empty] = mandates_text[empty]
    te = pd.to_numeric(df["te_post"], errors="coerce").to_numpy(float)[order] if "te_post" in df \
        else np.full(n, np.nan)
    # realized tax as a desk reads it: the tax the gains cost and the tax the losses save, each >= 0
    # (the run's realized_tax is their difference)
    tax = pd.to_numeric(df["tax_cost"], errors="coerce").to_numpy(float)[order] if "tax_cost" in df \
        else np.full(n, np.nan)
    net = pd.to_numeric(df["realized_tax"], errors="coerce").to_numpy(float)[order] if "realized_tax" in df \
        else np.full(n, np.nan)
    saved = np.round(np.maximum(tax - net, 0.0), 2)
    cols.update(tax_paid=tax, tax_saved=saved, review_text=review, needs_review=needs_o, trading=trading_o,
                flagged=coded["flags"].map(lambda v: bool(v), order, bool),
                flags_text=coded["flags"].map(_flags_words, order), reasons_text=reasons_text,
                reasons_tip=coded["reasons"].map(lambda v: v.replace(";", "\n") if isinstance(v, str) else "", order),
                te_post_bps=te * 1e4, src=order)
    return pd.DataFrame({k: pd.Series(v, dtype=object if v.dtype == object else None, copy=False)
                         for k, v in cols.items()})


def _who(rec: dict) -> str:
    """" · client name · household X" for the detail title (what exists of it)."""
    out = ""
    for key, label in (("name", ""), ("household_id", "household ")):
        v = rec.get(key)
        if isinstance(v, str) and v:
            out += f" · {html.escape(label + v)}"
    return out


def _tier_rule(rec: dict) -> str:
    """Which rule set the tier, when it was not the account's own priced value (engine.decide.household_tiers)."""
    v = rec.get("tier_basis")
    return f" <span style='color:#5f6b7a'>({html.escape(v)})</span>" if isinstance(v, str) and v else ""


def household_note(hh: dict) -> str:
    """The proposal detail's household part in words: blocked buys and loss sales and who blocked them."""
    e = html.escape
    parts = []
    for b in hh.get("wash_blocks", [])[:6]:
        what = "no buy of" if b.get("blocked") == "BUY" else "no loss sale of"
        parts.append(f"{what} {'/'.join(b.get('symbols', []))} ({b.get('why', '')})")
    more = len(hh.get("wash_blocks", [])) - len(parts)
    text = f"<br>Household {e(str(hh.get('household_id')))} ({len(hh.get('members', []))} accounts)"
    if hh.get("score_bps") is not None:
        text += f" · household score <b>{fmt.bps(hh['score_bps'])}</b>"
    if hh.get("location"):
        located = hh["location"].get("located_class_targets", {})
        text += " · located: " + e(", ".join(f"{k} {v:.0%}" for k, v in sorted(located.items(), key=lambda x: -x[1])))
    if parts:
        text += ": wash sales across the household: " + e("; ".join(parts)) + (f"; and {more} more" if more > 0 else "")
    if hh.get("coverage_incomplete"):
        text += (" · <span style='color:#b3261e'>coverage incomplete: no good data for "
                 + e(", ".join(hh["coverage_incomplete"])) + "</span>")
    return text


def with_names(frame: pd.DataFrame, directory: pd.DataFrame) -> pd.DataFrame:
    """The proposals with each account's client name and household (engine.desk.household_views)."""
    d = directory.drop_duplicates("account_id").set_index("account_id")
    return frame.assign(name=frame["account_id"].map(d["name"]), household_id=frame["account_id"].map(d["household_id"]))


def _rank(col: _Coded) -> np.ndarray:
    """Per-row rank of a coded column's values in sorted order (missing last)."""
    names = [("" if u is None else str(u)) for u in col.uniques]
    rank_of = np.empty(len(names) + 1, np.intp)
    rank_of[np.argsort(names, kind="stable")] = np.arange(len(names))
    rank_of[-1] = len(names)
    return rank_of[col.codes]


def lots_text(lots) -> str:
    if lots is None or (isinstance(lots, float) and np.isnan(lots)) or not str(lots):
        return ""
    parts = []
    for p in str(lots).split(";"):
        lot, _, q = p.partition(":")
        parts.append(f"{lot} ({fmt.qty(float(q))})" if q else lot)
    return ", ".join(parts)
