"""The safety net between approval and the batch file (issue 13, items 6-8): lot instructions in
every file, no account in two batches of one book (even when a run races an export), and batch
files only for committed batches."""
import csv
import json
import os
import random
import stat
import threading
import time
from collections import defaultdict

import pytest
from sqlalchemy import func, select

import main
from qt_fixtures import boxes, settings  # noqa: F401
from bookkit import write_book
from engine.desk import exporter
from engine.decide import workflow
from engine.desk.exporter import export_batch, export_preview, kept_back_message
from engine.book.importer import import_book
from engine.desk.lot_instructions import FIX_LOTS_TAG, parse_lots
from engine.desk.manual import ManualTrade, enter_manual_trades
from engine.core.policy import default_policy, policy_from_dict
from engine.core.policy_store import save_policy
from engine.decide.workflow import run_workflow
from storage import models as m
from storage import repo
from storage.db import make_engine
from test_review_export import parse_fix, suspended_book

# A3 must sell all its tobacco: three lots, two long-term gains and a short-term loss
TOB_LOTS = ["A3,L4,TOB,50,45.00,2024-05-05", "A3,L5,TOB,20,50.00,2026-08-01"]
LOT_BOOK = {"append": {"lots.csv": TOB_LOTS}, "changes": {"custodian_positions.csv": [
    "account_id,symbol,quantity", "A1,AAA,600", "A1,BBB,1500", "A2,BBB,3000", "A3,AAA,300", "A3,TOB,170",
    "A3,BBB,800"]}}


def policy(multi_lot: bool):
    data = default_policy().model_dump()
    data["trading"]["multi_lot_order_lines"] = multi_lot
    return policy_from_dict(data)


def lots_by_line(pairs) -> dict:
    """{(account, symbol): {lot: shares}} from (account, symbol, "LOT:shares;...") triples."""
    out = defaultdict(lambda: defaultdict(int))
    for acc, sym, text in pairs:
        for lot, q in parse_lots(text):
            out[(acc, sym)][lot] += q
    return {k: dict(v) for k, v in out.items()}


