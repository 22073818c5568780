# Kept whole, long because the console tests share one window fixture and its sample book; split by panel when it grows.
"""The console, driven with real widgets (pytest-qt, offscreen): import and run on the worker,
counts, suspended accounts and manual trades, overrides, policy, export, cancel, settings.

Dialogs are answered by monkeypatching ``QMessageBox.exec`` and
``QFileDialog.getExistingDirectory``; workers are awaited with ``qtbot.waitUntil``/``waitSignal``.
"""
import hashlib
import sqlite3
import time
from datetime import date, timedelta

import pytest
from qt_fixtures import boxes, close_window, folders, LONG, panels_loading, plain_window, settings, shown, wait_idle, wait_loaded  # noqa: F401
from PySide6.QtCore import QDate, Qt
from PySide6.QtWidgets import QMessageBox

from bookkit import write_book
from test_views import problem_book
from engine.desk.exporter import export_preview
from engine.core.tasks import RefusedError
from storage.bulk import read_frame
from sqlalchemy import select
from storage import models as m
from ui.main_window import MainWindow
from ui.navigation import PANELS
from ui.panel import Panel
from ui.widgets import BadgeAlertRole, BadgeRole

AS_OF = date(2026, 11, 20)


# --------------------------------------------------------------------------- fixtures
@pytest.fixture
def window(plain_window):
    return plain_window


def digest(db_path) -> str:
    con = sqlite3.connect(db_path)
    try:
        return hashlib.sha256("\n".join(con.iterdump()).encode()).hexdigest()
    finally:
        con.close()


def imported(qtbot, w, folders, tmp_path, book=None):
    folders.append(str(book or problem_book(tmp_path)))
    w.import_action.trigger()
    assert w.ctx.tasks.busy  # off the GUI thread
    wait_idle(qtbot, w)


def ran(qtbot, w, folders, tmp_path):
    imported(qtbot, w, folders, tmp_path)
    w.run_action.trigger()
    wait_idle(qtbot, w)


def rows(model, key):
    return [model.value(r, key) for r in range(model.rowCount())]


# --------------------------------------------------------------------------- window
def test_new_database_shows_empty_state(window, db_path):
    w = window
    assert [w.nav.item(i).text() for i in range(w.nav.count())] == list(PANELS)
    today = w.panel("Today")
    assert today.stack.currentIndex() == 0
    assert today.empty.title.text() == "Import a book folder or generate a sample"
    assert "No book imported" in w.header.values["book"].text()
    assert "No run yet" in w.header.values["run"].text()
    assert "alice" in w.header.values["user"].text()
    assert db_path in w.db_label.text()
    assert not w.progress.isVisible() and not w.cancel_button.isVisible()
    assert w.import_action.shortcut().toString() == "Ctrl+I"
    assert w.run_action.shortcut().toString() == "Ctrl+R"
    assert w.export_action.shortcut().toString() == "Ctrl+E"
    assert w.import_action.isEnabled() and not w.run_action.isEnabled()  # nothing to run yet


def test_import_and_run_on_the_worker_show_counts_and_badges(qtbot, window, boxes, folders, tmp_path):
    w = window
    imported(qtbot, w, folders, tmp_path)
    assert boxes.seen == []
    qtbot.waitUntil(lambda: "2026-11-20" in w.header.values["book"].text())
    assert "7 accounts" in w.header.values["book"].text()
    today = w.panel("Today")
    assert today.stack.currentIndex() == 1 and "Run" in today.banner.text()

    seen_progress = []
    w.ctx.tasks.started.connect(lambda t: t.progress.connect(lambda f, msg: seen_progress.append(msg)))
    w.run_action.trigger()
    assert w.progress.isVisible() and w.cancel_button.isVisible()
    wait_idle(qtbot, w)
    assert boxes.seen == []
    assert not w.progress.isVisible()
    assert any("optimizing" in s or "saving" in s for s in seen_progress)
    qtbot.waitUntil(lambda: "Run 1" in w.header.values["run"].text())
    assert "done" in w.header.values["run"].text()

    counts = today.counts_model
    total = counts.row_dict(counts.find("tier", "Total"))
    assert total["SUSPENDED"] == 4 and total["Total"] == 7
    assert today.cards["SUSPENDED"].value.text() == "4"
    assert today.cards["SUSPENDED"].note.text() == "1 urgent"
    assert today.cards["accounts"].value.text() == "7"
    assert rows(today.urgent_model, "account_id") == ["B4"]
    urgent_cash = today.urgent_model.data(today.urgent_model.index(0, 3))
    assert urgent_cash == "$1,500"
    qtbot.waitUntil(lambda: w.nav.item(PANELS.index("Suspended")).data(BadgeRole) == 4)
    assert w.nav.item(PANELS.index("Suspended")).data(BadgeAlertRole) is True
    assert w.nav.item(PANELS.index("Today")).data(BadgeRole) == 1


