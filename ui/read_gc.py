"""Garbage collection kept out of the GUI thread's panel actions ("never frozen", issue 20).

The console collects cycles only in the GUI thread: Python collects in whichever thread happens
to allocate, and a cycle holding a Qt object (a dialog, a panel's closure) collected by a
background read destroys that object off the GUI thread, and Qt crashes (seen: a segfault
"Garbage-collecting" in a Today read). Its timer used to run a full collection
whenever ten young ones had run: on a 100,000-account book that walks every tracked object of
the process (the frames, their indexes, SQLAlchemy, pandas, Qt wrappers) and held the GUI thread
for 0.2–1.3 s in the middle of a panel's first open (Households, Charts).

:class:`ReadGC` keeps that out of panel actions:

* every tick (500 ms) while no read or task is out, the young generations are collected (their
  cost is what was allocated since the last tick) and the survivors are **frozen**
  (``gc.freeze``: moved to the permanent generation, which no collection walks). So the old
  generation stays empty and no tick ever walks the whole heap. When more than ``young_max``
  objects are young (a big read's result just applied: the Households' read leaves millions),
  they are frozen without being walked (``gc.freeze`` costs nothing; walking them cost
  0.3–0.5 s), their cycles, if any, left to the idle full collection;
* while a panel read or a task is out, the tick collects nothing (the read's thread is building
  rows that die when it ends; collecting them mid-read walks them all for nothing) unless it has
  waited ``max_skip_s`` since it first put a due collection off, or the young count passed
  ``young_cap`` (then they are frozen, not walked);
* a **full** collection (``gc.unfreeze``, ``gc.collect()``, ``gc.freeze``) frees the cycles that
  were frozen and died since: only when the console is idle (no read or task out and the mouse
  still for ``idle_s``), at most every ``full_every_s``, and only once the frozen objects grew by
  a quarter since the last one (CPython's own rule for its full collections) — a pause the user
  is not waiting on.

Switched back to Python's own collection when the last window closes.
"""
from __future__ import annotations

import gc
import time

from PySide6.QtCore import QObject, QTimer


class ReadGC(QObject):
    """The console's collection policy (see the module); ``busy()`` says a read or task is out."""
    _active = 0

    def __init__(self, parent=None, *, busy=lambda: False, interval_ms: int = 500, young: int = 2_000,
                 idle_s: float = 5.0, full_every_s: float = 120.0, max_skip_s: float = 60.0,
                 young_cap: int = 1_000_000, young_max: int = 100_000, cursor=None):
        super().__init__(parent)
        self.busy = busy
        self.young, self.idle_s, self.full_every_s = young, idle_s, full_every_s
        self.max_skip_s, self.young_cap, self.young_max = max_skip_s, young_cap, young_max
        self._cursor = cursor if cursor is not None else _cursor_pos
        self._last_pos = None
        self._still_since = self._quiet_since = self._last_full = time.monotonic()
        self._skip_since: float | None = None  # when the ticks started waiting for a read
        self.young_runs = self.full_runs = self.skipped = self.frozen_only = 0
        ReadGC._active += 1
        gc.disable()
        gc.collect(1)
        gc.freeze()  # what start-up built (modules, widgets) is never walked again
        self._frozen_after_full = gc.get_freeze_count()
        self.timer = QTimer(self)
        self.timer.setInterval(interval_ms)
        self.timer.timeout.connect(self.tick)
        self.timer.start()
        self.destroyed.connect(ReadGC._release)

    def tick(self, now: float | None = None) -> str:
        """One timer turn: returns what it did ("full", "young", "freeze", "skip" or "")."""
        now = time.monotonic() if now is None else now
        pos = self._cursor()
        if pos != self._last_pos:
            self._last_pos, self._still_since = pos, now
        busy = bool(self.busy())
        if busy:
            self._quiet_since = now
        elif (now - max(self._still_since, self._quiet_since) >= self.idle_s
              and now - self._last_full >= self.full_every_s
              and gc.get_freeze_count() > 1.25 * self._frozen_after_full):
            self.full()
            self._last_full = now
            return "full"
        young = gc.get_count()[0]
        if young < self.young:
            return ""
        if busy and young < self.young_cap:
            if self._skip_since is None:
                self._skip_since = now
            if now - self._skip_since < self.max_skip_s:
                self.skipped += 1
                return "skip"
        self._skip_since = None
        if young > self.young_max:
            gc.freeze()
            self.frozen_only += 1
            return "freeze"
        self.collect_young()
        return "young"

    def collect_young(self) -> None:
        gc.collect(1)
        gc.freeze()
        self.young_runs += 1

    def full(self) -> None:
        gc.unfreeze()
        gc.collect()
        gc.freeze()
        self._frozen_after_full = gc.get_freeze_count()
        self.full_runs += 1

    @staticmethod
    def _release(*_) -> None:
        ReadGC._active = max(0, ReadGC._active - 1)
        if ReadGC._active == 0:
            gc.unfreeze()
            gc.enable()


def _cursor_pos():
    from PySide6.QtGui import QCursor

    p = QCursor.pos()
    return p.x(), p.y()
