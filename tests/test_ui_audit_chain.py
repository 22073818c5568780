"""The Audit panel verifies the audit chain off the GUI thread: "verified up to entry N", or a
red banner naming the first bad entry until an admin acknowledges it (audited)."""
import qt_fixtures
from qt_fixtures import LONG, boxes, close_window, settings, shown, wait_loaded  # noqa: F401
from sqlalchemy import text

from engine.core.audit import audit_entries
from engine.core.audit_chain import ACK_ACTION
from storage import repo


def entries(engine, n):
    with engine.begin() as conn:
        repo.audit_many(conn, [dict(user="ops", action="HOLD", account_id=f"A{i}", detail="until Friday")
                               for i in range(n)])


def open_audit(qtbot, engine, db_path, settings, user="alice"):
    w = qt_fixtures.make_window(qtbot, engine, db_path, settings, user=user)
    shown(qtbot, w, "Audit")
    return w, w.panel("Audit")


def test_an_intact_chain_is_shown_verified_up_to_its_last_entry(qtbot, engine, db_path, settings, boxes):
    entries(engine, 7)
    w, a = open_audit(qtbot, engine, db_path, settings)
    try:
        qtbot.waitUntil(lambda: a.report is not None, timeout=LONG)
        assert a.chain.text() == "✓ Audit chain verified up to entry 7"
        # entries under a declared name show the OS login that wrote them (the suite's user is declared)
        col = [c.key for c in a.model.columns].index("identity_text")
        from engine.core.tasks import os_login
        assert a.model.index(0, col).data() == f"declared (OS login {os_login()})"
        assert not a.banner.isVisible() and not a.ack_button.isVisible()
    finally:
        a.wait_verified()
        close_window(w, boxes)


def test_a_broken_chain_shows_a_red_banner_until_an_admin_acknowledges_it(qtbot, engine, db_path, settings, boxes):
    entries(engine, 7)
    with engine.begin() as conn:
        conn.execute(text("UPDATE audit_log SET detail = 'nothing happened' WHERE seq = 4"))
    w, a = open_audit(qtbot, engine, db_path, settings)
    try:
        qtbot.waitUntil(lambda: a.report is not None, timeout=LONG)
        assert a.banner.isVisible() and a.banner.property("level") == "error"
        assert "entry 4" in a.banner.text() and "altered" in a.banner.text()
        assert a.chain.text() == "Audit chain verified up to entry 3 only"
        assert a.ack_button.isVisible()
        a.ack_button.click()
        qtbot.waitUntil(lambda: a.banner.property("level") == "warn", timeout=LONG)
        assert "acknowledged" in a.banner.text() and not a.ack_button.isVisible()
        acks = audit_entries(engine, action=ACK_ACTION)
        assert acks["username"].tolist() == ["alice"] and "entry 4" in acks["detail"].iat[0]
        # the break is still there: the log was not repaired
        assert "entry 4" in a.banner.text()
    finally:
        a.wait_verified()
        close_window(w, boxes)


def test_the_header_marks_a_declared_identity(qtbot, engine, db_path, settings, boxes):
    """On a workstation database, a user name that is not the OS login is declared, and says so."""
    from engine.core.tasks import os_login

    w = qt_fixtures.make_window(qtbot, engine, db_path, settings, user="alice")
    try:
        qtbot.waitUntil(lambda: w.header_applied > 0, timeout=LONG)
        label = w.header.values["user"]
        assert "alice" in label.text() and "declared" in label.text()
        assert "declared identity" in label.toolTip() and os_login() in label.toolTip()
    finally:
        close_window(w, boxes)
