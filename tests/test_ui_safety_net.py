"""The console, end to end through real widgets (pytest-qt, offscreen): a halt added after the
proposals were approved keeps their accounts out of the batch, and every step says so — the
override form before saving, the export confirmation, the batch file; then undo before export
(withdraw an approval, restore a rejection and a removed trade) with a reason each time."""
import csv

from qt_fixtures import boxes, close_window, folders, make_window, reviewed, settings, statuses, window, wait_idle, shown, wait_loaded  # noqa: F401
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QPushButton

from engine.desk.review import proposal_trades
from storage import repo


def press(qtbot, widget, key):
    widget.setFocus()
    qtbot.keyClick(widget, key)


def reactivate(qtbot, w):
    w.activateWindow()  # the offscreen platform does not hand activation back after a dialog
    qtbot.waitUntil(w.isActiveWindow, timeout=2000)


def test_halt_after_approval_end_to_end_through_the_widgets(qtbot, engine, reviewed, window, boxes, folders,
                                                            tmp_path):
    w = window
    # approve every account in Proposals
    shown(qtbot, w, "Proposals")
    p = w.panel("Proposals")
    for a in ("A1", "A2", "A3"):
        p.focus(a)
        qtbot.waitUntil(lambda a=a: p.current == a, timeout=2000)
        press(qtbot, p.table, Qt.Key.Key_A)
    assert statuses(engine) == {"A1": "APPROVED", "A2": "APPROVED", "A3": "APPROVED"}
    oil = {a: set(proposal_trades(engine, a)["symbol"]) for a in ("A1", "A2", "A3")}
    assert "OIL" in oil["A1"] and "OIL" in oil["A3"] and "OIL" not in oil["A2"]
    n_held = len(proposal_trades(engine, "A1")) + len(proposal_trades(engine, "A3"))

    # add a freeze halt of OIL in Overrides: the confirmation says what it stops, before saving
    shown(qtbot, w, "Overrides")
    o = w.panel("Overrides")
    o.halt_symbol.setText("OIL")
    o.halt_reason.setText("exchange halt")
    qtbot.mouseClick(o.halt_button, Qt.MouseButton.LeftButton)
    ask = boxes.seen[-1]
    assert ask.title == "Add halt" and ask.text == "Halt OIL (freeze) until ended?"
    assert ask.info == f"It stops {n_held} approved trades of 2 accounts (not exported while it is in force)."
    assert "Halt" in o.halt_msg.text() and o.halt_msg.property("ok") is True

    # the proposal shows it is blocked
    shown(qtbot, w, "Proposals", "A1")
    qtbot.waitUntil(lambda: p.current == "A1", timeout=2000)
    assert "blocked at export" in p.detail_title.text() and "HALTED: OIL (freeze)" in p.detail_title.text()

    # export from Batches: the confirmation names the blocked trades, the batch file lacks them
    shown(qtbot, w, "Batches")
    b = w.panel("Batches")
    [export] = [x for x in b.stack_empty.findChildren(QPushButton) if x.text() == "Export approved…"]
    out = tmp_path / "out"
    out.mkdir()
    folders.append(str(out))
    qtbot.mouseClick(export, Qt.MouseButton.LeftButton)
    wait_idle(qtbot, w)
    confirm = next(x for x in boxes.seen if x.title == "Export approved")
    assert confirm.text.startswith("Export 2 trades for 1 account")
    assert f"{n_held:,} approved trades of 2 account(s) blocked" in confirm.info
    a1 = proposal_trades(engine, "A1")
    oil_a1 = a1[a1["symbol"] == "OIL"].iloc[0]  # the A1 line the halt stops, as the engine proposed it
    assert "A1: " in confirm.info and "A3: " in confirm.info
    assert f"{oil_a1['side']} {int(oil_a1['quantity'])} OIL" in confirm.info
    assert "HALTED: OIL (freeze): exchange halt" in confirm.info and "older run" not in confirm.info
    [batch] = out.glob("trades_*.csv")
    rows = list(csv.DictReader(open(batch)))
    assert {r["account_id"] for r in rows} == {"A2"} and "OIL" not in {r["symbol"] for r in rows}
    assert "Kept back" in w.batch_dialog.blocked_text.text() and "A3: " in w.batch_dialog.blocked_text.text()
    w.batch_dialog.close()
    shown(qtbot, w, "Today")
    qtbot.waitUntil(lambda: f"{n_held} blocked" in w.panel("Today").export_info.text(), timeout=5000)

    # the halt ends (Overrides, confirmed): they go out in the next batch, no re-run
    shown(qtbot, w, "Overrides")
    o.refresh()
    wait_loaded(qtbot, o)
    o.active.select_row(o.active_model.find("target", "OIL"))
    qtbot.mouseClick(o.end_button, Qt.MouseButton.LeftButton)
    out2 = tmp_path / "out2"
    out2.mkdir()
    folders.append(str(out2))
    w.export_action.trigger()
    wait_idle(qtbot, w)
    [batch2] = out2.glob("trades_*.csv")
    assert {r["account_id"] for r in csv.DictReader(open(batch2))} == {"A1", "A3"}
    w.batch_dialog.close()