def test_bad_book_is_refused_with_file_line_and_column(qtbot, window, boxes, folders, tmp_path, engine):
    w = window
    bad = write_book(tmp_path / "bad", changes={"accounts.csv": [
        "account_id,name,model_id,custodian,cash,taxable,st_rate,lt_rate,last_trade_date,restrictions,group",
        "A1,Smith Trust,GROWTH,SCHWAB,lots,true,0.37,0.20,,,",
    ]})
    imported(qtbot, w, folders, tmp_path, bad)
    [box] = boxes.seen
    assert "refused" in box.text and "Nothing was imported" in box.text
    assert "accounts.csv, line 2, column cash" in box.info
    with engine.connect() as conn:
        assert conn.execute(select(m.BookSnapshot.id)).first() is None
    assert w.panel("Today").stack.currentIndex() == 0


def test_reimporting_the_same_folder_asks_first(qtbot, window, boxes, folders, tmp_path, engine):
    w = window
    book = problem_book(tmp_path)
    imported(qtbot, w, folders, tmp_path, book)
    boxes.answers.append(QMessageBox.StandardButton.Cancel)
    imported(qtbot, w, folders, tmp_path, book)
    assert "already imported" in boxes.seen[-1].text
    with engine.connect() as conn:
        assert len(conn.execute(select(m.BookSnapshot.id)).all()) == 1
    imported(qtbot, w, folders, tmp_path, book)  # answer Ok: import again
    wait_idle(qtbot, w)
    with engine.connect() as conn:
        assert len(conn.execute(select(m.BookSnapshot.id)).all()) == 2


def test_cancel_button_stops_a_run_and_changes_nothing(qtbot, window, boxes, folders, tmp_path, db_path,
                                                      monkeypatch):
    import engine.decide.workflow as wf

    w = window
    imported(qtbot, w, folders, tmp_path)
    before = digest(db_path)
    real = wf.optimize_many

    def slow(inputs, settings):  # holds the optimizer until the user cancels (or 30 s)
        state = w.ctx.tasks.current.state
        end = time.monotonic() + 30
        while not state.cancelled and time.monotonic() < end:
            time.sleep(0.01)
        return real(inputs, settings)

    monkeypatch.setattr(wf, "optimize_many", slow)
    w.run_action.trigger()
    qtbot.waitUntil(lambda: "preparing the optimizer" in w.task_label.text(), timeout=LONG)
    assert not w.run_action.isEnabled()  # one task at a time
    qtbot.mouseClick(w.cancel_button, Qt.MouseButton.LeftButton)
    assert "cancelling" in w.task_label.text()
    wait_idle(qtbot, w)
    assert "cancelled" in w.statusBar().currentMessage()
    assert boxes.seen == []  # a cancel is not an error
    assert digest(db_path) == before
    assert w.run_action.isEnabled()


def test_cancel_while_saving_rolls_the_run_back(qtbot, window, folders, tmp_path, db_path, monkeypatch):
    import engine.decide.workflow as wf

    w = window
    imported(qtbot, w, folders, tmp_path)
    before = digest(db_path)
    real = wf.insert_frame

    def insert_then_cancel(conn, table, df, progress=None):
        n = real(conn, table, df, progress)
        if table.name == "proposals":  # rows written inside the run's transaction
            w.ctx.tasks.current.state.cancel()
        return n

    monkeypatch.setattr(wf, "insert_frame", insert_then_cancel)
    w.run_action.trigger()
    wait_idle(qtbot, w)
    assert "cancelled" in w.statusBar().currentMessage()
    assert digest(db_path) == before


