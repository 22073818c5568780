"""Issue #18, class CLI EDGES: every --db and --out problem is exit 2 with one line naming what is
wrong, never a traceback; read-only commands never create a database."""
from __future__ import annotations

import os

import pytest

import main
from bookkit import write_book


def _one_line_exit_2(argv, capsys, *words):
    code = main.main(argv)
    err = capsys.readouterr().err.strip()
    assert code == 2, err
    assert "Traceback" not in err and len(err.splitlines()) == 1, err
    for w in words:
        assert w in err, (w, err)
    return err


@pytest.fixture
def text_file(tmp_path):
    p = tmp_path / "notes.txt"
    p.write_text("not a database\n" * 10)
    return p


@pytest.mark.parametrize("command", [["audit"], ["report", "--out", "r.csv"], ["overrides"], ["audit", "--verify"],
                                     ["import", "BOOK"], ["migrate"]])
@pytest.mark.parametrize("kind", ["empty", "memory", "sqlite memory url", "folder", "text file", "no driver",
                                  "nothing listening", "bad url"])
def test_bad_db_is_exit_2_one_line(command, kind, tmp_path, text_file, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    book = write_book(tmp_path / "book")
    db = {"empty": "", "memory": ":memory:", "sqlite memory url": "sqlite://", "folder": str(tmp_path),
          "text file": str(text_file), "no driver": "nosuchdb+nodriver://u@localhost/x",
          "nothing listening": "postgresql+psycopg://u:secret@127.0.0.1:9/x", "bad url": "postgresql://u@:x:/"}[kind]
    argv = [str(book) if a == "BOOK" else a for a in command] + ["--db", db]
    err = _one_line_exit_2(argv, capsys, "--db")
    assert "secret" not in err
    assert text_file.read_text().startswith("not a database")  # never overwritten


@pytest.mark.parametrize("command", [["audit"], ["audit", "--verify"], ["overrides"], ["report", "--out", "r.csv"]])
def test_read_only_commands_never_create_a_database(command, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    db = tmp_path / "sub" / "missing.db"
    _one_line_exit_2(command + ["--db", str(db)], capsys, "no database there")
    assert not db.exists() and not db.parent.exists()


def test_db_path_with_percent_works(tmp_path, capsys):
    db = tmp_path / "100%book.db"
    assert main.main(["import", str(write_book(tmp_path / "b")), "--db", str(db)]) == 0, capsys.readouterr().err
    assert main.main(["audit", "--db", str(db)]) == 0


@pytest.mark.parametrize("command", ["export", "report", "simulate"])
@pytest.mark.parametrize("kind", ["empty", "a file", "under a file", "not writable"])
def test_bad_out_is_exit_2_one_line(command, kind, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    db = str(tmp_path / "book.db")
    assert main.main(["import", str(write_book(tmp_path / "b")), "--db", db]) == 0
    capsys.readouterr()
    afile = tmp_path / "afile"
    afile.write_text("x")
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    out = {"empty": "", "a file": str(afile), "under a file": str(afile / "sub"),
           "not writable": str(locked / "out")}[kind]
    if command == "report" and kind == "a file":
        out = str(tmp_path)  # a report goes into a file: a folder is the wrong kind here
    argv = {"export": ["export", "--out", out], "report": ["report", "--out", out],
            "simulate": ["simulate", "--days", "1", "--out", out]}[command] + ["--db", db]
    if os.geteuid() == 0 and kind == "not writable":
        pytest.skip("root writes anywhere")
    _one_line_exit_2(argv, capsys, "--out")
    # nothing written anywhere else (an empty --out once wrote into the working directory)
    assert {p.name for p in tmp_path.iterdir()} <= {"afile", "b", "book.db", "book.db-shm", "book.db-wal", "locked"}
    assert afile.read_text() == "x" and not any(locked.iterdir())
