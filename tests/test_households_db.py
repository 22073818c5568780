"""Households through the database (SQLite and PostgreSQL): the columns are stored with the
snapshot, and a member missing from today's book is known from the last book."""
from __future__ import annotations

from test_households import ACC, LOTS, POS, _book

from engine.importer import import_book
from engine.workflow import proposals_frame, run_workflow
from storage import repo


def test_household_columns_round_trip_and_missing_member_flagged(engine, tmp_path):
    from bookkit import eager_policy

    accounts = ACC + ["R1,Smith Roth,GROWTH,VANGUARD,1000,false,,,,,,SMITH"]
    first = _book(tmp_path, accounts=accounts, lots=LOTS + ["R1,L1,AAC,10,100,2024-01-01"],
                  pos=POS + ["R1,AAC,10"], name="day1")
    import_book(engine, first.folder)
    with engine.connect() as conn:
        frames = repo.read_book_frames(conn, repo.snapshot_info(conn).id)
    acc = frames["accounts"].set_index("account_id")
    assert acc.at["R1", "household_id"] == "SMITH"
    assert frames["securities"].set_index("symbol").at["AAC", "identical_group"] == "ALPHA"
    # the next day's book lists no R1: the others trade, flagged, and do not harvest AAC's group
    second = _book(tmp_path, name="day2", as_of="2026-11-23")
    import_book(engine, second.folder)
    out = run_workflow(engine, policy=eager_policy(), workers=1)
    with engine.connect() as conn:
        props = proposals_frame(conn, out.run_id).set_index("account_id")
    assert "WASH_COVERAGE_INCOMPLETE:R1" in props.at["J1", "flags"]
    assert "WASH_COVERAGE_INCOMPLETE:R1" in props.at["I1", "flags"]
