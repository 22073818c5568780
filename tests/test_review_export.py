"""Review state machine, edits, manual trades, batch export exactly once, audit."""
import csv
from datetime import date, timedelta
import json
from pathlib import Path

import pandas as pd
import pytest
import simplefix
from sqlalchemy import select

import main
from bookkit import write_book
from engine.desk import exporter
from engine.desk.exporter import export_batch, export_preview
from engine.book.importer import import_book
from engine.desk.manual import ManualTrade, check_manual_trades, enter_manual_trades
from engine.core.policy import default_policy, policy_from_dict
from engine.core.policy_store import save_policy
from engine.desk.review import approve, edit_trade, proposal_trades, reject
from engine.core.tasks import RefusedError
from engine.decide.workflow import run_workflow
from storage import models as m
from storage import repo

SOH = b"\x01"


def review_all_policy(multi_lot=False, eager=False):
    """The default policy reviewing every account; ``eager``: with the first release's thresholds
    and trading costs (bookkit.eager_policy), so an account with a small benefit still trades on score."""
    from bookkit import eager_policy

    data = (eager_policy() if eager else default_policy()).model_dump()
    data["tiers"] = [{**t, "review": "all"} for t in data["tiers"]]
    data["trading"]["multi_lot_order_lines"] = multi_lot
    return policy_from_dict(data)


@pytest.fixture
def reviewed(engine, book_dir):
    import_book(engine, book_dir)
    save_policy(engine, review_all_policy(eager=True), user="admin")  # A1's small benefit trades on score
    run = run_workflow(engine, workers=1)
    return run


def statuses(engine, run_id):
    with engine.connect() as conn:
        rows = conn.execute(select(m.Proposal.account_id, m.Proposal.status).where(m.Proposal.run_id == run_id))
        return dict(rows.all())


def test_auto_proposals_are_approved_by_the_run(engine, book_dir):
    import_book(engine, book_dir)
    from bookkit import eager_policy

    save_policy(engine, eager_policy(), user="admin")  # the default's tiers (Small reviews nothing), eager thresholds
    run = run_workflow(engine, workers=1)
    assert set(statuses(engine, run.run_id).values()) == {"APPROVED"}
    assert export_preview(engine)["accounts"] == 3


def test_review_approve_reject_and_export_only_approved(engine, reviewed, tmp_path):
    assert set(statuses(engine, reviewed.run_id).values()) == {"PROPOSED"}
    assert export_batch(engine, tmp_path / "out") is None  # nothing approved yet
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())
    approve(engine, ["A1", "A2"], user="rev1")
    reject(engine, ["A3"], user="rev1", reason="restricted holding to check")
    assert statuses(engine, reviewed.run_id) == {"A1": "APPROVED", "A2": "APPROVED", "A3": "REJECTED"}
    reject(engine, ["A2"], user="rev2", reason="client called")  # a change of mind before export
    res = export_batch(engine, tmp_path / "out", user="ops")
    rows = list(csv.DictReader(open(tmp_path / "out" / f"trades_{res.batch_id}.csv")))
    assert {r["account_id"] for r in rows} == {"A1"}
    with pytest.raises(RefusedError, match="already exported"):
        reject(engine, ["A1"], user="rev1", reason="too late")


def test_decisions_refused_for_unknown_or_non_trading_accounts(engine, reviewed, db_path, capsys):
    with pytest.raises(RefusedError, match="NOPE: not in run"):
        approve(engine, ["A1", "NOPE"])
    assert statuses(engine, reviewed.run_id)["A1"] == "PROPOSED"  # all or nothing
    assert main.main(["approve", "NOPE", "--db", db_path]) == 2
    assert "not in run" in capsys.readouterr().err
    assert main.main(["approve", "A1", "--reject", "--db", db_path, "--user", "rev9"]) == 2  # no reason
    assert "needs a reason" in capsys.readouterr().err and statuses(engine, reviewed.run_id)["A1"] == "PROPOSED"
    assert main.main(["approve", "A1", "--reject", "--reason", "client call", "--code", "client_instruction",
                      "--db", db_path, "--user", "rev9"]) == 0
    assert statuses(engine, reviewed.run_id)["A1"] == "REJECTED"


