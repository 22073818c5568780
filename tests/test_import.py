"""Book-folder import: every file and column read, structural errors refused, nothing changed."""
import pandas as pd
import pytest

import main
from bookkit import BASE, write_book
from dbkit import content_digest
from engine.book.book import SPECS, BookError, read_book
from engine.book.importer import import_book
from engine.core.tasks import Cancelled, RefusedError, TaskState
from storage import repo


def test_every_file_and_column_round_trips(engine, book_dir):
    snap = import_book(engine, book_dir)
    with engine.connect() as conn:
        frames = repo.read_book_frames(conn, snap)
        info = repo.snapshot_info(conn)
    assert str(info.as_of) == "2026-11-20" and info.n_accounts == 3 and info.n_lots == 7
    for spec in SPECS:
        lines = BASE[spec.name]
        raw = pd.read_csv(book_dir / spec.name, dtype=str, keep_default_na=False)
        got = frames[spec.table]
        assert len(got) == len(raw) == len(lines) - 1, spec.name
        key = [c.name for c in spec.columns][: max(1, len(spec.key))] if spec.key else list(raw.columns)[:3]
        got = got.sort_values(key, kind="stable").reset_index(drop=True)
        raw = raw.sort_values(key, kind="stable").reset_index(drop=True)
        for col in spec.columns:
            assert col.name in got.columns, f"{spec.name}:{col.name} not stored"
            if col.name not in raw.columns:  # an optional column the base book leaves out: blank
                assert got[col.name].isna().all(), (spec.name, col.name)
                continue
            for a, b in zip(raw[col.name], got[col.name]):
                if a == "":
                    assert b is None or pd.isna(b), (spec.name, col.name, b)
                elif col.kind == "float":
                    assert float(a) == pytest.approx(float(b)), (spec.name, col.name)
                elif col.kind == "bool":
                    assert bool(b) == (a.lower() == "true"), (spec.name, col.name)
                else:
                    assert str(b) == a, (spec.name, col.name, a, b)
    assert set(frames["models"]["model_id"]) == {"GROWTH", "INCOME"}


BAD_BOOKS = {
    "missing file": ({"accounts.csv": None}, "accounts.csv", None, None, "file is missing"),
    "missing column": ({"lots.csv": ["account_id,lot_id,symbol,unit_cost,acquired_date",
                                     "A1,L1,AAA,80,2020-01-15"]},
                       "lots.csv", 1, "quantity", "required column is missing"),
    "not a number": ({"lots.csv": BASE["lots.csv"][:3] + ["A1,L3,BBB,lots,21.00,2023-03-01"]
                      + BASE["lots.csv"][4:]}, "lots.csv", 4, "quantity", "not a number"),
    "not a date": ({"securities.csv": BASE["securities.csv"][:2]
                    + ["AAB,Alpha Twin,US Equity,50.00,20/11/2026,,4,SG1"] + BASE["securities.csv"][3:]},
                   "securities.csv", 3, "price_date", "not a date"),
    "not a bool": ({"accounts.csv": BASE["accounts.csv"][:2]
                    + ["A2,Jones IRA,INCOME,FIDELITY,1000,maybe,,,,,"] + BASE["accounts.csv"][3:]},
                   "accounts.csv", 3, "taxable", "not true or false"),
    "bad enum": ({"transactions.csv": BASE["transactions.csv"][:1] + ["A1,AAA,2026-09-01,HOLD,100,120.00,"]},
                 "transactions.csv", 2, "side", "not one of"),
    "blank required": ({"accounts.csv": BASE["accounts.csv"][:3]
                        + ["A3,Lee Family,GROWTH,,5000,true,0.37,0.20,,tag:tobacco,"]},
                       "accounts.csv", 4, "custodian", "a value is required"),
    "duplicate key": ({"lots.csv": BASE["lots.csv"] + ["A1,L2,AAA,5,90,2021-01-01"]},
                      "lots.csv", 9, "lot_id", "duplicate key"),
    "unknown model": ({"accounts.csv": BASE["accounts.csv"] + ["A4,New,NOPE,SCHWAB,10,true,,,,,"]},
                      "accounts.csv", 5, "model_id", "is not a model_id"),
    "unknown account": ({"cash_requests.csv": BASE["cash_requests.csv"] + ["CR2,ZZ9,10,2026-11-25,high,"]},
                        "cash_requests.csv", 3, "account_id", "is not an account_id"),
    "weights not 1": ({"models.csv": BASE["models.csv"][:3] + ["GROWTH,BBB,0.25"] + BASE["models.csv"][4:]},
                      "models.csv", 5, "weight", "sum to 0.950000, not 1"),
    "not utf-8": ({}, "accounts.csv", None, None, "not UTF-8"),
}


