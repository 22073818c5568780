"""Desk roles and identities: on PostgreSQL with real logins (created here, trust auth), every
action is allowed exactly when the acting login's role allows it, in the engine and, for the
audit log, the policies and the role list, at the database; on SQLite, the OS login."""
import uuid

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

import dbkit
import main
from engine.core.audit import audit_entries
from engine.core.identity import acting_user
from engine.core.tasks import RefusedError, os_login
from engine.core.usernames import normalize_user
from storage.db import make_engine
from test_four_eyes import review_all_policy, uhnw_book


def cli(capsys, *argv):
    code = main.main(list(argv))
    out = capsys.readouterr()
    return code, out.out + out.err


@pytest.fixture
def no_declared_user(monkeypatch):
    """No REBALANCE_DESK_USER (the suite sets one): the login speaks for itself."""
    monkeypatch.delenv("REBALANCE_DESK_USER", raising=False)


@pytest.fixture
def logins(db_path):
    """Real PostgreSQL logins alice_*, bob_*, carol_* (unique per test), dropped afterwards."""
    if not dbkit.is_postgres(db_path):
        pytest.skip("PostgreSQL logins")
    tag = uuid.uuid4().hex[:6]
    names = {who: f"{who}_{tag}" for who in ("alice", "bob", "carol")}
    admin = dbkit.pg_admin_url()
    for name in names.values():
        dbkit._as_admin(admin, f"CREATE ROLE {name} LOGIN")
    yield names
    for name in names.values():
        dbkit._as_admin(admin, f"DROP ROLE IF EXISTS {name}")


def url_as(db_path, login):
    return make_url(db_path).set(username=login, password=None).render_as_string(hide_password=False)


def raw_sql(db_path, login, sql):
    """Run one statement as ``login`` with a plain SQL connection: the error text, or None."""
    eng = create_engine(url_as(db_path, login))
    try:
        with eng.begin() as conn:
            conn.execute(text(sql))
        return None
    except Exception as exc:  # noqa: BLE001 - the refusal is what is tested
        return str(exc.__cause__ or exc)
    finally:
        eng.dispose()


@pytest.fixture
def desk(engine, db_path, tmp_path, logins, no_declared_user, capsys):
    """Roles set up by the database owner; alice operator, bob reviewer, carol none."""
    import_dir = uhnw_book(tmp_path / "book")
    from engine.core.policy_store import save_policy

    assert cli(capsys, "roles", "setup", "--db", db_path)[0] == 0
    save_policy(engine, review_all_policy())
    assert cli(capsys, "roles", "grant", logins["alice"], "operator", "--db", db_path)[0] == 0
    assert cli(capsys, "roles", "grant", logins["bob"], "reviewer", "--db", db_path)[0] == 0
    return dict(logins=logins, book=import_dir,
                urls={who: url_as(db_path, name) for who, name in logins.items()})


def test_each_role_may_do_exactly_its_actions(desk, db_path, tmp_path, capsys):
    a, b, c = desk["urls"]["alice"], desk["urls"]["bob"], desk["urls"]["carol"]
    alice, bob = desk["logins"]["alice"], desk["logins"]["bob"]
    # operator: import, run, hold; not approve, not a policy, not a grant
    assert cli(capsys, "import", str(desk["book"]), "--db", a)[0] == 0
    assert cli(capsys, "run", "--db", a, "--workers", "1")[0] == 0
    assert cli(capsys, "hold", "A2", "--until", "2026-12-31", "--reason", "wire", "--db", a)[0] == 0
    code, out = cli(capsys, "approve", "A1", "--db", a)
    assert code == 2 and "needs the reviewer role" in out and alice in out
    code, out = cli(capsys, "roles", "grant", alice, "admin", "--db", a)
    assert code == 2 and "needs the admin role" in out
    # reviewer: approve; not import, not export
    assert cli(capsys, "approve", "A1", "--db", b)[0] == 0
    code, out = cli(capsys, "export", "--db", b, "--out", str(tmp_path / "o"))
    assert code == 2 and "needs the operator role" in out
    assert cli(capsys, "export", "--db", a, "--out", str(tmp_path / "o"))[0] == 0
    # no role: nothing
    code, out = cli(capsys, "hold", "A1", "--until", "2026-12-31", "--reason", "x", "--db", c)
    assert code == 2 and "has no desk role" in out
    log = audit_entries(make_engine(db_path))
    assert {"IMPORT", "RUN", "HOLD_ADD", "APPROVE", "EXPORT"} <= set(log["action"])
    acted = log[log["action"].isin(["HOLD_ADD", "APPROVE"])]
    assert set(acted["username"]) == {alice, bob} and set(acted["identity"]) == {"login"}


def test_a_declared_user_cannot_claim_another_login(desk, db_path, monkeypatch, capsys):
    a, alice, bob = desk["urls"]["alice"], desk["logins"]["alice"], desk["logins"]["bob"]
    code, out = cli(capsys, "import", str(desk["book"]), "--db", a, "--user", bob)
    assert code == 2 and f"you are '{alice}'" in out and "names someone else" in out
    monkeypatch.setenv("REBALANCE_DESK_USER", "tester")
    code, out = cli(capsys, "import", str(desk["book"]), "--db", a)
    assert code == 2 and "'tester' names someone else" in out
    monkeypatch.setenv("REBALANCE_DESK_USER", alice.upper())  # the same login, another spelling: fine
    assert cli(capsys, "import", str(desk["book"]), "--db", a)[0] == 0


