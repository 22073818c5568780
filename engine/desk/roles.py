"""``python main.py roles setup|grant|revoke|list``: desk roles on a database.

``desk_roles`` lists who holds which role (operator, reviewer, admin); the engine checks it
before every action once it has a row (:mod:`engine.core.identity`). ``setup`` makes the login that
runs it the first admin. On PostgreSQL, ``setup`` also creates the group roles ``desk_operator``,
``desk_reviewer`` and ``desk_admin`` and grants them table privileges, and ``grant``/``revoke``
add or remove a login's membership, so a user with a SQL client and their own login has no more
rights than their role:

* every login: read ``alembic_version`` and ``desk_roles`` (so the engine can name the role
  that is missing); every desk role: read every table; INSERT (never UPDATE, DELETE or TRUNCATE) on ``audit_log``,
  whose BEFORE UPDATE OR DELETE trigger ``audit_log_insert_only`` also refuses any change by an
  owner; UPDATE of the chain head ``audit_chain`` and of the application locks;
* operator: writes the book, runs, proposals, trades, overrides, suspensions, batches;
* reviewer: updates proposals and trades (decisions, edits);
* admin: policies, desk roles, and deletes of old snapshots' rows (prune).

What table privileges cannot express (which change of a trade or proposal a role may make, and
that every change is audited by its author) the triggers of :mod:`engine.desk.desk_guards` enforce.
On SQLite, ``desk_roles`` is the documented policy list of OS logins, checked by the engine only.
"""
from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
from sqlalchemy import Engine, delete, insert, select, text

from engine.desk import desk_guards
from engine.core.identity import ROLES, SETUP_ACTION, acting_user, is_postgres, login, roles_enforced
from engine.core.tasks import RefusedError
from engine.core.usernames import normalize_user
from storage import models as m
from storage import repo

ALL = ("book_snapshots securities models model_weights accounts lots custodian_positions feeds transactions "
       "cash_requests corporate_actions cash_request_states policies overrides suspensions runs proposals trades "
       "export_batches audit_log audit_chain desk_roles app_locks alembic_version notes model_changes "
       "proposal_details detail_texts").split()
WRITES = {
    "operator": ("book_snapshots securities models model_weights accounts lots custodian_positions feeds "
                 "transactions cash_requests corporate_actions cash_request_states overrides suspensions runs "
                 "proposals proposal_details detail_texts trades export_batches notes model_changes").split(),  # notes: a hold's reason; model changes: import
    "reviewer": ["proposals", "trades", "notes"],  # notes: a decision's note
    "admin": ["policies", "desk_roles"] + ("book_snapshots lots custodian_positions transactions").split(),
}
INSERT_ONLY = """
CREATE OR REPLACE FUNCTION audit_log_insert_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION USING MESSAGE = 'audit_log is insert-only: ' || TG_OP || ' refused',
    ERRCODE = 'insufficient_privilege';
END $$;
DROP TRIGGER IF EXISTS audit_log_insert_only ON audit_log;
CREATE TRIGGER audit_log_insert_only BEFORE UPDATE OR DELETE OR TRUNCATE ON audit_log
  FOR EACH STATEMENT EXECUTE FUNCTION audit_log_insert_only();
"""


def pg_role(role: str) -> str:
    return f"desk_{role}"


def _role(role: str) -> str:
    r = (role or "").strip().lower()
    if r.startswith("desk_"):
        r = r[len("desk_"):]
    if r not in ROLES:
        raise RefusedError(f"unknown role {role!r}: the desk roles are {', '.join(ROLES)}")
    return r


def _pg_login(conn, user: str) -> str:
    """The PostgreSQL login whose normal form is ``user`` (refused when there is none)."""
    names = [r[0] for r in conn.execute(text("SELECT rolname FROM pg_roles WHERE rolcanlogin"))]
    for name in names:
        try:
            if normalize_user(name) == user:
                return name
        except RefusedError:
            continue
    raise RefusedError(f"no database login {user!r} on this server: create it first (CREATE ROLE {user} LOGIN)")


def _os_login_exists(user: str) -> None:
    """On SQLite, roles go to OS logins of this workstation: refused when there is no such login."""
    try:
        import pwd
    except ImportError:  # Windows: no user database to ask
        return
    for entry in pwd.getpwall():
        try:
            if normalize_user(entry.pw_name) == user:
                return
        except RefusedError:
            continue
    raise RefusedError(f"no OS login {user!r} on this workstation")


def _quote(conn, name: str) -> str:
    return conn.dialect.identifier_preparer.quote_identifier(name)


@dataclass(frozen=True)
class RolesResult:
    message: str