def test_cancel_an_import_midway_changes_nothing(qtbot, window, folders, tmp_path, db_path, monkeypatch):
    import storage.repo as repo

    w = window
    before = digest(db_path)
    real = repo.insert_frame

    def insert_then_cancel(conn, table, df, progress=None):
        n = real(conn, table, df, progress)
        w.ctx.tasks.current.state.cancel()  # as if Cancel was pressed after the first table
        return n

    monkeypatch.setattr(repo, "insert_frame", insert_then_cancel)
    imported(qtbot, w, folders, tmp_path)
    assert "cancelled" in w.statusBar().currentMessage()
    assert digest(db_path) == before


def test_closing_during_a_run_cancels_it_and_keeps_the_database(qtbot, engine, db_path, settings, boxes,
                                                                folders, tmp_path, monkeypatch):
    import engine.decide.workflow as wf

    w = MainWindow(engine, db=db_path, user="alice", settings=settings, workers=1)
    qtbot.addWidget(w)
    w.show()
    imported(qtbot, w, folders, tmp_path)
    before = digest(db_path)
    real = wf.optimize_many
    state = []

    def slow(inputs, settings):
        s = w.ctx.tasks.current.state
        state.append(s)
        end = time.monotonic() + 30
        while not s.cancelled and time.monotonic() < end:
            time.sleep(0.01)
        return real(inputs, settings)

    monkeypatch.setattr(wf, "optimize_many", slow)
    w.run_action.trigger()
    qtbot.waitUntil(lambda: bool(state), timeout=LONG)
    boxes.answers.append(QMessageBox.StandardButton.Cancel)  # "keep running"
    assert not w.close() and w.ctx.tasks.busy
    assert boxes.seen[-1].text == "Running the workflow is still running."
    t = time.monotonic()
    assert w.close()  # Ok: cancel and quit
    assert time.monotonic() - t < 20 and state[0].cancelled and not w.ctx.tasks.pool.activeThreadCount()
    assert digest(db_path) == before


def test_generate_sample_then_import_on_the_worker(qtbot, window, folders, tmp_path, engine):
    w = window
    w.generate_sample(str(tmp_path), accounts=40)
    wait_idle(qtbot, w)
    from engine.desk import views

    snap = views.status(engine)["snapshot"]
    assert snap is not None and snap["n_accounts"] == 40
    assert (tmp_path / "sample-book-40" / "accounts.csv").exists()
    qtbot.waitUntil(lambda: w.run_action.isEnabled())


