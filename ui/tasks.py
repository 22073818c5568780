"""Long work off the GUI thread: an engine function runs on a worker, the GUI gets signals.

A task is a plain function ``fn(state)`` (usually a lambda around an engine function taking
``state=``), as in Orange's ``concurrent.py``: it reports progress through
:class:`engine.core.tasks.TaskState` and raises :class:`engine.core.tasks.Cancelled` at its next check
once :meth:`TaskRunner.cancel` was called; the engine rolls its transaction back. Results,
errors and progress come back to the GUI thread as queued signals. One task at a time: the
runner owns a one-thread pool (database work is serialized, like Anki's task manager), and
each task opens its own connections from the thread-safe SQLAlchemy Engine.
"""
from __future__ import annotations

import threading
import time
import traceback

from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal, Slot

from engine.core.tasks import Cancelled, TaskState


class _Bridge(QObject):
    """Lives in the GUI thread; the worker emits on it, so receivers run in the GUI thread."""
    progress = Signal(float, str)
    done = Signal(object)
    error = Signal(object)


class _Job(QRunnable):
    def __init__(self, fn, state: TaskState, bridge: _Bridge):
        super().__init__()
        self.setAutoDelete(False)
        self.fn, self.state, self.bridge = fn, state, bridge

    def run(self) -> None:
        try:
            result = self.fn(self.state)
        except BaseException as exc:  # noqa: BLE001 - every failure must reach the GUI
            exc.__traceback_text__ = traceback.format_exc()
            self.bridge.error.emit(exc)
        else:
            self.bridge.done.emit(result)


class _Throttle:
    """Forward progress at most every ``interval`` seconds (and every new message)."""

    def __init__(self, emit, interval: float = 0.05):
        self.emit, self.interval = emit, interval
        self._last = 0.0
        self._msg = None
        self._lock = threading.Lock()

    def __call__(self, fraction: float, message: str) -> None:
        now = time.monotonic()
        with self._lock:
            if message == self._msg and now - self._last < self.interval and fraction < 1.0:
                return
            self._last, self._msg = now, message
        self.emit(fraction, message)


class Task(QObject):
    """One running task. ``finished`` carries the result, ``failed`` the exception and
    ``cancelled`` fires when the engine stopped on a cancel request."""
    progress = Signal(float, str)
    finished = Signal(object)
    failed = Signal(object)
    cancelled = Signal()
    ended = Signal()  # just before any of the three above

    def __init__(self, title: str, parent=None):
        super().__init__(parent)
        self.title = title
        self.bridge = _Bridge(self)
        self.state = TaskState(_Throttle(self.bridge.progress.emit))
        self.result = None
        self.error: BaseException | None = None
        self.done = False
        self.bridge.progress.connect(self.progress)
        self.bridge.done.connect(self._on_done)
        self.bridge.error.connect(self._on_error)

    def cancel(self) -> None:
        self.state.cancel()

    @property
    def cancel_requested(self) -> bool:
        return self.state.cancelled

    # ``ended`` comes first: the runner is free again when a result handler starts the next task
    @Slot(object)
    def _on_done(self, result) -> None:
        self.result, self.done = result, True
        self.ended.emit()
        self.finished.emit(result)

    @Slot(object)
    def _on_error(self, exc) -> None:
        self.error, self.done = exc, True
        self.ended.emit()
        if isinstance(exc, Cancelled):
            self.cancelled.emit()
        else:
            self.failed.emit(exc)


class TaskRunner(QObject):
    """Starts tasks one at a time on its own worker thread and tells the window about them."""
    started = Signal(object)   # Task
    ended = Signal(object)     # Task

    def __init__(self, parent=None):
        super().__init__(parent)
        self.pool = QThreadPool(self)
        self.pool.setMaxThreadCount(1)
        self.current: Task | None = None

    @property
    def busy(self) -> bool:
        return self.current is not None

    def start(self, title: str, fn, *, on_done=None, on_error=None, on_cancel=None) -> Task:
        """Run ``fn(state)`` on the worker. Refuses (RuntimeError) while another task runs."""
        if self.current is not None:
            raise RuntimeError(f"{self.current.title} is still running")
        task = Task(title, self)
        if on_done:
            task.finished.connect(on_done)
        if on_error:
            task.failed.connect(on_error)
        if on_cancel:
            task.cancelled.connect(on_cancel)
        task.ended.connect(lambda: self._ended(task))
        self.current = task
        self.started.emit(task)
        job = _Job(fn, task.state, task.bridge)
        task.job = job  # Python owns the runnable (no autoDelete): Qt never frees a Python object
        self.pool.start(job)
        return task

    def _ended(self, task: Task) -> None:
        if self.current is task:
            self.current = None
        self.ended.emit(task)
        task.deleteLater()

    def cancel(self) -> None:
        if self.current is not None:
            self.current.cancel()

    def wait(self, msecs: int = -1) -> bool:
        """Block until the worker thread is idle (used on close and in tests)."""
        return self.pool.waitForDone(msecs)


class Scaled:
    """A view of a TaskState mapping a sub-task's progress into ``[lo, hi]`` (same cancel flag),
    for tasks that chain engine functions (generate a sample, then import it)."""

    def __init__(self, state: TaskState, lo: float, hi: float):
        self.state, self.lo, self.hi = state, lo, hi

    def progress(self, fraction: float, message: str = "") -> None:
        self.state.progress(self.lo + (self.hi - self.lo) * max(0.0, min(1.0, fraction)), message)

    def cancel(self) -> None:
        self.state.cancel()

    @property
    def cancelled(self) -> bool:
        return self.state.cancelled

    def check(self) -> None:
        self.state.check()

    def callback(self, fraction: float, message: str = "") -> None:
        """A plain ``progress(fraction, message)`` callback that also stops on cancel."""
        self.progress(fraction, message)
        self.check()
