# Kept whole, long because the review tests share one reviewed book and window; split by panel when it grows.
"""Reviewing a run in the console, with real widgets (pytest-qt, offscreen): proposals per tier
(approve, reject, edit, remove, bulk approve), the Charts host (save a previewed threshold; open a
clicked account), a one-click export found in Batches, and every action in Audit with its user.

Dialogs are answered by monkeypatching ``QMessageBox.exec`` / ``QMessageBox.question`` and
``QFileDialog.getExistingDirectory``; ``QDesktopServices.openUrl`` is recorded, not run.
"""
import hashlib
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from qt_fixtures import boxes, close_window, folders, LONG, settings, shown as show_loaded, statuses, wait_idle, wait_loaded, window  # noqa: F401
from PySide6.QtCore import QEvent, QPoint, QPointF, Qt
from PySide6.QtGui import QDesktopServices, QMouseEvent
from PySide6.QtWidgets import QAbstractItemView, QApplication, QMessageBox, QSpinBox

from bookkit import eager_policy, write_book
from engine.core.audit import audit_entries
from engine.desk.exporter import batch_trades, batches_frame
from engine.book.importer import import_book
from engine.core.policy import default_policy, policy_from_dict
from engine.core.policy_store import policy_versions, save_policy
from engine.desk.review import proposal_trades
from engine.book.sample import generate_sample
from engine.decide.workflow import current_policy, proposals_frame, run_workflow
from ui.audit_panel import ALL_ACTIONS, ALL_USERS, AuditPanel, describe_change
from ui.batches_panel import BatchesPanel, show_batch_result
from ui.charts_host import ChartsPanelHost
from ui.navigation import FACTORIES, PANELS
from ui.panel import Placeholder
from ui.proposals_panel import ProposalsPanel
from ui.widgets import BadgeRole



# --------------------------------------------------------------------------- fixtures
@pytest.fixture
def opened(monkeypatch):
    urls = []
    monkeypatch.setattr(QDesktopServices, "openUrl", staticmethod(lambda url: urls.append(url) or True))
    return urls


def review_all_policy():
    data = eager_policy().model_dump()
    data["tiers"] = [{**t, "review": "all"} for t in data["tiers"]]
    return policy_from_dict(data)


@pytest.fixture
def reviewed(engine, tmp_path):
    """The 3-account test book, run under a policy where every tier reviews every account."""
    import_book(engine, write_book(tmp_path / "book"), user="ops1")
    save_policy(engine, review_all_policy(), user="admin")
    return run_workflow(engine, workers=1, user="sched")


@pytest.fixture(scope="module")
def sample_book(tmp_path_factory):
    path = tmp_path_factory.mktemp("sample") / "book"
    generate_sample(path, accounts=300, seed=3)
    return path


def decided_by(engine) -> dict:
    with engine.connect() as conn:
        p = proposals_frame(conn)
    return dict(zip(p["account_id"], p["decided_by"]))


def shown(model, key):
    return [model.value(r, key) for r in range(model.rowCount())]


def proposals(qtbot, w, account=None) -> ProposalsPanel:
    show_loaded(qtbot, w, "Proposals", account)
    p = w.panel("Proposals")
    assert isinstance(p, ProposalsPanel)
    if account:
        qtbot.waitUntil(lambda: p.current == account, timeout=2000)
    return p


def press(qtbot, widget, key):
    widget.setFocus()
    qtbot.keyClick(widget, key)


def reject_with_reason(qtbot, window, panel, reason="client asked to wait", code=None):
    """R on the selected account, then the reason dialog answered and accepted."""
    press(qtbot, panel.table, Qt.Key.Key_R)
    dlg = panel.reason_dialog
    assert dlg.isVisible()
    if code:
        dlg.code.setCurrentIndex(dlg.code.findData(code))
    dlg.reason.setText(reason)
    qtbot.mouseClick(dlg.ok_button, Qt.MouseButton.LeftButton)
    window.activateWindow()  # the offscreen platform does not hand activation back after a dialog
    qtbot.waitUntil(window.isActiveWindow, timeout=2000)


