"""Issue 13, items 2-4: overrides bind until export, edited proposals are re-scored, reject and undo."""
import csv
import json
import math

import numpy as np
import pytest
from sqlalchemy import select

import main
from bookkit import eager_policy, write_book
from engine.desk.compliance import override_impact, impact_text
from engine.desk.exporter import export_batch, export_preview
from engine.book.importer import import_book
from engine.desk.manual import ManualTrade, enter_manual_trades
from engine.decide.optimizer import AccountInput, score_trades
from engine.decide.overrides import add_halt, add_hold, end_override
from engine.core.policy import policy_from_dict
from engine.core.policy_store import save_policy
from engine.decide.rescore import account_input, score_lines
from engine.desk.review import approve, edit_trade, proposal_trades, reject
from engine.core.tasks import RefusedError
from engine.desk.undo import restore, restore_trade, withdraw
from engine.decide.workflow import optimizer_settings, run_workflow
from storage import compact_detail
from storage import models as m
from storage import repo

SCORE = ("score", "score_bps", "drift_benefit", "harvest_benefit", "rating_benefit", "trading_cost", "tax_cost",
         "te_pre", "te_post", "turnover", "realized_tax")


def review_all_policy():
    """Every account reviewed, with the first release's thresholds and costs (A1 trades on score)."""
    data = eager_policy().model_dump()
    data["tiers"] = [{**t, "review": "all"} for t in data["tiers"]]
    return policy_from_dict(data)


@pytest.fixture
def reviewed(engine, book_dir):
    """The base book run under a policy that reviews every account: A1 trades AAA, BBB, AAB, OIL;
    A2 BBB and AAA; A3 TOB, AAA and OIL; all PROPOSED."""
    import_book(engine, book_dir)
    save_policy(engine, review_all_policy(), user="admin")
    return run_workflow(engine, workers=1)


def proposal(engine, account) -> dict:
    with engine.connect() as conn:
        p = dict(conn.execute(select(m.Proposal.__table__).where(
            m.Proposal.account_id == account).order_by(m.Proposal.id.desc())).mappings().first())
        p["detail"] = compact_detail.text_of(conn, p)  # the column, else the compact row
        return p


def exported(res) -> list[dict]:
    path = next(p for p, _ in res.files if p.endswith(".csv"))
    return list(csv.DictReader(open(path)))


def trade_ids(engine, account) -> set[int]:
    return set(proposal_trades(engine, account)["id"].astype(int))


# --------------------------------------------------------------------------- overrides after approval
def test_freeze_halt_after_approval_keeps_the_accounts_back_until_it_ends(engine, reviewed, tmp_path, db_path,
                                                                          capsys):
    approve(engine, ["A1", "A2", "A3"], user="rev1")
    hid = add_halt(engine, "OIL", None, "exchange halt", "freeze", user="ops")
    pre = export_preview(engine)
    assert pre["blocked_accounts"] == 2 and pre["blocked"] == len(trade_ids(engine, "A1") | trade_ids(engine, "A3"))
    assert pre["stale"] == 0 and pre["trades"] == len(trade_ids(engine, "A2"))  # blocked is not stale
    assert main.main(["export", "--db", db_path, "--out", str(tmp_path / "b1"), "--user", "ops"]) == 0
    out, err = capsys.readouterr()
    for text in (out, err):  # the summary names the accounts and trades left out, and why
        assert "kept back: 7 approved trade(s) of 2 account(s)" in text
        assert "A1: " in text and "A3: " in text and "BUY 114 OIL" in text and "HALTED: OIL (freeze): exchange halt" in text
    [batch] = [p for p in (tmp_path / "b1").glob("trades_*.csv")]
    rows = list(csv.DictReader(open(batch)))
    assert {r["account_id"] for r in rows} == {"A2"} and "OIL" not in {r["symbol"] for r in rows}
    # they stay approved in the book; the audit names them
    assert set(proposal_trades(engine, "A1")["status"]) == {"APPROVED"}
    with engine.connect() as conn:
        log = repo.audit_frame(conn)
    assert "HALTED: OIL (freeze)" in log[log["action"] == "EXPORT_BLOCKED"]["detail"].iloc[0]
    # the halt ends: they go out in the next batch, without a re-run
    end_override(engine, hid, user="ops")
    res = export_batch(engine, tmp_path / "b2", user="ops")
    assert {r["account_id"] for r in exported(res)} == {"A1", "A3"} and not len(res.blocked)
    assert ("A1", "OIL", "BUY", "114") in {(r["account_id"], r["symbol"], r["side"], r["quantity"])
                                           for r in exported(res)}
    assert export_batch(engine, tmp_path / "b3") is None  # each trade once


