"""The Charts panel (ui/charts.py) with real widgets, offscreen: dragging the threshold line
previews what a real run with that threshold does; clicking a point opens its account."""
import math
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PySide6.QtCore import QEvent, QPoint, QPointF, Qt
from PySide6.QtGui import QMouseEvent
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication, QMessageBox

from engine.book.importer import import_book
from engine.core.policy import default_policy
from engine.decide.preview import days_since_trade, policy_with_threshold, score_eligible
from engine.book.sample import generate_sample
from engine.decide.workflow import proposals_frame, run_workflow
from storage.db import make_engine
from ui.charts import ChartsPanel, money, symlog

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))


@pytest.fixture(scope="module")
def sample_run(tmp_path_factory):
    base = tmp_path_factory.mktemp("charts")
    generate_sample(base / "book", accounts=300, seed=3)
    eng = make_engine(str(base / "book.db"))
    import_book(eng, base / "book", user="tester")
    out = run_workflow(eng, workers=1, user="tester")
    with eng.connect() as conn:
        props = proposals_frame(conn, out.run_id)
        days = days_since_trade(conn, out.run_id)
    yield eng, props, days
    eng.dispose()


@pytest.fixture
def panel(qtbot, sample_run):
    _, props, days = sample_run
    w = ChartsPanel()
    qtbot.addWidget(w)
    w.resize(1400, 900)
    w.set_data(props, default_policy(), days)
    w.show()
    qtbot.waitExposed(w)
    QApplication.processEvents()
    return w


# --------------------------------------------------------------------------- helpers
def to_viewport(plot_widget, x: float, y: float) -> QPoint:
    """Data coordinates of a plot -> pixel position in its viewport."""
    scene = plot_widget.getPlotItem().vb.mapViewToScene(QPointF(x, y))
    return plot_widget.mapFromScene(scene)


