"""Focus back in the main window after its dialogs (issue 20, "comfort").

Closing a dialog leaves, on some platforms (and offscreen), no window active and no widget
focused: the desk's next key press goes nowhere. :class:`FocusKeeper` remembers the widget of
the main window that last had focus; when a dialog of the console (any top-level QDialog while
the main window is shown: settings, reasons, message boxes) hides, it activates the main
window again and gives the focus back to that widget (dialogs opened over this window only), unless another dialog is still up.

Cheap by design: it listens to the application's focus signals (rare) and filters the events of
the dialogs it saw get focus only, never every event of the application.
"""
from __future__ import annotations

from PySide6.QtCore import QEvent, QObject, QTimer
from PySide6.QtWidgets import QApplication, QDialog, QWidget


class FocusKeeper(QObject):
    def __init__(self, window: QWidget):
        super().__init__(window)
        self.window = window
        self.last: QWidget | None = None   # the main window's widget that last had focus
        self._watched: set[int] = set()
        self.restored = 0                   # how many times the focus was given back (tests)
        app = QApplication.instance()
        app.focusChanged.connect(self._focus_changed)
        app.focusWindowChanged.connect(self._window_changed)

    def _focus_changed(self, _old, new) -> None:
        if new is not None and new.window() is self.window:
            self.last = new

    def _window_changed(self, _qwindow) -> None:
        dlg = QApplication.activeWindow()
        if isinstance(dlg, QDialog) and self._ours(dlg) and id(dlg) not in self._watched:
            self._watched.add(id(dlg))
            dlg.installEventFilter(self)
            dlg.destroyed.connect(lambda *_, k=id(dlg): self._watched.discard(k))

    def _ours(self, dlg: QWidget) -> bool:
        """A dialog opened over this window (its parent chain reaches it)."""
        w = dlg.parentWidget()
        while w is not None:
            if w is self.window:
                return True
            w = w.parentWidget()
        return False

    def eventFilter(self, obj, event) -> bool:
        if event.type() == QEvent.Type.Hide and isinstance(obj, QDialog):
            QTimer.singleShot(0, self.restore)
        return False

    def restore(self) -> None:
        """Give the focus back to the main window, unless a dialog or another window is active."""
        app = QApplication.instance()
        if not self.window.isVisible() or app.activeModalWidget() is not None:
            return
        active = app.activeWindow()
        if active is not None and active is not self.window:
            return  # another window of the user's (a dialog still up, a detached view)
        if active is None:
            self.window.activateWindow()
            self.window.raise_()
        target = self.last
        try:
            usable = target is not None and target.isVisible() and target.isEnabled()
        except RuntimeError:  # deleted with its panel
            usable = False
        if usable:
            target.setFocus()
        self.restored += 1
