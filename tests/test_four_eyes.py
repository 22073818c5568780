# Kept whole, long because its tests share the four-eyes fixtures (two sessions, a reviewed book); split by panel when it grows.
"""Four-eyes approvals (manual trades, edited proposals) and optimistic locking of the policy,
proposals and overrides: in the engine, on the command line and in the console (pytest-qt,
real widgets offscreen; message boxes answered by ``qt_fixtures.boxes``).

The test book is bookkit's, with account A1 put in the UHNW tier by its ``group`` column (the
shipped policy has ``four_eyes = true`` on UHNW only); A2 and A3 stay Small (no four-eyes).
"""
import csv
from pathlib import Path

import pytest
from alembic import command
from qt_fixtures import boxes, close_window, settings, shown, wait_loaded, window  # noqa: F401
from PySide6.QtCore import Qt
from sqlalchemy import inspect, select

import main
from bookkit import BASE, write_book
from engine.core.audit import audit_entries
from engine.desk.exporter import export_batch, export_preview
from engine.book.importer import import_book
from engine.desk.manual import ManualTrade, decide_manual_trades, enter_manual_trades, pending_manual_trades
from engine.decide.overrides import add_hold, end_override
from engine.core.policy import default_policy, policy_from_dict, policy_from_toml
from engine.core.policy_store import PolicyConflict, latest_version, policy_versions, save_policy
from engine.desk.review import ConflictError, FourEyesError, approve, edit_trade, proposal_trades, reject
from engine.core.tasks import RefusedError
from engine.decide.workflow import current_policy, proposals_frame, run_workflow
from storage import models as m
from storage.db import alembic_config, current_revision, head_revision, make_engine

ACCOUNTS = [line + "UHNW" if line.startswith("A1,") else line for line in BASE["accounts.csv"]]


def uhnw_book(folder: Path) -> Path:
    return write_book(folder, changes={"accounts.csv": ACCOUNTS})


def review_all_policy(**four_eyes):
    data = default_policy().model_dump()
    data["tiers"] = [{**t, "review": "all", "four_eyes": four_eyes.get(t["name"], t["four_eyes"])}
                     for t in data["tiers"]]
    return policy_from_dict(data)


@pytest.fixture
def book(engine, tmp_path):
    """The UHNW test book imported; no run (manual trades need none)."""
    import_book(engine, uhnw_book(tmp_path / "book"), user="ops")
    return engine


@pytest.fixture
def reviewed(engine, tmp_path):
    """The UHNW test book run under a policy that reviews every account (UHNW: four-eyes)."""
    import_book(engine, uhnw_book(tmp_path / "book"), user="ops")
    save_policy(engine, review_all_policy(), user="admin")
    return run_workflow(engine, workers=1, user="sched")


def trade_row(engine, trade_id) -> dict:
    with engine.connect() as conn:
        return dict(conn.execute(select(m.Trade.__table__).where(m.Trade.id == trade_id)).mappings().one())


def statuses(engine) -> dict:
    with engine.connect() as conn:
        p = proposals_frame(conn)
    return dict(zip(p["account_id"], zip(p["status"], p["decided_by"])))


def exported_rows(res) -> list[dict]:
    path = next(Path(p) for p, _ in res.files if p.endswith(".csv"))
    return list(csv.DictReader(open(path, encoding="utf-8")))


# --------------------------------------------------------------------------- policy
def test_shipped_policy_has_four_eyes_on_uhnw_only_and_old_policies_keep_their_checksum():
    p = default_policy()
    assert {t.name: p.four_eyes(t.name) for t in p.tiers} == {"Small": False, "Core": False, "Premier": False,
                                                               "UHNW": True}
    assert p.tier("UHNW").four_eyes is True and p.tier("Core").four_eyes is None  # explicit only on UHNW
    # a policy without the setting is written (and checksummed) exactly as before the setting existed
    data = p.model_dump()
    data["tiers"] = [{k: v for k, v in t.items() if k != "four_eyes"} for t in data["tiers"]]
    plain = policy_from_dict(data)
    assert all(t.four_eyes is None for t in plain.tiers) and "four_eyes" not in plain.to_toml()
    assert "four_eyes = true" in p.to_toml()


def old_style_policy(**changes):
    """The shipped policy as the code before four-eyes stored it: no ``four_eyes`` key at all."""
    data = default_policy().model_dump()
    data["tiers"] = [{k: v for k, v in t.items() if k != "four_eyes"} | changes.get(t["name"], {})
                     for t in data["tiers"]]
    return policy_from_dict(data)


