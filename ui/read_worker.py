"""Reads in worker processes ("never frozen", issue 20): a panel's read that runs pandas and
SQLAlchemy for a second holds the GIL for most of it, and a read in a thread of the console's own
process makes the GUI thread wait for the GIL (measured: Proposals' reload 1.2 s of wall time
against 70 ms of GUI-thread CPU at 100,000 accounts). In a worker process it holds another GIL.

``Panel.load(in_worker(fn, engine, *args), apply)`` runs ``fn(engine, *args)`` in one of a small
pool of worker processes (spawned, never forked: the console's Qt state and connections are not
copied); each worker opens its own SQLAlchemy engine from the database's URL (no connection kept
between reads) and sends the result back pickled (frames included). ``fn`` must be picklable by
name: a module-level function or a class's staticmethod. The result is picked up in the GUI
thread by a short timer (:data:`POLL_MS`) that only looks whether the read is done, never waits
for it; a newer read on the same channel drops the older one's result (and cancels it when it
has not started). A worker that dies fails its read with :class:`ReadWorkerDied` (the panel shows
it) and the pool is made again for the next read. The workers stop with the application
(``aboutToQuit``, and at exit).

A big result can travel as :class:`Parts`: its pieces are pickled one by one in the worker and
unpickled in the GUI thread one event-loop turn at a time (a 100,000-account run's frame takes
~45 ms to unpickle whole — in the pool's result thread, holding the GIL the GUI thread waits for —
and under ~15 ms a tier); the panel's ``apply`` gets the assembled result once every piece is in.

Reads run in a thread of this process instead (:class:`ui.background.BackgroundReader`, the
``WorkerRead`` called as a plain function) for an in-memory SQLite database (a worker could not
see it) or when the environment sets ``REBALANCE_DESK_READS=thread``.
"""
from __future__ import annotations

import atexit
import os
import pickle
import threading
import time
from concurrent.futures import CancelledError, Future
from concurrent.futures import wait as wait_futures

from PySide6.QtCore import QCoreApplication, QTimer

from ui.background import BackgroundReader

MODE_ENV = "REBALANCE_DESK_READS"  # "thread": every read in a thread of the console (no worker processes)
WORKERS = 2
POLL_MS = 4
SLICE_S = 0.008  # a turn of the GUI thread unpickles pieces of a Parts result until this much time went
_KEEP_ENGINES = 4  # engines a worker keeps (per database URL) between reads


class ReadWorkerDied(RuntimeError):
    """The worker process running a read stopped (killed, crashed) before it answered."""


# ---------------------------------------------------------------------------- what a panel asks
class WorkerRead:
    """``fn(engine, *args)`` to run in a worker process (see :func:`in_worker`); called as a plain
    function it runs in the calling thread with the given engine (the thread fallback)."""

    def __init__(self, fn, db, args: tuple):
        from storage.db import db_url

        self.fn, self.args = fn, args
        if isinstance(db, (str, os.PathLike)):
            self.engine, self.url = None, db_url(db)
        else:  # an SQLAlchemy Engine
            self.engine, self.url = db, db.url.render_as_string(hide_password=False)

    def in_process(self) -> bool:
        """Run in a worker process (else in a thread of the console)?"""
        return worker_mode() and not in_memory(self.url)

    def __call__(self):
        engine = self.engine
        if engine is None:
            from storage.db import make_engine

            engine = make_engine(self.url, migrate=False, create=False)
        return self.fn(engine, *self.args)

    def __repr__(self) -> str:
        return f"in_worker({getattr(self.fn, '__qualname__', self.fn)!r}, ...)"


def in_worker(fn, db, *args) -> WorkerRead:
    """A read for :meth:`ui.panel.Panel.load`: ``fn(engine, *args)`` in a worker process, where
    ``engine`` is opened there on ``db`` (an Engine — its URL is used — or a database path/URL)."""
    return WorkerRead(fn, db, args)


def worker_mode() -> bool:
    return os.environ.get(MODE_ENV, "").strip().lower() not in ("thread", "threads")


def in_memory(url: str) -> bool:
    """An SQLite database only this process can see."""
    if not url.startswith("sqlite"):
        return False
    path = url.split("://", 1)[1].lstrip("/") if "://" in url else ""
    return path in ("", ":memory:") or "mode=memory" in url


class _Pickled:
    """A piece of :class:`Parts` as it travels: its pickle, not yet loaded."""
    __slots__ = ("data",)

    def __init__(self, data: bytes):
        self.data = data

    def __getstate__(self):
        return self.data

    def __setstate__(self, data):
        self.data = data


