"""Cash owed to clients is cash reserved (issue 13, item 1), on SQLite and PostgreSQL.

Day 1 raises a cash request's cash and exports it (the request is ``sent``); day 2's book shows
the trades executed and still lists the request: the run must keep the cash (no buys with it)
and raise nothing more. Day 3's book no longer lists it: it is ``paid`` and the cash is free.
"""
import json

import pandas as pd
import pytest
from sqlalchemy import select

from bookkit import BASE, write_book
from engine.desk.exporter import batch_trades, export_batch
from engine.book.importer import import_book
from engine.decide.workflow import proposals_frame, run_workflow
from storage import models as m

MODEL_CASH_W = 0.02  # INCOME's CASH weight in the test book
REQUEST = 5000.0


def executed_book(folder, as_of, trades: pd.DataFrame, account="A2", cash_requests=None, cash_delta=0.0):
    """The base book on ``as_of`` with ``account``'s exported trades executed at their estimated
    prices (lots, custodian positions and cash follow them)."""
    base_cash = 1000.0  # A2's cash in the base book
    t = trades[trades["account_id"] == account]
    sells = t[t["side"] == "SELL"]
    buys = t[t["side"] == "BUY"]
    cash = base_cash + float(sells["est_value"].sum()) - float(buys["est_value"].sum()) + cash_delta
    qty = {"BBB": 3000.0}  # A2's lot L1 in the base book
    for r in sells.itertuples():
        qty[r.symbol] = qty.get(r.symbol, 0.0) - float(r.quantity)
    lots = [line for line in BASE["lots.csv"] if not line.startswith(f"{account},")]
    pos = [line for line in BASE["custodian_positions.csv"] if not line.startswith(f"{account},")]
    for sym, q in qty.items():
        if q > 0:
            lots.append(f"{account},L1,{sym},{q:.0f},19.00,2022-05-05")
            pos.append(f"{account},{sym},{q:.0f}")
    for k, r in enumerate(buys.itertuples(), 2):
        lots.append(f"{account},L{k},{r.symbol},{int(r.quantity)},{float(r.est_price):.2f},{as_of}")
        pos.append(f"{account},{r.symbol},{int(r.quantity)}")
    accounts = [line if not line.startswith(f"{account},") else
                f"A2,Jones IRA,INCOME,FIDELITY,{cash:.2f},false,,,2026-11-20,," for line in BASE["accounts.csv"]]
    securities = [line.replace("2026-11-20", as_of) for line in BASE["securities.csv"]]
    feeds = [line.replace("2026-11-20", as_of) for line in BASE["feeds.csv"]]
    changes = {"lots.csv": lots, "custodian_positions.csv": pos, "accounts.csv": accounts,
               "securities.csv": securities, "feeds.csv": feeds}
    if cash_requests is not None:
        changes["cash_requests.csv"] = cash_requests
    return write_book(folder, as_of=as_of, changes=changes), cash


def proposal(engine, account="A2") -> dict:
    with engine.connect() as conn:
        df = proposals_frame(conn)
    rec = df.set_index("account_id").loc[account].to_dict()
    rec["detail"] = json.loads(rec["detail"]) if isinstance(rec["detail"], str) else {}
    return rec


def state(engine, request_id="CR1"):
    with engine.connect() as conn:
        return conn.execute(select(m.CashRequestState.status, m.CashRequestState.batch_id)
                            .where(m.CashRequestState.request_id == request_id)).first()


def audit_actions(engine, action):
    with engine.connect() as conn:
        return conn.execute(select(m.AuditEntry.account_id, m.AuditEntry.detail, m.AuditEntry.user)
                            .where(m.AuditEntry.action == action)).all()