def test_policy_without_the_four_eyes_key_has_it_on_for_uhnw_by_default():
    plain = old_style_policy()
    assert {t.name: plain.four_eyes(t.name) for t in plain.tiers} == {"Small": False, "Core": False,
                                                                       "Premier": False, "UHNW": True}
    renamed = old_style_policy(UHNW={"name": "uhnw"})  # the tier's name, any case
    assert renamed.four_eyes("uhnw") and not renamed.four_eyes("Premier")
    # an explicit value wins over the default and is written (so it survives a round trip)
    off = old_style_policy(UHNW={"four_eyes": False}, Core={"four_eyes": True})
    assert not off.four_eyes("UHNW") and off.four_eyes("Core")
    text = off.to_toml()
    assert "four_eyes = false" in text and "four_eyes = true" in text
    back = policy_from_toml(text)
    assert back == off and not back.four_eyes("UHNW") and back.checksum == off.checksum


def test_manual_trade_under_a_policy_saved_before_four_eyes_existed_waits_for_approval(book):
    engine = book
    pid = save_policy(engine, old_style_policy(), user="admin", expected_version=0)
    with engine.connect() as conn:
        body = conn.execute(select(m.Policy.body).where(m.Policy.id == pid)).scalar_one()
    assert "four_eyes" not in body  # stored exactly as the old code stored it
    assert current_policy(engine).four_eyes("UHNW")
    [tid] = enter_manual_trades(engine, "A1", [ManualTrade("AAA", "SELL", 10)], user="alice")
    assert trade_row(engine, tid)["status"] == "PENDING_APPROVAL"
    with pytest.raises(FourEyesError):
        decide_manual_trades(engine, [tid], user="alice")


# --------------------------------------------------------------------------- run --policy, four-eyes off
def four_eyes_off_toml(folder: Path) -> Path:
    data = default_policy().model_dump()
    data["tiers"] = [{**t, "four_eyes": False} for t in data["tiers"]]
    path = folder / "off.toml"
    path.write_text(policy_from_dict(data).to_toml(), encoding="utf-8")
    return path


@pytest.mark.parametrize("saved", [True, False], ids=["saved-version", "default-policy"])
def test_a_policy_a_run_used_does_not_become_the_current_policy(book, tmp_path, saved):
    engine = book
    v1 = save_policy(engine, default_policy(), user="admin", expected_version=0) if saved else 0
    off = four_eyes_off_toml(tmp_path)
    out = run_workflow(engine, policy_path=str(off), workers=1, user="mallory")
    with engine.connect() as conn:
        run_policy = conn.execute(select(m.Run.policy_id).where(m.Run.id == out.run_id)).scalar_one()
        body = conn.execute(select(m.Policy.body).where(m.Policy.id == run_policy)).scalar_one()
    assert run_policy != v1 and not policy_from_toml(body).four_eyes("UHNW")  # the run records what it used
    # ...but the current policy is still the newest saved version (or the default file)
    assert current_policy(engine).four_eyes("UHNW") and current_policy(engine) == default_policy()
    assert latest_version(engine) == v1
    assert policy_versions(engine)["id"].tolist() == ([v1] if saved else [])
    [tid] = enter_manual_trades(engine, "A1", [ManualTrade("AAA", "SELL", 10)], user="mallory")
    assert trade_row(engine, tid)["status"] == "PENDING_APPROVAL"
    # a save started from the saved version is not refused because a run stored a policy meanwhile
    v2 = save_policy(engine, review_all_policy(), user="admin", expected_version=v1)
    assert latest_version(engine) == v2 and current_policy(engine).tiers[0].review == "all"
    # the next scheduled run uses the saved version again
    out2 = run_workflow(engine, workers=1, user="sched")
    with engine.connect() as conn:
        assert conn.execute(select(m.Run.policy_id).where(m.Run.id == out2.run_id)).scalar_one() == v2


def test_cli_run_with_a_policy_file_leaves_the_current_policy(book, db_path, tmp_path, capsys):
    engine = book
    off = four_eyes_off_toml(tmp_path)
    assert main.main(["run", "--policy", str(off), "--db", db_path, "--user", "mallory", "--workers", "1"]) == 0
    capsys.readouterr()
    assert current_policy(engine).four_eyes("UHNW")
    assert main.main(["manual", "A1", "--trade", "SELL:AAA:10", "--db", db_path, "--user", "mallory"]) == 0
    assert "await the approval of another user" in capsys.readouterr().out


