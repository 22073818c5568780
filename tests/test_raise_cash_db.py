"""Issue 23: `manual ACCOUNT --raise AMOUNT` on an imported book (both databases), and the
manual-trade dialog's "Suggest sells" (real widgets, offscreen)."""
from __future__ import annotations

import pytest
from qt_fixtures import boxes, close_window, make_window, settings, shown, wait_loaded  # noqa: F401

import main
from bookkit import BASE, write_book
from engine.book.importer import import_book
from engine.decide.workflow import run_workflow
from storage import models as m

# A1 (taxable) is suspended by a reconciliation break (the custodian holds 590 AAA, the lots
# 600) and owes $40,000: AAA L1 500 @ $80 (long-term gain), L2 100 @ $120 (short-term loss),
# BBB L3 1500 @ $21 (long-term loss); cash $2,000, model cash 2 %.
POS = [BASE["custodian_positions.csv"][0], "A1,AAA,590"] + BASE["custodian_positions.csv"][2:]
REQ = ["request_id,account_id,amount,due_date,priority,note", "CR9,A1,40000,2026-11-21,high,wire"]


def book(tmp_path):
    return write_book(tmp_path / "b", changes={"custodian_positions.csv": POS, "cash_requests.csv": REQ})


def manual_count(engine) -> int:
    from sqlalchemy import func, select

    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(m.Trade).where(m.Trade.category == "MANUAL")).scalar()


def test_cli_raise_enters_the_tax_minimal_sells_with_the_cushion(engine, db_path, tmp_path, capsys):
    import_book(engine, book(tmp_path), user="ops")
    run_workflow(engine, workers=1, user="sched")
    assert main.main(["manual", "A1", "--raise", "39840", "--dry-run", "--db", db_path]) == 0
    out = capsys.readouterr().out
    # $39,840 + 2 % = $40,636.80: the short-term loss, the long-term loss, then 7 gain shares
    assert "+2 % cushion: $40,636.80" in out
    assert "SELL 100 AAA lot L2 (ST)" in out and "SELL 1,500 BBB lot L3 (LT)" in out
    assert "SELL 7 AAA lot L1 (LT)" in out
    assert manual_count(engine) == 0  # a dry run enters nothing
    assert main.main(["manual", "A1", "--raise", "39840", "--request", "CR9", "--db", db_path,
                      "--user", "ops"]) == 0
    out = capsys.readouterr().out
    assert "entered 3 manual trade(s) for A1" in out and "covered" in out
    assert manual_count(engine) == 3
    assert main.main(["manual", "A1", "--raise", "-5", "--db", db_path]) == 2
    assert main.main(["manual", "A1", "--db", db_path]) == 2  # neither trades nor --raise


@pytest.mark.sqlite_only
def test_dialog_suggest_sells_fills_editable_lines(qtbot, engine, db_path, tmp_path, settings, boxes):  # noqa: F811
    import_book(engine, book(tmp_path), user="ops")
    run_workflow(engine, workers=1, user="sched")
    w = make_window(qtbot, engine, db_path, settings)
    try:
        shown(qtbot, w, "Suspended", "A1")
        p = w.panel("Suspended")
        p.open_manual()
        dlg = p.manual_dialog
        qtbot.waitUntil(dlg.isVisible)
        assert dlg.selected_request() == "CR9"
        dlg.suggest_button.click()
        got = [(ln.side.currentText(), ln.sym(), ln.quantity.value(), ln.lot.currentData()) for ln in dlg.lines]
        assert got == [("SELL", "AAA", 7, "L1"), ("SELL", "AAA", 100, "L2"), ("SELL", "BBB", 1500, "L3")]
        assert "2 % cushion" in dlg.suggest_note.text() and "est. tax" in dlg.suggest_note.text()
        dlg.recheck()
        assert dlg.check.covered and dlg.enter_button.isEnabled()
        dlg.lines[0].quantity.setValue(8)  # the operator may edit before entering
        dlg.enter()
        assert len(dlg.entered) == 3
    finally:
        close_window(w, boxes)
