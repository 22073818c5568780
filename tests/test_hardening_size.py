"""Hardening #18, class GIANT inputs: no book can exhaust the workstation.

The size cap (engine/book/book_size.py) refuses a book over ``--max-book-mb`` before a byte is read,
a file over its row cap before the typed conversion, a manifest of more than 64 KiB and a line
of more than 1 MiB in the scan of a refused file; the peak memory of each class is measured by
bench/bench_hostile_memory.py (docs/reliability.md). Both databases (conftest BOTH_DATABASES)."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import main
from bookkit import BASE, write_book
from dbkit import content_digest
from engine.book import book_size
from engine.book.book import BookError, read_book
from engine.book.book_keys import repeated_keys
from engine.book.importer import import_book


@pytest.fixture
def imported(engine, db_path, tmp_path):
    import_book(engine, write_book(tmp_path / "good"))
    return content_digest(db_path)


def _refused(argv, db_path, capsys, *words):
    assert main.main(argv + ["--db", db_path]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and all(w in err for w in words), err
    return err


def test_a_book_over_the_cap_is_refused_before_it_is_read(imported, db_path, tmp_path, capsys):
    book = write_book(tmp_path / "big", as_of="2026-11-21")
    with open(book / "lots.csv", "a") as f:  # 0.13 MiB of lots: over a 0.1 MiB cap
        f.write("".join(f"A1,X{i},AAA,1,1,2020-01-01\n" for i in range(5_000)))
    err = _refused(["import", str(book), "--max-book-mb", "0.1"], db_path, capsys,
                   "over the limit of 0.1 MiB", "lots.csv: 0.13 MiB", "--max-book-mb", "nothing was read")
    assert content_digest(db_path) == imported
    assert main.main(["import", str(book), "--max-book-mb", "1", "--db", db_path]) == 0, err  # raised: read


def test_a_file_over_the_row_cap_is_refused_before_conversion(imported, db_path, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(book_size, "MAX_ROWS", 10)  # at the default size; 40 at 4x
    book = write_book(tmp_path / "rows", as_of="2026-11-21",
                      append={"lots.csv": [f"A1,X{i},AAA,1,1,2020-01-01" for i in range(20)]})
    n = len(BASE["lots.csv"]) - 1 + 20
    _refused(["import", str(book)], db_path, capsys, f"lots.csv: has {n} rows, over the limit of 10 a file")
    assert content_digest(db_path) == imported
    assert main.main(["import", str(book), "--max-book-mb", str(4 * book_size.MAX_BOOK_MB),
                      "--db", db_path]) == 0


def test_a_giant_manifest_is_refused_unread(imported, db_path, tmp_path, capsys):
    book = write_book(tmp_path / "m", as_of="2026-11-21")
    (book / "manifest.json").write_text('{"as_of": "2026-11-21", "pad": "' + "x" * 100_000 + '"}')
    _refused(["import", str(book)], db_path, capsys, "manifest.json: is 100,034 bytes")
    assert content_digest(db_path) == imported


def test_an_endless_line_is_scanned_a_piece_at_a_time(tmp_path, monkeypatch):
    monkeypatch.setattr("engine.book.book_scan.MAX_LINE_BYTES", 4096)
    book = write_book(tmp_path / "line")
    with open(book / "lots.csv", "a") as f:
        f.write("A1,L9," + "x" * 50_000 + "\nA1,L8,AAA,1,1\n")  # one line of 50 kB, one short of a field
    with pytest.raises(BookError) as exc:
        read_book(book)
    text = str(exc.value)
    n = len(BASE["lots.csv"]) + 1
    assert f"lots.csv, line {n}: line longer than 4,096 bytes" in text, text
    assert f"lots.csv, line {n + 1}: has 5 field(s), the header has 6" in text, text


@pytest.mark.parametrize("seed", range(5))
def test_repeated_keys_agree_with_pandas(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 400))
    df = pd.DataFrame({
        "a": pd.array(np.where(rng.random(n) < 0.05, None, rng.choice(["A1", "A2", "", "a1", "A1 "], n)),
                      dtype="str"),
        "b": pd.array(rng.integers(0, max(2, n // 3), n).astype(str), dtype="str")})
    got = repeated_keys(df, ("a", "b"))
    want = df.fillna("").duplicated(["a", "b"], keep=False).to_numpy()
    assert (np.zeros(n, bool) if got is None else got).tolist() == want.tolist()
    single = repeated_keys(df, ("b",))
    assert (np.zeros(n, bool) if single is None else single).tolist() == df.duplicated(["b"], keep=False).tolist()


@pytest.mark.parametrize("value", ["0", "-5", "abc", "inf", "nan"])
def test_max_book_mb_must_be_a_size(value, tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        main.main(["import", str(tmp_path), "--max-book-mb", value, "--db", str(tmp_path / "x.db")])
    assert exc.value.code == 2 and "is not a size in MiB above 0" in capsys.readouterr().err
    assert not (tmp_path / "x.db").exists()
