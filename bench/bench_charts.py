"""Charts panel benchmark: 100,000 accounts (synthetic proposals with realistic distributions).

    QT_QPA_PLATFORM=offscreen .venv/bin/python bench/bench_charts.py [--accounts 100000] [--repeat 3]

Measures (targets in brackets):
  * set_data + a forced repaint of the whole panel, i.e. histogram, benefit/cost scatter of every
    account, decay points of the selected tier and category bars drawn [< 500 ms];
  * one threshold drag step: the line moved + preview recomputed + label and overlays updated
    (and, separately, the same including a repaint) [< 100 ms];
  * ThresholdPreviewer alone: build and per-call time;
  * a click hit-test on the 100,000-point scatter.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from engine.decide.mandates import assign_tiers, threshold_bps  # noqa: E402
from engine.core.policy import default_policy  # noqa: E402


def synthetic_proposals(n: int = 100_000, seed: int = 0, policy=None) -> tuple[pd.DataFrame, pd.Series]:
    """A run-like proposals frame of ``n`` accounts and their days since last trade.

    Values lognormal (median ~ $600k, so most accounts are Small/Core, a few UHNW); scores a
    mixture (most near 0–80 bps, a heavy right tail, some negative); categories routed exactly
    as the workflow does (threshold from the policy decay and the days since last trade).
    """
    policy = policy or default_policy()
    rng = np.random.default_rng(seed)
    ids = np.array([f"S{i:07d}" for i in range(n)], dtype=object)
    value = np.exp(rng.normal(np.log(600_000), 1.3, n))
    tier = assign_tiers(value, np.full(n, "", dtype=object), policy)
    days = rng.exponential(120.0, n).round()
    days[rng.random(n) < 0.08] = np.nan  # never traded
    thr = threshold_bps(days, tier, policy)
    turnover = np.clip(rng.beta(2.0, 8.0, n), 0, 1)
    turnover[rng.random(n) < 0.06] = 0.0  # the optimizer found nothing worth trading
    traded = turnover * value
    trading_cost = 0.0005 * traded + rng.integers(2, 30, n)
    tax_cost = np.where(rng.random(n) < 0.5, rng.exponential(0.004, n) * traded, 0.0)
    harvest = np.where(rng.random(n) < 0.4, rng.exponential(0.006, n) * traded, 0.0)
    rating = rng.normal(0.0, 0.0004, n) * traded
    score_bps = np.where(rng.random(n) < 0.85, rng.gamma(1.6, 30.0, n) - 10.0, rng.gamma(1.2, 150.0, n))
    score = score_bps * value / 1e4
    drift = score - harvest - rating + trading_cost + tax_cost
    no_trade = turnover == 0
    for a in (trading_cost, tax_cost, harvest, rating, drift, score, score_bps):
        a[no_trade] = 0.0
    score_bps = score / value * 1e4
    cat = np.full(n, "NO_TRADE", dtype=object)
    r = rng.random(n)
    cat[(turnover > 0) & (score_bps >= thr)] = "SCORE"
    cat[(r < 0.45) & (turnover > 0)] = "MANDATE"
    cat[(r >= 0.45) & (r < 0.47)] = "HELD"
    susp = (r >= 0.47) & (r < 0.50)
    cat[susp] = "SUSPENDED"
    nan_cols = {"score": score, "score_bps": score_bps, "drift_benefit": drift, "harvest_benefit": harvest,
                "rating_benefit": rating, "trading_cost": trading_cost, "tax_cost": tax_cost,
                "turnover": turnover, "realized_tax": tax_cost - harvest}
    for k, a in nan_cols.items():
        a = a.astype(float)
        a[susp] = np.nan
        nan_cols[k] = a
    props = pd.DataFrame({"account_id": ids, "category": cat, "tier": tier, "review": "none",
                          "status": "NONE", "value": value, **nan_cols, "threshold_bps": thr,
                          "flags": "", "reasons": ""})
    return props, pd.Series(days, index=ids, name="days_since_trade")


def _ms(t: float) -> str:
    return f"{t * 1000:8.1f} ms"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--accounts", type=int, default=100_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--steps", type=int, default=50)
    args = ap.parse_args(argv)
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

    from PySide6.QtCore import QPointF
    from PySide6.QtWidgets import QApplication

    from engine.decide.preview import ThresholdPreviewer
    from ui.charts import ChartsPanel, money

    policy = default_policy()
    t0 = time.perf_counter()
    props, days = synthetic_proposals(args.accounts, policy=policy)
    print(f"synthetic proposals: {len(props):,} accounts in {_ms(time.perf_counter() - t0)}; "
          f"categories {props['category'].value_counts().to_dict()}")

    # ---- the previewer alone
    t0 = time.perf_counter()
    prev = ThresholdPreviewer(props)
    build = time.perf_counter() - t0
    xs = np.linspace(-50, 300, 2000)
    t0 = time.perf_counter()
    for x in xs:
        prev.preview("Core", x)
    per = (time.perf_counter() - t0) / len(xs)
    print(f"ThresholdPreviewer build:           {_ms(build)}")
    print(f"ThresholdPreviewer.preview per call: {per * 1e6:8.1f} µs")

    app = QApplication.instance() or QApplication([])
    panel = ChartsPanel()
    panel.resize(1500, 950)
    panel.show()
    app.processEvents()

    # ---- set_data + forced repaint: grab() renders the whole panel once, synchronously
    times, grabs, evs = [], [], []
    for _ in range(args.repeat):
        t0 = time.perf_counter()
        panel.set_data(props, policy, days)
        t1 = time.perf_counter()
        img = panel.grab()
        t2 = time.perf_counter()
        times.append(t2 - t0)
        grabs.append(t2 - t1)
        # the same with repaint() + processEvents() (what the visible window does)
        t0 = time.perf_counter()
        panel.set_data(props, policy, days)
        panel.repaint()
        app.processEvents()
        evs.append(time.perf_counter() - t0)
    n_pts = sum(len(i.ids) for i in panel.scatter_items.values())
    print(f"scatter points drawn: {n_pts:,}; decay points: "
          f"{len(panel.decay_points.ids) + len(panel.decay_points_score.ids):,} ({panel.current_tier()}); "
          f"image {img.width()}x{img.height()}")
    print(f"set_data + grab():                  {_ms(min(times))} best, {_ms(statistics.median(times))} median "
          f"(of which grab {_ms(min(grabs))})  [target < 500 ms]")
    print(f"set_data + repaint() + processEvents(): {_ms(min(evs))} best, {_ms(statistics.median(evs))} median")

    # ---- repaint of the benefit/cost scatter alone (e.g. after a resize)
    rp = []
    for _ in range(args.repeat):
        panel.scatter_plot.getPlotItem().vb.update()
        t0 = time.perf_counter()
        panel.scatter_plot.grab()
        rp.append(time.perf_counter() - t0)
    print(f"benefit/cost scatter repaint:        {_ms(min(rp))}")

    # ---- drag steps
    lo, hi = panel.threshold_line.maxRange
    xs = np.linspace(lo + 1, min(hi - 1, 200.0), args.steps)
    t0 = time.perf_counter()
    for x in xs:
        panel.threshold_line.setValue(float(x))  # emits sigPositionChanged as a drag does
    step = (time.perf_counter() - t0) / len(xs)
    nrep = max(5, args.steps // 5)
    t0 = time.perf_counter()
    for x in xs[::-1][:nrep]:
        panel.threshold_line.setValue(float(x))
        app.processEvents()  # the visible window repaints what changed
    step_events = (time.perf_counter() - t0) / nrep
    t0 = time.perf_counter()
    for x in xs[:nrep]:
        panel.threshold_line.setValue(float(x))
        for w in (panel.hist_plot, panel.decay_plot, panel.category_plot, panel.preview_label):
            w.grab()  # full re-render of every plot the drag touches (an upper bound)
    step_grab = (time.perf_counter() - t0) / nrep
    p = panel.last_preview()
    print(f"drag step (preview + label + overlays): {_ms(step)}  [target < 100 ms]")
    print(f"drag step + processEvents (repaint):    {_ms(step_events)}")
    print(f"drag step + full re-render of the 3 plots it touches: {_ms(step_grab)}  [target < 100 ms]")
    print(f"  last preview: {p['tier']} at {p['threshold_bps']:.1f} bps → {p['accounts']:,} accounts, "
          f"turnover {money(p['turnover'])}, realized tax {money(p['realized_tax'])}")

    # ---- click hit-test on the largest scatter
    item = max(panel.scatter_items.values(), key=lambda i: len(i.ids))
    k = len(item.ids) // 3
    pos = QPointF(float(item.data["x"][k]), float(item.data["y"][k]))
    t0 = time.perf_counter()
    pts = item.pointsAt(pos)
    hit = time.perf_counter() - t0
    made = int(np.count_nonzero(item.data["item"] != None))  # noqa: E711
    print(f"click hit-test on {len(item.ids):,} points: {_ms(hit)} ({len(pts)} under the cursor, "
          f"{made} SpotItems created)")
    panel.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