def test_stale_run_cannot_be_approved_or_exported(engine, reviewed, tmp_path):
    approve(engine, ["A1"])
    import_book(engine, write_book(tmp_path / "next", as_of="2026-11-21"))
    with pytest.raises(RefusedError, match="a newer book .* was imported since"):
        approve(engine, ["A2"])
    pre = export_preview(engine)
    assert pre["trades"] == 0 and pre["stale"] > 0
    assert export_batch(engine, tmp_path / "out") is None


def test_superseded_run_cannot_be_approved(engine, reviewed):
    run_workflow(engine, workers=1)
    with pytest.raises(RefusedError, match="superseded"):
        approve(engine, ["A1"], run_id=reviewed.run_id)


def _trade(engine, account, side, symbol=None):
    t = proposal_trades(engine, account)
    t = t[(t["side"] == side) & ((t["symbol"] == symbol) if symbol else True)]
    return t.iloc[0]


def test_edit_that_overspends_or_oversells_is_refused(engine, reviewed):
    buy = _trade(engine, "A1", "BUY")
    with pytest.raises(RefusedError, match="overspends cash"):
        edit_trade(engine, int(buy["id"]), quantity=int(buy["quantity"]) * 50)
    sell = _trade(engine, "A1", "SELL", "AAA")
    with pytest.raises(RefusedError, match="holds 600"):
        edit_trade(engine, int(sell["id"]), quantity=601)
    tob = _trade(engine, "A3", "SELL", "TOB")
    with pytest.raises(RefusedError, match="TOB is restricted: all 100 shares must be sold"):
        edit_trade(engine, int(tob["id"]), quantity=50)
    with pytest.raises(RefusedError, match="whole number"):
        edit_trade(engine, int(buy["id"]), quantity=0)
    # nothing changed
    assert int(_trade(engine, "A1", "BUY")["quantity"]) == int(buy["quantity"])


def test_valid_edit_and_remove_need_approval_and_reach_the_batch(engine, reviewed, tmp_path):
    approve(engine, ["A1"], user="rev1")
    sell = _trade(engine, "A1", "SELL", "AAA")
    edit_trade(engine, int(sell["id"]), quantity=int(sell["quantity"]) - 10, user="rev1")
    assert statuses(engine, reviewed.run_id)["A1"] == "PROPOSED"  # back to review
    buy = _trade(engine, "A1", "BUY", "OIL")
    edit_trade(engine, int(buy["id"]), remove=True, user="rev1")
    approve(engine, ["A1"], user="rev2")
    res = export_batch(engine, tmp_path / "o")
    rows = {(r["symbol"], r["side"]): r for r in csv.DictReader(open(tmp_path / "o" / f"trades_{res.batch_id}.csv"))}
    assert int(rows[("AAA", "SELL")]["quantity"]) == int(sell["quantity"]) - 10
    assert ("OIL", "BUY") not in rows
    with engine.connect() as conn:
        log = repo.audit_frame(conn)
    edits = log[log["action"].isin(["EDIT", "REMOVE_TRADE"])]
    assert list(edits["action"]) == ["EDIT", "REMOVE_TRADE"] and set(edits["username"]) == {"rev1"}
    assert json.loads(edits.iloc[0]["before"])["quantity"] == int(sell["quantity"])


def suspended_book(tmp_path):
    # A2's custodian reports 3,500 BBB against 3,000 in lots: a recon break; and a high cash request
    return write_book(tmp_path / "s", changes={"custodian_positions.csv": [
        "account_id,symbol,quantity", "A1,AAA,600", "A1,BBB,1500", "A2,BBB,3500", "A2,XYZ,10",
        "A3,AAA,300", "A3,TOB,100", "A3,BBB,800"], "cash_requests.csv": [
        "request_id,account_id,amount,due_date,priority,note", "CR7,A2,30000,2026-11-21,high,wire"]})