class Parts:
    """A read's result in pieces, for a result too big to unpickle in one stretch of the GUI
    thread: ``whole`` (a dict, small) travels as usual, each of ``pieces`` (key -> object) as its
    own pickle, loaded in the GUI thread one piece per event-loop turn (:class:`WorkerReader`);
    then ``finish(result)`` (a module-level function, run in the GUI thread: keep it cheap) or the
    dict ``whole`` updated with the pieces is what the panel's ``apply`` gets. In the thread
    fallback nothing is pickled: the pieces are handed over as they are."""

    def __init__(self, whole: dict, pieces: dict, finish=None):
        self.whole, self.pieces, self.finish = dict(whole), dict(pieces), finish

    def __getstate__(self):
        return {"whole": self.whole, "finish": self.finish,
                "pieces": {k: v if isinstance(v, _Pickled) else _Pickled(pickle.dumps(v, protocol=pickle.HIGHEST_PROTOCOL))
                           for k, v in self.pieces.items()}}

    def __setstate__(self, state):
        self.whole, self.pieces, self.finish = state["whole"], state["pieces"], state["finish"]

    def pending(self) -> bool:
        return any(isinstance(v, _Pickled) for v in self.pieces.values())

    def step(self) -> None:
        """Load the next piece still pickled."""
        for k, v in self.pieces.items():
            if isinstance(v, _Pickled):
                self.pieces[k] = pickle.loads(v.data)
                return

    def result(self):
        out = dict(self.whole)
        out.update(self.pieces)
        return self.finish(out) if self.finish is not None else out


# ---------------------------------------------------------------------------- in the worker
_ENGINES: dict = {}


def _run(fn, url: str, args: tuple, today=None):
    """In a worker process: ``fn`` on this worker's engine for ``url``, on the console's calendar
    (``today``: its :data:`engine.core.clock.FIXED`). An exception that could not be pickled back
    is sent as a RuntimeError with its type and text."""
    from engine.core import clock
    from storage.db import make_engine

    clock.FIXED = today

    engine = _ENGINES.pop(url, None)
    if engine is None:
        engine = make_engine(url, migrate=False, create=False)
    _ENGINES[url] = engine  # most recently used last
    while len(_ENGINES) > _KEEP_ENGINES:
        _ENGINES.pop(next(iter(_ENGINES))).dispose()
    try:
        return fn(engine, *args)
    except Exception as exc:
        try:
            pickle.loads(pickle.dumps(exc))
        except Exception:  # noqa: BLE001 - any failure to travel: sent as text
            raise RuntimeError(f"{type(exc).__name__}: {exc}") from None
        raise
    finally:
        engine.dispose()  # no connection held between reads (a test's database may be dropped)


# ---------------------------------------------------------------------------- the pool
class _Pool:
    """The console's worker processes, made on the first worker read (and again after one died)."""

    def __init__(self):
        self.executor = None
        self.lock = threading.Lock()
        self._hooked = False

    def submit(self, read: WorkerRead) -> Future:
        from concurrent.futures.process import BrokenProcessPool

        from engine.core import clock

        with self.lock:
            for attempt in (1, 2):
                if self.executor is None or getattr(self.executor, "_broken", False):
                    self._make()
                try:
                    return self.executor.submit(_run, read.fn, read.url, read.args, clock.FIXED)
                except BrokenProcessPool:
                    if attempt == 2:
                        raise
                    self.executor = None
        raise AssertionError("unreachable")

    def _make(self) -> None:
        from engine.core.orphans import process_pool

        if self.executor is not None:
            self._stop(self.executor)
        # spawned (a fresh interpreter: no copy of the console's Qt state); each worker ends when
        # the console's process ends, however that ends (engine.core.orphans.die_with_parent)
        self.executor = process_pool(WORKERS, method="spawn")
        app = QCoreApplication.instance()
        if app is not None and not self._hooked:
            app.aboutToQuit.connect(shutdown)
            self._hooked = True

    def processes(self) -> list:
        ex = self.executor
        return list((getattr(ex, "_processes", None) or {}).values()) if ex is not None else []

    @staticmethod
    def _stop(executor) -> None:
        procs = list((getattr(executor, "_processes", None) or {}).values())
        executor.shutdown(wait=False, cancel_futures=True)
        for p in procs:  # a read still running is not waited for
            if p.is_alive():
                p.terminate()
        for p in procs:
            p.join(5)
            if p.is_alive():  # SIGTERM not acted on (yet): no longer asked
                p.kill()
                p.join(5)
        # the pool's own manager thread joins the same processes: a worker it reaped a moment ago
        # reads as alive here (waitpid: ECHILD) until that thread has stored its exit code
        deadline = time.monotonic() + 2.0
        while any(p.is_alive() for p in procs) and time.monotonic() < deadline:
            time.sleep(0.01)

    def shutdown(self) -> None:
        with self.lock:
            if self.executor is not None:
                ex, self.executor = self.executor, None
                self._stop(ex)


