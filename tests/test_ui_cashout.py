"""The manual-trade dialog's cash-out numbers and the Suspended panel's cash-out state, driven
with real widgets (pytest-qt, offscreen)."""
import pytest
from qt_fixtures import boxes, close_window, make_window, settings, shown, wait_loaded  # noqa: F401

from engine.book.importer import import_book
from engine.desk.manual import ManualTrade, enter_manual_trades
from engine.decide.workflow import run_workflow
from test_manual_cashout import a2_book


@pytest.fixture
def console(qtbot, engine, db_path, settings, boxes):  # noqa: F811
    made = []

    def open_on(book):
        import_book(engine, book, user="ops")
        run_workflow(engine, workers=1, user="sched")
        w = make_window(qtbot, engine, db_path, settings)
        made.append(w)
        return w

    yield open_on
    for w in made:
        close_window(w, boxes)


def suspended_row(panel, account):
    row = panel.model.find("account_id", account)
    assert row >= 0
    return panel.model.row_dict(row)


def open_dialog(qtbot, w, account="A2"):
    shown(qtbot, w, "Suspended", account)
    p = w.panel("Suspended")
    p.open_manual()
    dlg = p.manual_dialog
    qtbot.waitUntil(dlg.isVisible)
    return p, dlg


def test_dialog_for_an_account_holding_the_requested_cash(qtbot, console, tmp_path):
    """$20,000 cash in an $80,000 account (2% model cash: $1,600) against a $5,000 request."""
    w = console(a2_book(tmp_path / "b", cash=20000, amount=5000))
    p, dlg = open_dialog(qtbot, w)
    row = suspended_row(p, "A2")
    assert not row["urgent"] and row["cash_out"] == "covered by the account's cash"
    assert "Cash-out:</b> covered by the account&#x27;s cash" in p.detail.text()
    assert "reserved for cash requests: $5,000.00" in p.detail.text()
    assert "reserved for cash requests: $5,000.00" in dlg.findChild(type(dlg.cash_label), "manualHeader").text()
    assert dlg.selected_request() == "CR7"
    label = dlg.cash_label.text()
    assert "Cash for request CR7: <b>$18,400.00</b> of <b>$5,000.00</b> — covered" in label
    assert "cash $20,000.00 above model cash $1,600.00: $18,400.00" in label and "short" not in label

    # quantities are whole positive shares as typed: anything else is refused, naming the line
    line = dlg.lines[0]
    line.set("SELL", "BBB")
    for bad in ("1.5", "12.5abc-", "0", "-3"):
        line.quantity.setText(bad)
        qtbot.waitUntil(lambda bad=bad: f"line 1 (SELL BBB) quantity: {bad!r}" in dlg.messages.text()
                        .replace("&#x27;", "'"))
        assert not dlg.enter_button.isEnabled()
    line.quantity.setText("10")
    qtbot.waitUntil(dlg.enter_button.isEnabled)
    assert "these lines $200.00" in dlg.cash_label.text()
    assert "<b>$18,600.00</b> of <b>$5,000.00</b>" in dlg.cash_label.text()
    # a buy of a symbol the security master does not know is refused
    dlg.add_line("BUY", "ZZZ", 5)
    qtbot.waitUntil(lambda: "symbol ZZZ is not in the security master" in dlg.messages.text())
    assert not dlg.enter_button.isEnabled()
    dlg.reject()


def test_dialog_and_panel_for_a_request_covered_by_entered_trades(qtbot, console, tmp_path, engine):
    book = a2_book(tmp_path / "b", cash=1000, amount=30000)
    import_book(engine, book, user="ops")
    run_workflow(engine, workers=1, user="sched")
    enter_manual_trades(engine, "A2", [ManualTrade("BBB", "SELL", 1500)], user="bob", request_id="CR7")
    w = console(a2_book(tmp_path / "b2", cash=1000, amount=30000, as_of="2026-11-21"))
    p, dlg = open_dialog(qtbot, w)
    row = suspended_row(p, "A2")
    assert not row["urgent"] and row["cash_out"] == "cash-out entered, awaiting export"
    assert "URGENT" not in p.detail.text() and "cash-out entered, awaiting export" in p.detail.text()
    label = dlg.cash_label.text()
    assert "Cash for request CR7: <b>$30,000.00</b> of <b>$30,000.00</b> — covered" in label
    assert "trades entered awaiting export $30,000.00" in label and "these lines $0.00" in label
    dlg.reject()