def test_hold_added_after_approval_and_lifted(engine, reviewed, tmp_path):
    approve(engine, ["A1", "A2", "A3"], user="rev1")
    hid = add_hold(engine, "A2", None, "client wire pending", user="ops")
    res = export_batch(engine, tmp_path / "b1", user="ops")
    assert {r["account_id"] for r in exported(res)} == {"A1", "A3"}
    assert set(res.blocked["id"]) == trade_ids(engine, "A2")
    assert set(res.blocked["blocked"]) == {"HELD: client wire pending (by ops)"}
    end_override(engine, hid, user="ops")
    res = export_batch(engine, tmp_path / "b2", user="ops")
    assert {r["account_id"] for r in exported(res)} == {"A2"}


def test_hold_accounts_halt_after_approval_stops_every_account_trading_the_symbol(engine, reviewed, tmp_path):
    approve(engine, ["A1", "A2", "A3"], user="rev1")
    hid = add_halt(engine, "BBB", None, "pricing error", "hold-accounts", user="ops")
    res = export_batch(engine, tmp_path / "b1", user="ops")
    assert {r["account_id"] for r in exported(res)} == {"A3"}  # A3 does not trade BBB
    assert set(res.blocked["account_id"]) == {"A1", "A2"}
    assert set(res.blocked["blocked"]) == {"HALTED: BBB (hold-accounts): pricing error"}
    # the A1 buy of OIL is kept back too: the account trades BBB
    assert "OIL" in set(res.blocked[res.blocked["account_id"] == "A1"]["symbol"])
    end_override(engine, hid, user="ops")
    assert {r["account_id"] for r in exported(export_batch(engine, tmp_path / "b2"))} == {"A1", "A2"}


def test_approval_of_a_proposal_an_override_blocks_is_flagged(engine, reviewed, db_path, capsys):
    add_hold(engine, "A1", None, "client wire pending", user="ops")
    add_halt(engine, "TOB", None, "exchange halt", "freeze", user="ops")
    d = approve(engine, ["A1", "A2", "A3"], user="rev1")
    assert set(d.blocked) == {"A1", "A3"}
    assert d.blocked["A1"].startswith("HELD: client wire pending") and "HALTED: TOB (freeze)" in d.blocked["A3"]
    with engine.connect() as conn:
        log = repo.audit_frame(conn)
    a1 = log[(log["action"] == "APPROVE") & (log["account_id"] == "A1")]
    assert json.loads(a1["after"].iloc[0])["blocked"].startswith("HELD:")
    # the CLI says so on stderr
    reject(engine, ["A1"], user="rev1", reason="look again")
    assert main.main(["approve", "A1", "--db", db_path, "--user", "rev2"]) == 0
    err = capsys.readouterr().err
    assert "blocked now and will not be exported" in err and "A1: HELD: client wire pending" in err


def test_override_dialog_numbers_count_what_it_would_stop(engine, reviewed, db_path, capsys):
    approve(engine, ["A1"], user="rev1")
    with engine.connect() as conn:
        freeze = override_impact(conn, symbol="OIL", mode="freeze")
        hold = override_impact(conn, account_id="A2")
        none = override_impact(conn, symbol="TOB", mode="hold-accounts")
    n1, n3 = len(trade_ids(engine, "A1")), len(trade_ids(engine, "A3"))
    assert freeze == {"approved_trades": n1, "approved_accounts": 1, "proposed_trades": n3,
                      "proposed_accounts": 1, "accounts": 2}
    assert hold["approved_trades"] == 0 and hold["proposed_trades"] == len(trade_ids(engine, "A2"))
    assert none["accounts"] == 1 and none["proposed_trades"] == n3  # only A3 trades TOB
    assert main.main(["halt", "OIL", "--reason", "news", "--db", db_path, "--user", "ops"]) == 0
    assert capsys.readouterr().out.strip().endswith(impact_text(freeze))  # the CLI says it too
    assert impact_text(freeze) == (f"It stops {n1} approved trades of 1 account and {n3} proposed trades of 1 "
                                   "account (not exported while it is in force).")


