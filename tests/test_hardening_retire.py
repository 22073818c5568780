"""Hardening #18, class DATE (the desk never stuck): an admin retires a wrong current book.

A book confirmed with an as_of typo (2062-11-20) makes the next real book "older" and refused;
``retire-snapshot`` sets it aside (audited with who and why), the previous snapshot is current
again, the real book imports, and the run made on the wrong book is no longer exported from.
Both databases (conftest BOTH_DATABASES)."""
from __future__ import annotations

import main
from bookkit import BASE, write_book
from dbkit import content_digest
from engine.book.importer import import_book
from engine.decide.workflow import run_workflow
from engine.desk.exporter import export_batch
from storage import repo


def _stuck_desk(engine, tmp_path):
    first = import_book(engine, write_book(tmp_path / "b1"))
    typo = import_book(engine, write_book(tmp_path / "typo", as_of="2062-11-20"), as_of_ok=True)
    return first, typo


def test_a_wrong_book_retired_unlocks_the_desk(engine, db_path, tmp_path, capsys):
    first, typo = _stuck_desk(engine, tmp_path)
    real = write_book(tmp_path / "real", as_of="2026-11-21")
    assert main.main(["import", str(real), "--db", db_path]) == 2
    assert "older than the current book (as of 2062-11-20)" in capsys.readouterr().err

    assert main.main(["retire-snapshot", str(typo), "--reason", "as_of typo: 2062 for 2026", "--db", db_path]) == 0
    out = capsys.readouterr().out
    assert f"retired snapshot {typo}" in out and f"the current book is snapshot {first} as of 2026-11-20" in out
    with engine.connect() as conn:
        assert repo.snapshot_info(conn).id == first
        retired = repo.snapshot_info(conn, typo)
        log = repo.audit_frame(conn)
    assert retired.retired_by and retired.retired_reason == "as_of typo: 2062 for 2026"
    entry = log[log["action"] == "RETIRE_SNAPSHOT"]
    assert len(entry) == 1 and "as_of typo" in entry["detail"].iloc[0]

    assert main.main(["import", str(real), "--db", db_path]) == 0, capsys.readouterr().err
    with engine.connect() as conn:
        assert str(repo.snapshot_info(conn).as_of) == "2026-11-21"


def test_retire_refusals_change_nothing(engine, db_path, tmp_path, capsys):
    first, typo = _stuck_desk(engine, tmp_path)
    before = content_digest(db_path)
    cases = [([str(first), "--reason", "x"], "is not the current book"),
             ([str(typo), "--reason", "  "], "needs a reason"),
             (["999", "--reason", "x"], "no snapshot 999")]
    for args, words in cases:
        assert main.main(["retire-snapshot", *args, "--db", db_path]) == 2
        err = capsys.readouterr().err
        assert words in err and "Traceback" not in err, err
    assert content_digest(db_path) == before
    assert main.main(["retire-snapshot", str(typo), "--reason", "typo", "--db", db_path]) == 0
    assert main.main(["retire-snapshot", str(typo), "--reason", "again", "--db", db_path]) == 2
    assert "already retired" in capsys.readouterr().err


def test_a_book_orders_were_exported_from_cannot_be_retired(engine, db_path, tmp_path, capsys):
    snap = import_book(engine, write_book(tmp_path / "b1"))
    run_workflow(engine, workers=1)
    res = export_batch(engine, tmp_path / "out")
    assert res.files, "the base book's small accounts are approved by the default policy"
    before = content_digest(db_path)
    assert main.main(["retire-snapshot", str(snap), "--reason", "x", "--db", db_path]) == 2
    assert "were exported (batch" in capsys.readouterr().err
    assert content_digest(db_path) == before


def test_the_run_on_a_retired_book_is_not_exported(engine, db_path, tmp_path):
    import_book(engine, write_book(tmp_path / "b1"))
    # the whole typo book dated 2062 (prices and feeds too, so its run approves trades)
    dated = {f: [ln.replace("2026-11-20", "2062-11-20") for ln in BASE[f]] for f in ("securities.csv", "feeds.csv")}
    typo = import_book(engine, write_book(tmp_path / "typo", as_of="2062-11-20", changes=dated), as_of_ok=True)
    run_workflow(engine, workers=1)
    assert _exportable(engine) > 0  # the run on the typo book has approved trades
    assert main.main(["retire-snapshot", str(typo), "--reason", "typo", "--db", db_path]) == 0
    assert _exportable(engine) == 0
    assert export_batch(engine, tmp_path / "out") is None  # nothing to send
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").glob("*.csv"))


def _exportable(engine) -> int:
    from sqlalchemy import func, select

    from engine.desk.exporter import exportable
    from storage import models as m

    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(m.Trade.__table__).where(exportable(conn))).scalar()