def test_saving_a_policy_that_switches_four_eyes_off_is_audited(book):
    engine = book
    v1 = save_policy(engine, default_policy(), user="admin", expected_version=0)
    assert audit_entries(engine, action="FOUR_EYES_OFF").empty
    off = old_style_policy(UHNW={"four_eyes": False})
    v2 = save_policy(engine, off, user="mallory", expected_version=v1, note="faster")
    log = audit_entries(engine, action="FOUR_EYES_OFF")
    assert len(log) == 1 and log["username"].iat[0] == "mallory"
    assert "UHNW" in log["detail"].iat[0] and "mallory" in log["detail"].iat[0] and f"version {v2}" in log["detail"].iat[0]
    # saving it again (already off), or switching it on, is no such change
    v3 = save_policy(engine, off, user="mallory", expected_version=v2)
    v4 = save_policy(engine, default_policy(), user="admin", expected_version=v3)
    assert len(audit_entries(engine, action="FOUR_EYES_OFF")) == 1
    # a version without the UHNW tier (its accounts lose four-eyes) counts too
    data = review_all_policy(Small=True).model_dump()
    data["tiers"] = [t for t in data["tiers"] if t["name"] != "UHNW"]
    data["tiers"][-1]["max_value"] = None
    save_policy(engine, policy_from_dict(data), user="bob", expected_version=v4)
    log = audit_entries(engine, action="FOUR_EYES_OFF")
    assert len(log) == 2 and log["username"].iat[0] == "bob" and "UHNW" in log["detail"].iat[0]


# --------------------------------------------------------------------------- manual trades
def test_manual_trade_under_four_eyes_waits_for_a_different_user_and_is_exported_once(book, tmp_path):
    engine = book
    [tid] = enter_manual_trades(engine, "A1", [ManualTrade("AAA", "SELL", 10)], user="alice")
    t = trade_row(engine, tid)
    assert (t["status"], t["four_eyes"], t["approved_by"], t["created_by"]) == ("PENDING_APPROVAL", True, None,
                                                                                 "alice")
    assert pending_manual_trades(engine)["id"].tolist() == [tid]
    # not exportable while it waits: nothing is written
    assert export_preview(engine)["trades"] == 0 and export_preview(engine)["awaiting_approval"] == 1
    assert export_batch(engine, tmp_path / "out1", user="ops") is None
    assert not (tmp_path / "out1").exists() or not any((tmp_path / "out1").iterdir())

    # the user who entered it cannot approve it
    with pytest.raises(FourEyesError) as err:
        decide_manual_trades(engine, [tid], user="alice")
    assert str(err.value).splitlines()[0] == (f"four-eyes: trade {tid} for account A1 was entered by alice; "
                                              "a different user must approve it")
    assert trade_row(engine, tid)["status"] == "PENDING_APPROVAL"

    # a different user can: then it is exported, exactly once
    assert decide_manual_trades(engine, [tid], user="bob") == [tid]
    t = trade_row(engine, tid)
    assert (t["status"], t["approved_by"]) == ("APPROVED", "bob") and t["approved_at"] is not None
    res = export_batch(engine, tmp_path / "out2", user="ops")
    rows = exported_rows(res)
    assert [(r["account_id"], r["symbol"], r["side"], r["quantity"], r["category"]) for r in rows] == [
        ("A1", "AAA", "SELL", "10", "MANUAL")]
    assert trade_row(engine, tid)["batch_id"] == res.batch_id
    assert export_batch(engine, tmp_path / "out3", user="ops") is None
    # approving it again is refused (not awaiting approval any more)
    with pytest.raises(RefusedError, match="not awaiting approval"):
        decide_manual_trades(engine, [tid], user="carol")

    log = audit_entries(engine)
    got = [(a, u, acc) for a, u, acc in zip(log["action"], log["username"], log["account_id"])
           if a.startswith("MANUAL")]
    assert sorted(got) == [("MANUAL_APPROVE", "bob", "A1"), ("MANUAL_TRADE", "alice", "A1")]


def test_second_approval_decided_meanwhile_is_a_conflict_and_reject_reopens_nothing_exported(book, tmp_path):
    engine = book
    ids = enter_manual_trades(engine, "A1", [ManualTrade("AAA", "SELL", 10), ManualTrade("BBB", "SELL", 5)],
                              user="alice")
    # bob rejects one; carol, who loaded both, approves both: refused as a whole, nothing changes
    decide_manual_trades(engine, ids[:1], approve=False, user="bob")
    with pytest.raises(ConflictError, match=f"trade {ids[0]} for account A1 was rejected by bob meanwhile"):
        decide_manual_trades(engine, ids, user="carol")
    assert trade_row(engine, ids[1])["status"] == "PENDING_APPROVAL"
    decide_manual_trades(engine, account_ids=["A1"], user="carol")
    assert [trade_row(engine, i)["status"] for i in ids] == ["REJECTED", "APPROVED"]
    rows = exported_rows(export_batch(engine, tmp_path / "out", user="ops"))
    assert [(r["symbol"], r["quantity"]) for r in rows] == [("BBB", "5")]