def send_mouse(widget, etype, pos: QPoint, button, buttons):
    local = QPointF(pos)
    ev = QMouseEvent(etype, local, local, QPointF(widget.mapToGlobal(pos)), button, buttons,
                     Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(widget, ev)


def mouse_drag(plot_widget, start: QPoint, end: QPoint, steps: int = 12):
    vp = plot_widget.viewport()
    left, none = Qt.MouseButton.LeftButton, Qt.MouseButton.NoButton
    send_mouse(vp, QEvent.Type.MouseButtonPress, start, left, left)
    for i in range(1, steps + 1):
        p = QPoint(round(start.x() + (end.x() - start.x()) * i / steps),
                   round(start.y() + (end.y() - start.y()) * i / steps))
        send_mouse(vp, QEvent.Type.MouseMove, p, none, left)
        QApplication.processEvents()
    send_mouse(vp, QEvent.Type.MouseButtonRelease, end, left, none)
    QApplication.processEvents()


def run_counts(eng, run_id, tier):
    with eng.connect() as conn:
        p = proposals_frame(conn, run_id)
    p = p[p["tier"] == tier]
    s = p[p["category"] == "SCORE"]
    return {"accounts": len(s), "turnover": float((s["turnover"] * s["value"]).sum()),
            "realized_tax": float(s["realized_tax"].sum()),
            "mandate_accounts": int((p["category"] == "MANDATE").sum())}


def eligible_scores(props, tier):
    e = props[score_eligible(props) & (props["tier"] == tier)]
    return np.sort(e["score_bps"].to_numpy(float))


# --------------------------------------------------------------------------- threshold drag
def test_dragging_the_threshold_previews_what_a_run_trades(qtbot, panel, sample_run):
    eng, props, _ = sample_run
    by_size = sorted({t: len(eligible_scores(props, t)) for t in props["tier"].unique()}.items(),
                     key=lambda kv: -kv[1])
    (tier_a, n_a), (tier_b, n_b) = by_size[0], by_size[1]
    assert n_a >= 5 and n_b >= 3, by_size

    # 1) tier A: move the line as a drag does (setValue emits sigPositionChanged)
    panel.set_tier(tier_a)
    s = eligible_scores(props, tier_a)
    pos = s[s >= 0]  # a threshold is >= 0 bps
    x_a = round(float(pos[len(pos) // 2]) - 0.05, 1)  # just below an account's score: it trades
    with qtbot.waitSignal(panel.threshold_line.sigPositionChanged, timeout=1000):
        panel.threshold_line.setValue(x_a)
    prev_a = dict(panel.last_preview())
    assert prev_a["tier"] == tier_a and prev_a["threshold_bps"] == pytest.approx(x_a)
    assert 0 < prev_a["accounts"] < prev_a["eligible"] == n_a
    assert int((s >= x_a).sum()) == prev_a["accounts"]
    label = panel.preview_label.text()
    assert f"<b>{prev_a['accounts']:,}</b> of {n_a:,}" in label and money(prev_a["turnover"]) in label

    # 2) tier B: a real mouse drag of the line, from the policy floor to the median score
    panel.set_tier(tier_b)
    floor_b = default_policy().tier(tier_b).threshold_floor_bps
    assert panel.threshold_line.value() == pytest.approx(floor_b)
    s = eligible_scores(props, tier_b)
    target = float(np.median(s[s >= 0]))
    vb = panel.hist_plot.getPlotItem().vb
    (_, _), (y0, y1) = vb.viewRange()
    y_mid = (y0 + y1) / 2
    start = to_viewport(panel.hist_plot, floor_b, y_mid)
    end = to_viewport(panel.hist_plot, target, y_mid)
    assert abs(end.x() - start.x()) > 20, "the drag should move the line visibly"
    finished = []
    panel.threshold_line.sigPositionChangeFinished.connect(lambda line: finished.append(line.value()))
    mouse_drag(panel.hist_plot, start, end)
    assert finished, "the line did not receive the drag"
    px = (vb.viewRange()[0][1] - vb.viewRange()[0][0]) / vb.width()
    assert panel.threshold_line.value() == pytest.approx(target, abs=3 * px)
    x_b = panel.threshold()
    prev_b = dict(panel.last_preview())
    assert prev_b["tier"] == tier_b and prev_b["threshold_bps"] == x_b
    assert 0 < prev_b["accounts"] < prev_b["eligible"]
    assert f"<b>{prev_b['accounts']:,}</b> of {prev_b['eligible']:,}" in panel.preview_label.text()

    # the preview does not change the policy; switching back keeps tier A's preview
    panel.set_tier(tier_a)
    assert panel.threshold() == pytest.approx(x_a)
    assert panel.last_preview()["accounts"] == prev_a["accounts"]

    # 3) a real run with those flat thresholds trades exactly what was previewed
    policy = policy_with_threshold(policy_with_threshold(default_policy(), tier_a, x_a), tier_b, x_b)
    out = run_workflow(eng, policy=policy, workers=1, user="tester")
    for prev in (prev_a, prev_b):
        real = run_counts(eng, out.run_id, prev["tier"])
        assert prev["accounts"] == real["accounts"], prev["tier"]
        assert prev["turnover"] == pytest.approx(real["turnover"], rel=1e-9, abs=1e-6)
        assert prev["realized_tax"] == pytest.approx(real["realized_tax"], rel=1e-9, abs=1e-6)
        assert prev["mandate_accounts"] == real["mandate_accounts"]


def test_histogram_and_overlays_follow_the_line(panel, sample_run):
    _, props, _ = sample_run
    tier = panel.current_tier()
    s = eligible_scores(props, tier)
    # histogram counts every score account of the tier once
    _, counts = panel._hist_all.getData()
    assert counts.sum() == len(s)
    x = round(float(np.percentile(s, 60)), 1)
    panel.set_threshold(x)
    _, above = panel._hist_above.getData()
    assert above.sum() == (s >= x).sum() == panel.last_preview()["accounts"]
    # category chart: bars are the run's counts, the outline is the preview
    ct = pd.crosstab(props["tier"], props["category"])
    for cat, bar in panel.category_bars.items():
        heights = bar.opts["height"]
        want = [int(ct.loc[t, cat]) if (t in ct.index and cat in ct.columns) else 0 for t in panel._tiers]
        assert list(heights) == want, cat
    p = panel.last_preview()
    h = list(panel._cat_preview.opts["height"])
    assert h[0] == p["accounts"]
    assert h[1] == ct.loc[tier, "NO_TRADE"] + ct.loc[tier, "SCORE"] - p["accounts"]
    assert panel._decay_flat.value() == pytest.approx(x)


def test_decay_plot_places_accounts_by_days_since_last_trade(panel, sample_run):
    _, props, days = sample_run
    tier = panel.current_tier()
    e = props[score_eligible(props) & (props["tier"] == tier)]
    items = (panel.decay_points, panel.decay_points_score)
    shown = {a: (x, y) for it in items for a, x, y in zip(it.ids, it.data["x"], it.data["y"])}
    assert set(shown) == set(e["account_id"])
    xmax = panel._decay_xmax
    traded = e[e["account_id"].map(days).notna()]
    never = e[e["account_id"].map(days).isna()]
    assert len(traded) and len(never)
    for a, sc in zip(traded["account_id"], traded["score_bps"]):
        assert shown[a] == (pytest.approx(min(days[a], xmax)), pytest.approx(sc))
    for a in never["account_id"]:
        assert shown[a][0] == pytest.approx(xmax)
    # the threshold curves are the policy's decay formula
    t = default_policy().tier(tier)
    x, y = panel.decay_curves[tier].getData()
    assert y[0] == pytest.approx(t.threshold_start_bps)
    k = int(np.argmin(abs(x - t.half_life_days)))
    assert y[k] == pytest.approx(t.threshold_floor_bps + (t.threshold_start_bps - t.threshold_floor_bps)
                                 * 2 ** (-x[k] / t.half_life_days))


# --------------------------------------------------------------------------- scatter clicks
def account_at(props, x, y):
    """The account whose (symlog cost, symlog benefit) is (x, y), found from the proposals."""
    benefit = props[["drift_benefit", "harvest_benefit", "rating_benefit"]].sum(axis=1, min_count=1)
    cost = props[["trading_cost", "tax_cost"]].sum(axis=1, min_count=1)
    hit = props[np.isclose(symlog(cost.to_numpy(float)), x) & np.isclose(symlog(benefit.to_numpy(float)), y)]
    assert len(hit) >= 1
    return set(hit["account_id"])


def test_scatter_sigclicked_with_a_real_point_activates_its_account(qtbot, panel, sample_run):
    _, props, _ = sample_run
    item = panel.scatter_items[panel.current_tier()]
    pts = item.points()
    k = len(pts) // 3
    want = account_at(props, pts[k].pos().x(), pts[k].pos().y())
    with qtbot.waitSignal(panel.accountActivated, timeout=1000) as blocker:
        item.sigClicked.emit(item, [pts[k]], None)
    assert blocker.args[0] in want
    assert blocker.args[0] in panel.selection_label.text()


def test_mouse_click_on_a_scatter_point_activates_its_account(qtbot, panel, sample_run):
    _, props, _ = sample_run
    plot = panel.scatter_plot
    # the most isolated point on screen, so that the click cannot hit a neighbour
    xs, ys, ids = [], [], []
    for it in panel.scatter_items.values():
        xs.append(it.data["x"])
        ys.append(it.data["y"])
        ids.append(it.ids)
    xs, ys, ids = np.concatenate(xs), np.concatenate(ys), np.concatenate(ids)
    pix = np.array([[p.x(), p.y()] for p in (to_viewport(plot, x, y) for x, y in zip(xs, ys))], float)
    vp = plot.viewport().rect()
    inside = (pix[:, 0] > 10) & (pix[:, 0] < vp.width() - 10) & (pix[:, 1] > 10) & (pix[:, 1] < vp.height() - 10)
    d = np.sqrt(((pix[:, None, :] - pix[None, :, :]) ** 2).sum(-1))
    np.fill_diagonal(d, np.inf)
    # keep clear of the legend (bottom right) too
    legend = panel._scatter_legend.sceneBoundingRect()
    off_legend = np.array([not legend.contains(plot.mapToScene(QPoint(int(x), int(y)))) for x, y in pix])
    iso = np.where(inside & off_legend, d.min(axis=1), -1)
    k = int(np.argmax(iso))
    assert iso[k] > 8, "no isolated point to click"
    want = account_at(props, xs[k], ys[k])
    assert ids[k] in want
    with qtbot.waitSignal(panel.accountActivated, timeout=2000) as blocker:
        QTest.mouseClick(plot.viewport(), Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier,
                         QPoint(int(round(pix[k, 0])), int(round(pix[k, 1]))))
    assert blocker.args == [ids[k]]
    # the selection ring is drawn on that point
    sx, sy = panel._selected.getData()
    assert (sx[0], sy[0]) == (pytest.approx(xs[k]), pytest.approx(ys[k]))
    # a click on empty space opens nothing
    empty = np.array([vp.width() * 0.85, vp.height() * 0.12])
    assert np.sqrt(((pix - empty) ** 2).sum(1)).min() > 15
    with qtbot.assertNotEmitted(panel.accountActivated, wait=100):
        QTest.mouseClick(plot.viewport(), Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier,
                         QPoint(int(empty[0]), int(empty[1])))


# --------------------------------------------------------------------------- save
def test_save_to_policy_asks_then_emits_the_previewed_threshold(qtbot, panel, monkeypatch):
    tier = panel.current_tier()
    panel.set_threshold(42.34)
    asked = []

    def answer(reply):
        def question(parent, title, text, *a, **k):
            asked.append(text)
            return reply
        return question

    monkeypatch.setattr(QMessageBox, "question", answer(QMessageBox.StandardButton.Cancel))
    with qtbot.assertNotEmitted(panel.saveThreshold, wait=50):
        qtbot.mouseClick(panel.save_button, Qt.MouseButton.LeftButton)
    assert asked and "42.3 bps" in asked[0] and tier in asked[0]
    monkeypatch.setattr(QMessageBox, "question", answer(QMessageBox.StandardButton.Save))
    with qtbot.waitSignal(panel.saveThreshold, timeout=1000) as blocker:
        qtbot.mouseClick(panel.save_button, Qt.MouseButton.LeftButton)
    assert blocker.args == [tier, pytest.approx(42.3)]
    new = policy_with_threshold(default_policy(), *blocker.args)
    assert new.tier(tier).threshold_start_bps == new.tier(tier).threshold_floor_bps == pytest.approx(42.3)
    # reset goes back to the policy floor
    panel.reset_button.click()
    assert panel.threshold() == default_policy().tier(tier).threshold_floor_bps


def test_empty_run_clears_the_panel(qtbot, sample_run):
    _, props, days = sample_run
    w = ChartsPanel()
    qtbot.addWidget(w)
    w.set_data(pd.DataFrame(), default_policy())
    assert not w.save_button.isEnabled() and "No run" in w.preview_label.text()
    w.grab()
    w.set_data(props, default_policy(), days)
    assert w.save_button.isEnabled() and w.last_preview() is not None
    w.set_data(None, default_policy())
    assert not w.save_button.isEnabled() and w.last_preview() is None
    assert w._hist_all.getData()[0] is None or len(w._hist_all.getData()[0]) == 0
    assert not w.scatter_items and len(w.decay_points_score.ids) == 0
    w.grab()


def test_without_days_since_trade_only_curves(qtbot, sample_run):
    _, props, _ = sample_run
    w = ChartsPanel()
    qtbot.addWidget(w)
    w.set_data(props, default_policy(), None)
    assert len(w.decay_points.ids) == 0 and "not available" in w._decay_note.toPlainText()
    assert len(w.decay_curves) == len(default_policy().tiers)
    # or as a column of the proposals
    w.set_data(props.assign(days_since_trade=30.0), default_policy())
    assert len(w.decay_points.ids) + len(w.decay_points_score.ids) > 0
    assert set(w.decay_points.data["x"]) <= {30.0}


# --------------------------------------------------------------------------- 100,000 accounts
def test_100k_accounts_stay_responsive(qtbot):
    from bench_charts import synthetic_proposals

    props, days = synthetic_proposals(100_000, seed=1)
    w = ChartsPanel()
    qtbot.addWidget(w)
    w.resize(1400, 900)
    w.show()
    qtbot.waitExposed(w)
    t0 = time.perf_counter()
    w.set_data(props, default_policy(), days)
    w.grab()
    first = time.perf_counter() - t0
    # beyond MAX_SCATTER a fixed share of each tier is drawn; the legend counts every account
    from ui.charts import MAX_SCATTER

    n = int(props["score"].notna().sum())
    drawn = sum(len(i.ids) for i in w.scatter_items.values())
    assert abs(drawn - MAX_SCATTER) <= len(w.scatter_items) and drawn < n
    assert sum(int(i.name().split("(")[1].split(" ")[0].rstrip(",").replace(",", "")) for i in
               w.scatter_items.values()) == n
    assert first < 5.0, first  # the bench measures the 500 ms target; this catches a regression
    t0 = time.perf_counter()
    for x in np.linspace(0, 150, 30):
        w.threshold_line.setValue(float(x))
    step = (time.perf_counter() - t0) / 30
    assert step < 0.1, step
    # a click hit-test makes SpotItems only for the points under the cursor
    item = max(w.scatter_items.values(), key=lambda i: len(i.ids))
    k = len(item.ids) // 2
    pts = item.pointsAt(QPointF(float(item.data["x"][k]), float(item.data["y"][k])))
    assert pts, "the point under the cursor was not hit"
    # nearest first: the point itself (or one drawn at the very same place)
    assert math.isclose(pts[0].pos().x(), item.data["x"][k]) and math.isclose(pts[0].pos().y(), item.data["y"][k])
    assert int(np.count_nonzero(item.data["item"] != None)) == len(pts) < 5000  # noqa: E711
