"""Hardening #18 in the console (pytest-qt, real widgets, offscreen): a refused book's problems
are selectable and copyable in one click; a far as-of date asks before importing, and the answer
is kept (Cancel: nothing imported; Import anyway: imported, the audit says confirmed)."""
import pytest
from PySide6.QtWidgets import QApplication, QMessageBox
from qt_fixtures import boxes, close_window, folders, panels_loading, plain_window, settings, wait_idle  # noqa: F401
from sqlalchemy import select

from bookkit import BASE, write_book
from engine.book.book import BookError, read_book
from storage import models as m
from storage import repo
from ui import dialogs


@pytest.fixture
def window(plain_window):
    return plain_window


def _import(qtbot, w, folders, folder):
    folders.append(str(folder))
    w.import_action.trigger()
    wait_idle(qtbot, w)


def _snapshots(engine):
    with engine.connect() as conn:
        return conn.execute(select(m.BookSnapshot.id)).all()


def _bad_book(tmp_path):
    """30 lots with a blank symbol and an account id carrying SOH: more than the box shows."""
    lots = list(BASE["lots.csv"]) + [f"A1,X{i},,1,1,2020-01-01" for i in range(30)]
    accounts = list(BASE["accounts.csv"]) + ["A9\x0154=1,New,GROWTH,SCHWAB,10,true,,,,,"]
    return write_book(tmp_path / "bad", changes={"lots.csv": lots, "accounts.csv": accounts})


def test_refused_book_problems_are_selectable_and_copyable(qtbot, window, boxes, folders, tmp_path, engine):
    _import(qtbot, window, folders, _bad_book(tmp_path))
    [box] = boxes.seen
    assert "refused" in box.text and box.selectable and "Copy problems" in box.buttons
    assert "accounts.csv, line 5, column account_id" in box.info and "\x01" not in box.info
    assert "more (Show Details)" in box.info  # the box shows 20, the details all of them
    assert box.detail.count("lots.csv, line") == 25 and "more problem(s) in this file" in box.detail
    assert not _snapshots(engine)

    with pytest.raises(BookError) as exc:
        read_book(tmp_path / "bad")
    real = dialogs.error_box(window, "Import book", exc.value)
    QApplication.clipboard().clear()
    real.findChild(type(real.buttons()[0]), "copyProblems").click()
    copied = QApplication.clipboard().text()
    assert copied == exc.value.summary()
    assert "lots.csv, line 9, column symbol: a value is required" in copied
    assert "accounts.csv, line 5, column account_id" in copied and "\x01" not in copied


def test_far_as_of_asks_and_cancel_imports_nothing(qtbot, window, boxes, folders, tmp_path, engine):
    boxes.answers.append(QMessageBox.StandardButton.Cancel)
    _import(qtbot, window, folders, write_book(tmp_path / "far", as_of="2062-11-20"))
    [box] = boxes.seen
    assert "as of 2062-11-20" in box.text and "Import anyway" in box.buttons
    assert "every book dated before it is refused" in box.info
    assert not _snapshots(engine)


def test_far_as_of_confirmed_is_imported_and_audited(qtbot, window, boxes, folders, tmp_path, engine):
    _import(qtbot, window, folders, write_book(tmp_path / "far", as_of="2062-11-20"))  # answered Import anyway
    qtbot.waitUntil(lambda: bool(_snapshots(engine)), timeout=60_000)
    wait_idle(qtbot, window)
    with engine.connect() as conn:
        assert str(repo.snapshot_info(conn).as_of) == "2062-11-20"
        log = repo.audit_frame(conn)
    imports = log[log["action"] == "IMPORT"]
    assert len(imports) == 1 and "confirmed" in imports["detail"].iloc[0] and imports["username"].iloc[0] == "alice"
    assert [b.title for b in boxes.seen] == ["Import book"]  # asked once, no error after


def test_database_busy_is_a_warning_naming_the_holder_not_a_crash(qtbot):
    from storage.busy import DatabaseBusy

    msg = "database busy: /d/book.db held by ws7/bob/4242 since 2026-11-25 10:00:00 UTC; waited 30 s"
    box = dialogs.error_box(None, "Run", DatabaseBusy(msg))
    assert box.text() == msg and box.icon() == QMessageBox.Icon.Warning and not box.detailedText()