@pytest.mark.parametrize("case", sorted(BAD_BOOKS))
def test_structural_errors_refused_with_exit_2_and_no_change(case, tmp_path, db_path, engine, capsys):
    import_book(engine, write_book(tmp_path / "good"))
    before = content_digest(db_path)
    changes, file, line, column, words = BAD_BOOKS[case]
    bad = write_book(tmp_path / "bad", as_of="2026-11-21", changes=changes)
    if case == "not utf-8":
        (bad / "accounts.csv").write_bytes((bad / "accounts.csv").read_bytes().replace(b"Smith", b"Sm\xffth"))
    code = main.main(["import", str(bad), "--db", db_path])
    err = capsys.readouterr().err
    assert code == 2
    assert file in err and words in err, err
    if line is not None:
        assert f"line {line}" in err, err
    if column is not None:
        assert f"column {column}" in err, err
    assert "nothing was imported" in err
    assert content_digest(db_path) == before


def test_all_problems_of_a_file_reported_at_once(tmp_path):
    lots = BASE["lots.csv"][:1] + [f"A1,X{i},AAA,abc,1,2020-01-01" for i in range(40)]
    bad = write_book(tmp_path / "bad", changes={"lots.csv": lots})
    with pytest.raises(BookError) as exc:
        read_book(bad)
    msgs = [str(p) for p in exc.value.problems]
    assert sum("not a number" in m for m in msgs) == 25  # capped
    assert "lots.csv, line 2, column quantity" in msgs[0]
    assert "lots.csv, line 26, column quantity" in msgs[24]
    assert any("15 more problem(s)" in m for m in msgs)


def test_problems_of_several_files_reported_together(tmp_path):
    bad = write_book(tmp_path / "bad", changes={
        "feeds.csv": ["custodian,file_date,status", "SCHWAB,2026-11-20,late"],
        "cash_requests.csv": ["request_id,account_id,amount,due_date,priority,note",
                              "CR1,A2,lots,2026-11-25,normal,"]})
    with pytest.raises(BookError) as exc:
        read_book(bad)
    files = {p.file for p in exc.value.problems}
    assert files == {"feeds.csv", "cash_requests.csv"}


def test_data_quality_problems_import_fine(engine, tmp_path):
    book = write_book(tmp_path / "dq", changes={"securities.csv": BASE["securities.csv"][:3]
                                                + ["BBB,Beta Bonds,US Bonds,,2026-11-20,,2,"]
                                                + BASE["securities.csv"][4:]},
                      append={"lots.csv": ["A1,L9,ZZZZ,10,5,2025-01-01", "A2,L9,BBB,-5,20,2025-01-01"]})
    snap = import_book(engine, book)
    with engine.connect() as conn:
        f = repo.read_book_frames(conn, snap, tables=("securities", "lots"))
    assert f["securities"].set_index("symbol").loc["BBB", "price"] is None or pd.isna(
        f["securities"].set_index("symbol").loc["BBB", "price"])
    assert {"ZZZZ"} <= set(f["lots"]["symbol"]) and (f["lots"]["quantity"] < 0).sum() == 1


def test_optional_files_may_be_absent(engine, tmp_path):
    book = write_book(tmp_path / "min", changes={n: None for n in (
        "custodian_positions.csv", "feeds.csv", "transactions.csv", "cash_requests.csv",
        "corporate_actions.csv")})
    snap = import_book(engine, book)
    with engine.connect() as conn:
        counts = repo.table_counts(conn)
    assert snap == 1 and counts["lots"] == 7 and counts["feeds"] == 0


def test_same_files_twice_refused_and_older_book_refused(engine, tmp_path, db_path, capsys):
    good = write_book(tmp_path / "good")
    import_book(engine, good)
    with pytest.raises(RefusedError, match="already imported"):
        import_book(engine, good)
    assert main.main(["import", str(write_book(tmp_path / "old", as_of="2026-11-01")), "--db", db_path]) == 2
    assert "older than the current book" in capsys.readouterr().err


def test_cancelled_import_leaves_database_unchanged(engine, tmp_path, db_path):
    import_book(engine, write_book(tmp_path / "d1"))
    before = content_digest(db_path)
    state = TaskState()
    calls = []

    def on_progress(f, msg):
        calls.append(msg)
        if msg.startswith("writing lots"):
            state.cancel()

    state._on_progress = on_progress
    with pytest.raises(Cancelled):
        import_book(engine, write_book(tmp_path / "d2", as_of="2026-11-21"), state=state)
    assert any(m.startswith("writing lots") for m in calls)
    assert content_digest(db_path) == before


def test_import_is_audited(engine, book_dir):
    import_book(engine, book_dir, user="alice")
    with engine.connect() as conn:
        log = repo.audit_frame(conn)
    assert list(log["action"]) == ["IMPORT"] and list(log["username"]) == ["alice"]
