"""The schema is made by Alembic; upgrading an up-to-date database is a no-op."""
import sqlite3

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, text

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
    con = sqlite3.connect(db_path)
    before = list(con.iterdump())
    con.close()
    command.upgrade(alembic_config(engine), "head")
    make_engine(db_path)  # opening again migrates only when behind
    con = sqlite3.connect(db_path)
    assert list(con.iterdump()) == before
    con.close()


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