def test_pending_trade_entered_on_an_older_book_cannot_be_approved_only_rejected(book, tmp_path):
    engine = book
    [tid] = enter_manual_trades(engine, "A1", [ManualTrade("AAA", "SELL", 10)], user="alice")
    [other] = enter_manual_trades(engine, "A2", [ManualTrade("BBB", "SELL", 100)], user="alice")  # approved
    import_book(engine, write_book(tmp_path / "next", as_of="2026-11-23", changes={"accounts.csv": ACCOUNTS}),
                user="ops")
    with pytest.raises(RefusedError) as err:
        decide_manual_trades(engine, [tid], user="bob")
    assert not isinstance(err.value, (FourEyesError, ConflictError))
    first = str(err.value).splitlines()[0]
    assert first.startswith(f"trade {tid} for account A1 was entered on the book of 2026-11-20; the book is now "
                            "2026-11-23")
    assert "reject it and enter it again" in first
    with pytest.raises(RefusedError, match="entered on the book of 2026-11-20"):
        decide_manual_trades(engine, account_ids=["A1"], user="bob")
    assert trade_row(engine, tid)["status"] == "PENDING_APPROVAL"
    assert export_preview(engine)["awaiting_approval"] == 1
    # rejecting it stays allowed; then it can be entered again on today's book
    assert decide_manual_trades(engine, [tid], approve=False, user="bob") == [tid]
    assert trade_row(engine, tid)["status"] == "REJECTED" and trade_row(engine, other)["status"] == "APPROVED"
    [again] = enter_manual_trades(engine, "A1", [ManualTrade("AAA", "SELL", 10)], user="alice")
    assert decide_manual_trades(engine, [again], user="bob") == [again]


def test_the_second_approver_is_compared_ignoring_case(book):
    engine = book
    [tid] = enter_manual_trades(engine, "A1", [ManualTrade("AAA", "SELL", 10)], user="alice")
    for same in ("Alice", "ALICE", "alicE"):
        with pytest.raises(FourEyesError, match="entered by alice; a different user must approve it"):
            decide_manual_trades(engine, [tid], user=same)
    assert trade_row(engine, tid)["status"] == "PENDING_APPROVAL"
    assert decide_manual_trades(engine, [tid], user="Bob") == [tid]


def test_tier_without_four_eyes_is_unchanged(book, tmp_path):
    engine = book
    [tid] = enter_manual_trades(engine, "A2", [ManualTrade("BBB", "SELL", 100)], user="alice")  # Small
    t = trade_row(engine, tid)
    assert (t["status"], t["four_eyes"], t["approved_by"]) == ("APPROVED", False, "alice")
    assert pending_manual_trades(engine).empty
    with pytest.raises(RefusedError, match="not awaiting approval"):
        decide_manual_trades(engine, [tid], user="bob")
    rows = exported_rows(export_batch(engine, tmp_path / "out", user="alice"))
    assert [(r["account_id"], r["symbol"], r["quantity"]) for r in rows] == [("A2", "BBB", "100")]


def test_four_eyes_switched_on_for_a_tier_in_the_policy_applies_to_its_manual_trades(book):
    engine = book
    data = default_policy().model_dump()
    data["tiers"] = [{**t, "four_eyes": t["name"] == "Small"} for t in data["tiers"]]
    save_policy(engine, policy_from_dict(data), user="admin", expected_version=0)
    [small] = enter_manual_trades(engine, "A2", [ManualTrade("BBB", "SELL", 100)], user="alice")
    [uhnw] = enter_manual_trades(engine, "A1", [ManualTrade("AAA", "SELL", 10)], user="alice")
    assert trade_row(engine, small)["status"] == "PENDING_APPROVAL"
    assert trade_row(engine, uhnw)["status"] == "APPROVED"  # UHNW is off in this policy


# --------------------------------------------------------------------------- edited proposals
def test_edited_proposal_needs_an_approver_other_than_its_editors(engine, reviewed):
    assert statuses(engine)["A1"][0] == "PROPOSED"
    buy = proposal_trades(engine, "A1")
    buy = buy[buy["side"] == "BUY"].iloc[0]  # buying less keeps the cash check happy
    edit_trade(engine, int(buy["id"]), quantity=int(buy["quantity"]) - 1, user="alice")
    with pytest.raises(FourEyesError) as err:
        approve(engine, ["A1"], user="alice")
    assert str(err.value).splitlines()[0] == ("four-eyes: the proposal for account A1 (UHNW) was edited by alice; "
                                              "a different user must approve it")
    assert statuses(engine)["A1"] == ("PROPOSED", None)
    # bob edits too: neither editor may approve, a third user may
    edit_trade(engine, int(buy["id"]), quantity=int(buy["quantity"]) - 2, user="bob")
    with pytest.raises(FourEyesError, match="edited by alice, bob"):
        approve(engine, ["A1", "A2"], user="bob")
    assert statuses(engine)["A2"] == ("PROPOSED", None)  # all or nothing
    approve(engine, ["A1"], user="carol")
    assert statuses(engine)["A1"] == ("APPROVED", "carol")
    # rejecting is not restricted; an unedited UHNW proposal is approved as before
    reject(engine, ["A1"], user="alice", reason="tax too high")
    assert statuses(engine)["A1"] == ("REJECTED", "alice")