# --------------------------------------------------------------------------- suspended + manual
def test_suspended_panel_filters_explains_and_trades_by_hand(qtbot, window, boxes, folders, tmp_path, engine):
    w = window
    ran(qtbot, w, folders, tmp_path)
    shown(qtbot, w, "Suspended")
    p = w.panel("Suspended")
    model = p.model
    assert rows(model, "account_id")[0] == "B4"  # urgent first
    assert sorted(rows(model, "account_id")) == ["B1", "B2", "B4", "B5"]
    assert "4 accounts · 1 urgent" == p.count.text()
    header = [model.headerData(c, Qt.Orientation.Horizontal) for c in range(model.columnCount())]
    assert header == ["Account", "Name", "Value", "Tier", "Reasons", "Since", "Urgent", "Cash requested", "Due",
                      "Cash-out"]
    assert model.data(model.index(0, 2)) == "$10,100" and model.data(model.index(0, 7)) == "$1,500"

    qtbot.keyClicks(p.filter, "recon")
    qtbot.waitUntil(lambda: model.rowCount() == 2)
    assert rows(model, "account_id") == ["B4", "B5"] and p.count.text().startswith("2 of 4")
    p.filter.clear()
    p.reason.setCurrentText("UNKNOWN_SECURITY")
    qtbot.waitUntil(lambda: rows(model, "account_id") == ["B1"])
    p.reason.setCurrentIndex(0)
    p.urgent_only.setChecked(True)
    qtbot.waitUntil(lambda: rows(model, "account_id") == ["B4"])
    p.urgent_only.setChecked(False)
    # sort by value (numpy): header click order
    model.sort(2, Qt.SortOrder.AscendingOrder)
    values = rows(model, "value")
    assert values == sorted(values)

    # the detail of the reason, in words
    shown(qtbot, w, "Suspended", "B4")
    assert p.table.selected_row() >= 0 and model.value(p.table.selected_row(), "account_id") == "B4"
    text = p.detail.text()
    assert "AAA: lots hold 100, custodian 200" in text and "Lots do not match the custodian" in text
    assert "What to do" in text and "URGENT" in text and "CR9" in text

    # manual trades: checked live, the cash they raise against the request
    assert p.manual_button.isEnabled()
    qtbot.mouseClick(p.manual_button, Qt.MouseButton.LeftButton)
    dlg = p.manual_dialog
    qtbot.waitUntil(dlg.isVisible)
    assert dlg.selected_request() == "CR9"  # the high-priority request
    line = dlg.lines[0]
    assert "enter at least one trade" in dlg.messages.text()  # the check of the empty line
    line.set("SELL", "AAA", 300)
    qtbot.waitUntil(lambda: "custodian holds 200" in dlg.messages.text())  # debounced engine check
    assert not dlg.enter_button.isEnabled()
    line.quantity.setValue(10)
    qtbot.waitUntil(lambda: dlg.enter_button.isEnabled())
    assert "$1,000.00</b> of <b>$1,000.00" in dlg.cash_label.text() and "covered" in dlg.cash_label.text()
    line.quantity.setValue(5)
    qtbot.waitUntil(lambda: "$500.00 short" in dlg.cash_label.text())
    line.quantity.setValue(10)
    qtbot.waitUntil(lambda: "covered" in dlg.cash_label.text())
    qtbot.mouseClick(dlg.enter_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not dlg.isVisible())
    assert dlg.result() == dlg.DialogCode.Accepted and len(dlg.entered) == 1
    with engine.connect() as conn:
        t = read_frame(conn, select(m.Trade.__table__).where(m.Trade.category == "MANUAL"))
        audit = read_frame(conn, select(m.AuditEntry.__table__).where(m.AuditEntry.action == "MANUAL_TRADE"))
        state = conn.execute(select(m.CashRequestState.status).where(
            m.CashRequestState.request_id == "CR9")).scalar()
    assert t[["account_id", "symbol", "side", "quantity", "created_by"]].values.tolist() == [
        ["B4", "AAA", "SELL", 10, "alice"]]
    assert "for cash request CR9" in t["reason"].iat[0]
    assert audit["username"].tolist() == ["alice"] and state == "handling"


def test_manual_dialog_shows_engine_refusal_inline(qtbot, window, folders, tmp_path, monkeypatch):
    import ui.manual_dialog as md

    w = window
    ran(qtbot, w, folders, tmp_path)
    shown(qtbot, w, "Suspended", "B4")
    p = w.panel("Suspended")
    p.open_manual()
    dlg = p.manual_dialog
    dlg.lines[0].set("SELL", "AAA", 10)
    dlg.recheck()

    def refuse(*a, **k):
        raise RefusedError("manual trades for B4 refused:\n  changed by someone else")

    monkeypatch.setattr(md, "enter_manual_trades", refuse)
    dlg.enter()
    assert dlg.isVisible() and "changed by someone else" in dlg.error.text() and dlg.error.isVisible()
    dlg.reject()


