"""Long work as plain functions: progress and cancel through a small state object.

A task is an ordinary function taking ``state``; it reports ``state.progress(f, msg)`` and
calls ``state.check()`` between steps, which raises :class:`Cancelled` once a cancel was
requested. The console's workers and the CLI's progress line implement the same protocol.
"""
from __future__ import annotations

import getpass
import os
import sys
import threading


class Cancelled(Exception):
    """The user cancelled the task; whatever it was writing was rolled back."""


class RefusedError(Exception):
    """A refused action or bad input: the CLI exits 2 with this message."""


class TaskState:
    """Progress sink and cancel flag; thread-safe, usable from any worker thread."""

    def __init__(self, on_progress=None):
        self._cancel = threading.Event()
        self._on_progress = on_progress

    def progress(self, fraction: float, message: str = "") -> None:
        if self._on_progress is not None:
            self._on_progress(max(0.0, min(1.0, float(fraction))), message)

    def cancel(self) -> None:
        self._cancel.set()

    @property
    def cancelled(self) -> bool:
        return self._cancel.is_set()

    def check(self) -> None:
        if self._cancel.is_set():
            raise Cancelled("cancelled by the user")


def ensure_state(state: TaskState | None) -> TaskState:
    return state if state is not None else TaskState()


class StderrProgress:
    """A one-line progress display on stderr for the headless commands."""

    def __init__(self, enabled: bool | None = None):
        self.enabled = sys.stderr.isatty() if enabled is None else enabled
        self._last = ""

    def __call__(self, fraction: float, message: str) -> None:
        if not self.enabled:
            return
        line = f"\r[{'#' * int(fraction * 30):<30}] {fraction:4.0%} {message}"[:120]
        if line != self._last:
            sys.stderr.write(line.ljust(len(self._last)))
            sys.stderr.flush()
            self._last = line

    def done(self) -> None:
        if self.enabled and self._last:
            sys.stderr.write("\n")
            sys.stderr.flush()


def current_user(user: str | None = None) -> str:
    """The acting user, normalized (:mod:`engine.core.usernames`): an explicit name, else
    ``$REBALANCE_DESK_USER``, else the OS login. A refused name raises :class:`RefusedError`."""
    from engine.core.usernames import normalize_user

    if user:
        return normalize_user(user)
    env = os.environ.get("REBALANCE_DESK_USER")
    if env:
        return normalize_user(env)
    return normalize_user(os_login())


def os_login() -> str:
    try:
        return getpass.getuser()
    except Exception:  # no login name (containers): still say who acted
        return "unknown"


def same_user(a, b) -> bool:
    """Whether two user names name the same user: compared in their normal form, so case, width,
    accents, look-alike letters and invisible characters make no second user (see
    :mod:`engine.core.usernames`)."""
    from engine.core.usernames import fold_user

    fa, fb = fold_user(a), fold_user(b)
    return fa is not None and fa == fb
