"""The snapshot cache (storage.snapshot_cache): the client book's copy outside the database is
private (0700/0600), belongs to one database, goes with its snapshot when retention prunes it
and with its database when that is gone, can live beside the database or be off, and a killed
import leaves no partial copy behind."""
import json
import stat
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from bookkit import write_book
from engine.book.importer import import_book
from storage import repo, snapshot_cache
from storage.db import make_engine
from test_crash import die_in_child


def mode(p: Path) -> int:
    return stat.S_IMODE(p.stat().st_mode)


def entries(root: Path) -> list[Path]:
    return sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")) if root.is_dir() else []


def day(tmp_path, n: int) -> Path:
    d = f"2026-11-{20 + n:02d}"
    return write_book(tmp_path / f"d{n}", as_of=d, changes={
        "feeds.csv": ["custodian,file_date,status", f"SCHWAB,{d},ok", f"FIDELITY,{d},ok"]})


@pytest.fixture
def cache(monkeypatch, tmp_path):
    root = tmp_path / "cache" / "snapshots"  # not there yet: the import creates it
    monkeypatch.setenv(snapshot_cache.ENV, str(root))
    return root


def test_cache_is_private_and_names_its_database(engine, cache, tmp_path):
    snap = import_book(engine, day(tmp_path, 0))
    assert mode(cache) == 0o700
    [entry] = entries(cache)
    assert mode(entry) == 0o700
    files = list(entry.iterdir())
    assert len(files) == len(repo.BOOK_TABLES) + 1 and all(mode(f) == 0o600 for f in files)
    owner = json.loads((entry / "owner.json").read_text())
    assert owner["snapshot_id"] == snap and owner["checksum"] in entry.name
    url = engine.url
    if url.drivername.startswith("sqlite"):
        assert owner["database"] == owner["file"] == str(Path(url.database).resolve())
    else:
        assert owner["file"] is None and owner["database"] == url.render_as_string(hide_password=True)
        assert url.password is None or str(url.password) not in json.dumps(owner)
    assert not [p for p in cache.iterdir() if p.name.startswith(".")]  # no temporary folder left


def test_cache_goes_with_the_snapshot_retention_prunes(engine, cache, tmp_path):
    checksums = []
    for n in range(3):  # the shipped policy keeps the newest 2 snapshots' lots
        import_book(engine, day(tmp_path, n))
        with engine.connect() as conn:
            checksums.append(repo.snapshot_info(conn).checksum)
    names = [p.name for p in entries(cache)]
    assert len(names) == 2 and not any(checksums[0] in n for n in names)
    assert all(any(c in n for n in names) for c in checksums[1:])
    # reading the pruned snapshot (its lots are gone) does not copy it back into the cache
    with engine.connect() as conn:
        assert len(repo.read_book_frames(conn, 1)["lots"]) == 0
    assert [p.name for p in entries(cache)] == names


def test_killed_import_leaves_no_partial_cache(engine, db_path, cache, tmp_path):
    book = day(tmp_path, 0)
    die_in_child(f"""
        import pandas as pd
        real, calls = pd.DataFrame.to_feather, []
        def dying(self, path, *a, **k):
            calls.append(path)
            if len(calls) == 4:  # three tables of the snapshot written, then killed
                die()
            return real(self, path, *a, **k)
        pd.DataFrame.to_feather = dying
        from storage.db import make_engine
        from engine.book.importer import import_book
        import_book(make_engine({db_path!r}), {str(book)!r})
    """)
    # the database has the snapshot (committed before caching); the cache has no entry, only
    # the dead writer's temporary folder, which the next start-up sweeps
    assert entries(cache) == []
    tmp = [p for p in cache.iterdir() if p.name.startswith(snapshot_cache.TMP)]
    assert len(tmp) == 1 and len(list(tmp[0].iterdir())) == 3
    with engine.connect() as conn:
        snap = repo.snapshot_info(conn)
        assert snapshot_cache.load(engine.url, snap.checksum, repo.BOOK_TABLES) is None
    make_engine(db_path).dispose()
    assert list(cache.iterdir()) == []
    with engine.connect() as conn:  # the book reads from the database, and is cached whole
        assert len(repo.read_book_frames(conn, snap.id)["lots"]) == 7
    [entry] = entries(cache)
    assert len(list(entry.iterdir())) == len(repo.BOOK_TABLES) + 1