def test_manual_trade_round_trips_to_csv_and_fix(engine, tmp_path):
    import_book(engine, suspended_book(tmp_path))
    out = run_workflow(engine, workers=1).proposals.set_index("account_id")
    assert out.at["A2", "category"] == "SUSPENDED" and bool(out.at["A2", "urgent"])
    chk = check_manual_trades(engine, "A2", [ManualTrade("BBB", "SELL", 3600)])
    assert chk.errors and "custodian holds 3,500" in chk.errors[0]
    chk = check_manual_trades(engine, "A2", [ManualTrade("BBB", "SELL", 1500), ManualTrade("XYZ", "SELL", 10)])
    assert chk.ok and any("XYZ is not in the security master" in w for w in chk.warnings)
    assert chk.cash_raised == pytest.approx(30000.0) and chk.cash_requested == pytest.approx(30000.0)
    with pytest.raises(RefusedError):
        enter_manual_trades(engine, "A2", [ManualTrade("BBB", "SELL", 9999)], user="ops1")
    ids = enter_manual_trades(engine, "A2", [ManualTrade("BBB", "SELL", 1500)], user="ops1")
    assert len(ids) == 1
    with engine.connect() as conn:
        st = conn.execute(select(m.CashRequestState.status)).scalar()
    assert st == "handling"
    res = export_batch(engine, tmp_path / "out", user="ops1")
    rows = list(csv.DictReader(open(tmp_path / "out" / f"trades_{res.batch_id}.csv")))
    manual = [r for r in rows if r["category"] == "MANUAL"]
    assert len(manual) == 1 and manual[0]["account_id"] == "A2" and manual[0]["quantity"] == "1500"
    assert manual[0]["lot_id"] == "L1" and "ops1" in manual[0]["reason"]
    fix = (tmp_path / "out" / f"trades_{res.batch_id}.fix").read_bytes().splitlines()
    parsed = [parse_fix(line) for line in fix]
    assert any(p[b"1"] == b"A2" and p[b"55"] == b"BBB" and p[b"54"] == b"2" and p[b"38"] == b"1500" for p in parsed)
    with engine.connect() as conn:
        st = conn.execute(select(m.CashRequestState.status, m.CashRequestState.batch_id)).first()
    assert tuple(st) == ("sent", res.batch_id)


def parse_fix(line: bytes) -> dict:
    """An independent FIX check: BodyLength (9) and CheckSum (10) recomputed by hand, then
    simplefix's parser must read the same message."""
    assert line.startswith(b"8=FIX.4.4\x01") and line.endswith(SOH)
    fields = line[:-1].split(SOH)
    tags = [f.split(b"=", 1)[0] for f in fields]
    assert tags[:3] == [b"8", b"9", b"35"] and tags[-1] == b"10"
    body_start = len(fields[0]) + 1 + len(fields[1]) + 1
    body_end = line.rindex(b"\x0110=") + 1
    assert int(fields[1].split(b"=")[1]) == body_end - body_start
    assert int(fields[-1].split(b"=")[1]) == sum(line[:body_end]) % 256
    assert len(fields[-1].split(b"=")[1]) == 3
    p = simplefix.FixParser()
    p.append_buffer(line)
    msg = p.get_message()
    assert msg is not None and msg.get(35) == b"D"
    d = dict(f.split(b"=", 1) for f in fields)
    for tag in (b"1", b"11", b"55", b"54", b"38", b"40", b"60"):
        assert tag in d, tag
    return d


def test_fix_encoder_matches_simplefix():
    fields = [(35, "D"), (49, "REBALDESK"), (56, "SCHWAB"), (34, 7), (52, "20261120-12:00:00.000"),
              (11, "B1-000007"), (1, "A1"), (21, 1), (55, "AAA"), (54, 2), (60, "20261120-12:00:00.000"),
              (38, 150), (40, 1)]
    ref = simplefix.FixMessage()
    ref.append_pair(8, "FIX.4.4", header=True)
    for tag, value in fields:
        ref.append_pair(tag, value, header=tag in (35, 49, 56, 34, 52))
    assert exporter.fix_message(fields) == ref.encode()


