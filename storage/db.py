"""The one place that makes engines and sessions from a path or a URL.

SQLite (the embedded default) gets WAL and foreign keys on every connection; the same code
runs on PostgreSQL through a ``postgresql+psycopg://`` URL. New databases are created by
running the Alembic migrations, never by ``create_all``.
"""
from __future__ import annotations

import os
import re
from pathlib import Path

from platformdirs import user_data_dir
from sqlalchemy import Engine, create_engine, event, inspect
from sqlalchemy.orm import Session, sessionmaker

APP_NAME = "RebalanceDesk"
MIGRATIONS = Path(__file__).with_name("migrations")
ENV_DB = "REBALANCE_DESK_DB"


def default_db() -> str:
    """The per-user default database (``$REBALANCE_DESK_DB`` wins when set)."""
    env = os.environ.get(ENV_DB)
    if env:
        return env
    return str(Path(user_data_dir(APP_NAME, appauthor=False)) / "book.db")


class DatabaseUnusable(ValueError):
    """``--db`` names nothing a database can be made of or opened from (one line, why)."""


SQLITE_MAGIC = b"SQLite format 3\x00"


def _is_sqlite(path: Path) -> bool:
    """The file is a SQLite database (or empty), asked of SQLite itself: never by opening and
    closing the file here — closing any descriptor of a file drops every POSIX lock this process
    holds on it, and without the shared locks of this process's open connections another process
    closing its last connection (a console's read worker, the CLI) would take the database as
    unused and delete its write-ahead log, with commits made here since (seen: a commit lost)."""
    import sqlite3
    from urllib.parse import quote

    if 0 < path.stat().st_size < 512:  # shorter than a SQLite page (which SQLite reads as empty)
        return False
    con = sqlite3.connect(f"file:{quote(str(path.resolve()))}?mode=ro", uri=True, timeout=1.0)
    try:
        con.execute("PRAGMA schema_version").fetchone()
    except sqlite3.OperationalError:  # locked or busy: a database another connection is writing
        return True
    except sqlite3.DatabaseError:  # "file is not a database"
        return False
    finally:
        con.close()
    return True


def check_db(db: str | os.PathLike | None, *, create: bool = True) -> None:
    """Refuse (:class:`DatabaseUnusable`) a ``--db`` that cannot be a database: empty, ``:memory:``
    (it would keep nothing), a folder, a file that is not SQLite, a URL that does not parse; with
    ``create`` False (read-only commands) also a database file that does not exist."""
    text = str(db) if db is not None else default_db()
    if not text.strip():
        raise DatabaseUnusable("--db is empty: name a database file or URL")
    if text.strip() == ":memory:" or text.startswith("sqlite://") and text.rstrip("/") in ("sqlite:", "sqlite:/"):
        raise DatabaseUnusable(f"--db {text}: an in-memory database keeps nothing; name a file")
    if "://" in text:
        from sqlalchemy.engine import make_url
        from sqlalchemy.exc import ArgumentError

        try:
            url = make_url(text)
        except (ArgumentError, ValueError) as exc:
            raise DatabaseUnusable(f"--db {redact(text)}: not a database URL ({exc})") from None
        if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:":
            if url.get_backend_name() == "sqlite":
                raise DatabaseUnusable(f"--db {text}: an in-memory database keeps nothing; name a file")
            return
        text = url.database
    path = Path(text).expanduser()
    if path.is_dir():
        raise DatabaseUnusable(f"--db {path}: is a folder, not a database file")
    if path.exists():
        if not path.is_file():
            raise DatabaseUnusable(f"--db {path}: is not a regular file")
        if not _is_sqlite(path):
            raise DatabaseUnusable(f"--db {path}: is not a SQLite database (a file of another kind)")
    elif not create:
        raise DatabaseUnusable(f"--db {path}: no database there (this command reads one, it never creates one)")
    elif path.parent.exists() and not path.parent.is_dir():
        raise DatabaseUnusable(f"--db {path}: {path.parent} is a file, not a folder")


def db_url(db: str | os.PathLike | None) -> str:
    """A SQLAlchemy URL from a file path or a URL (``None`` = the per-user default)."""
    db = str(db) if db is not None else default_db()
    if "://" in db:
        return db
    path = Path(db).expanduser().resolve()
    path.parent.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{path}"


