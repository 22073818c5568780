"""The schema is made by Alembic; upgrading an up-to-date database is a no-op."""
import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, text

from dbkit import content_digest
from storage.db import alembic_config, current_revision, db_url, head_revision, make_engine
from storage.models import Base


def test_new_database_is_created_by_alembic(engine):
    assert current_revision(engine) == head_revision()
    tables = set(inspect(engine).get_table_names())
    assert "alembic_version" in tables
    assert {t.name for t in Base.metadata.sorted_tables} <= tables
    with engine.connect() as conn:
        assert compare_metadata(MigrationContext.configure(conn), Base.metadata) == []


def test_upgrade_head_on_existing_database_is_noop(engine, db_path):
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO policies (created_at, created_by, checksum, body) "
                          "VALUES ('2026-01-01 00:00:00', 'x', 'c', 'b')"))
    before = content_digest(db_path)
    command.upgrade(alembic_config(engine), "head")
    make_engine(db_path).dispose()  # opening again migrates only when behind
    assert content_digest(db_path) == before


@pytest.mark.sqlite_only
def test_sqlite_pragmas(engine):
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1


def test_db_url_accepts_paths_and_urls(tmp_path):
    assert db_url(tmp_path / "x.db").startswith("sqlite:///")
    assert db_url("postgresql+psycopg://u:p@localhost/db") == "postgresql+psycopg://u:p@localhost/db"


def test_default_database_is_per_user(monkeypatch):
    from storage import db

    monkeypatch.delenv(db.ENV_DB, raising=False)
    path = db.default_db()
    assert path.endswith("book.db") and "RebalanceDesk" in path


def test_snapshot_cache_serves_the_same_frames_as_the_database(engine, book_dir, monkeypatch, tmp_path):
    import pandas as pd

    from engine.book.importer import import_book
    from storage import repo

    monkeypatch.setenv("REBALANCE_DESK_CACHE", str(tmp_path / "cache"))
    import_book(engine, book_dir)  # the import writes the cache
    assert any((tmp_path / "cache").iterdir())
    with engine.connect() as conn:
        cached = repo.read_book_frames(conn, 1)
    monkeypatch.setenv("REBALANCE_DESK_CACHE", "off")
    with engine.connect() as conn:
        fresh = repo.read_book_frames(conn, 1)
    for name, df in fresh.items():
        a = cached[name].sort_values(list(df.columns[:2])).reset_index(drop=True)
        b = df.sort_values(list(df.columns[:2])).reset_index(drop=True)
        assert a.dtypes.to_dict() == b.dtypes.to_dict(), name
        pd.testing.assert_frame_equal(a, b)


def test_damaged_cache_entry_is_rebuilt(engine, book_dir, monkeypatch, tmp_path):
    from engine.book.importer import import_book
    from storage import repo

    monkeypatch.setenv("REBALANCE_DESK_CACHE", str(tmp_path / "cache"))
    import_book(engine, book_dir)
    entry = next((tmp_path / "cache").iterdir())
    (entry / "lots.arrow").write_bytes(b"garbage")
    with engine.connect() as conn:
        lots = repo.read_book_frames(conn, 1)["lots"]
    assert len(lots) == 7 and (entry / "lots.arrow").stat().st_size > 100


def test_a_bulk_write_on_postgresql_refreshes_the_planner_statistics(engine, db_path):
    """A COPY of many rows ANALYZEs the table in the same transaction, so the next query (an
    export right after a run) is planned for the table's new size."""
    import pandas as pd
    import pytest

    from storage import bulk
    from storage import models as m

    if not db_path.startswith("postgresql"):
        pytest.skip("PostgreSQL's planner statistics")
    n = bulk.ANALYZE_ROWS
    df = pd.DataFrame({"at": pd.Timestamp("2026-11-24"), "username": "bench", "action": "X",
                       "detail": [f"row {i}" for i in range(n)]})
    with engine.begin() as conn:
        bulk.insert_frame(conn, m.AuditEntry.__table__, df)
    with engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT reltuples FROM pg_class WHERE relname = 'audit_log'").scalar() == n


TRICKY_TEXT = ["plain", "", None, "tab\there", "new\nline", "carriage\rreturn", "back\\slash", "\\N",
               "it's \"quoted\"", "comma, semicolon;", "unicode é ü 中文 😀", "trailing\\", "NULL"]