def trade_row(panel, side, symbol=None) -> int:
    m = panel.trades_model
    for r in range(m.rowCount()):
        if m.value(r, "side") == side and (symbol is None or m.value(r, "symbol") == symbol) \
                and m.value(r, "status") != "REMOVED":
            return r
    raise AssertionError(f"no {side} {symbol} trade shown")


def edit_quantity(qtbot, panel, row, quantity):
    """Edit a Shares cell as a user does: open the editor, type, press Enter."""
    idx = panel.trades_model.index(row, panel.trades_model._qcol)
    panel.trades.setFocus()
    panel.trades.setCurrentIndex(idx)
    panel.trades.edit(idx)
    editor = panel.trades.findChild(QSpinBox, "quantityEditor")
    assert editor is not None and editor.isVisible()
    editor.selectAll()
    qtbot.keyClicks(editor, str(quantity))
    qtbot.keyClick(editor, Qt.Key.Key_Return)
    editing = QAbstractItemView.State.EditingState
    qtbot.waitUntil(lambda: panel.trades.state() != editing, timeout=2000)  # Enter commits (queued)
    qtbot.waitUntil(lambda: not panel.reload_pending, timeout=2000)  # reloads once the editor closed


# --------------------------------------------------------------------------- wiring
def test_navigation_builds_the_review_panels_into_the_window(qtbot, window):
    for name, cls in (("Proposals", ProposalsPanel), ("Charts", ChartsPanelHost), ("Batches", BatchesPanel),
                      ("Audit", AuditPanel)):
        assert FACTORIES[name] is cls
        assert isinstance(window.panel(name), cls) and not isinstance(window.panel(name), Placeholder)
    assert list(FACTORIES) == list(PANELS)  # every slot has its panel, in the navigation's order
    assert not [n for n in PANELS if isinstance(window.panel(n), Placeholder)]
    show_loaded(qtbot, window, "Proposals")
    assert window.panel("Proposals").stack.currentIndex() == 0  # no run yet: the empty state
    assert window.panel("Proposals").empty.title.text() == "No run yet"


