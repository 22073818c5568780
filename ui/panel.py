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

from PySide6.QtCore import QObject, QSettings, Qt, Signal
from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

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
    ``save_state``/``restore_state`` keep splitters and table columns in QSettings.

    ``load(read, apply)`` is how a panel reads ("never frozen", issue 20): ``read()`` runs off the
    GUI thread (engine calls and every per-row preparation; a big read in a worker process with
    ``load(in_worker(fn, self.ctx.engine, ...), apply)``, see :mod:`ui.read_worker`),
    ``apply(result)`` runs in the GUI thread and only hands prepared frames to models. A "Loading…" badge shows at the panel's
    top right meanwhile; ``loading`` is true while any of the panel's reads is out."""
    title = ""

    def __init__(self, ctx: AppContext, parent=None):
        super().__init__(parent)
        self.ctx = ctx
        self.setObjectName(f"panel_{self.title.lower()}")
        self._readers: dict = {}
        self._badge: QLabel | None = None
        self._deferred_focus = None

    # ------------------------------------------------------------------ background reads
    def load(self, read, apply, *, channel: str = "main", on_error=None, what: str = "") -> None:
        """Run ``read()`` on the panel's ``channel`` thread — or, for ``read`` made by
        :func:`ui.read_worker.in_worker`, in a worker process — then ``apply(result)`` in the GUI
        thread (a newer load on the same channel drops an older one's result). A failure is shown
        by ``on_error(exc)``, else in the badge."""
        from ui.read_worker import WorkerReader  # ui.read_worker imports nothing of ui.panel

        reader = self._readers.get(channel)
        if reader is None:
            reader = self._readers[channel] = WorkerReader(self)
        self._show_badge(f"Loading{(' ' + what) if what else ''}…")

        def done(result):
            self._update_badge()
            apply(result)
            if self._deferred_focus is not None and not self.reading():
                payload, self._deferred_focus = self._deferred_focus, None
                self.focus(payload)

        def failed(exc):
            self._update_badge()
            if on_error is not None:
                on_error(exc)
            else:
                self._show_badge(f"Could not load: {exc}", error=True)

        reader.start(read, done, failed)

    @property
    def loading(self) -> bool:
        return any(r.loading for r in self._readers.values())

    def reading(self, channel: str = "main") -> bool:
        """A read of ``channel`` is out (the panel's own data: "main"; a detail's has its own channel)."""
        r = self._readers.get(channel)
        return r is not None and r.loading

    def focus_when_loaded(self, payload) -> None:
        """``focus(payload)`` now, or once the panel's read out now is in (what it shows is not there yet)."""
        if self.reading():
            self._deferred_focus = payload
        else:
            self.focus(payload)

    def wait_reads(self, ms: int = 30_000) -> bool:
        """Wait for the reads' threads (teardown); their results still arrive as GUI events."""
        return all(r.wait(ms) for r in self._readers.values())

    def _show_badge(self, text: str, error: bool = False) -> None:
        if self._badge is None:
            self._badge = QLabel(self)
            self._badge.setObjectName("loadingBadge")
            self._badge.setAttribute(Qt.WidgetAttribute.WA_TransparentForMouseEvents)
        self._badge.setProperty("error", error)
        self._badge.setStyleSheet("QLabel#loadingBadge { background: %s; color: white; border-radius: 4px;"
                                  " padding: 3px 10px; }" % ("#b3261e" if error else "rgba(40, 90, 160, 220)"))
        self._badge.setText(text)
        self._badge.adjustSize()
        self._place_badge()
        self._badge.show()
        self._badge.raise_()

    def _update_badge(self) -> None:
        if self._badge is not None and not self.loading:
            self._badge.hide()

    def loading_text(self) -> str:
        """What the badge says now ('' when hidden)."""
        return self._badge.text() if self._badge is not None and self._badge.isVisible() else ""

    def _place_badge(self) -> None:
        if self._badge is not None:
            self._badge.move(max(0, self.width() - self._badge.width() - 18), 4)

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        self._place_badge()

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