def test_four_eyes_cannot_be_satisfied_by_one_login_under_any_name(desk, db_path, capsys):
    from engine.desk.manual import ManualTrade, decide_manual_trades, enter_manual_trades
    from engine.desk.review import FourEyesError

    alice = desk["logins"]["alice"]
    assert cli(capsys, "roles", "grant", alice, "reviewer", "--db", db_path)[0] == 0
    eng = make_engine(desk["urls"]["alice"])
    try:
        acting_user(eng)  # the login
        from engine.book.importer import import_book

        import_book(eng, desk["book"])
        [tid] = enter_manual_trades(eng, "A1", [ManualTrade("AAA", "SELL", 10)])
        for name in (None, alice.upper(), "ａ" + alice[1:]):
            with pytest.raises(FourEyesError):
                decide_manual_trades(eng, [tid], user=name)
        for other in ("bob", desk["logins"]["bob"], "postgres"):
            with pytest.raises(RefusedError, match="names someone else"):
                decide_manual_trades(eng, [tid], user=other)
    finally:
        eng.dispose()


def test_the_database_refuses_what_a_role_may_not_do_with_a_sql_client(desk, db_path, capsys):
    alice, bob, carol = (desk["logins"][k] for k in ("alice", "bob", "carol"))
    assert cli(capsys, "import", str(desk["book"]), "--db", desk["urls"]["alice"])[0] == 0
    for who in (alice, bob, carol):
        for sql in ("UPDATE audit_log SET detail = 'x'", "DELETE FROM audit_log", "TRUNCATE audit_log",
                    "INSERT INTO desk_roles VALUES ('x', 'admin', 'x', now())",
                    "INSERT INTO policies (created_at, created_by, body, checksum) VALUES (now(), 'x', 'x', 'x')"):
            err = raw_sql(db_path, who, sql)
            assert err is not None and ("permission denied" in err or "insert-only" in err), (who, sql, err)
    for sql in ("UPDATE audit_log SET detail = 'x'", "DELETE FROM audit_log"):  # not even the owner
        assert "insert-only" in raw_sql(db_path, make_url(db_path).username, sql)
    assert "permission denied" in raw_sql(db_path, bob, "DELETE FROM lots")  # a reviewer writes no book
    assert raw_sql(db_path, alice, "SELECT count(*) FROM audit_log") is None  # desk roles read
    assert "permission denied" in raw_sql(db_path, carol, "SELECT count(*) FROM audit_log")  # no role: nothing
    assert raw_sql(db_path, alice, "INSERT INTO audit_log (at, username, action) VALUES (now(), 'x', 'X')") is None


def test_bad_role_commands_are_refused_naming_what_is_missing(desk, db_path, capsys):
    code, out = cli(capsys, "roles", "grant", desk["logins"]["carol"], "superhero", "--db", db_path)
    assert code == 2 and "unknown role 'superhero'" in out
    code, out = cli(capsys, "roles", "grant", "nobody_" + uuid.uuid4().hex[:6], "reviewer", "--db", db_path)
    assert code == 2 and "no database login" in out
    code, out = cli(capsys, "roles", "grant", desk["logins"]["carol"], "--db", db_path)
    assert code == 2 and "USER ROLE" in out
    code, out = cli(capsys, "roles", "list", "--db", db_path)
    assert code == 0 and desk["logins"]["alice"] in out and "operator" in out


def test_without_roles_set_up_a_declared_user_acts_as_before(engine, db_path, book_dir, capsys):
    """Today's behaviour stays until `roles setup`: the suite's user names act (recorded as declared)."""
    assert cli(capsys, "import", str(book_dir), "--db", db_path, "--user", "alice")[0] == 0
    log = audit_entries(engine, action="IMPORT")
    assert log["username"].tolist() == ["alice"] and log["identity"].tolist() == ["declared"]
    assert f"/{os_login()}/" in log["session"].iat[0]  # the OS login next to the declared name


def test_on_sqlite_set_up_roles_bind_the_os_login(engine, db_path, book_dir, no_declared_user, capsys):
    if dbkit.is_postgres(db_path):
        pytest.skip("the SQLite policy list")
    me = normalize_user(os_login())
    assert cli(capsys, "roles", "setup", "--db", db_path)[0] == 0
    code, out = cli(capsys, "import", str(book_dir), "--db", db_path, "--user", "alice")
    assert code == 2 and "OS login" in out and "'alice' names someone else" in out
    code, out = cli(capsys, "import", str(book_dir), "--db", db_path)
    assert code == 2 and "needs the operator role" in out
    code, out = cli(capsys, "roles", "grant", "nobody-" + uuid.uuid4().hex[:6], "operator", "--db", db_path)
    assert code == 2 and "no OS login" in out
    assert cli(capsys, "roles", "grant", me, "operator", "--db", db_path)[0] == 0
    assert cli(capsys, "import", str(book_dir), "--db", db_path)[0] == 0
    log = audit_entries(engine, action="IMPORT")
    assert log["username"].tolist() == [me] and log["identity"].tolist() == ["os"]