# --------------------------------------------------------------------------- review
def test_approve_reject_and_edit_in_a_review_tier(qtbot, engine, reviewed, window, boxes):
    w = window
    assert statuses(engine) == {"A1": "PROPOSED", "A2": "PROPOSED", "A3": "PROPOSED"}
    p = proposals(qtbot, w)
    assert p.tiers.count() == 4 and p.current_tier() == "Small"
    assert [p.tiers.tabText(i).split()[0] for i in range(4)] == ["Small", "Core", "Premier", "UHNW"]
    assert "3 to review" in p.tiers.tabText(0)
    assert sorted(shown(p.model, "account_id")) == ["A1", "A2", "A3"]
    assert set(shown(p.model, "review_text")) == {"To review"}
    a1 = shown(p.model, "account_id").index("A1")
    col = [c.key for c in p.model.columns].index
    assert p.model.data(p.model.index(a1, col("score_bps"))).endswith(" bps")  # score in bps
    assert p.model.data(p.model.index(a1, col("value"))) == "$92,000"

    # A approves the selected account (as alice), R rejects
    p.focus("A1")
    press(qtbot, p.table, Qt.Key.Key_A)
    assert statuses(engine)["A1"] == "APPROVED" and decided_by(engine)["A1"] == "alice"
    assert p.model.frame().set_index("account_id").loc["A1", "review_text"] == "Approved"
    assert "Approved A1" in p.action_msg.text()
    qtbot.waitUntil(lambda: w.nav.item(PANELS.index("Proposals")).data(BadgeRole) == 2, timeout=2000)
    p.focus("A3")
    press(qtbot, p.table, Qt.Key.Key_R)  # asks for a reason code and text first
    dlg = p.reason_dialog
    assert dlg.isVisible() and dlg.heading.text() == "Reject the proposal of A3?"
    assert statuses(engine)["A3"] == "PROPOSED" and not dlg.ok_button.isEnabled()  # no reason yet
    dlg.code.setCurrentIndex(dlg.code.findData("CLIENT_INSTRUCTION"))
    dlg.reason.setText("client asked to keep the tobacco shares for now")
    qtbot.mouseClick(dlg.ok_button, Qt.MouseButton.LeftButton)
    assert statuses(engine) == {"A1": "APPROVED", "A2": "PROPOSED", "A3": "REJECTED"}
    assert "CLIENT_INSTRUCTION: client asked to keep the tobacco shares" in p.detail_title.text()
    w.activateWindow()  # the offscreen platform does not hand activation back after a dialog
    qtbot.waitUntil(w.isActiveWindow, timeout=2000)
    assert "1 to review" in p.tiers.tabText(0)

    # an edit that overspends cash is refused with the engine's reason; nothing changes
    p.focus("A1")
    assert p.current == "A1" and "A1" in p.detail_title.text()
    before = proposal_trades(engine, "A1")
    buy = trade_row(p, "BUY", "OIL")
    qty = int(p.trades_model.value(buy, "quantity"))
    edit_quantity(qtbot, p, buy, qty * 50)
    assert p.edit_msg.isVisible() and "overspends cash" in p.edit_msg.text()
    pd.testing.assert_frame_equal(proposal_trades(engine, "A1"), before)
    assert statuses(engine)["A1"] == "APPROVED"
    assert int(p.trades_model.value(trade_row(p, "BUY", "OIL"), "quantity")) == qty
    assert not len(audit_entries(engine, action="EDIT"))

    # a valid edit is stored and sends the account back to review
    sell = trade_row(p, "SELL", "AAA")
    old = int(p.trades_model.value(sell, "quantity"))
    edit_quantity(qtbot, p, sell, old - 10)
    assert "awaits approval again" in p.edit_msg.text()
    t = proposal_trades(engine, "A1")
    assert int(t[(t["side"] == "SELL") & (t["symbol"] == "AAA")]["quantity"].iat[0]) == old - 10
    assert statuses(engine)["A1"] == "PROPOSED"
    assert int(p.trades_model.value(trade_row(p, "SELL", "AAA"), "quantity")) == old - 10  # reloaded
    assert p.model.frame().set_index("account_id").loc["A1", "review_text"] == "To review"

    # Delete removes the selected trade (after a confirmation)
    buy = trade_row(p, "BUY", "OIL")
    p.trades.selectRow(buy)
    press(qtbot, p.trades, Qt.Key.Key_Delete)
    assert boxes.seen[-1].title == "Remove trade" and "OIL" in boxes.seen[-1].text
    t = proposal_trades(engine, "A1")
    assert t.set_index("symbol").loc["OIL", "status"] == "REMOVED"
    assert "REMOVED" in shown(p.trades_model, "status")

    # approve again: versions the panel loaded are current (no "changed by someone else")
    p.focus("A1")
    press(qtbot, p.table, Qt.Key.Key_A)
    assert statuses(engine)["A1"] == "APPROVED"
    log = audit_entries(engine)
    got = set(zip(log["action"], log["username"], log["account_id"]))
    assert {("APPROVE", "alice", "A1"), ("REJECT", "alice", "A3"), ("EDIT", "alice", "A1"),
            ("REMOVE_TRADE", "alice", "A1")} <= got


def test_decision_changed_by_someone_else_is_refused(qtbot, engine, reviewed, window):
    from engine.desk.review import reject

    p = proposals(qtbot, window, "A2")
    reject(engine, ["A2"], user="bob", reason="client call")  # another desk, after the panel loaded A2
    press(qtbot, p.table, Qt.Key.Key_A)
    assert "changed by someone else" in p.action_msg.text()
    assert statuses(engine)["A2"] == "REJECTED" and decided_by(engine)["A2"] == "bob"