_pool = _Pool()


def shutdown() -> None:
    """Stop the worker processes (the application quits; the next worker read makes them again)."""
    _pool.shutdown()


def _imports(engine, modules: tuple) -> int:
    """A read that imports ``modules`` in the worker it runs in (what the panels' reads need:
    pandas, SQLAlchemy, the engine, the panels' modules); ``engine`` is not used. Returns the
    worker's pid."""
    import importlib

    for name in modules:
        importlib.import_module(name)
    return os.getpid()


def warm(db, modules: tuple = ()) -> list:
    """Start the worker processes and import ``modules`` in them now (the console calls it once
    its window is up, with the panels' modules), so a panel's first read neither spawns them in
    the GUI thread nor shares the cores with interpreters starting. Nothing for a database only
    a thread can read (in-memory SQLite, ``REBALANCE_DESK_READS=thread``) or when the workers
    are up. Returns the futures of the imports (each gives its worker's pid), empty when
    nothing was started."""
    read = WorkerRead(_imports, db, (tuple(modules),))
    if not read.in_process() or _pool.processes():
        return []
    return [_pool.submit(read) for _ in range(WORKERS)]


def warm_or_say(db, modules: tuple, status_bar) -> list:
    """:func:`warm`, a failure said in ``status_bar`` (the first read starts the workers again)."""
    try:
        return warm(db, modules)
    except Exception as exc:  # noqa: BLE001 - said, not raised: nothing the user asked for failed
        status_bar.showMessage(f"Could not start the read workers: {exc}", 15000)
        return []


def worker_processes() -> list:
    """The live worker processes (multiprocessing.Process), for tests."""
    return _pool.processes()


atexit.register(shutdown)


# ---------------------------------------------------------------------------- in the GUI thread
class WorkerReader(BackgroundReader):
    """A panel channel's reader: a :class:`WorkerRead` goes to a worker process (unless it falls
    back to a thread), anything else to the thread of :class:`~ui.background.BackgroundReader`.
    Either way only the newest read's result is applied."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.future: Future | None = None
        self.timer = QTimer(self)
        self.timer.setInterval(POLL_MS)
        self.timer.timeout.connect(self._poll)

    def start(self, read, on_done, on_error=None) -> int:
        if self.future is not None:
            self.future.cancel()  # not started yet: never runs; running: its result is dropped
            self.future = None
        if not (isinstance(read, WorkerRead) and read.in_process()):
            self.timer.stop()
            return super().start(read, on_done, on_error)
        self.gen += 1
        self.loading = True
        self._on_done, self._on_error = on_done, on_error
        try:
            self.future = _pool.submit(read)
        except Exception as exc:  # noqa: BLE001 - no worker could be started: shown by the panel
            self.future = Future()
            self.future.set_exception(exc)
        self.timer.start()
        return self.gen

    def _poll(self) -> None:
        """The timer's look: is the newest worker read done? (Never waits for it.)"""
        from concurrent.futures.process import BrokenProcessPool

        f = self.future
        if f is None:
            self.timer.stop()
            return
        if not f.done():
            return
        self.timer.stop()
        self.future = None
        gen = self.gen
        try:
            result = f.result()
        except CancelledError:
            return
        except BrokenProcessPool as exc:
            self._failed(gen, ReadWorkerDied("the worker process reading this stopped before it answered "
                                             f"({exc}); reload (F5) to read again"))
        except Exception as exc:  # noqa: BLE001 - handed to the panel
            self._failed(gen, exc)
        else:
            self._done(gen, result)

    def _done(self, gen: int, result) -> None:
        if isinstance(result, Parts):
            self._unpack(gen, result)
        else:
            super()._done(gen, result)

    def _unpack(self, gen: int, parts: Parts) -> None:
        """Load ``parts``' pickled pieces, a few per turn of the event loop (``loading`` stays true),
        then hand the result over; a newer read drops it."""
        if gen != self.gen:
            return
        t0 = time.perf_counter()
        try:
            while parts.pending():
                parts.step()
                if parts.pending() and time.perf_counter() - t0 > SLICE_S:
                    QTimer.singleShot(1, self, lambda: self._unpack(gen, parts))  # input and paint get in between
                    return
            result = parts.result()
        except Exception as exc:  # noqa: BLE001 - handed to the panel
            self._failed(gen, exc)
        else:
            super()._done(gen, result)

    def wait(self, ms: int = 30_000) -> bool:
        ok = super().wait(ms)
        f = self.future
        if f is not None:
            ok = bool(wait_futures([f], timeout=ms / 1000).done) and ok
        return ok