# --------------------------------------------------------------------------- export
def test_export_previews_then_exports_once(qtbot, window, boxes, folders, tmp_path, engine):
    w = window
    ran(qtbot, w, folders, tmp_path)
    preview = export_preview(engine)
    assert preview["trades"] > 0
    out = tmp_path / "out"
    out.mkdir()
    folders.append(str(out))
    w.export_action.trigger()
    wait_idle(qtbot, w)
    (confirm,) = boxes.seen
    n, a = preview["trades"], preview["accounts"]
    assert confirm.text.startswith(f"Export {n:,} trade{'s' if n != 1 else ''} for {a:,} account")
    heading = w.batch_dialog.heading.text()
    assert heading.startswith("Batch B") and heading.endswith("exported") and w.batch_dialog.isVisible()
    assert sorted(p.name.split("_")[0] + p.suffix for p in out.iterdir()) == [  # the console's default formats
        "batch.json", "lots.csv", "signoff.html", "signoff.pdf", "trades.csv", "trades.fix"]
    assert export_preview(engine)["trades"] == 0
    # again: nothing is waiting, nothing is written
    w.export_action.trigger()
    wait_idle(qtbot, w)
    assert boxes.seen[-1].text == "Nothing to export: no approved trade is waiting."
    assert len(list(out.iterdir())) == 6
    shown(qtbot, w, "Today")
    assert "No approved trade is waiting" in w.panel("Today").export_info.text()
    assert "Last batch B" in w.panel("Today").run_info.text()


def test_export_cancelled_at_the_confirmation_writes_nothing(qtbot, window, boxes, folders, tmp_path, engine):
    w = window
    ran(qtbot, w, folders, tmp_path)
    n = export_preview(engine)["trades"]
    boxes.answers.append(QMessageBox.StandardButton.Cancel)
    w.export_action.trigger()
    wait_idle(qtbot, w)
    assert len(boxes.seen) == 1 and export_preview(engine)["trades"] == n


# --------------------------------------------------------------------------- overrides
def test_overrides_add_validate_and_end(qtbot, window, boxes, folders, tmp_path, engine):
    w = window
    imported(qtbot, w, folders, tmp_path)
    shown(qtbot, w, "Overrides")
    p = w.panel("Overrides")

    def hold(account, until, reason):
        p.hold_account.setText(account)
        p.hold_until.setDate(QDate(until.year, until.month, until.day))
        p.hold_reason.setText(reason)
        qtbot.mouseClick(p.hold_button, Qt.MouseButton.LeftButton)
        wait_loaded(qtbot, p)  # the panel reloads off the GUI thread

    hold("NOPE", AS_OF + timedelta(days=3), "client wire")
    assert p.hold_msg.isVisible() and "account NOPE is not in the book" in p.hold_msg.text()
    hold("A1", AS_OF - timedelta(days=1), "client wire")
    assert "before the book date 2026-11-20" in p.hold_msg.text()
    hold("A1", AS_OF + timedelta(days=3), "  ")
    assert "a reason is required" in p.hold_msg.text()
    assert p.active_model.rowCount() == 0
    hold("A1", AS_OF + timedelta(days=3), "client wires $1M next week")
    assert p.hold_msg.property("ok") is True and "Hold" in p.hold_msg.text()
    assert p.hold_account.text() == ""

    p.halt_symbol.setText("ZZZ")
    p.halt_reason.setText("news")
    qtbot.mouseClick(p.halt_button, Qt.MouseButton.LeftButton)
    assert "symbol ZZZ is not in the security master" in p.halt_msg.text()
    p.halt_symbol.setText("oil")
    qtbot.mouseClick(p.halt_button, Qt.MouseButton.LeftButton)  # freeze, until ended
    p.halt_symbol.setText("TOB")
    p.halt_reason.setText("halted pending news")
    p.halt_mode.setCurrentIndex(p.halt_mode.findData("hold-accounts"))
    p.halt_open.setChecked(False)
    p.halt_until.setDate(QDate(2026, 11, 25))
    qtbot.mouseClick(p.halt_button, Qt.MouseButton.LeftButton)
    wait_loaded(qtbot, p)  # the panel reloads off the GUI thread
    assert sorted(rows(p.active_model, "target")) == ["A1", "OIL", "TOB"]
    modes = dict(zip(rows(p.active_model, "target"), rows(p.active_model, "mode")))
    assert modes == {"A1": "", "OIL": "freeze", "TOB": "hold-accounts"}
    until = dict(zip(rows(p.active_model, "target"), [p.active_model.data(p.active_model.index(r, 4))
                                                       for r in range(3)]))
    assert until == {"A1": "2026-11-23", "OIL": "until ended", "TOB": "2026-11-25"}
    qtbot.waitUntil(lambda: w.nav.item(PANELS.index("Overrides")).data(BadgeRole) == 3)

    # end the hold early (confirmed)
    p.active.select_row(p.active_model.find("target", "A1"))
    assert p.end_button.isEnabled()
    qtbot.mouseClick(p.end_button, Qt.MouseButton.LeftButton)
    wait_loaded(qtbot, p)  # the panel reloads off the GUI thread
    assert "End the hold of account A1 now?" == boxes.seen[-1].text
    assert sorted(rows(p.active_model, "target")) == ["OIL", "TOB"]
    assert rows(p.history_model, "target") == ["A1"] and rows(p.history_model, "state") == ["ended early"]
    assert rows(p.history_model, "ended_by") == ["alice"]
    # declined: nothing ends
    boxes.answers.append(QMessageBox.StandardButton.Cancel)
    p.active.select_row(0)
    qtbot.mouseClick(p.end_button, Qt.MouseButton.LeftButton)
    wait_loaded(qtbot, p)  # the panel reloads off the GUI thread
    assert p.active_model.rowCount() == 2
    with engine.connect() as conn:
        actions = [r[0] for r in conn.execute(select(m.AuditEntry.action).order_by(m.AuditEntry.id))]
    assert actions.count("HOLD_ADD") == 1 and actions.count("HALT_ADD") == 2 and actions.count("HOLD_END") == 1