def test_every_fix_line_is_valid(engine, book_dir, tmp_path):
    import_book(engine, book_dir)
    run_workflow(engine, workers=1)
    res = export_batch(engine, tmp_path / "o", formats=("csv", "fix", "xlsx"))
    lines = (tmp_path / "o" / f"trades_{res.batch_id}.fix").read_bytes().splitlines()
    csv_rows = list(csv.DictReader(open(tmp_path / "o" / f"trades_{res.batch_id}.csv")))
    assert len(lines) == len(csv_rows) == res.n_lines > 0
    ids = [parse_fix(l)[b"11"] for l in lines]
    assert len(set(ids)) == len(ids)
    from openpyxl import load_workbook
    wb = load_workbook(tmp_path / "o" / f"trades_{res.batch_id}.xlsx")
    assert set(wb.sheetnames) == {r["custodian"] for r in csv_rows}
    assert sum(ws.max_row - 1 for ws in wb.worksheets) == len(csv_rows)
    manifest = json.loads((tmp_path / "o" / f"batch_{res.batch_id}.json").read_text())
    import hashlib
    for f in manifest["files"]:
        assert hashlib.sha256((tmp_path / "o" / f["name"]).read_bytes()).hexdigest() == f["sha256"]
    assert manifest["counts"]["order_lines"] == res.n_lines


def test_export_killed_before_commit_marks_nothing_and_next_export_sends_once(engine, book_dir, tmp_path,
                                                                             monkeypatch):
    import_book(engine, book_dir)
    run_workflow(engine, workers=1)
    before = export_preview(engine)

    def boom(batch_id):
        raise RuntimeError("power cut")

    monkeypatch.setattr(exporter, "_before_commit", boom)
    with pytest.raises(RuntimeError):
        export_batch(engine, tmp_path / "o")
    assert list((tmp_path / "o").iterdir()) == []  # no partial file remains
    assert export_preview(engine) == before
    with engine.connect() as conn:
        assert conn.execute(select(m.Trade.id).where(m.Trade.batch_id.is_not(None))).first() is None
        assert conn.execute(select(m.ExportBatch.id)).first() is None
    monkeypatch.undo()
    res = export_batch(engine, tmp_path / "o")
    assert res.n_trades == before["trades"]
    assert export_batch(engine, tmp_path / "o") is None


def test_two_exports_never_contain_the_same_trade(engine, tmp_path):
    from bookkit import eager_policy

    import_book(engine, suspended_book(tmp_path))
    save_policy(engine, eager_policy(), user="admin")  # A1 trades on score, then is held while its orders are out
    run_workflow(engine, workers=1)
    r1 = export_batch(engine, tmp_path / "o")
    enter_manual_trades(engine, "A2", [ManualTrade("BBB", "SELL", 100)], user="ops")
    r2 = export_batch(engine, tmp_path / "o")
    with engine.connect() as conn:
        t = pd.read_sql(select(m.Trade.id, m.Trade.batch_id).where(m.Trade.batch_id.is_not(None)), conn)
    assert set(t["batch_id"]) == {r1.batch_id, r2.batch_id}
    assert t["id"].is_unique and (t["batch_id"] == r2.batch_id).sum() == 1
    f1 = list(csv.DictReader(open(tmp_path / "o" / f"trades_{r1.batch_id}.csv")))
    f2 = list(csv.DictReader(open(tmp_path / "o" / f"trades_{r2.batch_id}.csv")))
    assert not ({(r["account_id"], r["symbol"], r["side"]) for r in f1}
                & {(r["account_id"], r["symbol"], r["side"]) for r in f2})
    # later runs on the same book keep exported accounts held
    out = run_workflow(engine, workers=1).proposals.set_index("account_id")
    assert "PENDING_EXECUTION" in out.at["A1", "reasons"] and out.at["A1", "category"] == "HELD"


def test_multi_lot_order_lines(engine, tmp_path):
    book = write_book(tmp_path / "b", append={"lots.csv": ["A3,L4,TOB,50,45.00,2024-05-05"]},
                      changes={"custodian_positions.csv": [
                          "account_id,symbol,quantity", "A1,AAA,600", "A1,BBB,1500", "A2,BBB,3000", "A3,AAA,300",
                          "A3,TOB,150", "A3,BBB,800"]})
    import_book(engine, book)
    save_policy(engine, policy_from_dict({**default_policy().model_dump(), "trading": {
        **default_policy().model_dump()["trading"], "multi_lot_order_lines": True}}))
    run_workflow(engine, workers=1)
    res = export_batch(engine, tmp_path / "o")
    rows = [r for r in csv.DictReader(open(tmp_path / "o" / f"trades_{res.batch_id}.csv"))
            if r["account_id"] == "A3" and r["symbol"] == "TOB"]
    assert sorted((r["lot_id"], r["quantity"]) for r in rows) == [("L2", "100"), ("L4", "50")]


