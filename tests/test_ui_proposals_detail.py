"""The Proposals panel's desk words (issue #20): realized tax shown as the tax the gains cost and
the tax the losses save, in the table and in the detail; and numbers on the asset-class bars of
the proposal's chart. Real widgets (pytest-qt, offscreen) on a real run of the test book."""
import json

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QFontMetrics

from engine.decide.workflow import proposals_frame
from qt_fixtures import review_all_run, settings, wait_loaded  # noqa: F401 - fixtures
from ui import fmt
from ui.panel import AppContext
from ui.proposals_chart import ClassWeightsChart
from ui.proposals_panel import ProposalsPanel


@pytest.fixture
def reviewed(engine, tmp_path):
    """The eager policy reviewing every account: A3 pays tax, A1's harvested losses save some."""
    return review_all_run(engine, tmp_path)


@pytest.fixture
def panel(qtbot, engine, reviewed, settings):  # noqa: F811 - fixtures
    p = ProposalsPanel(AppContext(engine, user="alice", settings=settings))
    qtbot.addWidget(p)
    p.resize(1400, 860)
    p.show()
    qtbot.waitExposed(p)
    p.refresh()
    wait_loaded(qtbot, p)  # the panel reads off the GUI thread
    return p


def shown_text(p, key: str, account: str) -> str:
    keys = [c.key for c in p.model.columns]
    row = p.model.find("account_id", account)
    assert row >= 0, account
    return p.model.data(p.model.index(row, keys.index(key)), Qt.ItemDataRole.DisplayRole)


def test_realized_tax_shows_as_tax_and_tax_saved_in_the_table_and_the_detail(panel, engine):
    p = panel
    headers = [p.model.headerData(i, Qt.Orientation.Horizontal, Qt.ItemDataRole.DisplayRole)
               for i in range(p.model.columnCount())]
    assert "Tax" in headers and "Tax saved" in headers and "Realized tax" not in headers
    with engine.connect() as conn:
        run = proposals_frame(conn).set_index("account_id")
    trading = run[run["category"].isin(["SCORE", "MANDATE"])]
    assert len(trading) >= 2
    paid_any = saved_any = False
    for account, r in trading.iterrows():
        p.focus(account)
        tax, net = float(r["tax_cost"]), float(r["realized_tax"])
        saved = tax - net  # what the losses save: never negative, and the net is their difference
        assert saved >= -0.005
        assert shown_text(p, "tax_paid", account) == fmt.money(tax)
        assert shown_text(p, "tax_saved", account) == fmt.money(round(saved, 2))
        rec = p.accounts.record(account)
        assert rec["tax_paid"] - rec["tax_saved"] == pytest.approx(net, abs=0.01)
        title = p.trades_title.text()
        assert (f"· tax {fmt.money(tax)}" in title) == (round(tax, 2) > 0)
        assert (f"· tax saved {fmt.money(round(saved, 2))}" in title) == (round(saved, 2) > 0)
        paid_any |= round(tax, 2) > 0
        saved_any |= round(saved, 2) > 0
    assert paid_any and saved_any, "the test book has an account that pays tax and one whose losses save some"
    # an account that does not trade shows neither
    quiet = run[~run["category"].isin(["SCORE", "MANDATE"])]
    for account in quiet.index[:1]:
        p.focus(account)
        assert "tax" not in p.trades_title.text()


def test_the_asset_class_bars_carry_their_numbers(qtbot, panel, engine):
    p = panel
    with engine.connect() as conn:
        run = proposals_frame(conn).set_index("account_id")
    account = run.index[run["category"].isin(["SCORE", "MANDATE"])][0]
    p.focus(account)
    wait_loaded(qtbot, p)  # the account's detail is read in a worker process (ui.read_worker)
    detail = json.loads(run.at[account, "detail"])
    pre, post, target = detail["class_weights_pre"], detail["class_weights_post"], detail["class_targets"]
    labels = p.weights.labels()
    assert set(labels) == set(pre) | set(post) | set(target) and labels
    for c, text in labels.items():
        expect = f"{pre.get(c, 0.0) * 100:.1f}% → {post.get(c, 0.0) * 100:.1f}%"
        if c in target:
            expect += f" ({target[c] * 100:.1f}%)"
        assert text == expect
    # legible: inside the plot, right of the class's bars, not over one another
    qtbot.wait(50)
    view = p.weights.getPlotItem().getViewBox()
    box = view.sceneBoundingRect()
    rects = [item.mapRectToScene(item.boundingRect()) for item in p.weights.value_labels]
    for c, rect in zip(p.weights.classes, rects):
        assert box.contains(rect), (c, rect, box)
    for a, b in zip(rects, rects[1:]):
        assert not a.intersects(b)
    # another account: the labels follow; no account: none
    p.focus(run.index[-1])
    wait_loaded(qtbot, p)
    assert p.weights.labels() != labels or run.index[-1] == account
    p.weights.clear_weights()
    assert p.weights.labels() == {} and not p.weights.value_labels


def test_value_labels_state_before_after_and_target_and_mark_a_class_out_of_band(qtbot):
    chart = ClassWeightsChart()
    qtbot.addWidget(chart)
    chart.resize(420, 300)
    chart.show()
    chart.set_weights({"US Large Cap": 0.62, "US Bonds": 0.38}, {"US Large Cap": 0.5, "US Bonds": 0.5},
                      {"US Large Cap": 0.55, "US Bonds": 0.45},
                      {"US Large Cap": (0.5, 0.6), "US Bonds": (0.4, 0.48)})
    assert chart.labels() == {"US Large Cap": "62.0% → 50.0% (55.0%)", "US Bonds": "38.0% → 50.0% (45.0%)"}
    assert chart.getPlotItem().titleLabel.text == "Classes: before → after (model)"  # what the numbers are
    colours = {c: item.color.name() for c, item in zip(chart.classes, chart.value_labels)}
    assert chart.out_of_band == ["US Bonds"]
    assert colours["US Bonds"] == ClassWeightsChart.BAND.lower() and colours["US Large Cap"] != colours["US Bonds"]
    # every class's name fits beside its bars (the axis is as wide as the longest name)
    metrics = QFontMetrics(chart.class_axis.style["tickFont"])
    longest = max(metrics.horizontalAdvance(c) for c in chart.classes)
    qtbot.waitUntil(lambda: chart.class_axis.width() >= longest, timeout=2000)  # once the layout has run
    # a class held but not in the model: no target
    chart.set_weights({"Cash": 0.02}, {"Cash": 0.01}, {}, {})
    assert chart.labels() == {"Cash": "2.0% → 1.0%"}
