"""Test databases of both kinds: a SQLite file, or a fresh PostgreSQL database per test.

PostgreSQL runs when ``$REBALANCE_DESK_TEST_PG`` names an admin URL (``.ci/pg-start`` starts a
throwaway server and prints it). ``content_digest`` reads every row of every table the same way
on both, so "the database is unchanged" means the same thing on each.
"""
from __future__ import annotations

import hashlib
import os
import uuid

from sqlalchemy import create_engine, inspect, select, text
from sqlalchemy.engine import make_url

ENV_PG = "REBALANCE_DESK_TEST_PG"


def pg_admin_url() -> str | None:
    return os.environ.get(ENV_PG) or None


def _as_admin(admin_url: str, sql: str) -> None:
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(sql))
    finally:
        admin.dispose()


def create_pg_database(admin_url: str) -> str:
    name = f"rd_test_{uuid.uuid4().hex[:12]}"
    _as_admin(admin_url, f'CREATE DATABASE "{name}" TEMPLATE template0')
    return make_url(admin_url).set(database=name).render_as_string(hide_password=False)


def drop_pg_database(admin_url: str, url: str) -> None:
    _as_admin(admin_url, f'DROP DATABASE IF EXISTS "{make_url(url).database}" WITH (FORCE)')


def content_digest(db: str) -> str:
    """A digest of every row of every table (rows in a fixed order): 'unchanged in content'."""
    from storage.db import db_url

    eng = create_engine(db_url(db))
    try:
        h = hashlib.sha256()
        with eng.connect() as conn:
            insp = inspect(conn)
            from sqlalchemy import MetaData

            md = MetaData()
            md.reflect(conn)
            for name in sorted(insp.get_table_names()):
                t = md.tables[name]
                h.update(f"#{name}\n".encode())
                cols = list(t.c)
                for row in conn.execute(select(*cols).order_by(*cols)):
                    h.update(repr(tuple(row)).encode())
        return h.hexdigest()
    finally:
        eng.dispose()


def is_postgres(db: str) -> bool:
    return str(db).startswith("postgresql")
