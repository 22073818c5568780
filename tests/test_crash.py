"""Crash safety: a process killed (SIGKILL) in the middle of an import, a run or an export
leaves the database consistent, and the next attempt succeeds with nothing lost or sent twice."""
import csv
import json
import subprocess
import sys
import textwrap
from pathlib import Path

from sqlalchemy import func, select

from bookkit import write_book
from engine.desk.exporter import export_batch, export_preview
from engine.book.importer import import_book
from engine.decide.workflow import run_workflow
from storage import models as m
from storage import repo
from dbkit import content_digest

ROOT = Path(__file__).resolve().parents[1]


def die_in_child(code: str) -> None:
    """Run ``code`` in a fresh interpreter that kills itself with SIGKILL at the patched point."""
    prelude = textwrap.dedent("""
        import os, signal, sys
        sys.path.insert(0, %r)
        def die(*a, **k):
            os.kill(os.getpid(), signal.SIGKILL)
    """ % str(ROOT))
    out = subprocess.run([sys.executable, "-c", prelude + textwrap.dedent(code)], cwd=ROOT,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == -9, (out.returncode, out.stderr[-2000:])


def test_killed_import_leaves_nothing_and_the_next_import_succeeds(engine, db_path, tmp_path):
    import_book(engine, write_book(tmp_path / "d1"))
    before = content_digest(db_path)
    book = write_book(tmp_path / "d2", as_of="2026-11-21")
    die_in_child(f"""
        import storage.bulk as b
        def dying(real):
            def patched(conn, table, names, df, progress):
                n = real(conn, table, names, df, progress)
                if table.name == "lots":
                    die()
                return n
            return patched
        b._insert_sqlite = dying(b._insert_sqlite)  # SQLite: multi-row INSERTs
        b._copy_postgres = dying(b._copy_postgres)  # PostgreSQL: COPY
        from storage.db import make_engine
        from engine.book.importer import import_book
        import_book(make_engine({db_path!r}), {str(book)!r})
    """)
    assert content_digest(db_path) == before
    snap = import_book(engine, book)
    with engine.connect() as conn:
        # ids need not be consecutive (PostgreSQL sequences do not roll back); counts must be
        assert conn.execute(select(func.count()).select_from(m.BookSnapshot)).scalar() == 2
        assert repo.snapshot_info(conn).id == snap
        assert conn.execute(select(func.count()).select_from(m.Lot)).scalar() == 14


def test_killed_run_leaves_nothing_and_the_next_run_succeeds(engine, db_path, book_dir):
    import_book(engine, book_dir)
    before = content_digest(db_path)
    die_in_child(f"""
        import storage.bulk as b
        real = b.insert_frame
        def patched(conn, table, df, progress=None):
            n = real(conn, table, df, progress)
            if table.name == "trades":
                die()
            return n
        b.insert_frame = patched
        import engine.decide.workflow as w
        w.insert_frame = patched
        from storage.db import make_engine
        w.run_workflow(make_engine({db_path!r}), workers=1)
    """)
    assert content_digest(db_path) == before
    out = run_workflow(engine, workers=1)
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(m.Run)).scalar() == 1
        assert conn.execute(select(func.count()).select_from(m.Proposal)).scalar() == 3
    assert out.summary["trades"] > 0


def drop_files(out: Path) -> list[str]:
    """The files an order system polling ``out`` would see (not the staging subfolder)."""
    return sorted(p.name for p in out.iterdir() if p.is_file()) if out.exists() else []


def known_files(engine) -> set[str]:
    """Every file the database's batch records name (data files and manifests)."""
    with engine.connect() as conn:
        rows = conn.execute(select(m.ExportBatch.id, m.ExportBatch.manifest)).all()
    return {f["name"] for _, man in rows for f in json.loads(man)["files"]} | {f"batch_{b}.json" for b, _ in rows}