def describe(db: str | os.PathLike | None) -> str:
    """A display form of the database: the path for SQLite, the URL without password otherwise."""
    url = db_url(db)
    if url.startswith("sqlite:///"):
        return url[len("sqlite:///"):]
    from sqlalchemy.engine import make_url
    return make_url(url).render_as_string(hide_password=True)


_URL_PASSWORD = re.compile(r"(?P<head>\b[a-z][a-z0-9+.-]*://[^:/@\s]*:)(?P<password>[^@\s]*)(?=@)", re.IGNORECASE)


_CONNINFO_PASSWORD = re.compile(r"(?P<head>\bpassword\s*=\s*)(?P<password>'(?:[^'\\]|\\.)*'|[^\s&;,)]+)",
                                re.IGNORECASE)


def redact(text: str) -> str:
    """``text`` with the password of every database URL in it (and of every libpq ``password=``
    setting or URL query parameter) replaced by ``***`` (for messages, logs, crash reports and
    anything stored)."""
    text = _URL_PASSWORD.sub(lambda mt: mt.group("head") + "***", str(text))
    return _CONNINFO_PASSWORD.sub(lambda mt: mt.group("head") + "***", text)


def redact_logs() -> None:
    """From now on every log record (this program's, SQLAlchemy's, Alembic's, psycopg's) is made
    without any database URL's password: its message, its exception's traceback and its stack
    are redacted when the record is created, whatever handler writes it later. Idempotent."""
    import logging

    make = logging.getLogRecordFactory()
    if getattr(make, "redacts", False):
        return

    def factory(*args, **kwargs):
        record = make(*args, **kwargs)
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a bad format string: logging reports it as it would
            return record
        record.msg, record.args = redact(message), None
        if record.exc_info and record.exc_info[0] is not None:
            record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return record

    factory.redacts = True
    logging.setLogRecordFactory(factory)


def _sqlite_pragmas(dbapi_conn, _record) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA cache_size=-200000")  # ~200 MB page cache for bulk work
    cur.close()


def make_engine(db: str | os.PathLike | None = None, *, migrate: bool = True, create: bool = True) -> Engine:
    """An engine for ``db``; migrates the schema to head first unless ``migrate`` is False.
    ``create`` False: a database file that does not exist is refused, never made (read-only
    commands). A ``db`` that cannot be a database, or a server that cannot be reached, raises
    :class:`DatabaseUnusable` with one line saying why."""
    from sqlalchemy.exc import ArgumentError, NoSuchModuleError, OperationalError

    from storage import busy

    check_db(db, create=create)
    url = db_url(db)
    try:
        if url.startswith("sqlite"):
            engine = create_engine(url, connect_args={"timeout": busy.BUSY_WAIT_S})
            event.listen(engine, "connect", _sqlite_pragmas)
        else:
            engine = create_engine(url, pool_pre_ping=True)
        busy.install(engine, describe(db))  # a lock held beyond the wait: "database busy: held by ..."
        if migrate:
            upgrade(engine)
        elif not url.startswith("sqlite"):
            engine.connect().close()
    except (NoSuchModuleError, ArgumentError) as exc:
        raise DatabaseUnusable(f"--db {describe(db)}: no driver for this URL ({str(exc).splitlines()[0]})") from None
    except busy.DatabaseBusy as exc:
        raise DatabaseUnusable(str(exc)) from None
    except OperationalError as exc:
        why = str(exc.orig or exc).strip().splitlines()[0] if str(exc.orig or exc).strip() else type(exc).__name__
        raise DatabaseUnusable(f"--db {describe(db)}: cannot open the database ({redact(why)})") from None
    from storage import snapshot_cache

    snapshot_cache.sweep(engine.url)  # killed imports' temporary files, copies of deleted databases
    return engine


def alembic_config(engine: Engine | None = None):
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    if engine is not None:
        # the migrations run on the engine itself: the URL kept here has no password
        cfg.set_main_option("sqlalchemy.url", engine.url.render_as_string(hide_password=True).replace("%", "%%"))
        cfg.attributes["engine"] = engine
    return cfg


def current_revision(engine: Engine) -> str | None:
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def head_revision() -> str:
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def upgrade(engine: Engine) -> None:
    """Bring the schema to the newest revision; a no-op on an up-to-date database."""
    if current_revision(engine) == head_revision():
        return
    from alembic import command

    command.upgrade(alembic_config(engine), "head")


def sessions(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


def table_names(engine: Engine) -> list[str]:
    return inspect(engine).get_table_names()
