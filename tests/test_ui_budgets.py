"""Issue 23 in the console (real widgets, offscreen): Today lists a model change detected across
two imports; Proposals shows a proposal's gains budget used and left, its trading mode and where
its model change stands."""
from __future__ import annotations

from datetime import date

import pytest
from qt_fixtures import boxes, close_window, make_window, settings, shown, wait_loaded  # noqa: F401

from engine.book.importer import import_book
from engine.decide.workflow import run_workflow
from test_model_changes import NEW_GROWTH, Book, policy


@pytest.fixture
def console(qtbot, engine, db_path, settings, boxes, tmp_path):  # noqa: F811
    bk = Book()
    import_book(engine, bk.write(tmp_path / "d0", date(2026, 11, 20)), user="ops")
    run_workflow(engine, policy=policy(), workers=1, user="sched")
    bk.models, bk.a2_model = NEW_GROWTH, "GROWTH"
    import_book(engine, bk.write(tmp_path / "d1", date(2026, 11, 23)), user="ops")
    run_workflow(engine, policy=policy(), workers=1, user="sched")
    w = make_window(qtbot, engine, db_path, settings)
    yield w
    close_window(w, boxes)


def test_today_lists_model_changes_and_proposals_show_the_budget(qtbot, console):
    w = console
    shown(qtbot, w, "Today")
    today = w.panel("Today")
    frame = today.changes_model.frame()
    assert today.changes_title.text() == "Model changes — 2"
    rows = {r["change"].split(" · ")[0]: r for r in frame.to_dict("records")}
    assert rows["reweighted"]["model_id"] == "GROWTH" and rows["reweighted"]["accounts"] == 2
    assert rows["moved from INCOME"]["accounts"] == 1
    assert rows["reweighted"]["est_tax"] > 0 and rows["reweighted"]["trade_dollars"] > 50_000
    assert "2 moving" in rows["reweighted"]["change"]

    shown(qtbot, w, "Proposals", "A1")
    note = w.panel("Proposals").band_note.text()
    assert "Trading mode: full" in note
    assert "Gains budget $5,000: used <b>$" in note and "left" in note
    assert "Model change: GROWTH weights changed on 2026-11-23: 0% traded before today" in note
