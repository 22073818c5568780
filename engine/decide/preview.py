"""Threshold preview: "at this flat threshold for this tier, N accounts trade, turnover $X,
realized tax $Y" — computed from a run's proposals, without running the optimizer again.

Routing in :func:`engine.decide.workflow.run_workflow` is, per account that the optimizer solved::

    MANDATE   if a trade-now mandate applies and the proposal has trades
    SCORE     elif the proposal has trades and score_bps >= threshold_bps
    NO_TRADE  otherwise

SUSPENDED and HELD accounts (bad data, holds, pending execution, halts) do not depend on the
threshold. So with a *flat* threshold X for a tier (``threshold_start_bps ==
threshold_floor_bps == X``, which makes the decay term vanish), the accounts of that tier that
trade on their score are exactly the SCORE and NO_TRADE accounts with trades and
``score_bps >= X``. A NO_TRADE proposal keeps its optimized ``score_bps`` and ``turnover``
(its trades are not stored), and a proposal has trades exactly when ``turnover > 0``
(turnover = traded $ / account value, computed from the same rounded order lines), so the
proposals table alone is enough. MANDATE accounts trade whatever the threshold; they are
reported separately.

Dollar amounts: turnover $ = ``turnover * value`` (traded $ of the proposal), realized tax $ =
``realized_tax`` (net: tax on gains minus tax saved by harvested losses, may be negative).

:class:`ThresholdPreviewer` sorts the scores of each tier once; each preview is then a
``searchsorted`` plus a look-up in suffix sums (microseconds, whatever the book size).
Pure pandas/numpy; never imports Qt.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd

from engine.core.policy import Policy, policy_from_dict

#: categories whose routing depends on the score threshold
THRESHOLD_CATEGORIES = ("SCORE", "NO_TRADE")

__all__ = ["ThresholdPreviewer", "threshold_preview", "score_eligible", "policy_with_threshold",
           "days_since_trade", "THRESHOLD_CATEGORIES"]


def _num(df: pd.DataFrame, col: str) -> np.ndarray:
    if col not in df.columns:
        return np.full(len(df), np.nan)
    return pd.to_numeric(df[col], errors="coerce").to_numpy(dtype=float, na_value=np.nan)


def _is(df: pd.DataFrame, col: str, values) -> np.ndarray:
    """Vectorized ``df[col] in values`` (no per-row Python objects for arrow strings)."""
    if col not in df.columns:
        return np.zeros(len(df), dtype=bool)
    return df[col].isin(list(values)).to_numpy(dtype=bool, na_value=False)


def score_eligible(proposals: pd.DataFrame) -> np.ndarray:
    """Boolean mask: accounts whose category a score threshold decides (SCORE or NO_TRADE,
    optimized, with trades)."""
    score = _num(proposals, "score_bps")
    turnover = _num(proposals, "turnover")
    return _is(proposals, "category", THRESHOLD_CATEGORIES) & np.isfinite(score) & (np.nan_to_num(turnover) > 0)


@dataclass(frozen=True)
class _TierData:
    scores: np.ndarray  # ascending score_bps of the score-eligible accounts
    turnover_suffix: np.ndarray  # turnover_suffix[k] = sum of turnover $ of scores[k:]
    tax_suffix: np.ndarray  # same for realized tax $
    mandate_accounts: int
    mandate_turnover: float
    mandate_tax: float
    run_score_accounts: int  # accounts the run itself routed to SCORE
    accounts: int  # all accounts of the tier


def _suffix(values: np.ndarray) -> np.ndarray:
    out = np.zeros(len(values) + 1)
    if len(values):
        out[:-1] = np.cumsum(values[::-1])[::-1]
    return out


class ThresholdPreviewer:
    """Previews of flat thresholds per tier over one run's proposals.

    ``proposals`` needs the columns account_id, category, tier, value, score_bps, turnover and
    realized_tax (as :func:`engine.decide.workflow.proposals_frame` or ``RunOutcome.proposals``).
    """

    def __init__(self, proposals: pd.DataFrame):
        score = _num(proposals, "score_bps")
        value = np.nan_to_num(_num(proposals, "value"))
        turnover_d = np.nan_to_num(_num(proposals, "turnover")) * value
        tax = np.nan_to_num(_num(proposals, "realized_tax"))
        eligible = score_eligible(proposals)
        mandate = _is(proposals, "category", ["MANDATE"])
        run_score = _is(proposals, "category", ["SCORE"])
        self._tiers: dict[str, _TierData] = {}
        codes, names = pd.factorize(proposals["tier"], sort=True)  # NaN tier: code -1, ignored
        for k, name in enumerate(names):
            in_tier = codes == k
            sel = np.flatnonzero(in_tier & eligible)
            order = sel[np.argsort(score[sel], kind="stable")]
            mt = in_tier & mandate
            self._tiers[str(name)] = _TierData(
                scores=score[order], turnover_suffix=_suffix(turnover_d[order]),
                tax_suffix=_suffix(tax[order]), mandate_accounts=int(mt.sum()),
                mandate_turnover=float(turnover_d[mt].sum()), mandate_tax=float(tax[mt].sum()),
                run_score_accounts=int((in_tier & run_score).sum()),
                accounts=int(in_tier.sum()))

    @property
    def tiers(self) -> list[str]:
        return list(self._tiers)

    def scores(self, tier: str) -> np.ndarray:
        """Ascending score_bps of the tier's score-eligible accounts (read-only view)."""
        d = self._tiers.get(tier)
        out = d.scores if d is not None else np.empty(0)
        out = out.view()
        out.flags.writeable = False
        return out

    def preview(self, tier: str, threshold_bps: float) -> dict:
        """What a run with a flat threshold ``threshold_bps`` for ``tier`` would trade.

        Keys: tier, threshold_bps; accounts / turnover / realized_tax (the score accounts that
        trade at this threshold); eligible (accounts the threshold decides); mandate_accounts /
        mandate_turnover / mandate_realized_tax (trade regardless); total_accounts /
        total_turnover / total_realized_tax (both); run_score_accounts (SCORE in the run itself);
        tier_accounts (all accounts of the tier). Dollars are floats.
        """
        x = float(threshold_bps)
        d = self._tiers.get(tier)
        if d is None:
            d = _TierData(np.empty(0), np.zeros(1), np.zeros(1), 0, 0.0, 0.0, 0, 0)
        k = int(np.searchsorted(d.scores, x, side="left"))  # first score >= x
        n = len(d.scores) - k
        turnover = float(d.turnover_suffix[k])
        tax = float(d.tax_suffix[k])
        return {
            "tier": tier, "threshold_bps": x,
            "accounts": n, "turnover": turnover, "realized_tax": tax,
            "eligible": len(d.scores),
            "mandate_accounts": d.mandate_accounts, "mandate_turnover": d.mandate_turnover,
            "mandate_realized_tax": d.mandate_tax,
            "total_accounts": n + d.mandate_accounts, "total_turnover": turnover + d.mandate_turnover,
            "total_realized_tax": tax + d.mandate_tax,
            "run_score_accounts": d.run_score_accounts, "tier_accounts": d.accounts,
        }

    __call__ = preview