def test_new_suspension_and_new_restriction_keep_manual_trades_back(engine, book_dir, tmp_path):
    import_book(engine, book_dir)
    run_workflow(engine, workers=1)  # default policy: every proposal auto-approved
    export_batch(engine, tmp_path / "b0")
    enter_manual_trades(engine, "A1", [ManualTrade("AAA", "SELL", 10)], user="ops")
    enter_manual_trades(engine, "A2", [ManualTrade("OIL", "BUY", 10)], user="ops")
    # the next book: A1's custodian disagrees with its lots (a new suspension), A2 now restricts energy
    book = write_book(tmp_path / "day2", as_of="2026-11-21", changes={
        "custodian_positions.csv": ["account_id,symbol,quantity", "A1,AAA,650", "A1,BBB,1500", "A2,BBB,3000",
                                    "A3,AAA,300", "A3,TOB,100", "A3,BBB,800"]})
    text = (book / "accounts.csv").read_text().replace("A2,Jones IRA,INCOME,FIDELITY,1000,false,,,,,",
                                                        "A2,Jones IRA,INCOME,FIDELITY,1000,false,,,,tag:energy,")
    (book / "accounts.csv").write_text(text)
    for f in ("securities.csv", "feeds.csv"):
        (book / f).write_text((book / f).read_text().replace("2026-11-20", "2026-11-21"))
    import_book(engine, book)
    run_workflow(engine, workers=1)
    res = export_batch(engine, tmp_path / "b1", user="ops")
    assert res is not None  # the day-2 run's proposals of the other accounts go
    blocked = dict(zip(res.blocked["account_id"], res.blocked["blocked"]))
    assert blocked["A1"] == "SUSPENDED: RECON_BREAK"
    assert blocked["A2"] == "RESTRICTED: OIL (tag:energy)"
    assert not res or not {("A1", "MANUAL"), ("A2", "MANUAL")} & {(r["account_id"], r["category"])
                                                                 for r in exported(res)}


def test_a_cash_request_handled_by_manual_trades_since_keeps_the_proposal_back(engine, reviewed, tmp_path):
    approve(engine, ["A1", "A2"], user="rev1")  # A2's proposal raises cash for CR1 ($5,000)
    [tid] = enter_manual_trades(engine, "A2", [ManualTrade("BBB", "SELL", 300)], user="ops", request_id="CR1")
    res = export_batch(engine, tmp_path / "b1", user="ops")
    sent = {(r["account_id"], r["category"]) for r in exported(res)}
    assert ("A2", "MANUAL") in sent and ("A2", "MANDATE") not in sent and ("A1", "SCORE") in sent
    assert set(res.blocked["id"]) == trade_ids(engine, "A2")
    assert set(res.blocked["blocked"]) == {"CASH_REQUEST_HANDLED: CR1 (manual trades by ops)"}


# --------------------------------------------------------------------------- re-scoring
def hand_built_a1(policy) -> AccountInput:
    """Account A1 of the base book as the optimizer sees it, built by hand from the book files."""
    return AccountInput(
        account_id="A1", cash=2000.0, taxable=True, st_rate=0.37, lt_rate=0.20,
        symbols=np.array(["AAA", "AAB", "BBB", "OIL"], dtype=object), price=np.array([100.0, 50.0, 20.0, 80.0]),
        asset_class=np.array(["US Equity", "US Equity", "US Bonds", "US Equity"], dtype=object),
        drift_group=np.array(["SG1", "SG1", "BBB", "OIL"], dtype=object), target_w=np.array([0.58, 0, 0.30, 0.10]),
        rating=np.array([3.0, 4.0, 2.0, 5.0]), can_buy=np.ones(4, bool), can_sell=np.ones(4, bool),
        must_sell=np.zeros(4, bool), model_cash_w=0.02, cash_needed=0.0,
        class_bands={"US Equity": (0.63, 0.73), "US Bonds": (0.25, 0.35)},
        lot_id=np.array(["L1", "L2", "L3"], dtype=object), lot_sec=np.array([0, 0, 2]),
        lot_qty=np.array([500.0, 100.0, 1500.0]), lot_unit_cost=np.array([80.0, 120.0, 21.0]),
        lot_short_term=np.array([False, True, False]), lot_loss_sale_blocked=np.zeros(3, bool))


