"""Slow reads off the GUI thread for a panel: :class:`BackgroundReader` runs a read (an engine
function, its own connections) on the panel's one-thread pool and hands the result back in the
GUI thread; a newer read makes the older one's result stale (dropped). ``loading`` is true while
a read is out, for the panel's "Loading…" state and for tests."""
from __future__ import annotations

from PySide6.QtCore import QObject, QThreadPool, Signal


class BackgroundReader(QObject):
    done = Signal(int, object)
    failed = Signal(int, object)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.pool = QThreadPool(self)
        self.pool.setMaxThreadCount(1)
        self.gen = 0
        self.loading = False
        self._on_done = self._on_error = None
        self.done.connect(self._done)
        self.failed.connect(self._failed)

    def start(self, read, on_done, on_error=None) -> int:
        """Run ``read()`` off the GUI thread; ``on_done(result)`` (or ``on_error(exc)``) in the GUI
        thread, unless a newer read started since."""
        self.gen += 1
        gen = self.gen
        self.loading = True
        self._on_done, self._on_error = on_done, on_error

        def job():
            try:
                result = read()
            except Exception as exc:  # noqa: BLE001 - handed to the panel
                self.failed.emit(gen, exc)
            else:
                self.done.emit(gen, result)

        self.pool.start(job)
        return gen

    def _done(self, gen: int, result) -> None:
        if gen == self.gen:
            self.loading = False
            self._on_done(result)

    def _failed(self, gen: int, exc) -> None:
        if gen == self.gen:
            self.loading = False
            if self._on_error is not None:
                self._on_error(exc)

    def wait(self, ms: int = 30_000) -> bool:
        return self.pool.waitForDone(ms)