def _tricky_frames(snapshot_id: int):
    """Frames of every kind of value a book carries, ``len(TRICKY_TEXT)`` rows each."""
    import math
    from datetime import date

    import numpy as np
    import pandas as pd

    n = len(TRICKY_TEXT)
    floats = [0.1, 1 / 3, -0.0, 1e-300, 1.7976931348623157e308, 123456789.123456789, math.nan,
              2.5, -7.125e-5, 5e-324, 100.0, 0.30000000000000004, math.pi]
    securities = pd.DataFrame({
        "snapshot_id": snapshot_id,
        "symbol": [f"S{i}" for i in range(n)],
        "name": TRICKY_TEXT,
        "asset_class": [t if t else "x" for t in TRICKY_TEXT],
        "price": np.array(floats),
        "price_date": [date(2026, 1, 1 + i) for i in range(n)],
        "tags": pd.Series(TRICKY_TEXT, dtype="string"),
        "rating": [None if i % 3 == 0 else float(i) for i in range(n)],
    })
    accounts = pd.DataFrame({
        "snapshot_id": snapshot_id, "account_id": [f"A\t{i}" for i in range(n)], "name": TRICKY_TEXT,
        "model_id": "M\\1", "custodian": "C", "cash": np.nan_to_num(np.array(floats[::-1]), nan=0.5),
        "taxable": np.array([i % 2 == 0 for i in range(n)]),
        "last_trade_date": [None if i % 4 == 0 else date(2025, 12, 1 + i) for i in range(n)],
        "gains_budget": np.arange(n, dtype=np.int64),
    })
    return securities, accounts


def test_a_bulk_write_gives_back_exactly_what_a_row_by_row_insert_gives(engine):
    """``insert_frame`` (COPY on PostgreSQL, multi-row VALUES on SQLite) stores NULLs, quotes,
    tabs, newlines, backslashes, unicode, dates, booleans and floats exactly as SQLAlchemy's
    executemany of the same rows does."""
    import math
    from datetime import datetime

    import pandas as pd
    from sqlalchemy import insert, select

    from storage import bulk
    from storage import models as m

    frames = {}
    with engine.begin() as conn:
        for sid in (1, 2):
            conn.execute(insert(m.BookSnapshot.__table__).values(
                id=sid, as_of=datetime(2026, 1, 1).date(), imported_at=datetime(2026, 1, 1), imported_by="t",
                source="t", checksum=str(sid), n_accounts=0, n_lots=0))
            conn.execute(insert(m.Model.__table__).values(snapshot_id=sid, model_id="M\\1"))
            frames[sid] = _tricky_frames(sid)
        for df, table in zip(frames[1], (m.Security.__table__, m.Account.__table__)):
            assert bulk.insert_frame(conn, table, df) == len(df)
        for df, table in zip(frames[2], (m.Security.__table__, m.Account.__table__)):
            rows = [{k: (None if (isinstance(v, float) and math.isnan(v)) or v is pd.NA else bulk._py(v))
                     for k, v in r.items()} for r in df.to_dict("records")]
            conn.execute(insert(table), rows)

    def read(table, sid, key):
        with engine.connect() as conn:
            rows = conn.execute(select(table).where(table.c.snapshot_id == sid).order_by(table.c[key])).all()
        return [tuple(repr(v) for k, v in r._mapping.items() if k != "snapshot_id") for r in rows]

    for table, key in ((m.Security.__table__, "symbol"), (m.Account.__table__, "account_id")):
        copied, inserted = read(table, 1, key), read(table, 2, key)
        assert len(copied) == len(TRICKY_TEXT)
        assert copied == inserted
    names = [r[1] for r in read(m.Security.__table__, 1, "symbol")]
    assert repr(None) in names and repr("\\N") in names and repr("tab\there") in names


def test_the_day_bench_reads_table_sizes_and_the_servers_cpu(engine, db_path):
    """``bench/bench_days.py``'s per-table sizes see a table grow by what was written into it, and
    on PostgreSQL its server CPU counts the backend that did the work."""
    import sys
    from pathlib import Path

    import pandas as pd

    from storage import bulk
    from storage import models as m

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
    import bench_days

    before = bench_days.table_sizes(engine)
    assert "audit_log" in before and "lots" in before
    server = bench_days.ServerCPU(engine.url.database if db_path.startswith("postgresql") else None)
    server.start()
    df = pd.DataFrame({"at": pd.Timestamp("2026-11-24"), "username": "bench", "action": "X",
                       "detail": [f"row {i} " + "x" * 200 for i in range(20_000)]})
    with engine.begin() as conn:
        bulk.insert_frame(conn, m.AuditEntry.__table__, df)
        if db_path.startswith("postgresql"):
            conn.exec_driver_sql("SELECT count(*) FROM generate_series(1, 3000000)").scalar()
    bench_days.used_size(engine)
    grew = bench_days.table_sizes(engine)["audit_log"] - before["audit_log"]
    assert grew > 20_000 * 200
    cpu = server.seconds()
    assert cpu > 0 if db_path.startswith("postgresql") else cpu == 0
    assert bench_days.median([3, None, 1, 2]) == 2 and bench_days.median([4, 1]) == 2.5