def test_rebuilt_input_scores_the_run_s_own_trades_as_the_run_did(engine, reviewed):
    with engine.connect() as conn:
        for a in ("A1", "A2", "A3"):
            p = proposal(engine, a)
            inp, settings, _, _ = account_input(conn, reviewed.run_id, a, json.loads(p["detail"]))
            res = score_trades(inp, settings, score_lines(proposal_trades(engine, a)))
            for k in SCORE:
                assert math.isclose(getattr(res, k), p[k], rel_tol=1e-9, abs_tol=1e-9), (a, k)


def test_an_edit_rescores_the_proposal_and_the_audit_keeps_before_and_after(engine, reviewed):
    t = proposal_trades(engine, "A1").set_index("symbol")
    before = proposal(engine, "A1")
    for sym in ("OIL", "AAB", "BBB"):  # every buy and the drift sale: only the harvest sale of L2 is left
        edit_trade(engine, int(t.loc[sym, "id"]), remove=True, user="rev1")
    after = proposal(engine, "A1")
    policy = review_all_policy()
    want = score_trades(hand_built_a1(policy), optimizer_settings(policy), [("AAA", "SELL", 100, (("L2", 100),))])
    for k in SCORE:
        assert math.isclose(after[k], getattr(want, k), rel_tol=1e-9, abs_tol=1e-9), k
    assert after["turnover"] < before["turnover"] and after["realized_tax"] == pytest.approx(-0.37 * 2000)
    detail = json.loads(after["detail"])
    assert detail["class_weights_post"]["CASH"] == pytest.approx(want.class_weights_post["CASH"])
    assert detail["band_statement"].startswith(("Every asset class", "Outside its band"))
    # removing the only sale left: no turnover, no realized tax
    edit_trade(engine, int(t.loc["AAA", "id"]), remove=True, user="rev1")
    last = proposal(engine, "A1")
    assert last["turnover"] == 0 and last["realized_tax"] == 0 and last["score"] == 0
    with engine.connect() as conn:
        log = repo.audit_frame(conn)
    rm = log[log["action"] == "REMOVE_TRADE"]
    first = json.loads(rm["before"].iloc[0])["proposal"], json.loads(rm["after"].iloc[0])["proposal"]
    assert first[0]["turnover"] == pytest.approx(before["turnover"]) and first[1]["turnover"] < first[0]["turnover"]
    assert json.loads(rm["after"].iloc[-1])["proposal"]["turnover"] == 0


def test_a_quantity_edit_rescores_the_flags_too(engine, reviewed):
    from engine.decide.rescore import outlier_flags

    buy = proposal_trades(engine, "A2").set_index("side").loc["BUY"]
    before = proposal(engine, "A2")
    edit_trade(engine, int(buy["id"]), quantity=10, user="rev1")
    after = proposal(engine, "A2")
    assert after["turnover"] < before["turnover"] and after["trading_cost"] < before["trading_cost"]
    policy = review_all_policy()
    with engine.connect() as conn:
        inp, settings, _, _ = account_input(conn, reviewed.run_id, "A2", json.loads(after["detail"]))
    res = score_trades(inp, settings, score_lines(proposal_trades(engine, "A2")))
    assert after["flags"] == ";".join(outlier_flags(res, policy)) and after["te_post"] == pytest.approx(res.te_post)
    assert after["te_post"] > before["te_post"]  # less of the model's AAA bought: more drift left


# --------------------------------------------------------------------------- reject and undo
def test_reject_needs_a_reason_and_keeps_it(engine, reviewed, db_path, capsys):
    with pytest.raises(RefusedError, match="a rejection needs a reason"):
        reject(engine, ["A1"], user="rev1")
    with pytest.raises(RefusedError, match="reject code 'NOPE' is not one of"):
        reject(engine, ["A1"], user="rev1", reason="x", code="NOPE")
    assert proposal(engine, "A1")["status"] == "PROPOSED"
    assert main.main(["approve", "A1", "--reject", "--db", db_path]) == 2
    assert "needs a reason" in capsys.readouterr().err
    reject(engine, ["A1"], user="rev1", reason="client asked to wait", code="client_instruction")
    p = proposal(engine, "A1")
    assert (p["status"], p["decision_code"], p["decision_reason"]) == ("REJECTED", "CLIENT_INSTRUCTION",
                                                                       "client asked to wait")
    with engine.connect() as conn:
        log = repo.audit_frame(conn)
    rej = log[log["action"] == "REJECT"].iloc[-1]
    assert "client asked to wait" in rej["detail"] and json.loads(rej["after"])["code"] == "CLIENT_INSTRUCTION"
    approve(engine, ["A1"], user="rev2")  # a change of mind clears it
    assert proposal(engine, "A1")["decision_reason"] is None


