"""Households through the database (SQLite and PostgreSQL): the columns are stored with the
snapshot, and a member missing from today's book is known from the last book."""
from __future__ import annotations

from test_households import ACC, LOTS, POS, _book

from engine.book.importer import import_book
from engine.decide.workflow import proposals_frame, run_workflow
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


def test_manual_buy_of_what_the_joint_account_sold_at_a_loss_is_refused(engine, tmp_path):
    from test_households import _day

    from engine.desk.manual import ManualTrade, check_manual_trades

    import_book(engine, _book(tmp_path, tx=[f"J1,AAA,{_day(12)},SELL,100,100,-6000"]).folder)
    chk = check_manual_trades(engine, "I1", [ManualTrade("AAC", "BUY", 10)])
    assert not chk.ok and any("household wash sale" in e and "J1" in e for e in chk.errors)
    assert check_manual_trades(engine, "I1", [ManualTrade("AAB", "BUY", 10)]).ok  # other group


def test_manual_loss_sale_after_a_spouse_buy_refused_unless_a_cash_out_needs_it(engine, tmp_path):
    from test_households import NO_CASH, _day

    from engine.desk.manual import ManualTrade, check_manual_trades, enter_manual_trades
    from engine.core.tasks import RefusedError

    import pytest

    book = _book(tmp_path, tx=[f"I1,AAA,{_day(4)},BUY,10,100,"],
                 cash=NO_CASH + ["CR9,J1,20000,2026-11-27,high,tuition"])
    import_book(engine, book.folder)
    sale = [ManualTrade("AAA", "SELL", 100, "L1")]
    chk = check_manual_trades(engine, "J1", sale, request_id="CR9")
    assert chk.ok
    assert any("$6,000.00" in w and "disallowed" in w and "I1" in w for w in chk.warnings)
    enter_manual_trades(engine, "J1", sale, request_id="CR9", user="alice")
    # the manual sale (a loss, entered today) now blocks the IRA's manual buy of the fund
    with pytest.raises(RefusedError, match="household wash sale"):
        enter_manual_trades(engine, "I1", [ManualTrade("AAA", "BUY", 5)], user="alice")


def test_manual_loss_sale_without_a_cash_out_is_refused(engine, tmp_path):
    from test_households import _day

    from engine.desk.manual import ManualTrade, check_manual_trades

    import_book(engine, _book(tmp_path, tx=[f"I1,AAA,{_day(4)},BUY,10,100,"]).folder)
    chk = check_manual_trades(engine, "J1", [ManualTrade("AAA", "SELL", 100, "L1")])
    assert not chk.ok and any("disallowed" in e and "refused" in e for e in chk.errors)


def test_rescore_sees_the_household_wash_blocks_and_the_located_model(engine, tmp_path):
    """Re-scoring an edited proposal rebuilds the account's input with its household: the
    spouse's recent buy of AAA blocks J1's loss sale of it, as in the run; a located member is
    scored against the located model its proposal recorded."""
    import json

    import numpy as np
    from bookkit import eager_policy
    from sqlalchemy import select
    from test_households import _day

    from engine.core.frames import holdings
    from engine.decide.inputs import InputBuilder
    from engine.decide.mandates import account_facts
    from engine.decide.rescore import _account_frames, account_input
    from storage import compact_detail
    from storage import models as m

    import_book(engine, _book(tmp_path, tx=[f"I1,AAA,{_day(4)},BUY,10,100,"]).folder)
    out = run_workflow(engine, policy=eager_policy(), workers=1)
    P = m.Proposal.__table__
    with engine.connect() as conn:
        pid = conn.execute(select(P.c.id).where(P.c.run_id == out.run_id, P.c.account_id == "J1")).scalar()
        detail = json.loads(compact_detail.texts_of(conn, [pid])[pid])  # the run's detail, compact form
        inp, _, policy, _ = account_input(conn, out.run_id, "J1", detail)
        alone = _account_frames(conn, repo.snapshot_info(conn).id, "J1")  # J1's rows only: blind
        snap_as_of = repo.snapshot_info(conn).as_of
    l1 = list(inp.lot_id).index("L1")  # AAA at $160, now $100: a loss the IRA's buy would wash
    assert inp.lot_loss_sale_blocked[l1]
    facts, extras = account_facts(alone, snap_as_of, policy, None, holdings(alone["lots"]))
    blind = InputBuilder(alone, facts, extras, snap_as_of, policy, set()).build("J1")
    assert not blind.lot_loss_sale_blocked[list(blind.lot_id).index("L1")]
    # a located member: its target is the recorded located model (no bonds), not its own
    located = {"household": {"location": {"located_class_targets": {"US Bonds": 0.0, "US Equity": 0.98}}}}
    with engine.connect() as conn:
        own, *_ = account_input(conn, out.run_id, "J1", detail)
        loc, *_ = account_input(conn, out.run_id, "J1", {**detail, **located})
    bonds = [i for i, s in enumerate(own.symbols) if s == "BBB"]
    assert own.target_w[bonds].sum() > 0.05 and np.isclose(loc.target_w[bonds].sum(), 0.0)
    assert np.isclose(loc.target_w.sum(), own.target_w.sum(), atol=1e-9)
