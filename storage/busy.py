"""A database busy beyond the wait ends in one line, "database busy: held by … since …", never a
traceback (issue #18).

Another workstation in the middle of a long write (an import of a big book, a run, an export)
holds the database: SQLite's write lock, or a PostgreSQL row lock (the audit chain's head, an
application lock). A command waits :data:`BUSY_WAIT_S` seconds for it (SQLite's busy timeout,
PostgreSQL's ``lock_timeout``), then gives up with :class:`DatabaseBusy` (exit 2; the console
shows the message) and its transaction rolled back: nothing changed.

Who holds it:
* PostgreSQL: every connection names itself (``application_name`` = ``rebalance-desk`` and the
  session tag host/login/pid); the message names the oldest other open transaction of the
  database and when it began (``pg_stat_activity``).
* SQLite says nothing about the holder, so a desk connection that starts writing leaves a note
  next to the file (``<db>-writer``: session tag and time), removed when its transaction ends. A
  note whose process is gone (same host, dead pid) is ignored.
"""
from __future__ import annotations

import json
import os
import socket
from datetime import datetime, timezone
from pathlib import Path

from sqlalchemy import Engine, event

BUSY_WAIT_S = 30.0  # how long a command waits for another writer before "database busy"
APP_NAME = "rebalance-desk"
_WRITES = ("INSERT", "UPDATE", "DELETE", "REPLACE", "CREATE", "DROP", "ALTER")


class DatabaseBusy(ValueError):
    """Another connection held the database beyond the wait; nothing was changed (one line)."""


def _now() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None, microsecond=0)


def _session() -> str:
    from storage.repo import session_id

    return session_id()


def note_path(database: str) -> Path:
    return Path(f"{database}-writer")


# --------------------------------------------------------------------------- SQLite
def _sqlite_note_write(conn, cursor, statement, parameters, context, executemany):
    if conn.info.get("rd_writing") or not statement.lstrip()[:7].upper().startswith(_WRITES):
        return
    conn.info["rd_writing"] = True
    path = conn.info.get("rd_note")
    if path is None:
        return
    try:
        tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps({"session": _session(), "since": _now().isoformat(sep=" ")}))
        os.replace(tmp, path)
    except OSError:  # a note that cannot be written only makes a later message vaguer
        pass


def _sqlite_end(conn) -> None:
    if not conn.info.pop("rd_writing", False):
        return
    path = conn.info.get("rd_note")
    try:
        if path is not None and json.loads(path.read_text()).get("session") == _session():
            path.unlink()
    except (OSError, ValueError):
        pass


def _pid_gone(session: str) -> bool:
    host, _, pid = session.rpartition("/")
    host = host.split("/")[0]
    if host != socket.gethostname() or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except OSError:
        return False
    return False


def _sqlite_holder(database: str) -> str:
    try:
        note = json.loads(note_path(database).read_text())
        session, since = str(note["session"]), str(note["since"])
    except (OSError, ValueError, KeyError, TypeError):
        return "held by another connection (not a desk command, or one that left no note)"
    if _pid_gone(session):
        return "held by another connection"
    return f"held by {session} since {since} UTC"


# --------------------------------------------------------------------------- PostgreSQL
def _pg_holder(engine: Engine) -> str:
    sql = ("SELECT application_name, usename, client_addr, xact_start AT TIME ZONE 'UTC' FROM pg_stat_activity "
           "WHERE datname = current_database() AND pid <> pg_backend_pid() AND xact_start IS NOT NULL "
           "AND backend_type = 'client backend' ORDER BY xact_start LIMIT 1")
    try:
        with engine.connect() as conn:
            row = conn.exec_driver_sql(sql).first()
    except Exception:  # noqa: BLE001 - the holder is a courtesy; the refusal stands without it
        return "held by another connection"
    if row is None:
        return "held by another connection (gone by now)"
    app, user, addr, since = row
    who = app.removeprefix(APP_NAME).strip() if app and app.startswith(APP_NAME) else (app or "a client")
    who += f" (database user {user}" + (f" from {addr}" if addr else "") + ")"
    when = since.replace(microsecond=0) if since is not None else "?"
    return f"held by {who} since {when} UTC"


# --------------------------------------------------------------------------- both
def is_busy_error(exc: BaseException) -> bool:
    """A lock wait that ran out: SQLite's "database is locked", PostgreSQL's lock timeout."""
    if getattr(exc, "sqlstate", None) == "55P03":  # lock_not_available (lock_timeout)
        return True
    text = str(exc).lower()
    return type(exc).__name__ == "OperationalError" and ("database is locked" in text or "database is busy" in text
                                                          or "database table is locked" in text)


def install(engine: Engine, shown: str) -> None:
    """Wait at most :data:`BUSY_WAIT_S` for other writers on ``engine``; then :class:`DatabaseBusy`
    naming the holder. ``shown`` is the database as messages show it (no password)."""
    sqlite = engine.url.get_backend_name() == "sqlite"
    wait_ms = int(BUSY_WAIT_S * 1000)

    if sqlite:
        database = engine.url.database

        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_conn, _record):
            cur = dbapi_conn.cursor()
            cur.execute(f"PRAGMA busy_timeout={wait_ms}")
            cur.close()

        @event.listens_for(engine, "engine_connect")
        def _on_engine_connect(conn):
            conn.info.setdefault("rd_note", note_path(database))

        event.listen(engine, "before_cursor_execute", _sqlite_note_write)
        event.listen(engine, "commit", _sqlite_end)
        event.listen(engine, "rollback", _sqlite_end)
    else:
        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_conn, _record):
            cur = dbapi_conn.cursor()
            cur.execute(f"SET lock_timeout = {wait_ms}")
            cur.execute("SELECT set_config('application_name', %s, false)", (f"{APP_NAME} {_session()}"[:63],))
            cur.close()
            dbapi_conn.commit()

    @event.listens_for(engine, "handle_error")
    def _on_error(context):
        exc = context.original_exception
        if not is_busy_error(exc):
            return
        holder = _sqlite_holder(database) if sqlite else _pg_holder(engine)
        raise DatabaseBusy(f"database busy: {shown} {holder}; waited {BUSY_WAIT_S:g} s, nothing was changed. "
                           "Try again when that work is done") from exc
