"""The Charts panel's arithmetic done in the read (ui/charts_prepare.py): the prepared arrays are the
points, bins and counts the panel computed in the GUI thread before (the reference below is that
code, copied from ui/charts.py as it was), and the panel draws exactly them."""
import math
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PySide6.QtWidgets import QApplication

from engine.core.policy import default_policy
from ui.charts import MAX_SCATTER, ChartsPanel, symlog
from ui.charts_prepare import CATEGORIES

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))


# --------------------------------------------------------------------------- the old GUI-thread code
def old_arrays(p: dict, policy) -> dict:
    """What ChartsPanel._build_scatter / _build_categories / _build_decay_curves / _on_tier_changed /
    _draw_decay_points / _decay_y_range computed in the GUI thread before the move."""
    props = p["props"]

    def col(name):
        if name not in props.columns:
            return np.zeros(len(props))
        return pd.to_numeric(props[name], errors="coerce").to_numpy(dtype=float, na_value=np.nan)

    def mask(kind, value):
        codes, names = p[kind]
        return codes == names.index(value) if value in names else np.zeros(len(codes), dtype=bool)

    def in_pol(t):
        try:
            policy.tier(t)
            return True
        except KeyError:
            return False

    tiers = [t.name for t in sorted(policy.tiers, key=lambda t: t.min_value)]
    tiers += sorted(set(p["tier"][1]) - set(tiers))
    benefit = np.nansum([col(c) for c in ("drift_benefit", "harvest_benefit", "rating_benefit")], axis=0)
    cost = np.nansum([col(c) for c in ("trading_cost", "tax_cost")], axis=0)
    has = np.isfinite(col("score"))
    bx, by = symlog(cost), symlog(benefit)
    share = min(1.0, MAX_SCATTER / max(int(has.sum()), 1))
    rng = np.random.default_rng(0)
    scatter = {}
    for t in tiers:
        sel = np.flatnonzero(has & mask("tier", t))
        if not len(sel):
            continue
        n_all = len(sel)
        if share < 1.0:
            sel = np.sort(rng.choice(sel, size=max(1, int(round(n_all * share))), replace=False))
        scatter[t] = (sel, n_all, bx[sel], by[sel], p["ids"][sel])
    hi = float(max(np.nanmax(bx[has]), np.nanmax(by[has]), 1.0))
    lo_y = float(min(np.nanmin(by[has]), 0.0))
    ct = pd.DataFrame({c: [int(np.count_nonzero(mask("tier", t) & mask("category", c))) for t in tiers]
                       for c in CATEGORIES}, index=tiers)
    halves = [policy.tier(t).half_life_days for t in tiers if in_pol(t)] or [60.0]
    xmax = float(max(90.0, 5.0 * max(halves)))
    if p["days"] is not None and np.isfinite(p["days"]).any():
        xmax = float(min(max(xmax, np.nanpercentile(p["days"], 90)), 4 * xmax))
    per_tier = {}
    for tier in tiers:
        scores = np.asarray(p["previewer"].scores(tier), dtype=float)
        tr = policy.tier(tier) if in_pol(tier) else None
        start = tr.threshold_start_bps if tr else 0.0
        floor = tr.threshold_floor_bps if tr else 0.0
        if len(scores):
            lo = min(float(np.percentile(scores, 0.5)), 0.0)
            hi_s = max(float(np.percentile(scores, 99.5)), start * 1.25, floor * 1.25, 10.0)
        else:
            lo, hi_s = 0.0, max(start * 1.5, 10.0)
        nbins = int(np.clip(2 * math.sqrt(max(len(scores), 1)), 20, 120))
        edges = np.linspace(lo, hi_s, nbins + 1)
        clipped = np.clip(scores, lo, hi_s)
        counts, _ = np.histogram(clipped, bins=edges)
        starts = [policy.tier(t).threshold_start_bps for t in tiers if in_pol(t)] or [100.0]
        yhi, ylo = max(starts) * 1.6, 0.0
        if len(scores):
            yhi = max(yhi, min(float(np.percentile(scores, 90)), max(starts) * 4))
            ylo = min(0.0, float(np.percentile(scores, 2)))
        sel = p["elig"] & mask("tier", tier)
        x = np.where(np.isfinite(p["days"]), np.clip(p["days"], 0.0, xmax), xmax)
        y = col("score_bps")
        decay = {}
        for kind in ("NO_TRADE", "SCORE"):
            rows = np.flatnonzero(sel & mask("category", kind))
            if len(rows) > MAX_SCATTER // 2:
                rows = np.sort(np.random.default_rng(1).choice(rows, size=MAX_SCATTER // 2, replace=False))
            decay[kind] = (rows, x[rows], y[rows])
        per_tier[tier] = dict(edges=edges, counts=counts.astype(float), sorted=np.sort(clipped),
                              decay_y=(ylo - 5.0, yhi * 1.25), decay=decay)
    return dict(tiers=tiers, scatter=scatter, range=(hi, lo_y), benefit=benefit, cost=cost, cat=ct,
                xmax=xmax, per_tier=per_tier)


@pytest.mark.parametrize("n", [3_000, 60_000])  # all points drawn / a sample of each tier
def test_prepared_arrays_are_what_the_gui_thread_computed(n):
    from bench_charts import synthetic_proposals

    props, days = synthetic_proposals(n, seed=5)
    policy = default_policy()
    p = ChartsPanel.prepare(props, policy, days)
    old, new = old_arrays(p, policy), p["plots"]
    assert new["tiers"] == old["tiers"]
    assert [e["tier"] for e in new["scatter"]] == list(old["scatter"])
    for e in new["scatter"]:
        rows, n_all, x, y, ids = old["scatter"][e["tier"]]
        assert e["n_all"] == n_all and e["sampled"] == (n > MAX_SCATTER)
        np.testing.assert_array_equal(e["rows"], rows)
        np.testing.assert_array_equal(e["x"], x)
        np.testing.assert_array_equal(e["y"], y)
        assert list(e["ids"]) == list(ids)
    drawn = sum(len(e["rows"]) for e in new["scatter"])
    scored = int(props["score"].notna().sum())  # accounts without a score are not plotted
    assert drawn == scored if n <= MAX_SCATTER else abs(drawn - MAX_SCATTER) <= len(new["scatter"])
    assert new["scatter_range"] == old["range"]
    np.testing.assert_array_equal(new["benefit"], old["benefit"])
    np.testing.assert_array_equal(new["cost"], old["cost"])
    pd.testing.assert_frame_equal(new["cat_counts"], old["cat"])
    assert int(new["cat_counts"].to_numpy().sum()) == n
    assert new["decay_xmax"] == old["xmax"]
    for t, o in old["per_tier"].items():
        a = new["per_tier"][t]
        for k in ("edges", "counts", "sorted"):
            np.testing.assert_array_equal(a[k], o[k])
        assert a["decay_y"] == o["decay_y"]
        for kind in ("NO_TRADE", "SCORE"):
            rows, x, y = o["decay"][kind]
            np.testing.assert_array_equal(a["decay"][kind]["rows"], rows)
            np.testing.assert_array_equal(a["decay"][kind]["x"], x)
            np.testing.assert_array_equal(a["decay"][kind]["y"], y)


def test_the_panel_draws_the_prepared_arrays_one_tier_per_turn(qtbot):
    from bench_charts import synthetic_proposals

    props, days = synthetic_proposals(40_000, seed=2)
    policy = default_policy()
    p = ChartsPanel.prepare(props, policy, days)
    w = ChartsPanel()
    qtbot.addWidget(w)
    w.resize(1200, 800)
    w.show()
    turns = []
    done = []
    w.set_data(props, policy, days, prepared=p, staged=True, on_done=lambda: done.append(1))
    while not done:  # count the turns: the scatter tiers arrive one per turn
        turns.append(len(w.scatter_items))
        QApplication.processEvents()
        assert len(turns) < 100
    assert max(turns) == len(p["plots"]["scatter"]) and len(set(turns)) > 2
    for e in p["plots"]["scatter"]:
        item = w.scatter_items[e["tier"]]
        np.testing.assert_array_equal(item.data["x"], e["x"])
        np.testing.assert_array_equal(item.data["y"], e["y"])
        np.testing.assert_array_equal(item.rows, e["rows"])
        assert item.opts["brush"].color().alpha() == 170  # one brush for the item, none per point
        assert all(b is None for b in item.data["brush"])
    tier = w.current_tier()
    a = p["plots"]["per_tier"][tier]
    np.testing.assert_array_equal(w.decay_points_score.data["x"], a["decay"]["SCORE"]["x"])
    np.testing.assert_array_equal(w._hist_sorted, a["sorted"])
    # a preview drag on the prepared histogram: the darker part counts the scores at or above it
    w.set_threshold(a["edges"][len(a["edges"]) // 2])
    x, y = w._hist_above.getData()
    assert y.sum() == np.count_nonzero(a["sorted"] >= w.threshold_line.value())
