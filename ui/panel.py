"""What every panel gets (:class:`AppContext`) and what the main window expects of a panel.

To plug a panel into a navigation slot, subclass :class:`Panel` (or give any QWidget the same
methods), then give it a navigation slot in :mod:`ui.navigation` (its name in ``PANELS``, its
factory in ``FACTORIES``) — or call ``MainWindow.set_panel(name, widget)`` at run time::

    class ProposalsPanel(Panel):
        title = "Proposals"
        def refresh(self):            # reload from the engine; called when shown after a change
            ...
        def focus(self, payload):     # optional: show one item (e.g. an account id)
            ...

    FACTORIES = {..., "Proposals": ProposalsPanel, ...}   # ui/navigation.py

A panel never shares a connection: it calls engine functions with ``ctx.engine`` (a
thread-safe SQLAlchemy Engine); long work goes through ``ctx.run_task``. After a change it
calls ``ctx.notify(kind)`` so the header, badges and the other panels reload.
"""
from __future__ import annotations

from PySide6.QtCore import QObject, QSettings, Signal
from PySide6.QtWidgets import QVBoxLayout, QWidget

from ui.tasks import TaskRunner

# what changed, passed to AppContext.changed
CHANGES = ("import", "run", "export", "overrides", "policy", "manual", "review", "remote")


class AppContext(QObject):
    """The console's shared state: the engine, the acting user, settings and the task runner."""
    changed = Signal(str)            # one of CHANGES
    navigate = Signal(str, object)   # panel name, payload for Panel.focus
    request = Signal(str)            # ask the window for an action: import, sample, run, export

    def __init__(self, engine, *, user: str, db_label: str = "", settings: QSettings | None = None,
                 workers: int | None = None, parent=None):
        super().__init__(parent)
        self.engine = engine
        self.user = user
        self.db_label = db_label
        self.settings = settings if settings is not None else QSettings("RebalanceDesk", "Rebalance Desk")
        self.workers = workers
        self.tasks = TaskRunner(self)
        self.overview: dict | None = None  # engine.desk.views.today() since the last change, when loaded

    def notify(self, kind: str) -> None:
        self.changed.emit(kind)

    def run_task(self, title: str, fn, **callbacks):
        return self.tasks.start(title, fn, **callbacks)


class Panel(QWidget):
    """Base of the console's panels: ``refresh`` reloads; ``focus`` shows one item;
    ``save_state``/``restore_state`` keep splitters and table columns in QSettings."""
    title = ""

    def __init__(self, ctx: AppContext, parent=None):
        super().__init__(parent)
        self.ctx = ctx
        self.setObjectName(f"panel_{self.title.lower()}")

    def refresh(self) -> None:  # pragma: no cover - overridden
        pass

    def focus(self, payload) -> None:
        pass

    def save_state(self, settings: QSettings) -> None:
        pass

    def restore_state(self, settings: QSettings) -> None:
        pass


class Placeholder(Panel):
    """A navigation slot whose panel is not built yet."""

    def __init__(self, ctx: AppContext, title: str, parent=None):
        self.title = title
        super().__init__(ctx, parent)
        from ui.widgets import EmptyState  # ui.widgets imports nothing of ui.panel, but keep it lazy

        lay = QVBoxLayout(self)
        self.empty = EmptyState(title, "This panel is coming in a later release.")
        lay.addWidget(self.empty)
