"""The workflow: integrity checks, overrides, mandates, tiers, policy, run and report."""
import csv
from datetime import date

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import select

import main
from bookkit import BASE, eager_policy, write_book
from engine.book.checks import run_checks
from engine.book.importer import import_book
from engine.decide.mandates import assign_tiers, band_width, threshold_bps
from engine.decide.overrides import add_halt, add_hold, end_override, overrides_frame
from engine.core.policy import default_policy, policy_from_dict, policy_from_toml
from engine.core.tasks import RefusedError
from engine.decide.workflow import run_workflow
from storage import models as m
from storage import repo

AS_OF = date(2026, 11, 20)


def replace_line(name, old_start, new):
    return [new if line.startswith(old_start) else line for line in BASE[name]]


def problem_book(tmp_path):
    return write_book(tmp_path / "bad", append={
        "securities.csv": ["RARE,Rare Co,US Equity,,2026-11-20,,5,", "OLDP,Old Price,US Bonds,10,2026-11-10,,5,"],
        "accounts.csv": [
            "B1,Unknown Sec,GROWTH,SCHWAB,100,true,0.37,0.2,,,",
            "B2,Missing Price,GROWTH,SCHWAB,100,true,0.37,0.2,,,",
            "B3,Stale,GROWTH,SCHWAB,100,true,0.37,0.2,,,",
            "B4,Recon,GROWTH,SCHWAB,100,true,0.37,0.2,,,",
            "B5,CorpAction,GROWTH,SCHWAB,100,true,0.37,0.2,,,",
            "B6,Feed,GROWTH,PERSHING,100,true,0.37,0.2,,,",
            "B7,Negative,GROWTH,SCHWAB,100,true,0.37,0.2,,,",
        ],
        "lots.csv": ["B1,L1,ZZZZ,10,5,2024-01-01", "B1,L2,AAA,10,50,2024-01-01",
                     "B2,L1,RARE,10,5,2024-01-01", "B3,L1,OLDP,10,5,2024-01-01",
                     "B4,L1,AAA,100,50,2024-01-01", "B5,L1,TOB,100,20,2024-01-01",
                     "B6,L1,AAA,10,50,2024-01-01", "B7,L1,AAA,-5,50,2024-01-01"],
        "custodian_positions.csv": ["B1,ZZZZ,10", "B1,AAA,10", "B2,RARE,10", "B3,OLDP,10", "B4,AAA,200",
                                    "B5,TOB,100", "B6,AAA,10", "B7,AAA,-5"],
        "feeds.csv": ["PERSHING,2026-11-20,failed"],
        "corporate_actions.csv": ["TOB,2026-11-18,split,2,,false", "AAA,2026-12-01,split,3,,false"],
        "cash_requests.csv": ["CR9,B4,1000,2026-11-21,high,wire out"],
    })


def test_every_suspension_reason_with_detail(tmp_path):
    from engine.book.book import read_book

    book = read_book(problem_book(tmp_path))
    s = run_checks(book.frames, AS_OF, default_policy())
    got = {(a, c): d for a, c, d in s.itertuples(index=False)}
    assert got[("B1", "UNKNOWN_SECURITY")] == "ZZZZ is not in the security master"
    assert got[("B2", "MISSING_PRICE")] == "RARE has no price"
    assert got[("B3", "STALE_PRICE")] == "OLDP priced 2026-11-10, 10 days before as-of (limit 3)"
    assert got[("B4", "RECON_BREAK")] == "AAA: lots hold 100, custodian 200"
    assert got[("B5", "CORP_ACTION_PENDING")] == "TOB: 2:1 split effective 2026-11-18 not processed"
    assert got[("B6", "FEED_MISSING")] == "PERSHING feed failed (file date 2026-11-20)"
    assert "lot L1 of AAA holds -5" in got[("B7", "NEGATIVE_POSITION")]
    # A3 also holds TOB: the pending split suspends it too; the future split suspends nobody
    assert ("A3", "CORP_ACTION_PENDING") in got
    assert {a for a, _ in got} == {"B1", "B2", "B3", "B4", "B5", "B6", "B7", "A3"}


