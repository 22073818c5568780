"""Focus back in the main window after dialogs (issue 20, "comfort"), with real widgets offscreen:
closing a dialog of the window, or of one of its panels, activates the window again and gives
the focus back to the widget that had it (offscreen, as on some desktops, nothing is active
after a dialog closes unless the console sees to it)."""
import pytest
from PySide6.QtWidgets import QApplication
from qt_fixtures import boxes, close_window, make_window, reviewed, settings, shown, window  # noqa: F401


@pytest.mark.sqlite_only  # the console's own behaviour: one database is enough
def test_focus_returns_to_the_main_window_after_dialogs(qtbot, engine, reviewed, window):
    w = window
    app = QApplication.instance()
    p = shown(qtbot, w, "Proposals")
    w.activateWindow()
    p.table.setFocus()
    qtbot.waitUntil(lambda: app.activeWindow() is w and p.table.hasFocus())

    # a dialog of the window: File → Export settings…, typed into, then cancelled
    w.export_settings()
    dlg = w.export_settings_dialog
    dlg.activateWindow()
    dlg.folder.setFocus()
    qtbot.waitUntil(lambda: app.activeWindow() is dlg and dlg.folder.hasFocus())
    dlg.reject()
    qtbot.waitUntil(lambda: app.activeWindow() is w and p.table.hasFocus())
    assert w.focus_keeper.restored >= 1

    # a dialog of a panel (the account note of History), saved: focus back where it was
    h = shown(qtbot, w, "History", "A3")
    h.table.setFocus()
    qtbot.waitUntil(lambda: h.table.hasFocus())
    note = h.ask_note()
    note.activateWindow()
    note.reason.setFocus()
    qtbot.waitUntil(lambda: app.activeWindow() is note)
    note.reason.setText("calls back on Monday")
    note.ok_button.click()
    qtbot.waitUntil(lambda: app.activeWindow() is w and h.table.hasFocus())

    # two dialogs up: closing the top one leaves the other active (the focus is not taken from it)
    w.export_settings()
    first = w.export_settings_dialog
    first.activateWindow()
    qtbot.waitUntil(lambda: app.activeWindow() is first)
    second = h.ask_note()
    second.activateWindow()
    qtbot.waitUntil(lambda: app.activeWindow() is second)
    second.reject()
    first.activateWindow()  # what a desktop does: the dialog below comes back
    qtbot.wait(50)
    assert app.activeWindow() is first
    first.reject()
    qtbot.waitUntil(lambda: app.activeWindow() is w and h.table.hasFocus())