def test_withdraw_and_restore_round_trip(engine, reviewed, tmp_path, db_path, capsys):
    approve(engine, ["A1", "A2"], user="rev1")
    with pytest.raises(RefusedError, match="needs a reason"):
        withdraw(engine, ["A1"], reason=" ", user="rev1")
    withdraw(engine, ["A1"], reason="client called", user="rev1")
    p = proposal(engine, "A1")
    assert (p["status"], p["decision_reason"]) == ("PROPOSED", "client called")
    assert set(proposal_trades(engine, "A1")["status"]) == {"PROPOSED"}
    with pytest.raises(RefusedError, match="A1: is PROPOSED, not APPROVED"):
        withdraw(engine, ["A1"], reason="again", user="rev1")
    reject(engine, ["A3"], user="rev1", reason="tobacco sale to check")
    restore(engine, ["A3"], reason="checked", user="rev2")
    assert proposal(engine, "A3")["status"] == "PROPOSED"
    # a removed trade restored: the proposal is scored as before the removal
    before = proposal(engine, "A1")
    oil = proposal_trades(engine, "A1").set_index("symbol").loc["OIL"]
    edit_trade(engine, int(oil["id"]), remove=True, user="rev1")
    assert proposal(engine, "A1")["score"] != pytest.approx(before["score"])
    with pytest.raises(RefusedError, match="is REMOVED|needs a reason"):
        restore_trade(engine, int(oil["id"]), reason="", user="rev1")
    restore_trade(engine, int(oil["id"]), reason="the buy is fine", user="rev1")
    after = proposal(engine, "A1")
    for k in SCORE:
        assert after[k] == pytest.approx(before[k], rel=1e-9, abs=1e-9), k
    assert proposal_trades(engine, "A1").set_index("symbol").loc["OIL", "status"] == "PROPOSED"
    with engine.connect() as conn:
        log = repo.audit_frame(conn)
    assert {"WITHDRAW", "RESTORE", "RESTORE_TRADE"} <= set(log["action"])
    assert log[log["action"] == "WITHDRAW"]["detail"].iloc[0].endswith("client called")
    # exported: no withdrawal
    res = export_batch(engine, tmp_path / "out", user="ops")
    assert {r["account_id"] for r in exported(res)} == {"A2"}
    with pytest.raises(RefusedError, match="A2: exported in batch .*cannot be withdrawn"):
        withdraw(engine, ["A2"], reason="too late", user="rev1")
    assert main.main(["approve", "--withdraw", "A2", "--reason", "late", "--db", db_path]) == 2
    assert "cannot be withdrawn" in capsys.readouterr().err
    # the CLI round trip
    approve(engine, ["A1"], user="rev2")
    assert main.main(["approve", "--withdraw", "A1", "--db", db_path]) == 2
    assert main.main(["approve", "--withdraw", "A1", "--reason", "wait", "--db", db_path]) == 0
    assert proposal(engine, "A1")["status"] == "PROPOSED"
    reject(engine, ["A1"], user="rev2", reason="no")
    assert main.main(["approve", "--restore", "A1", "--reason", "yes after all", "--db", db_path]) == 0
    assert proposal(engine, "A1")["status"] == "PROPOSED"


def test_restoring_a_trade_is_an_edit_for_four_eyes(engine, tmp_path):
    data = review_all_policy().model_dump()
    data["tiers"] = [{**t, "four_eyes": True} for t in data["tiers"]]
    import_book(engine, write_book(tmp_path / "book"))
    save_policy(engine, policy_from_dict(data), user="admin")
    run_workflow(engine, workers=1)
    oil = proposal_trades(engine, "A1").set_index("symbol").loc["OIL"]
    edit_trade(engine, int(oil["id"]), remove=True, user="alice")
    restore_trade(engine, int(oil["id"]), reason="keep it", user="bob")
    from engine.desk.review import FourEyesError

    for who in ("alice", "bob"):
        with pytest.raises(FourEyesError):
            approve(engine, ["A1"], user=who)
    approve(engine, ["A1"], user="carol")