def test_reject_withdraw_and_restore_in_proposals(qtbot, engine, reviewed, window, boxes):
    w = window
    shown(qtbot, w, "Proposals", "A1")
    p = w.panel("Proposals")
    qtbot.waitUntil(lambda: p.current == "A1", timeout=2000)
    press(qtbot, p.table, Qt.Key.Key_A)
    p.focus("A1")  # the selection moved on to the next account
    qtbot.waitUntil(lambda: p.current == "A1", timeout=2000)
    assert statuses(engine)["A1"] == "APPROVED" and p.withdraw_button.isEnabled()
    assert not p.restore_button.isEnabled()
    # withdraw: asks why; nothing happens without a reason
    qtbot.mouseClick(p.withdraw_button, Qt.MouseButton.LeftButton)
    dlg = p.reason_dialog
    assert dlg.isVisible() and dlg.heading.text() == "Withdraw the approval of A1?" and not dlg.code.isVisible()
    assert not dlg.ok_button.isEnabled()
    dlg.reason.setText("client called about the OIL buy")
    qtbot.mouseClick(dlg.ok_button, Qt.MouseButton.LeftButton)
    reactivate(qtbot, w)
    wait_loaded(qtbot, p)  # the view is read again off the GUI thread
    assert statuses(engine)["A1"] == "PROPOSED" and "client called about the OIL buy" in p.detail_title.text()
    # reject with a code, then restore
    press(qtbot, p.table, Qt.Key.Key_R)
    dlg = p.reason_dialog
    dlg.code.setCurrentIndex(dlg.code.findData("TAX_IMPACT"))
    dlg.reason.setText("too much tax this year")
    qtbot.mouseClick(dlg.ok_button, Qt.MouseButton.LeftButton)
    reactivate(qtbot, w)
    p.focus("A1")  # the selection moved on to the next account
    qtbot.waitUntil(lambda: p.current == "A1", timeout=2000)
    assert statuses(engine)["A1"] == "REJECTED" and "TAX_IMPACT: too much tax this year" in p.detail_title.text()
    assert p.restore_button.isEnabled() and not p.withdraw_button.isEnabled()
    qtbot.mouseClick(p.restore_button, Qt.MouseButton.LeftButton)
    p.reason_dialog.reason.setText("tax checked with the client")
    qtbot.mouseClick(p.reason_dialog.ok_button, Qt.MouseButton.LeftButton)
    reactivate(qtbot, w)
    assert statuses(engine)["A1"] == "PROPOSED"
    # remove a trade, then restore it
    oil = [r for r in range(p.trades_model.rowCount()) if p.trades_model.value(r, "symbol") == "OIL"][0]
    p.trades.selectRow(oil)
    assert p.remove_selected_trade() and boxes.seen[-1].title == "Remove trade"
    oil = [r for r in range(p.trades_model.rowCount()) if p.trades_model.value(r, "symbol") == "OIL"][0]
    p.trades.selectRow(oil)
    assert p.trades_model.value(oil, "status") == "REMOVED" and p.restore_trade_button.isEnabled()
    qtbot.mouseClick(p.restore_trade_button, Qt.MouseButton.LeftButton)
    p.reason_dialog.reason.setText("the buy is fine")
    qtbot.mouseClick(p.reason_dialog.ok_button, Qt.MouseButton.LeftButton)
    assert proposal_trades(engine, "A1").set_index("symbol").loc["OIL", "status"] == "PROPOSED"
    assert "restored" in p.edit_msg.text()
    with engine.connect() as conn:
        log = repo.audit_frame(conn)
    assert {"WITHDRAW", "REJECT", "RESTORE", "REMOVE_TRADE", "RESTORE_TRADE"} <= set(log["action"])