# --------------------------------------------------------------------------- policy
def test_policy_edit_validates_and_the_next_run_uses_it(qtbot, window, boxes, folders, tmp_path, engine):
    w = window
    ran(qtbot, w, folders, tmp_path)
    shown(qtbot, w, "Policy")
    p = w.panel("Policy")
    assert not p.save_button.isEnabled()  # nothing changed yet
    assert p.tier_editor(0, "name").text() == "Small"

    # invalid: a floor above the start, named by the engine's key
    floor = p.tier_editor(0, "threshold_floor_bps")
    shipped = floor.value()
    floor.setValue(p.tier_editor(0, "threshold_start_bps").value() + 100)
    assert "tiers[0]" in p.error.text() and "threshold_floor_bps must not exceed" in p.error.text()
    assert not p.save_button.isEnabled() and p.state_label.text() == "Not valid"
    floor.setValue(shipped)
    p.fields["trading.cost_bps"].setValue(-1)
    assert "trading.cost_bps" in p.error.text() and p.fields["trading.cost_bps"].property("invalid") is True
    p.fields["trading.cost_bps"].setValue(5)
    assert not p.error.isVisible() and not p.save_button.isEnabled()

    # review every Small account from now on
    review = p.tier_editor(0, "review")
    review.setCurrentIndex(review.findData("all"))
    assert p.save_button.isEnabled() and p.state_label.text() == "Unsaved changes"
    p.note.setText("review small accounts during the audit")
    qtbot.mouseClick(p.save_button, Qt.MouseButton.LeftButton)
    wait_loaded(qtbot, p)  # the panel reloads off the GUI thread
    assert "Saved as version" in p.error.text()
    with engine.connect() as conn:
        pol = read_frame(conn, select(m.Policy.__table__).order_by(m.Policy.id))
    new_id = int(pol["id"].iat[-1])
    assert pol["note"].iat[-1] == "review small accounts during the audit" and pol["created_by"].iat[-1] == "alice"
    assert 'review = "all"' in pol["body"].iat[-1]
    assert rows(p.versions_model, "id")[0] == new_id

    def newest_run():
        with engine.connect() as conn:
            return conn.execute(select(m.Run.id, m.Run.policy_id).order_by(m.Run.id.desc())).first()

    before = newest_run()
    w.run_action.trigger()
    qtbot.waitUntil(lambda: newest_run() != before, timeout=LONG)
    wait_idle(qtbot, w)
    with engine.connect() as conn:
        run = newest_run()
        props = read_frame(conn, select(m.Proposal.category, m.Proposal.review, m.Proposal.status)
                           .where(m.Proposal.run_id == run.id))
    assert run.policy_id == new_id
    trading = props[props["category"].isin(["MANDATE", "SCORE"])]
    assert len(trading) and set(trading["review"]) == {"review"} and set(trading["status"]) == {"PROPOSED"}
    qtbot.waitUntil(lambda: w.nav.item(PANELS.index("Proposals")).data(BadgeRole) == len(trading))