def test_temporary_folder_of_a_running_writer_is_kept(cache, tmp_path):
    import os
    import socket

    cache.mkdir(parents=True)
    mine = cache / f"{snapshot_cache.TMP}{socket.gethostname()}~{os.getpid()}~abc"
    mine.mkdir()
    snapshot_cache.sweep(make_url(f"sqlite:///{tmp_path / 'x.db'}"))
    assert mine.is_dir()


@pytest.mark.sqlite_only
def test_cache_of_a_deleted_database_is_swept_at_start_up(engine, db_path, cache, tmp_path):
    import_book(engine, day(tmp_path, 0))
    engine.dispose()
    other = make_engine(tmp_path / "other.db")
    import_book(other, day(tmp_path, 1))
    assert len(entries(cache)) == 2
    for suffix in ("", "-wal", "-shm"):
        Path(db_path + suffix).unlink(missing_ok=True)
    make_engine(tmp_path / "other.db").dispose()  # any start-up sweeps the folder
    [left] = entries(cache)
    assert json.loads((left / "owner.json").read_text())["file"] == str((tmp_path / "other.db").resolve())
    other.dispose()


def test_cache_beside_the_database_or_off(engine, monkeypatch, tmp_path):
    monkeypatch.setenv(snapshot_cache.ENV, "beside")
    import_book(engine, day(tmp_path, 0))
    url = engine.url
    if url.drivername.startswith("sqlite"):
        beside = Path(url.database).resolve().with_name(Path(url.database).name + ".cache")
        assert mode(beside) == 0o700 and len(entries(beside)) == 1
        assert snapshot_cache.cache_root(url) == beside
    else:  # a PostgreSQL database has no folder: nothing is cached
        assert snapshot_cache.cache_root(url) is None
    monkeypatch.setenv(snapshot_cache.ENV, "off")
    assert snapshot_cache.cache_root(url) is None
    import_book(engine, day(tmp_path, 1))
    with engine.connect() as conn:
        assert len(repo.read_book_frames(conn, 2)["lots"]) == 7
    if url.drivername.startswith("sqlite"):
        assert len(entries(beside)) == 1  # nothing new written while off


def test_a_cache_that_cannot_be_written_never_fails_the_import(engine, cache, tmp_path, monkeypatch):
    import pandas as pd

    def broken(self, *a, **k):
        raise ValueError("arrow cannot write this")

    monkeypatch.setattr(pd.DataFrame, "to_feather", broken)
    snap = import_book(engine, day(tmp_path, 0))
    assert list(cache.iterdir()) == []  # no entry, no temporary folder
    with engine.connect() as conn:
        assert repo.snapshot_info(conn).id == snap and len(repo.read_book_frames(conn, snap)["lots"]) == 7


@pytest.mark.parametrize("on_call", [1, 2])
def test_prune_tolerates_an_entry_another_process_removed_meanwhile(tmp_path, monkeypatch, on_call):
    """Two processes share the cache: one may remove an entry between the other's listing and
    its stat (on_call 1), or between two stats of it (on_call 2, which raised FileNotFoundError in
    a CI run). _prune skips what is gone and still keeps the newest KEEP."""
    import os
    import shutil
    from pathlib import Path

    from storage import snapshot_cache as sc

    root = tmp_path / "cache"
    root.mkdir()
    for i in range(sc.KEEP + 3):
        d = root / f"e{i:02d}"
        d.mkdir()
        os.utime(d, (1_000 + i, 1_000 + i))
    vanished = root / "e00"
    real_stat = Path.stat
    calls = {"n": 0}

    def stat_racing_a_prune(self, *a, **k):
        if self == vanished:
            calls["n"] += 1
            if calls["n"] == on_call:
                shutil.rmtree(self, ignore_errors=True)
        return real_stat(self, *a, **k)

    monkeypatch.setattr(Path, "stat", stat_racing_a_prune)
    sc._prune(root)
    monkeypatch.undo()
    left = sorted(p.name for p in root.iterdir())
    assert left == [f"e{i:02d}" for i in range(3, sc.KEEP + 3)]