def test_an_account_can_have_several_reasons(tmp_path):
    from engine.book.book import read_book

    book = read_book(write_book(tmp_path / "b", append={
        "lots.csv": ["A1,L9,ZZZZ,-3,5,2024-01-01"]}))
    s = run_checks(book.frames, AS_OF, default_policy())
    assert set(s[s["account_id"] == "A1"]["code"]) == {"UNKNOWN_SECURITY", "NEGATIVE_POSITION", "RECON_BREAK"}


def test_run_suspends_flags_urgent_and_resolves_when_fixed(engine, tmp_path):
    import_book(engine, problem_book(tmp_path))
    out = run_workflow(engine, workers=1).proposals.set_index("account_id")
    for a in ["B1", "B2", "B3", "B4", "B5", "B6", "B7", "A3"]:
        assert out.at[a, "category"] == "SUSPENDED", a
    assert bool(out.at["B4", "urgent"]) and "URGENT" in out.at["B4", "reasons"]
    assert not bool(out.at["B1", "urgent"])
    with engine.connect() as conn:
        open_ = conn.execute(select(m.Suspension.account_id).where(m.Suspension.resolved_at.is_(None))).all()
    assert len(open_) == 8
    # the next import fixes everything but B7's negative lot
    fixed = write_book(tmp_path / "fixed", as_of="2026-11-21", append={
        "accounts.csv": ["B7,Negative,GROWTH,SCHWAB,100,true,0.37,0.2,,,"],
        "lots.csv": ["B7,L1,AAA,-5,50,2024-01-01"], "custodian_positions.csv": ["B7,AAA,-5"]},
        changes={"securities.csv": [l.replace("2026-11-20", "2026-11-21") for l in BASE["securities.csv"]],
                 "feeds.csv": ["custodian,file_date,status", "SCHWAB,2026-11-21,ok", "FIDELITY,2026-11-21,ok"]})
    import_book(engine, fixed)
    out2 = run_workflow(engine, workers=1).proposals.set_index("account_id")
    assert out2.at["B7", "category"] == "SUSPENDED"
    assert out2.at["A3", "category"] != "SUSPENDED"
    with engine.connect() as conn:
        rows = conn.execute(select(m.Suspension.account_id, m.Suspension.resolved_at)).all()
        log = repo.audit_frame(conn)
    resolved = {a for a, r in rows if r is not None}
    assert resolved == {"B1", "B2", "B3", "B4", "B5", "B6", "A3"}
    assert "B7" not in resolved
    assert (log["action"] == "SUSPENSION_RESOLVED").sum() == 7


def test_hold_applies_until_its_date_and_can_be_ended(engine, tmp_path):
    import_book(engine, write_book(tmp_path / "d1"))
    oid = add_hold(engine, "A1", date(2026, 11, 20), "client wires $1M next week", user="ops1")
    out = run_workflow(engine, workers=1).proposals.set_index("account_id")
    assert out.at["A1", "category"] == "HELD" and "client wires" in out.at["A1", "reasons"]
    # the next day the hold has expired by itself, and stays in history
    import_book(engine, write_book(tmp_path / "d2", as_of="2026-11-21"))
    out = run_workflow(engine, workers=1).proposals.set_index("account_id")
    assert out.at["A1", "category"] != "HELD"
    hist = overrides_frame(engine)
    assert list(hist["id"]) == [oid] and not hist["active"].iloc[0]
    # ended early
    oid2 = add_hold(engine, "A2", None, "legal review", user="ops1")
    end_override(engine, oid2, user="ops2")
    out = run_workflow(engine, workers=1).proposals.set_index("account_id")
    assert out.at["A2", "category"] != "HELD"
    with engine.connect() as conn:
        log = repo.audit_frame(conn)
    acts = log[log["action"].str.startswith("HOLD")][["action", "username", "account_id"]].values.tolist()
    assert acts == [["HOLD_ADD", "ops1", "A1"], ["HOLD_ADD", "ops1", "A2"], ["HOLD_END", "ops2", "A2"]]