def threshold_preview(proposals: pd.DataFrame, tier: str, threshold_bps: float) -> dict:
    """One-off :meth:`ThresholdPreviewer.preview`; build a ThresholdPreviewer for repeated calls."""
    return ThresholdPreviewer(proposals).preview(tier, threshold_bps)


def policy_with_threshold(policy: Policy, tier: str, bps: float, mode: str = "flat") -> Policy:
    """A new Policy with ``tier``'s threshold set from a preview.

    ``mode="flat"`` (the default, and what the preview computes): start = floor = ``bps``, so
    the calendar blend is off for that tier and the next run trades exactly the previewed
    accounts (on the same book). ``mode="floor"``: floor = ``bps``, start kept (raised to
    ``bps`` if below) and the half-life kept — the calendar blend stays, so accounts that
    traded recently face a higher threshold than previewed; only accounts that have not
    traded for several half-lives (or never) see ``bps``.
    """
    if bps < 0:
        raise ValueError("threshold must be >= 0 bps")
    data = policy.model_dump()
    found = False
    for t in data["tiers"]:
        if t["name"] == tier:
            found = True
            if mode == "flat":
                t["threshold_start_bps"] = t["threshold_floor_bps"] = float(bps)
            elif mode == "floor":
                t["threshold_floor_bps"] = float(bps)
                t["threshold_start_bps"] = max(float(t["threshold_start_bps"]), float(bps))
            else:
                raise ValueError(f"mode must be 'flat' or 'floor', not {mode!r}")
    if not found:
        raise KeyError(tier)
    return policy_from_dict(data, f"policy with {tier} threshold {bps:g} bps")


def days_since_trade(conn, run_id: int | None = None) -> pd.Series:
    """Days since each account's last trade as the run saw them: the book snapshot's
    ``accounts.last_trade_date`` against ``runs.as_of`` (the same formula as
    :func:`engine.decide.mandates.account_facts`). Index account_id; NaN = never traded (the
    threshold is then the floor). ``conn`` is a SQLAlchemy Connection; latest run by default.
    """
    from sqlalchemy import select

    from storage import models as m
    from storage.bulk import read_frame

    r = m.Run.__table__
    stmt = select(r.c.id, r.c.snapshot_id, r.c.as_of)
    stmt = stmt.where(r.c.id == run_id) if run_id else \
        stmt.where(r.c.status == "done").order_by(r.c.id.desc()).limit(1)
    row = conn.execute(stmt).first()
    if row is None:
        return pd.Series(dtype=float, name="days_since_trade")
    a = m.Account.__table__
    acc = read_frame(conn, select(a.c.account_id, a.c.last_trade_date).where(a.c.snapshot_id == row[1]))
    as_of = row[2] if isinstance(row[2], date) else pd.Timestamp(row[2]).date()
    days = (pd.Timestamp(as_of) - pd.to_datetime(acc["last_trade_date"])).dt.days.astype(float)
    return pd.Series(days.to_numpy(), index=acc["account_id"].to_numpy(object), name="days_since_trade")