def test_edited_proposal_of_a_tier_without_four_eyes_is_unchanged(engine, reviewed):
    buy = proposal_trades(engine, "A2")
    row = buy[buy["side"] == "BUY"].iloc[0]
    edit_trade(engine, int(row["id"]), quantity=int(row["quantity"]) - 1, user="alice")
    approve(engine, ["A2"], user="alice")  # Small: the editor may approve
    assert statuses(engine)["A2"] == ("APPROVED", "alice")
    with engine.connect() as conn:
        assert conn.execute(select(m.Proposal.edited_by).where(m.Proposal.account_id == "A2")).scalar() == "alice"


# --------------------------------------------------------------------------- command line
def test_cli_manual_then_approve_by_a_second_user(book, db_path, tmp_path, capsys):
    engine = book
    assert main.main(["manual", "A1", "--trade", "SELL:AAA:10", "--db", db_path, "--user", "alice"]) == 0
    out = capsys.readouterr().out
    [tid] = pending_manual_trades(engine)["id"].tolist()
    assert "await the approval of another user" in out and f"approve --trade {tid}" in out
    assert main.main(["approve", "--pending", "--db", db_path]) == 0
    listing = capsys.readouterr().out
    assert "A1" in listing and "alice" in listing and str(tid) in listing
    assert main.main(["export", "--db", db_path, "--out", str(tmp_path / "o1")]) == 0
    assert "nothing to export" in capsys.readouterr().out

    assert main.main(["approve", "--trade", str(tid), "--db", db_path, "--user", "alice"]) == 2
    assert (f"four-eyes: trade {tid} for account A1 was entered by alice; a different user must approve it"
            in capsys.readouterr().err)
    assert main.main(["approve", "--manual", "A1", "--db", db_path, "--user", "bob"]) == 0
    assert f"approved 1 manual trade(s): {tid}" in capsys.readouterr().out
    assert main.main(["export", "--db", db_path, "--out", str(tmp_path / "o2")]) == 0
    assert trade_row(engine, tid)["batch_id"] is not None
    # the proposals form of approve is unchanged
    assert main.main(["approve", "--db", db_path]) == 2
    assert "name the accounts" in capsys.readouterr().err


# --------------------------------------------------------------------------- optimistic locking
def test_policy_save_from_an_outdated_version_is_refused(engine):
    v1 = save_policy(engine, default_policy(), user="admin", expected_version=0)
    with pytest.raises(PolicyConflict, match="you started from the default policy"):
        save_policy(engine, default_policy(), user="carol", expected_version=0)
    # alice and bob both start from v1; bob saves first
    v2 = save_policy(engine, review_all_policy(), user="bob", expected_version=v1, note="review all")
    with pytest.raises(PolicyConflict) as err:
        save_policy(engine, default_policy(), user="alice", expected_version=v1)
    msg = str(err.value)
    assert f"you started from version {v1}, but version {v2} by bob at " in msg and "was saved since" in msg
    assert err.value.latest == v2 and err.value.saved_by == "bob"
    assert policy_versions(engine)["id"].tolist() == [v2, v1]  # nothing stored
    assert current_policy(engine).tiers[0].review == "all"  # bob's version stands
    v3 = save_policy(engine, default_policy(), user="alice", expected_version=v2)
    assert policy_versions(engine)["created_by"].tolist()[0] == "alice" and v3 == v2 + 1