def test_audit_log_has_every_action_with_its_user(engine, tmp_path, db_path, capsys):
    import_book(engine, suspended_book(tmp_path), user="ops1")
    save_policy(engine, review_all_policy(eager=True), user="admin")
    from engine.decide.overrides import add_halt, add_hold, end_override
    oid = add_hold(engine, "A3", None, "client call", user="ops2")
    add_halt(engine, "OIL", None, "halted", mode="freeze", user="ops2")
    end_override(engine, oid, user="ops3")
    run_workflow(engine, workers=1, user="sched")
    approve(engine, ["A1"], user="rev1")
    reject(engine, ["A3"], user="rev2", reason="tax")
    enter_manual_trades(engine, "A2", [ManualTrade("BBB", "SELL", 100)], user="ops4")
    export_batch(engine, tmp_path / "o", user="ops5")
    with engine.connect() as conn:
        log = repo.audit_frame(conn)
    got = list(zip(log["action"], log["username"]))
    for pair in [("IMPORT", "ops1"), ("POLICY_SAVE", "admin"), ("HOLD_ADD", "ops2"), ("HALT_ADD", "ops2"),
                 ("HOLD_END", "ops3"), ("RUN", "sched"), ("APPROVE", "rev1"), ("REJECT", "rev2"),
                 ("MANUAL_TRADE", "ops4"), ("CASH_REQUEST_HANDLING", "ops4"), ("EXPORT", "ops5")]:
        assert pair in got, pair
    assert main.main(["audit", "--db", db_path]) == 0
    printed = capsys.readouterr().out
    assert "MANUAL_TRADE" in printed and "ops4" in printed and "A2" in printed


def test_audit_filters(engine, book_dir, tmp_path):
    from engine.core.audit import audit_entries, audit_facets
    from engine.decide.overrides import add_hold

    import_book(engine, book_dir, user="ops1")
    add_hold(engine, "A1", None, "call", user="ops2")
    add_hold(engine, "A2", None, "call", user="ops2")
    assert list(audit_entries(engine, user="ops2")["account_id"]) == ["A2", "A1"]  # newest first
    assert list(audit_entries(engine, action="IMPORT")["username"]) == ["ops1"]
    assert len(audit_entries(engine, account_id="A1")) == 1
    assert len(audit_entries(engine, since=date.today() + timedelta(days=1))) == 0
    assert audit_facets(engine) == {"users": ["ops1", "ops2"], "actions": ["HOLD_ADD", "IMPORT"]}


def test_two_concurrent_exports_send_each_trade_once(engine, book_dir, db_path, tmp_path):
    import threading

    from storage.db import make_engine

    import_book(engine, book_dir)
    run_workflow(engine, workers=1)
    total = export_preview(engine)["trades"]
    results, errors = [], []
    barrier = threading.Barrier(2)

    def click(n):
        eng = make_engine(db_path)  # a second workstation: its own engine and connections
        barrier.wait()
        try:
            results.append(export_batch(eng, tmp_path / f"out{n}", user=f"desk{n}"))
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=click, args=(n,)) for n in (1, 2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors
    done = [r for r in results if r is not None]
    assert len(done) == 1 and done[0].n_trades == total
    with engine.connect() as conn:
        assert conn.execute(select(m.ExportBatch.id)).all() == [(done[0].batch_id,)]


def test_trade_value_of_accounts_is_what_a_bulk_approval_approves(engine, reviewed):
    from engine.desk.review import trade_value

    want = sum(float(proposal_trades(engine, a)["est_value"].sum()) for a in ("A1", "A3"))
    assert trade_value(engine, ["A1", "A3"]) == pytest.approx(want)
    buy = _trade(engine, "A1", "BUY", "OIL")
    edit_trade(engine, int(buy["id"]), remove=True)
    assert trade_value(engine, ["A1", "A3"]) == pytest.approx(want - float(buy["est_value"]))
    assert trade_value(engine, []) == 0.0
