"""Worker processes die with the process that started them (issue #18: no orphans).

A run forks optimizer workers; killing the run (SIGKILL, a closed terminal, the task manager)
used to leave them alive, ~150 MB each, working on for nobody. Every process pool of the desk is
made by :func:`process_pool`, whose workers start with :func:`die_with_parent`:

* on Linux the kernel kills the worker when its parent goes (``prctl(PR_SET_PDEATHSIG,
  SIGKILL)``); a parent already gone by then (the race before the call) is caught at once;
* everywhere, a daemon thread looks at the parent pid every second and ends the worker when it
  changes (the worker was re-parented: its parent is dead).

With a fork server (the console's runs) the workers' parent is the fork server, which itself
ends when the console does.
"""
from __future__ import annotations

import os
import signal
import sys
import threading
from concurrent.futures import ProcessPoolExecutor

PR_SET_PDEATHSIG = 1
POLL_S = 1.0


def die_with_parent() -> None:
    """Process pool initializer: end this worker when its parent process ends."""
    parent = os.getppid()
    if sys.platform.startswith("linux"):
        try:
            import ctypes

            ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        except (OSError, AttributeError):  # no prctl: the watch below still ends the worker
            pass
    if parent == 1:  # re-parented to init before the line above ran
        os._exit(1)

    def watch():
        import time

        while True:
            time.sleep(POLL_S)
            if os.getppid() != parent:
                os._exit(1)

    threading.Thread(target=watch, name="die-with-parent", daemon=True).start()


def process_pool(workers: int, method: str = "fork") -> ProcessPoolExecutor:
    """A process pool of ``workers`` whose workers die with their parent (``method``: the
    multiprocessing start method, "fork" or "forkserver")."""
    import multiprocessing

    return ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context(method),
                               initializer=die_with_parent)