# --------------------------------------------------------------------------- settings, plug-ins
def test_layout_is_saved_and_restored(qtbot, engine, db_path, settings, folders, tmp_path, boxes):
    w = MainWindow(engine, db=db_path, user="alice", settings=settings, workers=1)
    qtbot.addWidget(w)
    w.show()
    ran(qtbot, w, folders, tmp_path)
    shown(qtbot, w, "Suspended")
    table = w.panel("Suspended").table
    table.setColumnWidth(1, 333)
    height = min(790, max(w.minimumSizeHint().height(), 600) + 17)  # offscreen: an 800 × 800 screen
    w.resize(w.width(), height)
    w.close()
    assert settings.value("tables/suspendedTable/header") is not None
    w2 = MainWindow(engine, db=db_path, user="alice", settings=settings, workers=1)
    qtbot.addWidget(w2)
    assert w2.current_panel_name() == "Suspended"
    assert w2.panel("Suspended").table.columnWidth(1) == 333
    w2.show()
    assert w2.height() == height != 900  # a new window is 900 high
    assert boxes.seen == []


def test_a_panel_plugs_into_a_navigation_slot(qtbot, window):
    class Proposals(Panel):
        title = "Proposals"
        refreshed = 0
        focused = None

        def refresh(self):
            self.refreshed += 1

        def focus(self, payload):
            self.focused = payload

    panel = Proposals(window.ctx)
    window.set_panel("Proposals", panel)
    assert window.panel("Proposals") is panel
    shown(qtbot, window, "Proposals", "A1")
    assert window.stack.currentWidget() is panel and panel.refreshed == 1 and panel.focused == "A1"
    window.ctx.notify("review")
    assert panel.refreshed == 2


def test_run_console_opens_the_window(qtbot, monkeypatch, db_path, boxes):
    from PySide6.QtWidgets import QApplication

    import ui.app

    opened = []
    monkeypatch.setattr(QApplication, "exec", lambda self=None: opened.append(
        [w for w in QApplication.topLevelWidgets() if w.objectName() == "mainWindow" and w.isVisible()]) or 0)
    assert ui.app.run_console(db=db_path, demo=False, user="bob") == 0
    [win] = opened[0][-1:]
    qtbot.waitUntil(lambda: win.header_applied > 0)  # the header is read off the GUI thread
    assert "bob" in win.header.values["user"].text()
    win.close()


def test_policy_panel_edits_the_harvest_value_and_band_trade_to(qtbot, window, boxes, engine):
    w = window
    shown(qtbot, w, "Policy")
    p = w.panel("Policy")
    value, trade_to, horizon = (p.fields[k] for k in ("harvest.value", "bands.trade_to", "harvest.horizon_years"))
    assert value.currentData() == "deferral" and trade_to.value() == 0.0 and horizon.value() == 10.0
    assert p.form_dict()["bands"]["trade_to"] == "edge" and not p.save_button.isEnabled()
    horizon.setValue(0)
    assert "harvest.horizon_years" in p.error.text() and not p.save_button.isEnabled()
    horizon.setValue(20)
    value.setCurrentIndex(value.findData("full"))
    trade_to.setValue(0.5)
    assert p.save_button.isEnabled()
    p.note.setText("value losses at the full rate; trade bands halfway back")
    qtbot.mouseClick(p.save_button, Qt.MouseButton.LeftButton)
    wait_loaded(qtbot, p)  # the panel reloads off the GUI thread
    assert "Saved as version" in p.error.text()
    with engine.connect() as conn:
        body = conn.execute(select(m.Policy.body).order_by(m.Policy.id.desc())).scalar()
    assert 'value = "full"' in body and "trade_to = 0.5" in body and "horizon_years = 20.0" in body
    trade_to.setValue(1.0)
    assert p.form_dict()["bands"]["trade_to"] == "target"