def test_bulk_approve_changes_exactly_the_filtered_accounts(qtbot, engine, reviewed, window, boxes):
    p = proposals(qtbot, window)
    p.category.setCurrentText("MANDATE")
    assert sorted(shown(p.model, "account_id")) == ["A2", "A3"]
    assert "2 of 3 accounts" in p.count.text()
    dollars = sum(float(t.loc[t["status"] != "REMOVED", "est_value"].sum())
                  for t in (proposal_trades(engine, a) for a in ("A2", "A3")))
    # cancelled: nothing changes
    boxes.answers.append(QMessageBox.StandardButton.Cancel)
    qtbot.mouseClick(p.bulk_button, Qt.MouseButton.LeftButton)
    assert statuses(engine) == {"A1": "PROPOSED", "A2": "PROPOSED", "A3": "PROPOSED"}
    ask = boxes.seen[-1]
    assert ask.text == f"Approve 2 Small accounts with ${dollars:,.0f} of trades?"
    assert "MANDATE" in ask.info
    # confirmed: exactly the filtered accounts
    qtbot.mouseClick(p.bulk_button, Qt.MouseButton.LeftButton)
    assert statuses(engine) == {"A1": "PROPOSED", "A2": "APPROVED", "A3": "APPROVED"}
    assert decided_by(engine)["A2"] == decided_by(engine)["A3"] == "alice"
    # with "Needs review" on, the approved accounts leave the view; a second bulk finds nothing
    p.needs_review.setChecked(True)
    assert shown(p.model, "account_id") == []
    assert not p.bulk_button.isEnabled()
    p.category.setCurrentIndex(0)
    assert shown(p.model, "account_id") == ["A1"]