# --------------------------------------------------------------------------- migration
def test_existing_database_upgrades_and_keeps_its_trades(engine, db_path, tmp_path):
    """A database at revision 0001 (before four-eyes) with a run, an edit and a manual trade
    upgrades: nothing lost, its approved manual trade still exported, the edit's author known."""
    import_book(engine, uhnw_book(tmp_path / "book"), user="ops")
    save_policy(engine, review_all_policy(), user="admin")
    run_workflow(engine, workers=1, user="sched")
    t = proposal_trades(engine, "A1")
    row = t[t["side"] == "SELL"].iloc[0]
    edit_trade(engine, int(row["id"]), quantity=int(row["quantity"]) - 10, user="alice")
    [tid] = enter_manual_trades(engine, "A2", [ManualTrade("BBB", "SELL", 100)], user="alice")
    with engine.begin() as conn:  # as revision 0001 stored it: no editors known
        conn.execute(m.Proposal.__table__.update().values(edited_by=None))
    command.downgrade(alembic_config(engine), "0001")
    engine.dispose()
    assert current_revision(engine) == "0001"
    cols = {c["name"] for c in inspect(engine).get_columns("trades")}
    assert "four_eyes" not in cols and "approved_by" not in cols

    eng = make_engine(db_path)  # opening an old database migrates it
    try:
        assert current_revision(eng) == head_revision()  # 0002 or later
        with eng.connect() as conn:
            edited = conn.execute(select(m.Proposal.edited_by).where(m.Proposal.account_id == "A1")).scalar()
            n = conn.execute(select(m.Trade.id)).all()
        assert edited == "alice" and len(n) > 1
        t = trade_row(eng, tid)
        assert (t["status"], t["four_eyes"]) == ("APPROVED", False)
        with pytest.raises(FourEyesError):  # the edit made before the upgrade still counts
            approve(eng, ["A1"], user="alice")
        approve(eng, ["A1"], user="bob")
        res = export_batch(eng, tmp_path / "out", user="ops")
        assert {(r["account_id"], r["category"]) for r in exported_rows(res)} >= {("A2", "MANUAL"), ("A1", "SCORE")}
    finally:
        eng.dispose()


# --------------------------------------------------------------------------- console
@pytest.fixture
def other_session(db_path):
    """A second desk on the same database: its own engine (connections, transactions)."""
    eng = make_engine(db_path)
    yield eng
    eng.dispose()


def test_policy_panel_sets_four_eyes_per_tier(qtbot, engine, reviewed, window):
    shown(qtbot, window, "Policy")
    p = window.panel("Policy")
    core = [p.tier_editor(r, "name").text() for r in range(p.tiers.rowCount())].index("Core")
    uhnw = [p.tier_editor(r, "name").text() for r in range(p.tiers.rowCount())].index("UHNW")
    assert p.tier_editor(uhnw, "four_eyes").isChecked() and not p.tier_editor(core, "four_eyes").isChecked()
    p.tier_editor(core, "four_eyes").setChecked(True)
    assert p.save_button.isEnabled() and p.state_label.text() == "Unsaved changes"
    qtbot.mouseClick(p.save_button, Qt.MouseButton.LeftButton)
    wait_loaded(qtbot, p)  # the panel reloads off the GUI thread
    assert "Saved as version" in p.error.text()
    saved = current_policy(engine)
    assert saved.tier("Core").four_eyes and saved.tier("UHNW").four_eyes and not saved.tier("Small").four_eyes


def test_policy_panel_shows_the_default_four_eyes_of_an_old_policy_and_saves_only_changes(qtbot, engine, reviewed,
                                                                                           window):
    old = save_policy(engine, old_style_policy(), user="admin")  # as stored before four-eyes existed
    shown(qtbot, window, "Policy")
    p = window.panel("Policy")
    p.refresh()
    wait_loaded(qtbot, p)
    names = [p.tier_editor(r, "name").text() for r in range(p.tiers.rowCount())]
    core, uhnw = names.index("Core"), names.index("UHNW")
    assert p.loaded_id == old and p.state_label.text() == f"Version {old}"  # loaded, nothing changed
    assert p.tier_editor(uhnw, "four_eyes").isChecked() and not p.tier_editor(core, "four_eyes").isChecked()
    p.tier_editor(core, "four_eyes").setChecked(True)
    qtbot.mouseClick(p.save_button, Qt.MouseButton.LeftButton)
    wait_loaded(qtbot, p)  # the panel reloads off the GUI thread
    assert "Saved as version" in p.error.text()
    saved = current_policy(engine)
    assert saved.tier("Core").four_eyes is True and saved.tier("UHNW").four_eyes is None  # only the change
    assert saved.four_eyes("UHNW") and not saved.four_eyes("Small")