def test_hold_validation(engine, book_dir):
    import_book(engine, book_dir)
    with pytest.raises(RefusedError, match="not in the book"):
        add_hold(engine, "NOPE", date(2026, 12, 1), "x")
    with pytest.raises(RefusedError, match="before the book date"):
        add_hold(engine, "A1", date(2026, 11, 1), "x")
    with pytest.raises(RefusedError, match="reason is required"):
        add_hold(engine, "A1", date(2026, 12, 1), "  ")
    with pytest.raises(RefusedError, match="not in the security master"):
        add_halt(engine, "NOPE", None, "x")


def test_freeze_halt_never_trades_the_symbol_but_the_account_trades(engine, book_dir):
    import_book(engine, book_dir)
    base = run_workflow(engine, workers=1, policy=eager_policy())
    with engine.connect() as conn:
        trades = pd.read_sql(select(m.Trade.account_id, m.Trade.symbol).where(
            m.Trade.proposal_id.in_(select(m.Proposal.id).where(m.Proposal.run_id == base.run_id))), conn)
    assert "OIL" in set(trades[trades["account_id"] == "A1"]["symbol"])  # it would buy OIL
    add_halt(engine, "OIL", None, "exchange halt", mode="freeze")
    run = run_workflow(engine, workers=1, policy=eager_policy())
    with engine.connect() as conn:
        trades = pd.read_sql(select(m.Trade.account_id, m.Trade.symbol).where(
            m.Trade.proposal_id.in_(select(m.Proposal.id).where(m.Proposal.run_id == run.run_id))), conn)
    assert "OIL" not in set(trades["symbol"])
    assert run.proposals.set_index("account_id").at["A1", "category"] in ("MANDATE", "SCORE")
    assert len(trades[trades["account_id"] == "A1"]) > 0


def test_hold_accounts_halt_keeps_the_account_from_trading(engine, book_dir):
    import_book(engine, book_dir)
    add_halt(engine, "OIL", date(2026, 11, 30), "pending news", mode="hold-accounts")
    out = run_workflow(engine, workers=1).proposals.set_index("account_id")
    assert out.at["A1", "category"] == "HELD"
    assert "proposal would trade OIL" in out.at["A1", "reasons"]
    assert out.at["A2", "category"] != "HELD"  # INCOME holds no OIL and buys none


def test_each_mandate_kind(engine, tmp_path):
    book = write_book(tmp_path / "b", append={"cash_requests.csv": ["CR2,A1,20000,2026-11-22,high,"]})
    import_book(engine, book)
    out = run_workflow(engine, workers=1).proposals.set_index("account_id")
    assert out.at["A1", "mandates"] == "cash_high"
    assert out.at["A2", "mandates"] == "cash_normal;band"
    assert out.at["A3", "mandates"] == "restriction;band"
    assert (out.loc[["A1", "A2", "A3"], "category"] == "MANDATE").all()


def test_mandate_kinds_that_wait_go_to_the_score_step(engine, book_dir):
    import_book(engine, book_dir)
    pol = default_policy().model_dump()
    pol["mandates"]["trade_now"] = ["cash_high"]
    out = run_workflow(engine, workers=1, policy=policy_from_dict(pol)).proposals.set_index("account_id")
    assert out.at["A3", "category"] in ("SCORE", "NO_TRADE")
    assert "WAITING:restriction" in out.at["A3", "reasons"]


def test_band_rule_5_25():
    pol = default_policy()
    w = band_width(np.array([0.30, 0.20, 0.199, 0.10, 0.02, 0.0]), pol)
    assert w == pytest.approx([0.05, 0.05, 0.25 * 0.199, 0.025, 0.01, 0.01])