def test_cash_raised_for_a_request_stays_reserved_until_a_book_no_longer_lists_it(engine, tmp_path):
    # day 1: CR1 ($5,000 for A2, due in 5 days) is a cash mandate; its trades are exported
    import_book(engine, write_book(tmp_path / "d1"), user="ops")
    from bookkit import eager_policy
    from engine.core.policy_store import save_policy

    save_policy(engine, eager_policy(), user="admin")  # day 3: freed cash this small is invested on score
    run_workflow(engine, workers=1, user="sched")
    p1 = proposal(engine)
    assert p1["category"] == "MANDATE" and "cash_normal" in p1["mandates"]
    res = export_batch(engine, tmp_path / "out", user="ops")
    st = state(engine)
    assert tuple(st) == ("sent", res.batch_id)
    assert [a for a, _, _ in audit_actions(engine, "CASH_REQUEST_SENT")] == ["A2"]
    sent = batch_trades(engine, res.batch_id)

    # day 2: the trades executed (A2 holds the raised cash); the book still lists CR1
    d2, cash2 = executed_book(tmp_path / "d2", "2026-11-21", sent)
    assert cash2 >= REQUEST + 1000.0  # the cash was raised on day 1
    import_book(engine, d2, user="ops")
    assert state(engine)[0] == "sent"  # still listed: still owed
    run_workflow(engine, workers=1, user="sched")
    p2 = proposal(engine)
    assert "cash" not in (p2["mandates"] or "")  # nothing more to raise: the cash is there
    assert p2["detail"]["cash_needed"] == pytest.approx(REQUEST)  # reserved
    value2 = float(p2["value"])
    floor = REQUEST + MODEL_CASH_W * value2
    with engine.connect() as conn:
        t2 = pd.read_sql(select(m.Trade.side, m.Trade.est_value).where(
            m.Trade.account_id == "A2", m.Trade.snapshot_id == select(m.BookSnapshot.id).order_by(
                m.BookSnapshot.id.desc()).limit(1).scalar_subquery()), conn)
    buys = float(t2.loc[t2["side"] == "BUY", "est_value"].sum())
    sells = float(t2.loc[t2["side"] == "SELL", "est_value"].sum())
    cash_after = cash2 + sells - buys
    assert cash_after >= floor - 1.0, (cash2, sells, buys, floor)  # no buys with the client's cash
    assert p2["detail"]["cash_post"] >= floor - 1.0
    assert sells - buys < 1000.0  # and nothing raised again for it

    # day 3: the custodian paid CR1 — the book no longer lists it (the cash is left in the
    # account here, to see that it is no longer reserved)
    d3, _ = executed_book(tmp_path / "d3", "2026-11-24", sent, cash_requests=[
        "request_id,account_id,amount,due_date,priority,note"])
    import_book(engine, d3, user="ops2")
    assert state(engine)[0] == "paid"
    paid = audit_actions(engine, "CASH_REQUEST_PAID")
    assert [(a, u) for a, _, u in paid] == [("A2", "ops2")] and "CR1" in paid[0][1]
    run_workflow(engine, workers=1, user="sched")
    p3 = proposal(engine)
    assert p3["detail"]["cash_needed"] == 0.0
    assert p3["detail"]["cash_post"] < REQUEST  # the cash is free: the optimizer invests it


def test_a_far_request_is_not_reserved_until_raised_and_a_sent_one_stays_reserved(engine, tmp_path):
    """A request due beyond the cash horizon is not a cash need; once its cash was raised
    (``sent``), it stays reserved whatever its due date."""
    far = ["request_id,account_id,amount,due_date,priority,note", "CR9,A2,5000,2027-03-01,normal,"]
    import_book(engine, write_book(tmp_path / "d1", changes={"cash_requests.csv": far}), user="ops")
    run_workflow(engine, workers=1, user="sched")
    assert proposal(engine)["detail"]["cash_needed"] == 0.0
    with engine.begin() as conn:  # as if its trades went out in a batch earlier
        from engine.book.cash_owed import set_state

        set_state(conn, "CR9", "A2", "sent", "ops")
    run_workflow(engine, workers=1, user="sched")
    p = proposal(engine)
    assert p["detail"]["cash_needed"] == pytest.approx(5000.0)
    assert p["detail"]["cash_post"] >= 5000.0 - 1.0


def test_import_marks_paid_only_what_the_new_book_no_longer_lists(engine, tmp_path):
    two = ["request_id,account_id,amount,due_date,priority,note",
           "CR1,A2,5000,2026-11-25,normal,", "CR2,A1,700,2026-11-26,high,"]
    import_book(engine, write_book(tmp_path / "d1", changes={"cash_requests.csv": two}), user="ops")
    d2 = write_book(tmp_path / "d2", as_of="2026-11-21", changes={"cash_requests.csv": two[:2]})
    import_book(engine, d2, user="ops")
    assert state(engine, "CR2")[0] == "paid" and state(engine, "CR1") is None
    assert [a for a, _, _ in audit_actions(engine, "CASH_REQUEST_PAID")] == ["A1"]
    d3 = write_book(tmp_path / "d3", as_of="2026-11-22", changes={"cash_requests.csv": two[:2]})
    import_book(engine, d3, user="ops")
    assert len(audit_actions(engine, "CASH_REQUEST_PAID")) == 1  # paid once, not again


def test_migration_renames_filled_to_sent_and_keeps_every_trade(engine, db_path, tmp_path):
    """Revision 0004 on an existing database: a request ``filled`` by an older export becomes
    ``sent`` (its cash stays reserved); proposals gain ``tier_basis``; no row is lost."""
    from alembic import command
    from sqlalchemy import func, inspect

    from storage.db import alembic_config, current_revision, make_engine

    import_book(engine, write_book(tmp_path / "d1"), user="ops")
    run_workflow(engine, workers=1, user="sched")
    export_batch(engine, tmp_path / "out", user="ops")
    with engine.connect() as conn:
        n_trades = conn.execute(select(func.count()).select_from(m.Trade)).scalar_one()
    command.downgrade(alembic_config(engine), "0003")
    engine.dispose()
    assert current_revision(engine) == "0003"
    assert "tier_basis" not in {c["name"] for c in inspect(engine).get_columns("proposals")}
    with engine.connect() as conn:  # as the older code left it
        assert conn.execute(select(m.CashRequestState.status)).scalar() == "filled"
    eng = make_engine(db_path)  # opening an older database migrates it
    try:
        assert state(eng)[0] == "sent"
        with eng.connect() as conn:
            assert conn.execute(select(func.count()).select_from(m.Trade)).scalar_one() == n_trades
            assert conn.execute(select(m.Proposal.tier_basis)).first() is not None
    finally:
        eng.dispose()