def setup(engine: Engine) -> RolesResult:
    """Set roles up on this database; the login running it becomes its first admin."""
    with engine.begin() as conn:
        who = login(conn)
        t = m.DeskRole.__table__
        if conn.execute(select(t.c.username).limit(1)).first() is not None:
            # setting up again (privileges refreshed) is an admin's; a list emptied by hand is set up
            # again by whoever may (on PostgreSQL the owner of the tables, the grants below need it)
            acting_user(conn, who, "admin")
        if is_postgres(conn):
            _pg_setup(conn)
        if conn.execute(select(t.c.role).where(t.c.username == who, t.c.role == "admin")).first() is None:
            conn.execute(insert(t).values(username=who, role="admin", granted_by=who, granted_at=repo.now()))
        repo.audit(conn, who, SETUP_ACTION, detail=f"roles set up; {who} is an admin",
                   after={"roles": list(ROLES)})
    return RolesResult(f"roles set up: {who} is an admin; grant the others with roles grant USER ROLE")


def _pg_setup(conn) -> None:
    exists = {r[0] for r in conn.execute(text("SELECT rolname FROM pg_roles WHERE rolname LIKE 'desk\\_%'"))}
    for role in ROLES:
        name = pg_role(role)
        if name not in exists:
            try:
                with conn.begin_nested():
                    conn.execute(text(f"CREATE ROLE {name} NOLOGIN"))
            except Exception as exc:  # noqa: BLE001 - a login without CREATEROLE
                if "already exists" not in str(exc):
                    raise RefusedError(f"roles setup needs a login that may create roles: {exc.__cause__ or exc}")
    everyone = ", ".join(pg_role(r) for r in ROLES)
    tables = ", ".join(ALL)
    conn.execute(text(f"REVOKE ALL ON {tables} FROM PUBLIC, {everyone}"))
    conn.execute(text(f"GRANT USAGE ON SCHEMA public TO {everyone}"))
    # any login may learn the schema version and the role list, so the engine can say what is missing
    conn.execute(text("GRANT SELECT ON alembic_version, desk_roles TO PUBLIC"))
    conn.execute(text(f"GRANT SELECT ON {tables} TO {everyone}"))
    conn.execute(text(f"GRANT INSERT ON audit_log TO {everyone}"))
    conn.execute(text(f"GRANT UPDATE, INSERT ON audit_chain, app_locks TO {everyone}"))
    conn.execute(text(f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {everyone}"))
    for role, names in WRITES.items():
        grant = "INSERT, UPDATE, DELETE" if role != "reviewer" else "INSERT, UPDATE, DELETE"
        conn.execute(text(f"GRANT {grant} ON {', '.join(names)} TO {pg_role(role)}"))
    conn.exec_driver_sql(INSERT_ONLY)
    desk_guards.install(conn)  # which change each role may make, and every change audited by its author


def grant(engine: Engine, user: str, role: str, *, by: str | None = None) -> RolesResult:
    role, target = _role(role), normalize_user(user)
    with engine.begin() as conn:
        if not roles_enforced(conn):
            raise RefusedError("roles are not set up on this database: run `python main.py roles setup` first")
        admin = acting_user(conn, by, "admin")
        if is_postgres(conn):
            name = _pg_login(conn, target)
            conn.execute(text(f"GRANT {pg_role(role)} TO {_quote(conn, name)}"))
        else:
            _os_login_exists(target)
        t = m.DeskRole.__table__
        if conn.execute(select(t.c.role).where(t.c.username == target, t.c.role == role)).first() is not None:
            return RolesResult(f"{target} already has the {role} role")
        conn.execute(insert(t).values(username=target, role=role, granted_by=admin, granted_at=repo.now()))
        repo.audit(conn, admin, "ROLE_GRANT", detail=f"{role} granted to {target}", after={"user": target, "role": role})
    return RolesResult(f"{target} now has the {role} role")


def revoke(engine: Engine, user: str, role: str, *, by: str | None = None) -> RolesResult:
    role, target = _role(role), normalize_user(user)
    with engine.begin() as conn:
        if not roles_enforced(conn):
            raise RefusedError("roles are not set up on this database: run `python main.py roles setup` first")
        admin = acting_user(conn, by, "admin")
        t = m.DeskRole.__table__
        done = conn.execute(delete(t).where(t.c.username == target, t.c.role == role))
        if done.rowcount == 0:
            raise RefusedError(f"{target} does not have the {role} role")
        if role == "admin" and conn.execute(select(t.c.username).where(t.c.role == "admin").limit(1)).first() is None:
            raise RefusedError(f"{target} is the last admin: grant admin to someone else first")
        if is_postgres(conn):
            conn.execute(text(f"REVOKE {pg_role(role)} FROM {_quote(conn, _pg_login(conn, target))}"))
        repo.audit(conn, admin, "ROLE_REVOKE", detail=f"{role} revoked from {target}", before={"user": target, "role": role})
    return RolesResult(f"{target} no longer has the {role} role")


def roles_frame(engine: Engine) -> pd.DataFrame:
    t = m.DeskRole.__table__
    with engine.connect() as conn:
        rows = conn.execute(select(t).order_by(t.c.username, t.c.role)).mappings().all()
    return pd.DataFrame(rows, columns=[c.name for c in t.c])
