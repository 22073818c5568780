"""engine.desk.views: the console's read-only queries, tested without Qt."""
from datetime import date, timedelta

import pandas as pd
import pytest

from bookkit import write_book
from engine.desk import views
from engine.book.importer import import_book
from engine.decide.overrides import add_halt, add_hold, end_override
from engine.decide.workflow import run_workflow

AS_OF = date(2026, 11, 20)


def problem_book(tmp_path):
    """The base book plus accounts with each kind of bad data; B4 has an urgent cash-out."""
    return write_book(tmp_path / "bad", append={
        "securities.csv": ["RARE,Rare Co,US Equity,,2026-11-20,,5,"],
        "accounts.csv": [
            "B1,Unknown Sec,GROWTH,SCHWAB,100,true,0.37,0.2,,,",
            "B2,Missing Price,GROWTH,SCHWAB,100,true,0.37,0.2,,,",
            "B4,Recon,GROWTH,SCHWAB,100,true,0.37,0.2,,,",
            "B5,Big Recon,GROWTH,SCHWAB,100,true,0.37,0.2,,,",
        ],
        "lots.csv": ["B1,L1,ZZZZ,10,5,2024-01-01", "B1,L2,AAA,10,50,2024-01-01",
                     "B2,L1,RARE,10,5,2024-01-01", "B4,L1,AAA,100,50,2024-01-01",
                     "B5,L1,AAA,1000,50,2024-01-01", "B5,L2,BBB,10,20,2024-01-01"],
        "custodian_positions.csv": ["B1,ZZZZ,10", "B1,AAA,10", "B2,RARE,10", "B4,AAA,200",
                                    "B5,AAA,900", "B5,BBB,20"],
        "cash_requests.csv": ["CR9,B4,1000,2026-11-21,high,wire out", "CR8,B4,500,2026-12-15,normal,",
                              "CR7,B5,2000,2026-11-30,normal,fees"],
    })


@pytest.fixture
def ran(engine, tmp_path):
    import_book(engine, problem_book(tmp_path))
    run_workflow(engine, workers=1)
    return engine


def test_empty_database(engine):
    st = views.status(engine)
    assert st == {"snapshot": None, "run": None, "policy": None}
    assert views.suspended_accounts(engine).empty
    assert list(views.suspended_accounts(engine).columns) == views.SUSPENDED_COLUMNS
    d = views.today(engine)
    assert d["counts"].empty and d["n_urgent"] == 0 and d["last_batch"] is None
    assert views.badges(engine) == {"Overrides": (0, False), "Batches": (0, False)}


def test_status_before_and_after_run(engine, tmp_path):
    import_book(engine, problem_book(tmp_path))
    st = views.status(engine)
    assert st["snapshot"]["as_of"] == AS_OF and st["snapshot"]["n_accounts"] == 7
    assert st["run"] is None
    run_workflow(engine, workers=1)
    st = views.status(engine)
    assert st["run"]["status"] == "done" and st["run"]["stale"] is False
    assert st["run"]["summary"]["accounts"] == 7
    # a newer book makes the run stale
    import_book(engine, write_book(tmp_path / "next", as_of="2026-11-21"))
    assert views.status(engine)["run"]["stale"] is True


def test_suspended_accounts_urgent_first_with_detail_and_cash(ran):
    df = views.suspended_accounts(ran)
    assert set(df["account_id"]) == {"B1", "B2", "B4", "B5"}
    assert df["account_id"].iloc[0] == "B4"  # the only urgent one comes first
    assert df["urgent"].tolist() == [True, False, False, False]
    # the rest by value, largest first
    rest = df.iloc[1:]
    assert rest["value"].is_monotonic_decreasing
    b4 = df.set_index("account_id").loc["B4"]
    assert b4["reasons"] == "RECON_BREAK"
    assert b4["detail"] == "RECON_BREAK: AAA: lots hold 100, custodian 200"
    assert b4["pending_cash"] == 1500.0 and b4["high"]
    assert b4["due"] == pd.Timestamp("2026-11-21")
    assert b4["value"] == pytest.approx(100 + 100 * 100.0)
    assert pd.notna(b4["since"])
    b1 = df.set_index("account_id").loc["B1"]
    assert b1["detail"] == "UNKNOWN_SECURITY: ZZZZ is not in the security master"
    assert b1["pending_cash"] == 0.0 and not b1["high"]
    assert df.set_index("account_id").loc["B5", "pending_cash"] == 2000.0


def test_account_reasons_in_words(ran):
    info = views.account_reasons(ran, "B4")
    assert info["account"]["custodian"] == "SCHWAB"
    [r] = info["reasons"]
    assert r["code"] == "RECON_BREAK" and r["title"] == "Lots do not match the custodian"
    assert r["details"] == ["AAA: lots hold 100, custodian 200"]
    assert "Reconcile" in r["action"]
    assert list(info["requests"]["request_id"]) == ["CR9", "CR8"]  # by due date
    assert views.account_reasons(ran, "A1")["reasons"] == []


def test_today_counts_attention_and_badges(ran):
    d = views.today(ran)
    counts = d["counts"]
    assert counts.loc["Total", "Total"] == 7
    assert counts.loc["Total", "SUSPENDED"] == 4
    assert counts.loc["Small", "Total"] == counts.loc["Total", "Total"]  # all small accounts
    assert list(counts.columns) == ["SUSPENDED", "HELD", "MANDATE", "SCORE", "NO_TRADE", "Total"]
    assert d["n_urgent"] == 1 and d["urgent"]["account_id"].tolist() == ["B4"]
    assert d["urgent"]["pending_cash"].tolist() == [1500.0]
    assert d["n_review"] == 0  # small accounts: no review
    assert d["waiting_export"]["trades"] > 0
    b = views.badges(ran)
    assert b["Suspended"] == (4, True) and b["Today"] == (1, True)
    assert b["Proposals"] == (0, False) and b["Batches"] == (d["waiting_export"]["trades"], False)