def read_csv(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


@pytest.mark.parametrize("multi_lot", [False, True])
def test_lots_column_lots_file_and_fix_tag_agree_with_the_engines_lots(engine, tmp_path, multi_lot):
    import_book(engine, write_book(tmp_path / "b", **LOT_BOOK))
    save_policy(engine, policy(multi_lot), user="admin")
    run = run_workflow(engine, workers=1)
    res = export_batch(engine, tmp_path / "o", user="ops")
    with engine.connect() as conn:
        trades = conn.execute(select(m.Trade.account_id, m.Trade.symbol, m.Trade.lots, m.Trade.side,
                                     m.Trade.est_value, m.Trade.est_price)
                              .where(m.Trade.batch_id == res.batch_id)).all()
        book = {(a, l): (c, str(d)) for a, l, c, d in conn.execute(
            select(m.Lot.account_id, m.Lot.lot_id, m.Lot.unit_cost, m.Lot.acquired_date))}
    engine_lots = lots_by_line((a, s, l) for a, s, l, side, *_ in trades if side == "SELL")
    assert engine_lots[("A3", "TOB")] == {"L2": 100, "L4": 50, "L5": 20}  # the engine named three lots
    out = tmp_path / "o"

    rows = read_csv(out / f"trades_{res.batch_id}.csv")
    sells = [r for r in rows if r["side"] == "SELL"]
    for r in sells:  # each line's lots sum to its quantity, and lot_id names the same lots
        lots = parse_lots(r["lots"])
        assert sum(q for _, q in lots) == int(r["quantity"]) and r["lot_id"] == ";".join(lot for lot, _ in lots)
    assert all(r["lots"] == "" for r in rows if r["side"] == "BUY")
    assert lots_by_line((r["account_id"], r["symbol"], r["lots"]) for r in sells) == engine_lots
    tob = [r for r in sells if r["symbol"] == "TOB"]
    if multi_lot:
        assert sorted((r["lot_id"], r["quantity"]) for r in tob) == [("L2", "100"), ("L4", "50"), ("L5", "20")]
    else:
        assert len(tob) == 1 and tob[0]["quantity"] == "170" and set(tob[0]["lot_id"].split(";")) == {"L2", "L4", "L5"}

    lot_file = read_csv(out / f"lots_{res.batch_id}.csv")
    assert list(lot_file[0]) == ["batch_id", "account_id", "custodian", "symbol", "lot_id", "quantity", "unit_cost",
                                 "acquired_date", "term", "est_gain"]
    assert lots_by_line((r["account_id"], r["symbol"], f"{r['lot_id']}:{r['quantity']}") for r in lot_file) \
        == engine_lots
    assert len(lot_file) == sum(len(v) for v in engine_lots.values())  # one row per lot relieved
    by_lot = {(r["account_id"], r["lot_id"]): r for r in lot_file}
    for (acc, lot), r in by_lot.items():
        cost, acquired = book[(acc, lot)]
        assert r["batch_id"] == res.batch_id and float(r["unit_cost"]) == cost and r["acquired_date"] == acquired
    assert by_lot[("A3", "L2")]["term"] == "LT" and by_lot[("A3", "L5")]["term"] == "ST"
    assert float(by_lot[("A3", "L2")]["est_gain"]) == pytest.approx((40.0 - 30.0) * 100)
    assert float(by_lot[("A3", "L5")]["est_gain"]) == pytest.approx((40.0 - 50.0) * 20)

    fix = [parse_fix(line) for line in (out / f"trades_{res.batch_id}.fix").read_bytes().splitlines()]
    tag = str(FIX_LOTS_TAG).encode()
    for p in fix:
        if p[b"54"] == b"2":
            assert sum(q for _, q in parse_lots(p[tag].decode())) == int(p[b"38"])
        else:
            assert tag not in p
    assert lots_by_line((p[b"1"].decode(), p[b"55"].decode(), p[tag].decode()) for p in fix if tag in p) \
        == engine_lots

    manifest = json.loads((out / f"batch_{res.batch_id}.json").read_text())
    assert manifest["as_of"] == "2026-11-20" and manifest["run_id"] == run.run_id
    with engine.connect() as conn:
        assert manifest["policy_version"] == conn.execute(select(m.Run.policy_id)).scalar_one()
    assert manifest["gross_buy"] == pytest.approx(sum(v for *_, side, v, _ in trades if side == "BUY"), abs=0.01)
    assert manifest["gross_sell"] == pytest.approx(sum(v for *_, side, v, _ in trades if side == "SELL"), abs=0.01)
    assert manifest["gross_sell"] > 0
    assert manifest["est_realized_gain"] == pytest.approx(sum(float(r["est_gain"]) for r in lot_file), abs=0.01)
    head = manifest["audit_head"]  # the audit chain's head when the batch was written
    assert head["entry"] >= 1 and len(head["hash"]) == 64 and manifest["multi_lot_order_lines"] is multi_lot
    assert {f["format"] for f in manifest["files"]} == {"csv", "fix", "lots"}


def test_a_manual_sell_naming_a_lot_carries_it_into_every_file(engine, tmp_path):
    import_book(engine, suspended_book(tmp_path))  # A2 is suspended: traded by hand only
    run_workflow(engine, workers=1)
    enter_manual_trades(engine, "A2", [ManualTrade("BBB", "SELL", 250, "L1")], user="ops")
    res = export_batch(engine, tmp_path / "o", user="ops")
    out = tmp_path / "o"
    line = [r for r in read_csv(out / f"trades_{res.batch_id}.csv") if r["account_id"] == "A2"]
    assert [(r["category"], r["lot_id"], r["lots"], r["quantity"]) for r in line] == [("MANUAL", "L1", "L1:250", "250")]
    lots = [r for r in read_csv(out / f"lots_{res.batch_id}.csv") if r["account_id"] == "A2"]
    assert [(r["lot_id"], r["quantity"], r["unit_cost"], r["term"]) for r in lots] == [("L1", "250", "19.0", "LT")]
    assert float(lots[0]["est_gain"]) == pytest.approx((20.0 - 19.0) * 250)
    fix = [parse_fix(x) for x in (out / f"trades_{res.batch_id}.fix").read_bytes().splitlines()]
    assert [p[str(FIX_LOTS_TAG).encode()] for p in fix if p[b"1"] == b"A2"] == [b"L1:250"]


@pytest.mark.sqlite_only
def test_batch_files_get_the_folder_default_permissions_not_0600(engine, book_dir, tmp_path):
    import_book(engine, book_dir)
    run_workflow(engine, workers=1)
    old = os.umask(0o002)
    try:
        res = export_batch(engine, tmp_path / "o")
    finally:
        os.umask(old)
    for path, _ in res.files:
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o664, path


# --------------------------------------------------------------------------- run vs export
def batches_per_account(engine) -> dict:
    """{(account, snapshot): {batch ids}} over every exported trade."""
    out = defaultdict(set)
    with engine.connect() as conn:
        for a, s, b in conn.execute(select(m.Trade.account_id, m.Trade.snapshot_id, m.Trade.batch_id)
                                    .where(m.Trade.batch_id.is_not(None))):
            out[(a, s)].add(b)
    return out


def assert_one_batch_per_account_and_book(engine):
    twice = {k: v for k, v in batches_per_account(engine).items() if len(v) > 1}
    assert not twice, f"accounts in two batches of one book: {twice}"


def day_book(tmp_path, day: int):
    """The base book again, a new snapshot of the same day (the files differ by a dollar)."""
    from bookkit import BASE

    accounts = [line.replace("A1,Smith Trust,GROWTH,SCHWAB,2000,", f"A1,Smith Trust,GROWTH,SCHWAB,{2000 + day},")
                for line in BASE["accounts.csv"]]
    return write_book(tmp_path / f"b{day}", changes={"accounts.csv": accounts})


def export_while_loading(monkeypatch, db_path, out, user="desk2"):
    """Make the next run load its exported accounts, then let another workstation export (and
    commit) before the run goes on: the run persists after the export committed."""
    real = workflow.exported_accounts
    done = []

    def hook(conn, snapshot_id):
        known = real(conn, snapshot_id)
        if not done:
            eng = make_engine(db_path)
            try:
                done.append(export_batch(eng, out, user=user))
            finally:
                eng.dispose()
        return known

    monkeypatch.setattr(workflow, "exported_accounts", hook)
    return done


def test_a_run_that_loads_before_an_export_commits_holds_the_exported_accounts(engine, db_path, tmp_path,
                                                                                 monkeypatch):
    for day in range(3):  # a fresh book each time: the race again from the start
        import_book(engine, day_book(tmp_path, day))
        run_workflow(engine, workers=1)
        done = export_while_loading(monkeypatch, db_path, tmp_path / "o")
        race = run_workflow(engine, workers=1).proposals.set_index("account_id")
        monkeypatch.undo()
        first = done[0]
        exported = set(exporter.batch_trades(engine, first.batch_id)["account_id"])
        assert exported and first.n_trades > 0
        for a in exported:  # the run saw the export: those accounts are held, with no trades
            assert race.at[a, "category"] == "HELD" and f"PENDING_EXECUTION: in batch {first.batch_id}" \
                in race.at[a, "reasons"]
        with engine.connect() as conn:
            left = conn.execute(select(func.count()).select_from(m.Trade).where(
                m.Trade.account_id.in_(exported), m.Trade.batch_id.is_(None),
                m.Trade.proposal_id.in_(select(m.Proposal.id).where(m.Proposal.run_id == workflow.latest_run_id(
                    conn))))).scalar_one()
            summary = json.loads(conn.execute(select(m.Run.summary).order_by(m.Run.id.desc())).scalars().first())
            log = repo.audit_frame(conn)
        assert left == 0 and summary["held_after_export"] == sorted(exported)
        assert summary["categories"]["HELD"] == int((race["category"] == "HELD").sum())
        assert (log["action"] == "RUN_PENDING_EXECUTION").sum() == day + 1
        assert export_batch(engine, tmp_path / "o") is None  # nothing of those accounts again
        assert_one_batch_per_account_and_book(engine)


def test_the_export_keeps_back_an_account_already_in_a_batch_of_the_book(engine, db_path, tmp_path, monkeypatch,
                                                                         capsys):
    # a run that persisted without re-reading (as runs did before): the export is the last guard
    import_book(engine, suspended_book(tmp_path))  # A2 suspended: traded by hand only
    run_workflow(engine, workers=1)
    done = export_while_loading(monkeypatch, db_path, tmp_path / "o")
    monkeypatch.setattr(workflow, "hold_late_exports", lambda *a, **k: set())
    run_workflow(engine, workers=1)
    monkeypatch.undo()
    first = done[0]
    exported = set(exporter.batch_trades(engine, first.batch_id)["account_id"])
    preview = export_preview(engine)
    assert preview["trades"] == 0 and preview["kept_back"] > 0
    assert export_batch(engine, tmp_path / "o") is None
    msg = kept_back_message(engine)
    for a in exported:
        assert f"{a} (PENDING_EXECUTION: already in batch {first.batch_id})" in msg
    assert main.main(["export", "--db", db_path, "--out", str(tmp_path / "o")]) == 0
    err = capsys.readouterr().err
    assert "kept back" in err and f"already in batch {first.batch_id}" in err
    assert_one_batch_per_account_and_book(engine)
    # a manual trade of another account still goes out, the kept-back ones are named with it
    enter_manual_trades(engine, "A2", [ManualTrade("BBB", "SELL", 10)], user="ops")
    res = export_batch(engine, tmp_path / "o", user="ops")
    assert set(exporter.batch_trades(engine, res.batch_id)["account_id"]) == {"A2"}
    assert {a for a, _, _ in res.kept_back} == exported
    manifest = json.loads((tmp_path / "o" / f"batch_{res.batch_id}.json").read_text())
    assert {k["account_id"] for k in manifest["kept_back"]} == exported
    assert_one_batch_per_account_and_book(engine)


def test_runs_and_exports_racing_on_two_workstations_never_send_an_account_twice(engine, db_path, tmp_path):
    rnd = random.Random(13)
    rounds = 12
    for day in range(rounds):
        import_book(engine, day_book(tmp_path, day))
        run_workflow(engine, workers=1)
        errors = []

        def work(kind, delay, n=day):
            eng = make_engine(db_path)
            try:
                time.sleep(delay)
                if kind == "run":
                    run_workflow(eng, workers=1, user="desk1")
                else:
                    export_batch(eng, tmp_path / f"o{n}", user="desk2")
            except Exception as exc:  # noqa: BLE001 - reported below
                errors.append(exc)
            finally:
                eng.dispose()

        threads = [threading.Thread(target=work, args=("run", rnd.uniform(0, 0.3))),
                   threading.Thread(target=work, args=("export", rnd.uniform(0, 0.3)))]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        assert not errors, errors
        export_batch(engine, tmp_path / f"o{day}", user="desk3")  # whatever the run left approved
        assert_one_batch_per_account_and_book(engine)
    assert len(batches_per_account(engine)) >= rounds  # every book had exports


# --------------------------------------------------------------------------- console start-up
def test_console_start_up_publishes_a_committed_batch_and_removes_an_uncommitted_ones_files(
        qtbot, engine, db_path, book_dir, tmp_path, monkeypatch, settings, boxes):
    import hashlib

    from qt_fixtures import close_window, make_window

    import_book(engine, book_dir)
    run_workflow(engine, workers=1)
    out = tmp_path / "drop"

    def power_cut(batch_id):
        raise RuntimeError("power cut after the commit")

    monkeypatch.setattr(exporter, "_before_publish", power_cut)
    with pytest.raises(RuntimeError):
        export_batch(engine, out, user="desk1")
    monkeypatch.undo()
    with engine.connect() as conn:
        batch_id, manifest = conn.execute(select(m.ExportBatch.id, m.ExportBatch.manifest)).one()
    manifest = json.loads(manifest)
    orphan = out / ".staging" / "trades_B20990101-0001.csv"  # an export that died before its commit
    orphan.write_text("batch_id,account_id\n")
    assert sorted(p.name for p in out.iterdir() if p.is_file()) == []

    w = make_window(qtbot, engine, db_path, settings, user="alice")
    qtbot.waitUntil(lambda: w.recovered is not None, timeout=30_000)
    assert any(batch_id in msg for msg in w.recovered) and any(orphan.name in msg for msg in w.recovered)
    assert "Interrupted export finished" in w.statusBar().currentMessage()
    names = {f["name"] for f in manifest["files"]} | {f"batch_{batch_id}.json"}
    assert {p.name for p in out.iterdir() if p.is_file()} == names and not (out / ".staging").exists()
    for f in manifest["files"]:
        assert hashlib.sha256((out / f["name"]).read_bytes()).hexdigest() == f["sha256"]
    with engine.connect() as conn:
        log = repo.audit_frame(conn)
    assert set(log.loc[log["action"].isin(["EXPORT_REPUBLISH", "EXPORT_STAGING_REMOVED"]), "username"]) == {"alice"}
    close_window(w, boxes)