def test_killed_export_before_commit_sends_nothing_then_once(engine, db_path, book_dir, tmp_path):
    import_book(engine, book_dir)
    run_workflow(engine, workers=1)
    want = export_preview(engine)["trades"]
    out = tmp_path / "out"
    die_in_child(f"""
        import engine.desk.exporter as x
        x._before_commit = die
        from storage.db import make_engine
        x.export_batch(make_engine({db_path!r}), {str(out)!r})
    """)
    with engine.connect() as conn:
        assert conn.execute(select(m.Trade.id).where(m.Trade.batch_id.is_not(None))).first() is None
    # every file was written, but only under the staging folder: nothing the database does not know
    assert drop_files(out) == []
    staged = sorted(p.name for p in (out / ".staging").iterdir())
    assert any(n.startswith("trades_") for n in staged) and any(n.startswith("batch_") for n in staged)
    res = export_batch(engine, out)
    assert res.n_trades == want
    rows = list(csv.DictReader(open(out / f"trades_{res.batch_id}.csv")))
    assert len(rows) == res.n_lines and (out / f"batch_{res.batch_id}.json").exists()
    assert set(drop_files(out)) == known_files(engine) and not (out / ".staging").exists()
    with engine.connect() as conn:
        log = repo.audit_frame(conn)
    cleaned = log[log["action"] == "EXPORT_STAGING_REMOVED"]
    assert len(cleaned) == 1 and set(json.loads(cleaned.iloc[0]["after"])["files"]) == set(staged)
    assert export_batch(engine, out) is None


def test_killed_export_after_commit_is_published_byte_identically(engine, db_path, book_dir, tmp_path):
    import hashlib

    from engine.desk.publish import recover_exports

    import_book(engine, book_dir)
    run_workflow(engine, workers=1)
    out = tmp_path / "out"
    die_in_child(f"""
        import engine.desk.exporter as x
        x._before_publish = die
        from storage.db import make_engine
        x.export_batch(make_engine({db_path!r}), {str(out)!r}, formats=("csv", "fix", "xlsx"))
    """)
    with engine.connect() as conn:
        batch_id, manifest = conn.execute(select(m.ExportBatch.id, m.ExportBatch.manifest)).one()
    manifest = json.loads(manifest)
    assert drop_files(out) == []  # committed, not yet published: the order system sees nothing yet
    assert recover_exports(engine, user="console")  # what the console does at start-up
    assert set(drop_files(out)) == known_files(engine) == {f["name"] for f in manifest["files"]} | {
        f"batch_{batch_id}.json"}
    for f in manifest["files"]:
        assert hashlib.sha256((out / f["name"]).read_bytes()).hexdigest() == f["sha256"]
    assert json.loads((out / f"batch_{batch_id}.json").read_text()) == manifest
    with engine.connect() as conn:
        log = repo.audit_frame(conn)
    rep = log[log["action"] == "EXPORT_REPUBLISH"]
    assert len(rep) == 1 and rep.iloc[0]["username"] == "console" and batch_id in rep.iloc[0]["detail"]
    assert export_batch(engine, out) is None  # nothing sent twice, nothing published twice
    with engine.connect() as conn:
        assert (repo.audit_frame(conn)["action"] == "EXPORT_REPUBLISH").sum() == 1


def test_killed_export_after_commit_is_published_by_the_next_export(engine, db_path, book_dir, tmp_path):
    import hashlib

    import_book(engine, book_dir)
    run_workflow(engine, workers=1)
    out = tmp_path / "out"
    die_in_child(f"""
        import engine.desk.exporter as x
        def patched(out_dir, manifest):  # one file moved into place, the others and the manifest still staged
            name = manifest["files"][0]["name"]
            os.replace(os.path.join(out_dir, ".staging", name), os.path.join(out_dir, name))
            die()
        x.publish.publish = patched
        from storage.db import make_engine
        x.export_batch(make_engine({db_path!r}), {str(out)!r})
    """)
    with engine.connect() as conn:
        batch_id, manifest = conn.execute(select(m.ExportBatch.id, m.ExportBatch.manifest)).one()
    manifest = json.loads(manifest)
    assert len(drop_files(out)) == 1 and f"batch_{batch_id}.json" not in drop_files(out)
    assert export_batch(engine, out) is None
    assert set(drop_files(out)) == known_files(engine)
    for f in manifest["files"]:
        assert hashlib.sha256((out / f["name"]).read_bytes()).hexdigest() == f["sha256"]
