"""Who acts, and may they: identities and desk roles, checked before every action.

**Identity.** On PostgreSQL the acting user is the database login (``session_user``). Once roles
are set up on a database (``roles setup``: ``desk_roles`` has a row), a ``--user`` or
``$REBALANCE_DESK_USER`` naming anyone else is refused; before that, today's behaviour stays (the
declared name acts) and the console's header warns. On SQLite (one workstation) the acting user
is the OS login; a declared name different from it is recorded as *declared* next to the OS login
(``audit_log.identity`` = ``declared``, the OS login in ``session``) and refused once roles are
set up on that database. Names are in their normal form (:mod:`engine.core.usernames`).

**Roles.** ``operator`` (import, run, holds, halts, manual trades, export), ``reviewer`` (approve,
reject, edit, withdraw, second approvals of manual trades), ``admin`` (policy versions, four-eyes
and retention settings, prune, role grants, acknowledging a broken audit chain). A user may hold
several. Enforced by the engine (:func:`acting_user` with the role an action needs) once set up;
on PostgreSQL also by the database (see :mod:`engine.desk.roles`).
"""
from __future__ import annotations

import os

from sqlalchemy import Connection, Engine, select, text

from engine.core.tasks import RefusedError, current_user, os_login
from engine.core.usernames import normalize_user
from storage import models as m

ROLES = ("operator", "reviewer", "admin")
WHAT = {"operator": "import, run, holds, halts, manual trades and export",
        "reviewer": "approve, reject, edit and withdraw proposals, and second approvals of manual trades",
        "admin": "policy versions, four-eyes and retention settings, prune, role grants"}


def is_postgres(conn: Connection | Engine) -> bool:
    return conn.dialect.name == "postgresql"


def login(conn: Connection) -> str:
    """The login acting on this connection: the database login on PostgreSQL, else the OS login."""
    if is_postgres(conn):
        return normalize_user(conn.execute(text("SELECT session_user")).scalar_one())
    return normalize_user(os_login())


def roles_enforced(conn: Connection) -> bool:
    """Whether roles are set up on this database (``roles setup`` has granted its first admin)."""
    return conn.execute(select(m.DeskRole.username).limit(1)).first() is not None


def roles_of(conn: Connection, user: str) -> set[str]:
    t = m.DeskRole.__table__
    return {r[0] for r in conn.execute(select(t.c.role).where(t.c.username == user))}


def _declared(user: str | None) -> str | None:
    name = user or os.environ.get("REBALANCE_DESK_USER")
    return current_user(name) if name else None


def acting_user(engine: Engine | Connection, user: str | None = None, role: str | None = None) -> str:
    """The user an action is recorded under, refused (RefusedError, exit 2) when a declared name
    claims another login where identities are enforced, or when the user lacks ``role``."""
    if isinstance(engine, Connection):
        return _acting(engine, user, role)
    with engine.connect() as conn:
        return _acting(conn, user, role)


def _acting(conn: Connection, user: str | None, role: str | None) -> str:
    declared = _declared(user)
    if not roles_enforced(conn):
        return declared or current_user()
    who = login(conn)
    if declared and declared != who:
        where = "database login" if is_postgres(conn) else "OS login"
        raise RefusedError(f"you are {who!r} (your {where}); --user / REBALANCE_DESK_USER {declared!r} names "
                           f"someone else: roles are set up on this database, so {declared} acts with "
                           f"{'their own database login' if is_postgres(conn) else 'their own OS login'}")
    if role:
        require(conn, who, role)
    return who


def require(conn: Connection, user: str, role: str) -> None:
    if role not in ROLES:
        raise ValueError(role)
    held = roles_of(conn, user)
    if role not in held:
        has = ", ".join(sorted(held)) or "no desk role"
        raise RefusedError(f"{user} may not do this: it needs the {role} role ({WHAT[role]}); {user} has {has}. "
                           f"An admin grants it: python main.py roles grant {user} {role}")


def identity_note(engine: Engine, user: str) -> str | None:
    """A warning for the console's header when identities are not proven, else None."""
    with engine.connect() as conn:
        enforced = roles_enforced(conn)
        pg = is_postgres(conn)
    if pg and not enforced:
        return ("Roles are not set up on this shared desk: the user name is declared, not the database login "
                "(python main.py roles setup)")
    if not pg and user != normalize_user(os_login()):
        return (f"Workstation database: {user} is a declared identity (OS login {os_login()}); real four-eyes "
                "needs the shared PostgreSQL desk")
    return None
