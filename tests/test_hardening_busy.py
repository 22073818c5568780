"""Hardening #18, class BUSY: a database held by another workstation beyond the wait is exit 2
with one line, "database busy: held by … since …", never a traceback; nothing changed, and the
same command succeeds once the holder is done. Both databases (conftest BOTH_DATABASES); the wait
is cut to 1 s here (storage.busy.BUSY_WAIT_S, 30 s at the desk)."""
from __future__ import annotations

import time

import pytest

import main
from bookkit import write_book
from dbkit import content_digest
from engine.book.importer import import_book
from storage import busy, repo
from storage.db import make_engine


@pytest.fixture
def short_wait(monkeypatch):
    monkeypatch.setattr(busy, "BUSY_WAIT_S", 1.0)


@pytest.mark.parametrize("argv", [["hold", "A1", "--until", "2026-12-01", "--reason", "wire"],
                                  ["import", "{book2}"]])
def test_busy_database_is_exit_2_naming_the_holder(argv, engine, db_path, tmp_path, capsys, short_wait):
    import_book(engine, write_book(tmp_path / "b1"))
    argv = [a.format(book2=write_book(tmp_path / "b2", as_of="2026-11-21")) for a in argv] + ["--db", db_path]
    before = content_digest(db_path)
    other = make_engine(db_path)  # the other workstation, in the middle of a write
    try:
        with other.connect() as conn:
            tx = conn.begin()
            repo.audit(conn, "bob", "HOLD", account_id="A2", detail="a long write")
            started = time.monotonic()
            code = main.main(argv)
            waited = time.monotonic() - started
            tx.rollback()
    finally:
        other.dispose()
    err = capsys.readouterr().err
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("database busy:"), err
    assert f"held by {repo.session_id()}" in err and " since 20" in err and "nothing was changed" in err, err
    assert "Traceback" not in err
    assert 0.9 < waited < 15, waited  # waited for the holder, then gave up (not 33 s, not at once)
    assert content_digest(db_path) == before
    assert main.main(argv) == 0, capsys.readouterr().err  # the holder is done: the same command works


def test_busy_error_is_told_apart_from_other_errors():
    import sqlite3

    assert busy.is_busy_error(sqlite3.OperationalError("database is locked"))
    assert not busy.is_busy_error(sqlite3.OperationalError("no such table: x"))
    assert not busy.is_busy_error(ValueError("database is locked"))


def test_a_note_of_a_dead_writer_is_not_named(tmp_path):
    db = tmp_path / "x.db"
    busy.note_path(str(db)).write_text('{"session": "%s/nobody/999999999", "since": "2026-11-25 10:00:00"}'
                                       % __import__("socket").gethostname())
    assert busy._sqlite_holder(str(db)) == "held by another connection"
    busy.note_path(str(db)).write_text('{"session": "ws7/alice/12", "since": "2026-11-25 10:00:00"}')
    assert busy._sqlite_holder(str(db)) == "held by ws7/alice/12 since 2026-11-25 10:00:00 UTC"