def test_policy_panel_asks_before_switching_four_eyes_off(qtbot, engine, reviewed, window, boxes):
    from PySide6.QtWidgets import QMessageBox

    shown(qtbot, window, "Policy")
    p = window.panel("Policy")
    started = p.loaded_id
    uhnw = [p.tier_editor(r, "name").text() for r in range(p.tiers.rowCount())].index("UHNW")
    p.tier_editor(uhnw, "four_eyes").setChecked(False)
    boxes.answers.append(QMessageBox.StandardButton.Cancel)
    assert p.save() is None
    box = boxes.seen[-1]
    assert box.title == "Switch four-eyes off?" and "UHNW" in box.text
    assert latest_version(engine) == started and current_policy(engine).four_eyes("UHNW")  # nothing saved
    assert p.state_label.text() == "Unsaved changes" and audit_entries(engine, action="FOUR_EYES_OFF").empty
    # confirmed: saved, and the audit log says who switched it off
    n = len(boxes.seen)
    qtbot.mouseClick(p.save_button, Qt.MouseButton.LeftButton)
    wait_loaded(qtbot, p)  # the panel reloads off the GUI thread
    assert len(boxes.seen) == n + 1 and boxes.seen[-1].title == "Switch four-eyes off?"
    assert "Saved as version" in p.error.text() and not current_policy(engine).four_eyes("UHNW")
    log = audit_entries(engine, action="FOUR_EYES_OFF")
    assert len(log) == 1 and log["username"].iat[0] == "alice" and "UHNW" in log["detail"].iat[0]
    # switching it on again asks nothing
    p.tier_editor(uhnw, "four_eyes").setChecked(True)
    qtbot.mouseClick(p.save_button, Qt.MouseButton.LeftButton)
    wait_loaded(qtbot, p)  # the panel reloads off the GUI thread
    assert len(boxes.seen) == n + 1 and current_policy(engine).four_eyes("UHNW")


def test_policy_conflict_is_refused_with_a_message_and_the_panel_reloads(qtbot, engine, reviewed, window,
                                                                         other_session, boxes):
    shown(qtbot, window, "Policy")
    p = window.panel("Policy")
    started = p.loaded_id
    assert started == int(policy_versions(engine)["id"].max())
    p.fields["trading.cost_bps"].setValue(9)  # alice's edit, unsaved
    # meanwhile bob saves another version at his desk
    data = current_policy(other_session).model_dump()
    data["trading"]["ticket_cost"] = 4.0
    bob = save_policy(other_session, policy_from_dict(data), user="bob", expected_version=started, note="tickets")
    qtbot.mouseClick(p.save_button, Qt.MouseButton.LeftButton)
    wait_loaded(qtbot, p)  # the panel reloads off the GUI thread
    box = boxes.seen[-1]
    assert box.title == "Policy not saved: changed by someone else"
    assert f"you started from version {started}, but version {bob} by bob at" in box.text
    assert f"The form now shows version {bob}" in p.error.text() and p.error.isVisible()
    versions = policy_versions(engine)
    assert versions["id"].tolist()[0] == bob and "alice" not in set(versions["created_by"])  # nothing overwritten
    # the form reloaded the latest version: bob's change, not alice's unsaved one
    assert p.loaded_id == bob and p.state_label.text() == f"Version {bob}"
    assert p.fields["trading.ticket_cost"].value() == 4.0 and p.fields["trading.cost_bps"].value() == 5.0
    # redo the change on top of bob's version: saved
    p.fields["trading.cost_bps"].setValue(9)
    qtbot.mouseClick(p.save_button, Qt.MouseButton.LeftButton)
    wait_loaded(qtbot, p)  # the panel reloads off the GUI thread
    assert "Saved as version" in p.error.text()
    newest = current_policy(engine)
    assert newest.trading.cost_bps == 9 and newest.trading.ticket_cost == 4.0


def test_two_session_proposal_conflict_shows_the_message_and_reloads(qtbot, engine, reviewed, window,
                                                                     other_session, boxes):
    shown(qtbot, window, "Proposals", "A2")
    p = window.panel("Proposals")
    qtbot.waitUntil(lambda: p.current == "A2", timeout=2000)
    reject(other_session, ["A2"], user="bob", reason="client call")  # another desk, after the panel loaded A2
    p.table.setFocus()
    qtbot.keyClick(p.table, Qt.Key.Key_A)
    wait_loaded(qtbot, p)  # the panel reloads off the GUI thread
    box = boxes.seen[-1]
    assert box.title == "Approve: changed by someone else"
    assert box.text.startswith("A2: changed by someone else since you loaded it (now REJECTED by bob")
    assert statuses(engine)["A2"] == ("REJECTED", "bob")
    # the view was reloaded: it shows bob's decision and the current version, so a retry works
    rec = p.model.frame().set_index("account_id").loc["A2"]
    assert rec["review_text"] == "Rejected" and rec["decided_by"] == "bob"
    assert "The view was reloaded" in p.action_msg.text()
    assert p.current == "A2"
    p.table.setFocus()
    qtbot.keyClick(p.table, Qt.Key.Key_A)
    wait_loaded(qtbot, p)  # the panel reloads off the GUI thread
    assert statuses(engine)["A2"] == ("APPROVED", "alice")