def test_the_last_run_names_its_policy_as_the_policy_panel_does(ran):
    """A run on the default policy is not 'policy version N' (the Policy panel lists no such
    version); a saved version is named by its number; a policy given to one run is named so."""
    from engine.core.policy import default_policy
    from engine.core.policy_store import save_policy

    assert views.status(ran)["run"]["policy_label"] == "the default policy"
    pol = default_policy()
    pid = save_policy(ran, pol.model_copy(update={"trading": pol.trading.model_copy(
        update={"cost_bps": pol.trading.cost_bps + 1})}), user="ops", expected_version=0)
    run_workflow(ran, workers=1)
    assert views.status(ran)["run"]["policy_label"] == f"policy version {pid}"
    other = pol.model_copy(update={"trading": pol.trading.model_copy(update={"cost_bps": 42.0})})
    run_workflow(ran, workers=1, policy=other)
    assert views.status(ran)["run"]["policy_label"] == "a policy from a file (not saved)"


def test_waiting_export_counts_what_an_export_would_send(ran):
    """Trades approved in a run that a newer run superseded are never exported: the Today
    panel and the Batches badge do not count them (they agree with the export's preview)."""
    from engine.desk.exporter import export_preview

    first = views.today(ran)["waiting_export"]["trades"]
    run_workflow(ran, workers=1)  # the same book again: the first run's approved trades go stale
    preview = export_preview(ran)
    assert preview["stale"] == first
    assert views.today(ran)["waiting_export"]["trades"] == preview["trades"] == first
    assert views.badges(ran)["Batches"] == (preview["trades"], False)


def test_today_lists_overrides_expiring_on_the_book_date(ran):
    oid = add_hold(ran, "A1", AS_OF, "wire arrives today")
    add_hold(ran, "A2", AS_OF + timedelta(days=3), "later")
    exp = views.today(ran)["expiring"]
    assert exp["id"].tolist() == [oid]
    assert views.today(ran)["n_overrides"] == 2
    end_override(ran, oid)
    assert views.today(ran)["expiring"].empty


def test_overrides_active_and_history(ran):
    h = add_hold(ran, "A1", AS_OF + timedelta(days=5), "client wire")
    f = add_halt(ran, "OIL", None, "news", "freeze")
    g = add_halt(ran, "TOB", AS_OF, "halted", "hold-accounts")
    end_override(ran, f)
    active, history = views.overrides(ran)
    assert active["id"].tolist() == [g, h]  # newest first
    assert active.set_index("id").loc[h, "target"] == "A1"
    assert active.set_index("id").loc[g, "target"] == "TOB"
    assert active.set_index("id").loc[g, "mode"] == "hold-accounts"
    assert history["id"].tolist() == [f] and history["state"].tolist() == ["ended early"]
    assert history["ended_by"].tolist() == ["tester"]


def test_book_ids_and_policy_body(ran):
    ids = views.book_ids(ran)
    assert ids["accounts"][:3] == ["A1", "A2", "A3"] and "ZZZZ" not in ids["symbols"] and "AAA" in ids["symbols"]
    st = views.status(ran)
    assert st["policy"] is None  # no version saved: the default policy is current (the header says so)
    p = views.policy_body(ran, st["run"]["policy_id"])  # the policy the run used
    assert p.tiers[0].name == "Small"
    from engine.core.policy_store import save_policy
    from engine.core.policy import default_policy

    saved = save_policy(ran, default_policy(), user="admin", expected_version=0)
    assert views.status(ran)["policy"]["id"] == saved and views.status(ran)["policy"]["created_by"] == "admin"
    from engine.core.tasks import RefusedError
    with pytest.raises(RefusedError):
        views.policy_body(ran, 999)


def test_change_watcher_sees_late_commits_and_skips_rolled_back_ids(engine):
    """Ids committed out of order (PostgreSQL draws them at insert) are still reported once;
    a hole that stays open past gap_seconds (a rolled-back id) stops holding the floor."""
    from sqlalchemy import insert

    from engine.desk.views import ChangeWatcher
    from storage import models as m
    from storage import repo

    now = [0.0]
    w = ChangeWatcher(engine, gap_seconds=60, clock=lambda: now[0])
    assert len(w.poll()) == 0 and w.floor == 0

    def entry(i, action):
        with engine.begin() as conn:
            conn.execute(insert(m.AuditEntry).values(id=i, at=repo.now(), user="bob", action=action,
                                                     session="ws2/bob/1"))

    entry(2, "APPROVE")  # id 1 is drawn by a transaction that has not committed yet
    assert list(w.poll()["id"]) == [2] and w.floor == 0
    assert len(w.poll()) == 0  # nothing twice
    entry(1, "EXPORT")  # ...and commits now
    got = w.poll()
    assert list(got["id"]) == [1] and list(got["action"]) == ["EXPORT"] and w.floor == 2
    entry(4, "HOLD")  # id 3 rolled back: never comes
    assert list(w.poll()["id"]) == [4] and w.floor == 2
    now[0] = 61.0
    assert len(w.poll()) == 0 and w.floor == 4 and not w.seen
