"""The policy lab against a book database (SQLite and PostgreSQL): day 1 decides as the run does,
the database is never written (not even by a cancelled simulation), and the simulate command."""
import hashlib
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import select

import main
from bookkit import write_book
from dbkit import content_digest, is_postgres
from engine.book.importer import import_book
from engine.lab import build_variants, load_book, simulate
from engine.decide.overrides import add_hold, overrides_in_force
from engine.core.tasks import Cancelled, TaskState
from engine.decide.workflow import decide, proposals_frame, run_workflow
from storage import models as m
from storage.bulk import read_frame
from storage.db import make_engine

PROBLEMS = {
    "accounts.csv": ["B1,Unknown Sec,GROWTH,SCHWAB,100,true,0.37,0.2,,,",
                     "B2,Out of band,GROWTH,SCHWAB,500,true,0.37,0.2,2026-11-01,,"],
    "lots.csv": ["B1,L1,ZZZ,10,5,2020-01-01", "B2,L1,AAA,900,70,2019-01-01", "B2,L2,AAB,200,60,2026-10-01"],
    "custodian_positions.csv": ["B1,ZZZ,10", "B2,AAA,900", "B2,AAB,200"],
}


def _book(engine, tmp_path):
    import_book(engine, write_book(tmp_path / "book", append=PROBLEMS), user="tester")
    add_hold(engine, "A3", None, "client asked to wait", user="tester")


def test_day_one_decisions_equal_a_normal_run(engine, tmp_path):
    _book(engine, tmp_path)
    book = load_book(engine)  # before the run: the lab reads the same book the run reads
    out = run_workflow(engine, workers=1, user="tester")
    with engine.connect() as conn:
        props = proposals_frame(conn, out.run_id)
        tt = m.Trade.__table__
        trades = read_frame(conn, select(tt).where(tt.c.proposal_id.in_(
            select(m.Proposal.id).where(m.Proposal.run_id == out.run_id))))
    d = decide(book.frames, book.as_of, book.policy, overrides=overrides_in_force(book.overrides, book.as_of))
    cols = ["account_id", "category", "tier", "review", "status", "score_bps", "threshold_bps", "flags", "reasons",
            "turnover", "realized_tax"]
    got = d.proposals[cols].sort_values("account_id").reset_index(drop=True)
    want = props[cols].sort_values("account_id").reset_index(drop=True)
    pd.testing.assert_frame_equal(got, want, check_dtype=False)
    assert set(got["category"]) >= {"SUSPENDED", "HELD"}
    key = lambda rows: sorted(rows)  # noqa: E731
    want_lines = key(zip(trades["account_id"], trades["symbol"], trades["side"], trades["quantity"].astype(int),
                         trades["lots"].fillna("")))
    assert want_lines
    # the simulation's day 1 executes exactly those trades
    r = simulate(book, build_variants(book.policy), 1, seed=1, request_rate=0)
    ex = r.ledgers["policy"].all_executions()
    got_lines = []
    for (a, s, side, _), g in ex.groupby(["account_id", "symbol", "side", "line"], sort=False):
        lots = ";".join(f"{lot}:{int(q)}" for lot, q in zip(g["lot_id"], g["shares"])) if side == "SELL" else ""
        got_lines.append((a, s, side, int(g["shares"].sum()), lots))
    assert key(got_lines) == want_lines


def test_simulation_and_cancel_leave_the_database_unchanged(db_path, tmp_path):
    eng = make_engine(db_path)
    _book(eng, tmp_path)
    run_workflow(eng, workers=1, user="tester")
    eng.dispose()
    before = content_digest(db_path)
    raw = Path(db_path).read_bytes() if not is_postgres(db_path) else None
    eng = make_engine(db_path, migrate=False)
    book = load_book(eng)
    eng.dispose()
    variants = build_variants(book.policy, baselines=["band"])
    simulate(book, variants, 3, seed=2)
    seen = []

    def on_progress(f, msg):
        seen.append(msg)
        if len(seen) == 5:
            state.cancel()

    state = TaskState(on_progress)
    with pytest.raises(Cancelled):
        simulate(book, variants, 10, seed=2, state=state)
    assert content_digest(db_path) == before
    if raw is not None:  # the SQLite file itself, byte for byte
        assert hashlib.sha256(Path(db_path).read_bytes()).hexdigest() == hashlib.sha256(raw).hexdigest()


def test_simulate_command_writes_outputs_and_a_book_import_accepts(db_path, tmp_path, capsys):
    eng = make_engine(db_path)
    _book(eng, tmp_path)
    eng.dispose()
    before = content_digest(db_path)
    out, day = tmp_path / "lab", tmp_path / "day3"
    rc = main.main(["simulate", "--db", db_path, "--days", "3", "--baseline", "band,calendar",
                    "--sweep", "threshold=0.5,2", "--seed", "4", "--out", str(out), "--write-book", str(day)])
    assert rc == 0, capsys.readouterr().err
    s = pd.read_csv(out / "summary.csv")
    assert list(s["variant"]) == ["policy", "threshold=0.5", "threshold=2", "band", "calendar"]
    for col in ("turnover_pct", "order_lines", "drift_mean_pct", "dispersion_bps", "tax_paid", "losses_harvested",
                "after_tax_wealth", "late_requests"):
        assert col in s.columns
    assert len(pd.read_csv(out / "daily.csv")) == 15
    assert "<svg" in (out / "report.html").read_text(encoding="utf-8")
    assert content_digest(db_path) == before
    # the day-3 book imports into another database
    other = make_engine(str(tmp_path / "other.db"))
    import_book(other, day, user="tester")
    with other.connect() as conn:
        from storage import repo
        assert str(repo.snapshot_info(conn).as_of) == "2026-11-24"
    other.dispose()


def test_simulate_command_refuses_bad_input_with_exit_2(db_path, tmp_path, capsys):
    eng = make_engine(db_path)
    _book(eng, tmp_path)
    eng.dispose()
    bad = tmp_path / "bad.toml"
    bad.write_text((Path(main.__file__).parent / "resources" / "policy.toml").read_text()
                   .replace("tradeoff_lambda = 1.0", "tradeoff_lambda = -1"))
    out = tmp_path / "out"
    assert main.main(["simulate", "--db", db_path, "--days", "2", "--policy", str(bad), "--out", str(out)]) == 2
    assert "trading.tradeoff_lambda" in capsys.readouterr().err
    prices = tmp_path / "p.csv"
    prices.write_text("date,symbol,close\n2026-11-23,AAA,-1\n")
    assert main.main(["simulate", "--db", db_path, "--days", "2", "--prices", str(prices), "--out", str(out)]) == 2
    assert f"{prices}, line 2, column close" in capsys.readouterr().err
    assert main.main(["simulate", "--db", db_path, "--days", "2", "--sweep", "speed=2", "--out", str(out)]) == 2
    assert "--sweep" in capsys.readouterr().err
    assert main.main(["simulate", "--db", db_path, "--days", "2", "--baseline", "yearly", "--out", str(out)]) == 2
    assert not out.exists()