def test_four_eyes_refusal_of_an_edited_proposal_is_a_message_box(qtbot, engine, reviewed, window, boxes,
                                                                  other_session):
    t = proposal_trades(engine, "A1")
    row = t[t["side"] == "SELL"].iloc[0]
    shown(qtbot, window, "Proposals", "A1")
    p = window.panel("Proposals")
    qtbot.waitUntil(lambda: p.current == "A1", timeout=2000)
    # alice edits the quantity in the console (what committing the Shares cell editor calls)
    assert p.edit_quantity(int(row["id"]), int(row["quantity"]) - 10)
    qtbot.waitUntil(lambda: not p.reload_pending, timeout=2000)
    assert "awaits approval again" in p.edit_msg.text()
    assert "edited by alice" in p.detail_title.text() and "four-eyes" in p.detail_title.text()
    p.focus("A1")
    p.table.setFocus()
    qtbot.keyClick(p.table, Qt.Key.Key_A)
    wait_loaded(qtbot, p)  # the panel reloads off the GUI thread
    box = boxes.seen[-1]
    assert box.title == "Approve: four-eyes"
    assert box.text == "four-eyes: the proposal for account A1 (UHNW) was edited by alice; a different user must " \
                       "approve it"
    assert statuses(engine)["A1"] == ("PROPOSED", None)
    approve(other_session, ["A1"], user="bob")
    assert statuses(engine)["A1"] == ("APPROVED", "bob")


def test_suspended_panel_lists_pending_manual_trades_for_a_second_approver(qtbot, engine, reviewed, window,
                                                                          other_session, boxes, settings):
    from ui.panel import AppContext
    from ui.suspended_panel import SuspendedPanel

    shown(qtbot, window, "Suspended")
    p = window.panel("Suspended")
    assert not p.pending_box.isVisibleTo(p)  # nothing waits
    # alice enters a manual trade for the UHNW account through the dialog
    p.current = "A1"
    p.open_manual()
    dlg = p.manual_dialog
    assert dlg.four_eyes and dlg.findChild(type(dlg.messages), "fourEyesNote") is not None
    dlg.lines[0].set("SELL", "AAA", 10)
    dlg.recheck()
    qtbot.mouseClick(dlg.enter_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not dlg.isVisible())
    [tid] = dlg.entered
    assert trade_row(engine, tid)["status"] == "PENDING_APPROVAL"
    assert p.pending_box.isVisibleTo(p) and p.pending_model.value(0, "id") == tid
    assert p.pending_model.value(0, "created_by") == "alice" and "another user approves" in p.banner.text()

    # alice cannot approve her own trade: a message box says why; it still waits
    p.select_pending([tid])
    qtbot.mouseClick(p.approve_manual_button, Qt.MouseButton.LeftButton)
    box = boxes.seen[-1]
    assert box.title == "Approve manual trades: four-eyes"
    assert box.text == f"four-eyes: trade {tid} for account A1 was entered by alice; a different user must approve it"
    assert trade_row(engine, tid)["status"] == "PENDING_APPROVAL" and export_preview(engine)["awaiting_approval"] == 1

    # bob, at another desk, sees it and approves it: it is exported then
    ctx = AppContext(other_session, user="bob", settings=settings)
    bob = SuspendedPanel(ctx)
    qtbot.addWidget(bob)
    bob.refresh()
    wait_loaded(qtbot, bob)
    assert bob.pending_box.isVisibleTo(bob) and bob.pending_model.value(0, "id") == tid
    bob.select_pending([tid])
    qtbot.mouseClick(bob.approve_manual_button, Qt.MouseButton.LeftButton)
    t = trade_row(engine, tid)
    assert (t["status"], t["approved_by"]) == ("APPROVED", "bob")
    assert f"Approved manual trade {tid}" in bob.pending_msg.text() and bob.pending_model.rowCount() == 0
    # alice's console, refreshed, has nothing waiting
    p.refresh()
    wait_loaded(qtbot, p)
    assert not p.pending_box.isVisibleTo(p)


def test_overrides_panel_shows_an_override_ended_meanwhile_and_refreshes(qtbot, engine, reviewed, window,
                                                                         other_session, boxes):
    from datetime import date

    oid = add_hold(engine, "A3", date(2026, 12, 1), "client wire", user="alice")
    shown(qtbot, window, "Overrides")
    p = window.panel("Overrides")
    p.active.select_row(p.active_model.find("id", oid))
    end_override(other_session, oid, user="bob")  # another desk ends it first
    qtbot.mouseClick(p.end_button, Qt.MouseButton.LeftButton)  # confirmation answered OK
    wait_loaded(qtbot, p)  # the panel reloads off the GUI thread
    box = boxes.seen[-1]
    assert box.title == "End override" and box.text == f"override {oid} was already ended by bob"
    assert p.active_model.find("id", oid) < 0  # the view was refreshed
    assert p.history_model.value(p.history_model.find("id", oid), "ended_by") == "bob"