def test_tier_boundaries_and_group_override():
    pol = default_policy()
    v = np.array([0, 249_999.99, 250_000, 4_999_999, 5_000_000, 24_999_999, 25_000_000, 60e6, 100.0])
    g = np.array([None] * 8 + ["uhnw"], dtype=object)
    assert list(assign_tiers(v, g, pol)) == ["Small", "Small", "Core", "Core", "Premier", "Premier", "UHNW",
                                             "UHNW", "UHNW"]


def test_threshold_decays_as_the_formula_says():
    pol = default_policy()
    core = pol.tier("Core")
    days = np.array([0.0, core.half_life_days, 2 * core.half_life_days, np.nan])
    got = threshold_bps(days, np.array(["Core"] * 4, dtype=object), pol)
    s, f = core.threshold_start_bps, core.threshold_floor_bps
    assert got == pytest.approx([s, f + (s - f) / 2, f + (s - f) / 4, f])


@pytest.mark.parametrize("patch,words", [
    ({"trading": {"cost_bp": 5}}, "trading.cost_bp: unknown key"),
    ({"tiers": [{"name": "All", "min_value": 0, "review": "sometimes", "threshold_start_bps": 1,
                 "threshold_floor_bps": 1, "half_life_days": 1}]}, "tiers[0].review"),
    ({"tiers": [{"name": "A", "min_value": 0, "max_value": 10, "review": "none", "threshold_start_bps": 1,
                 "threshold_floor_bps": 1, "half_life_days": 1},
                {"name": "B", "min_value": 20, "review": "none", "threshold_start_bps": 1,
                 "threshold_floor_bps": 1, "half_life_days": 1}]}, "tiers must be contiguous"),
    ({"mandates": {"trade_now": ["cash_high", "tobacco"]}}, "mandates.trade_now[1]"),
    ({"bands": {"absolute": -1}}, "bands.absolute"),
])
def test_policy_validation_names_the_key(patch, words):
    data = default_policy().model_dump()
    for k, v in patch.items():
        data[k] = {**data[k], **v} if isinstance(v, dict) else v
    with pytest.raises(RefusedError) as exc:
        policy_from_dict(data, "p.toml")
    assert words in str(exc.value)


def test_run_with_bad_policy_file_exits_2(engine, book_dir, db_path, tmp_path, capsys):
    import_book(engine, book_dir)
    bad = tmp_path / "p.toml"
    bad.write_text(default_policy().to_toml().replace("half_life_days = 30.0", "half_life_days = -3"))
    assert main.main(["run", "--db", db_path, "--policy", str(bad)]) == 2
    assert "tiers[2].half_life_days" in capsys.readouterr().err


def test_run_and_report_cli(engine, book_dir, db_path, tmp_path, capsys):
    import_book(engine, book_dir)
    assert main.main(["hold", "A2", "--until", "2026-12-01", "--reason", "wire", "--db", db_path]) == 0
    assert main.main(["run", "--db", db_path, "--workers", "1"]) == 0
    out = capsys.readouterr().out
    import json
    summary = json.loads(out[out.index("{"):])
    assert sum(summary["categories"].values()) == 3 and summary["categories"]["HELD"] == 1
    tm = summary["timings"]  # the solver's time lies within the accounts' time within the stage
    assert 0 <= tm["solver"] <= tm["optimizer_work"] <= tm["optimize"] and tm["optimizer_work"] > 0
    assert main.main(["report", "--db", db_path, "--out", str(tmp_path / "r.csv")]) == 0
    rows = list(csv.DictReader(open(tmp_path / "r.csv")))
    assert list(rows[0])[:9] == ["account_id", "category", "tier", "review", "status", "score_bps",
                                 "threshold_bps", "flags", "reasons"]
    assert {r["account_id"]: r["category"] for r in rows}["A2"] == "HELD"
    from sqlalchemy.orm import Session
    with Session(engine) as s:
        run = s.execute(select(m.Run)).scalars().one()
        pol = s.execute(select(m.Policy)).scalars().one()
    assert run.policy_id == pol.id and policy_from_toml(pol.body) == default_policy()
