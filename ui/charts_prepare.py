"""The arithmetic of the Charts panel (:mod:`ui.charts`), done off the GUI thread.

:func:`plot_arrays` turns a run's prepared per-account arrays (:meth:`ui.charts.ChartsPanel.prepare`)
into what each plot draws: the benefit/cost points of every tier (symmetric-log dollars, the
fixed sample beyond ``MAX_SCATTER`` accounts), the category counts, the decay plot's x range and,
per tier, the score histogram (bins, counts, the sorted clipped scores a drag searches) and the
decay points. The GUI thread then only hands these numpy arrays to pyqtgraph: on a
100,000-account run the panel's first open no longer computes anything in the GUI thread.
Uses no widget (it runs in a read worker, :mod:`ui.read_worker`).
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd

from engine.core.policy import Policy
from ui.chart_parts import symlog

CATEGORIES = ("SUSPENDED", "HELD", "MANDATE", "SCORE", "NO_TRADE")
MAX_SCATTER = 20_000  # points drawn on the benefit/cost plot at most (a sample of each tier beyond): painting
#                       100,000 points costs the GUI thread a quarter second a frame and shows nothing more


def in_policy(policy: Policy | None, tier: str) -> bool:
    try:
        policy.tier(tier)
        return True
    except (KeyError, AttributeError):
        return False


def tier_order(policy: Policy, tier_names: list[str]) -> list[str]:
    """The policy's tiers by size, then the run's tiers the policy lacks."""
    tiers = [t.name for t in sorted(policy.tiers, key=lambda t: t.min_value)]
    return tiers + sorted(set(tier_names) - set(tiers))


def column(props: pd.DataFrame, name: str) -> np.ndarray:
    if name not in props.columns:
        return np.zeros(len(props))
    return pd.to_numeric(props[name], errors="coerce").to_numpy(dtype=float, na_value=np.nan)


def mask(codes_names: tuple[np.ndarray, list[str]], value: str) -> np.ndarray:
    """Rows whose tier / category is ``value`` (integer codes: no string comparisons)."""
    codes, names = codes_names
    if value not in names:
        return np.zeros(len(codes), dtype=bool)
    return codes == names.index(value)


def plot_arrays(p: dict, policy: Policy) -> dict:
    """What the plots draw, from :meth:`ChartsPanel.prepare`'s per-account arrays ``p``."""
    props, ids = p["props"], p["ids"]
    tiers = tier_order(policy, p["tier"][1])
    n = len(props)
    out: dict = {"tiers": tiers, "scatter": [], "scatter_range": None}
    # ---- (b) benefit vs cost: one entry per tier, smallest tier first (drawn below the rarer ones)
    if n:
        benefit = np.nansum([column(props, c) for c in ("drift_benefit", "harvest_benefit", "rating_benefit")],
                            axis=0)
        cost = np.nansum([column(props, c) for c in ("trading_cost", "tax_cost")], axis=0)
        has = np.isfinite(column(props, "score"))
        bx, by = symlog(cost), symlog(benefit)
        share = min(1.0, MAX_SCATTER / max(int(has.sum()), 1))  # a 100,000-account run: a sample is drawn
        rng = np.random.default_rng(0)
        for t in tiers:
            sel = np.flatnonzero(has & mask(p["tier"], t))
            if not len(sel):
                continue
            n_all = len(sel)
            if share < 1.0:  # the same share of every tier, the same points every time
                sel = np.sort(rng.choice(sel, size=max(1, int(round(n_all * share))), replace=False))
            out["scatter"].append({"tier": t, "rows": sel, "n_all": n_all, "sampled": share < 1.0,
                                   "x": bx[sel], "y": by[sel], "ids": ids[sel]})
        if has.any():
            hi = float(max(np.nanmax(bx[has]), np.nanmax(by[has]), 1.0))
            out["scatter_range"] = (hi, float(min(np.nanmin(by[has]), 0.0)))
    else:
        benefit = cost = bx = by = np.empty(0)
    out.update(benefit=benefit, cost=cost, bx=bx, by=by)
    # ---- (d) categories per tier
    if n:
        counts = {c: [int(np.count_nonzero(mask(p["tier"], t) & mask(p["category"], c))) for t in tiers]
                  for c in CATEGORIES}
        out["cat_counts"] = pd.DataFrame(counts, index=tiers)
    else:
        out["cat_counts"] = pd.DataFrame(0, index=tiers, columns=list(CATEGORIES))
    # ---- (c) decay: the x range, then per tier (with the histogram) what depends on the tier
    halves = [policy.tier(t).half_life_days for t in tiers if in_policy(policy, t)] or [60.0]
    xmax = float(max(90.0, 5.0 * max(halves)))
    days = p["days"]
    if days is not None and np.isfinite(days).any():
        xmax = float(min(max(xmax, np.nanpercentile(days, 90)), 4 * xmax))
    out["decay_xmax"] = xmax
    out["per_tier"] = {t: tier_arrays(p, policy, tiers, t, xmax) for t in tiers}
    return out


def tier_arrays(p: dict, policy: Policy, tiers: list[str], tier: str, xmax: float) -> dict:
    """The selected tier's histogram and decay points (what a change of tier draws)."""
    previewer = p["previewer"]
    scores = np.asarray(previewer.scores(tier), dtype=float) if previewer is not None else np.empty(0)
    tr = policy.tier(tier) if in_policy(policy, tier) else None
    start = tr.threshold_start_bps if tr else 0.0
    floor = tr.threshold_floor_bps if tr else 0.0
    if len(scores):
        lo = min(float(np.percentile(scores, 0.5)), 0.0)
        hi = max(float(np.percentile(scores, 99.5)), start * 1.25, floor * 1.25, 10.0)
    else:
        lo, hi = 0.0, max(start * 1.5, 10.0)
    nbins = int(np.clip(2 * math.sqrt(max(len(scores), 1)), 20, 120))
    edges = np.linspace(lo, hi, nbins + 1)
    clipped = np.clip(scores, lo, hi)
    counts, _ = np.histogram(clipped, bins=edges)
    # decay plot's y range
    starts = [policy.tier(t).threshold_start_bps for t in tiers if in_policy(policy, t)] or [100.0]
    yhi, ylo = max(starts) * 1.6, 0.0
    if len(scores):
        yhi = max(yhi, min(float(np.percentile(scores, 90)), max(starts) * 4))
        ylo = min(0.0, float(np.percentile(scores, 2)))
    out = {"n_scores": len(scores), "lo": lo, "hi": hi, "nbins": nbins, "edges": edges,
           "counts": counts.astype(float), "sorted": np.sort(clipped), "start": start, "floor": floor,
           "in_policy": tr is not None, "decay_y": (ylo - 5.0, yhi * 1.25), "decay": None}
    days = p["days"]
    if days is None:
        return out
    sel = p["elig"] & mask(p["tier"], tier)
    x = np.where(np.isfinite(days), np.clip(days, 0.0, xmax), xmax)
    y = column(p["props"], "score_bps")
    decay = {}
    for kind in ("NO_TRADE", "SCORE"):
        rows = np.flatnonzero(sel & mask(p["category"], kind))
        if len(rows) > MAX_SCATTER // 2:  # a sample, as on the benefit/cost plot
            rows = np.sort(np.random.default_rng(1).choice(rows, size=MAX_SCATTER // 2, replace=False))
        decay[kind] = {"rows": rows, "x": x[rows], "y": y[rows], "ids": p["ids"][rows]}
    out["decay"] = decay
    return out