def test_tiers_filters_and_sort(qtbot, engine, sample_book, window):
    import_book(engine, sample_book, user="ops1")
    data = default_policy().model_dump()
    data["tiers"] = [{**t, "review": "all" if t["name"] == "Core" else t["review"]} for t in data["tiers"]]
    save_policy(engine, policy_from_dict(data), user="admin")
    run_workflow(engine, workers=1, user="sched")
    with engine.connect() as conn:
        props = proposals_frame(conn)
    p = proposals(qtbot, window)
    assert p.current_tier() == "Core"  # the first tier with accounts awaiting review
    core = props[props["tier"] == "Core"]
    assert p.model.total_rows() == len(core)
    p.needs_review.setChecked(True)
    want = core[(core["status"] == "PROPOSED") & core["category"].isin(["MANDATE", "SCORE"])]
    assert sorted(shown(p.model, "account_id")) == sorted(want["account_id"])
    p.flagged.setChecked(True)
    want = want[want["flags"].fillna("") != ""]
    assert sorted(shown(p.model, "account_id")) == sorted(want["account_id"]) and len(want)
    p.clear_filters()
    p.category.setCurrentText("NO_TRADE")
    assert set(shown(p.model, "category")) == {"NO_TRADE"}
    p.category.setCurrentIndex(0)
    # header click sorts by score, descending on the second click; missing scores last
    col = [c.key for c in p.model.columns].index("score_bps")
    header = p.table.horizontalHeader()
    x = header.sectionViewportPosition(col) + header.sectionSize(col) // 2
    qtbot.mouseClick(header.viewport(), Qt.MouseButton.LeftButton, pos=QPoint(x, header.height() // 2))
    qtbot.mouseClick(header.viewport(), Qt.MouseButton.LeftButton, pos=QPoint(x, header.height() // 2))
    scores = [v for v in shown(p.model, "score_bps") if v is not None]
    assert scores == sorted(scores, reverse=True) and len(scores) > 10
    # every tier of the policy has a view; a tier switch shows only that tier
    p.set_tier("Premier")
    assert set(shown(p.model, "tier")) == {"Premier"}
    assert p.model.total_rows() == int((props["tier"] == "Premier").sum())
    # focus switches tier (and clears a filter that hides the account)
    target = core[core["category"] == "NO_TRADE"]["account_id"].iat[0]
    p.needs_review.setChecked(True)
    p.focus(target)
    assert p.current_tier() == "Core" and p.current == target
    assert shown(p.model, "account_id")[p.table.selected_row()] == target
    assert not p.needs_review.isChecked()
    assert p.trades_model.rowCount() == 0 and "none proposed" in p.trades_title.text()


def test_detail_shows_class_weights_and_score_breakdown(qtbot, engine, reviewed, window):
    p = proposals(qtbot, window, "A1")
    with engine.connect() as conn:
        rec = proposals_frame(conn).set_index("account_id").loc["A1"]
    detail = json.loads(rec["detail"])
    chart = p.weights
    assert set(chart.classes) == set(detail["class_weights_pre"]) | set(detail["class_targets"])
    i = chart.classes.index("US Equity")
    assert chart.pre.opts["width"][i] == pytest.approx(detail["class_weights_pre"]["US Equity"])
    assert chart.post.opts["width"][i] == pytest.approx(detail["class_weights_post"]["US Equity"])
    assert chart.class_axis.names == chart.classes  # one labelled row per class
    lo, hi = detail["class_bands"]["US Equity"]
    bars = chart.band.opts
    j = list(np.round(bars["y"] - 0.19)).index(i)
    assert bars["x"][j] - bars["left"][j] == pytest.approx(lo)
    assert bars["x"][j] + bars["right"][j] == pytest.approx(hi)
    tx, ty = chart.target.getData()
    k = list(np.round(ty[::2] + 0.42)).index(i)
    assert tx[2 * k] == pytest.approx(detail["class_targets"]["US Equity"])
    rows = {p.breakdown.item(r, 0).text(): (p.breakdown.item(r, 1).text(), p.breakdown.item(r, 2).text())
            for r in range(p.breakdown.rowCount())}
    assert rows["Drift benefit"][0] == f"+${rec['drift_benefit']:,.0f}"
    assert rows["Trading cost"][0] == f"−${rec['trading_cost']:,.0f}"
    assert rows["= Score"][1] == f"{rec['score_bps']:,.1f} bps"
    assert rows["Threshold"][1] == f"{rec['threshold_bps']:,.1f} bps"
    parts = rec["drift_benefit"] + rec["harvest_benefit"] + rec["rating_benefit"] - rec["trading_cost"] \
        - rec["tax_cost"]
    assert parts == pytest.approx(rec["score"])


# --------------------------------------------------------------------------- charts host
def to_viewport(plot_widget, x, y) -> QPoint:
    return plot_widget.mapFromScene(plot_widget.getPlotItem().vb.mapViewToScene(QPointF(x, y)))


def drag(plot_widget, start: QPoint, end: QPoint, steps: int = 12) -> None:
    vp = plot_widget.viewport()
    left, none = Qt.MouseButton.LeftButton, Qt.MouseButton.NoButton

    def send(etype, pos, button, buttons):
        ev = QMouseEvent(etype, QPointF(pos), QPointF(pos), QPointF(vp.mapToGlobal(pos)), button, buttons,
                         Qt.KeyboardModifier.NoModifier)
        QApplication.sendEvent(vp, ev)

    send(QEvent.Type.MouseButtonPress, start, left, left)
    for i in range(1, steps + 1):
        send(QEvent.Type.MouseMove, QPoint(round(start.x() + (end.x() - start.x()) * i / steps),
                                           round(start.y() + (end.y() - start.y()) * i / steps)), none, left)
        QApplication.processEvents()
    send(QEvent.Type.MouseButtonRelease, end, left, none)
    QApplication.processEvents()


def test_charts_host_saves_the_dragged_threshold_and_the_next_run_uses_it(
        qtbot, engine, sample_book, window, boxes, monkeypatch):
    w = window
    import_book(engine, sample_book, user="ops1")
    save_policy(engine, eager_policy(), user="admin")  # a spread of Core scores above the floor to drag over
    w.ctx.notify("import")
    qtbot.waitUntil(w.run_action.isEnabled, timeout=10_000)
    w.run_action.trigger()
    assert w.ctx.tasks.busy
    wait_idle(qtbot, w)
    show_loaded(qtbot, w, "Charts")
    host = w.panel("Charts")
    charts = host.charts
    assert host.run_id is not None and charts.tier_combo.count() == 4, boxes.seen
    charts.set_tier("Core")
    qtbot.waitExposed(charts.hist_plot)
    qtbot.wait(50)  # the plots laid out at their final size
    with engine.connect() as conn:
        props = proposals_frame(conn)
    core = props[(props["tier"] == "Core") & props["category"].isin(["SCORE", "NO_TRADE"])
                 & (props["turnover"] > 0)]
    floor = current_policy(engine).tier("Core").threshold_floor_bps
    # half of those that score above the floor trade (losses valued as deferrals score lower
    # than at the full tax rate: a fixed percentile of all of them can sit on the floor)
    target = float(np.percentile(core.loc[core["score_bps"] > floor, "score_bps"], 50))
    vb = charts.hist_plot.getPlotItem().vb
    (_, _), (y0, y1) = vb.viewRange()
    start = to_viewport(charts.hist_plot, floor, (y0 + y1) / 2)
    end = to_viewport(charts.hist_plot, target, (y0 + y1) / 2)
    assert end.x() - start.x() > 20, "the drag should move the line visibly"
    drag(charts.hist_plot, start, end)
    bps = charts.threshold()
    assert bps != pytest.approx(floor) and abs(bps - target) < 10
    preview = dict(charts.last_preview())
    assert preview["tier"] == "Core" and 0 < preview["accounts"] < preview["eligible"]
    assert f"<b>{preview['accounts']:,}</b>" in charts.preview_label.text()

    versions = len(policy_versions(engine))
    monkeypatch.setattr(QMessageBox, "question", staticmethod(lambda *a, **k: QMessageBox.StandardButton.Save))
    qtbot.mouseClick(charts.save_button, Qt.MouseButton.LeftButton)
    pv = policy_versions(engine)
    assert len(pv) == versions + 1 and pv["created_by"].iat[0] == "alice"
    assert "Core threshold flat" in pv["note"].iat[0]
    tier = current_policy(engine).tier("Core")
    assert tier.threshold_start_bps == tier.threshold_floor_bps == pytest.approx(bps)
    assert f"Saved policy version {int(pv['id'].iat[0])}" in host.msg.text()
    assert "POLICY_SAVE" in set(audit_entries(engine, user="alice")["action"])
    assert charts.threshold() == pytest.approx(bps)  # reloaded: the policy floor is now the saved value

    # the next run (from the window, on the worker) uses that version and trades what was previewed
    w.run_action.trigger()
    assert w.ctx.tasks.busy
    wait_idle(qtbot, w)
    with engine.connect() as conn:
        run = conn.exec_driver_sql("select policy_id from runs order by id desc limit 1").scalar()
        after = proposals_frame(conn)
    assert run == int(pv["id"].iat[0])
    core_after = after[after["tier"] == "Core"]
    assert int((core_after["category"] == "SCORE").sum()) == preview["accounts"]
    score = core_after[core_after["category"] == "SCORE"]
    assert float((score["turnover"] * score["value"]).sum()) == pytest.approx(preview["turnover"], rel=1e-9)
    assert int((core_after["category"] == "MANDATE").sum()) == preview["mandate_accounts"]


def test_clicking_a_scatter_point_opens_the_account_in_proposals(qtbot, engine, sample_book, window):
    w = window
    import_book(engine, sample_book, user="ops1")
    run_workflow(engine, workers=1, user="sched")
    show_loaded(qtbot, w, "Charts")
    charts = w.panel("Charts").charts
    # the most isolated point of a tier other than the panel's default, so the tier must switch
    items = {t: it for t, it in charts.scatter_items.items() if len(it.ids)}
    tier = next(t for t in ("Premier", "UHNW", "Small") if t in items)
    it = items[tier]
    plot = charts.scatter_plot
    pix = np.array([[q.x(), q.y()] for q in (to_viewport(plot, x, y) for x, y in zip(it.data["x"], it.data["y"]))],
                   float)
    allpix = np.concatenate([np.array([[q.x(), q.y()] for q in (to_viewport(plot, x, y) for x, y in
                                                                  zip(o.data["x"], o.data["y"]))], float)
                             for o in items.values()])
    vp = plot.viewport().rect()
    legend = charts._scatter_legend.sceneBoundingRect()
    best, k = -1.0, -1
    for i, (x, y) in enumerate(pix):
        if not (10 < x < vp.width() - 10 and 10 < y < vp.height() - 10):
            continue
        if legend.contains(plot.mapToScene(QPoint(int(x), int(y)))):
            continue
        d = np.sqrt(((allpix - [x, y]) ** 2).sum(1))
        d = np.sort(d)[1] if len(d) > 1 else np.inf
        if d > best:
            best, k = d, i
    assert k >= 0 and best > 8, "no isolated point to click"
    account = str(it.ids[k])
    from PySide6.QtTest import QTest
    QTest.mouseClick(plot.viewport(), Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier,
                     QPoint(int(round(pix[k, 0])), int(round(pix[k, 1]))))
    qtbot.waitUntil(lambda: w.current_panel_name() == "Proposals", timeout=2000)
    p = w.panel("Proposals")
    wait_loaded(qtbot, p)  # the run is read off the GUI thread, then the account shown
    assert p.current_tier() == tier and p.current == account
    assert shown(p.model, "account_id")[p.table.selected_row()] == account
    assert account in p.detail_title.text()


# --------------------------------------------------------------------------- export, batches, audit
def test_one_click_export_shows_in_batches_and_every_action_in_audit(
        qtbot, engine, reviewed, window, boxes, folders, opened, tmp_path):
    w = window
    p = proposals(qtbot, w, "A1")
    press(qtbot, p.table, Qt.Key.Key_A)
    p.focus("A3")
    reject_with_reason(qtbot, w, p)
    p.focus("A2")
    sell = trade_row(p, "SELL")
    edit_quantity(qtbot, p, sell, int(p.trades_model.value(sell, "quantity")) + 5)
    assert "awaits approval again" in p.edit_msg.text(), p.edit_msg.text()
    press(qtbot, p.table, Qt.Key.Key_A)
    assert statuses(engine) == {"A1": "APPROVED", "A2": "APPROVED", "A3": "REJECTED"}

    # one click: Export approved → confirm → folder → worker → the batch
    out = tmp_path / "out"
    out.mkdir()
    folders.append(str(out))
    w.export_action.trigger()
    wait_idle(qtbot, w)
    batches = batches_frame(engine)
    assert len(batches) == 1
    bid = batches["id"].iat[0]
    assert bid in w.batch_dialog.heading.text() and w.batch_dialog.isVisible()

    show_loaded(qtbot, w, "Batches")
    b = w.panel("Batches")
    assert b.model.rowCount() == 1 and b.model.value(0, "id") == bid and b.current == bid
    assert b.model.value(0, "created_by") == "alice"
    manifest = json.loads((out / f"batch_{bid}.json").read_text())
    assert b.model.value(0, "n_lines") == manifest["counts"]["order_lines"]
    files = {b.files.item(r, 0).text(): (b.files.item(r, 1).text(), b.files.item(r, 2).text())
             for r in range(b.files.rowCount())}
    for f in manifest["files"]:
        digest = hashlib.sha256((out / f["name"]).read_bytes()).hexdigest()
        assert files[f["name"]][0] == f["sha256"] == digest
        assert files[f["name"]][1].endswith(("bytes", "KB"))
    assert f"batch_{bid}.json" in files
    trades = batch_trades(engine, bid)
    assert sorted(shown(b.trades_model, "id")) == sorted(trades["id"]) and set(trades["account_id"]) == {"A1", "A2"}
    assert b.verify() == {f["name"]: "matches ✓" for f in manifest["files"]}
    (out / manifest["files"][0]["name"]).write_text("tampered")
    assert b.verify()[manifest["files"][0]["name"]].startswith("changed")
    qtbot.mouseClick(b.open_button, Qt.MouseButton.LeftButton)
    assert [Path(u.toLocalFile()) for u in opened] == [out.resolve()]

    # Audit: every action with its user, newest first
    show_loaded(qtbot, w, "Audit")
    a = w.panel("Audit")
    rows = list(zip(shown(a.model, "action"), shown(a.model, "username"), shown(a.model, "account_id")))
    for want in [("IMPORT", "ops1", None), ("POLICY_SAVE", "admin", None), ("RUN", "sched", None),
                 ("APPROVE", "alice", "A1"), ("REJECT", "alice", "A3"), ("EDIT", "alice", "A2"),
                 ("APPROVE", "alice", "A2"), ("EXPORT", "alice", None)]:
        assert want in rows, want
    times = shown(a.model, "at")
    assert times == sorted(times, reverse=True)
    assert rows.index(("EXPORT", "alice", None)) < rows.index(("APPROVE", "alice", "A2")) \
        < rows.index(("EDIT", "alice", "A2")) < rows.index(("IMPORT", "ops1", None))
    a.action.setCurrentText("EDIT")
    wait_loaded(qtbot, a)  # the filtered log is read off the GUI thread
    assert shown(a.model, "action") == ["EDIT"]
    change = a.model.data(a.model.index(0, 6))
    assert "quantity:" in change and "→" in change
    a.action.setCurrentText(ALL_ACTIONS)
    a.user.setCurrentText("admin")
    wait_loaded(qtbot, a)
    assert set(shown(a.model, "username")) == {"admin"}
    a.user.setCurrentText(ALL_USERS)
    a.account.setText("A3")
    qtbot.waitUntil(lambda: set(shown(a.model, "account_id")) == {"A3"}, timeout=20_000)
    assert "REJECT" in shown(a.model, "action")
    a.clear_filters()
    a.since.setDate(a.since.date().currentDate().addDays(2))
    wait_loaded(qtbot, a)
    assert a.model.rowCount() == 0
    a.clear_filters()
    a.until.setDate(a.until.date().currentDate().addDays(-2))
    wait_loaded(qtbot, a)
    assert a.model.rowCount() == 0
    a.clear_filters()
    wait_loaded(qtbot, a)
    assert a.model.rowCount() == len(audit_entries(engine))


def test_show_batch_result_lists_files_and_opens_the_folder(qtbot, engine, reviewed, opened, tmp_path):
    from engine.desk.exporter import export_batch
    from engine.desk.review import approve

    assert export_batch(engine, tmp_path / "none") is None  # everything still awaits review
    nothing = show_batch_result(None, None)
    qtbot.addWidget(nothing)
    assert nothing.heading.text() == "Nothing approved to export" and not nothing.open_button.isVisible()
    approve(engine, ["A1", "A2", "A3"], user="rev")
    res = export_batch(engine, tmp_path / "o", user="ops")
    dlg = show_batch_result(None, res)
    qtbot.addWidget(dlg)
    assert dlg.isVisible() and res.batch_id in dlg.heading.text()
    assert f"{res.n_trades:,} trades" in dlg.text.text() and f"{res.n_accounts:,} accounts" in dlg.text.text()
    names = [dlg.files.item(r, 0).text() for r in range(dlg.files.rowCount())]
    assert names == [Path(p).name for p, _ in res.files]
    for r, (path, digest) in enumerate(res.files):
        if digest:
            assert dlg.files.item(r, 1).text() == digest == hashlib.sha256(Path(path).read_bytes()).hexdigest()
    qtbot.mouseClick(dlg.open_button, Qt.MouseButton.LeftButton)
    assert [Path(u.toLocalFile()) for u in opened] == [(tmp_path / "o").resolve()]


def test_describe_change_is_readable():
    assert describe_change('{"status": "PROPOSED"}', '{"status": "APPROVED"}') == "status: PROPOSED → APPROVED"
    assert describe_change('{"quantity": 1200, "lots": "L1:1200", "status": "PROPOSED"}',
                           '{"quantity": 1190, "lots": "L1:1190"}') == \
        "quantity: 1,200 → 1,190; lots: L1:1200 → L1:1190; status: was PROPOSED"
    assert describe_change(None, '{"batch_id": "B1", "files": [{"name": "a.csv"}, {"name": "a.fix"}]}') == \
        "batch_id: B1; files: a.csv, a.fix"
    assert describe_change(None, None) == ""
