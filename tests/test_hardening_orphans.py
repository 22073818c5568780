"""Hardening #18, class ORPHANS: killing a run's parent leaves no worker alive.

A parent process makes the desk's process pool (engine.core.orphans.process_pool, used by the run,
the audit verification and the console's runs), starts busy workers, prints their pids and is
killed with SIGKILL; every worker is gone within a few seconds. Before #18 the forked workers
lived on (2 of them, ~300 MB)."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

PARENT = textwrap.dedent("""
    import os, signal, sys, time
    sys.path.insert(0, {root!r})
    from engine.core.orphans import process_pool

    def spin(_):
        while True:
            time.sleep(0.05)

    pool = process_pool(2, {method!r})
    for i in range(2):
        pool.submit(spin, i)
    while len(pool._processes) < 2:
        time.sleep(0.05)
    time.sleep(0.3)  # the initializers have run
    print(" ".join(str(p) for p in pool._processes), flush=True)
    os.kill(os.getpid(), signal.SIGKILL)
""")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie waiting for its reaper is dead too
        return Path(f"/proc/{pid}/stat").read_text().split(") ")[1][0] != "Z"
    except (OSError, IndexError):
        return True


@pytest.mark.parametrize("method", ["fork", "forkserver"])
def test_killed_parent_leaves_no_worker(method):
    out = subprocess.run([sys.executable, "-c", PARENT.format(root=str(ROOT), method=method)],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == -signal.SIGKILL, out.stderr[-2000:]
    pids = [int(p) for p in out.stdout.split()]
    assert len(pids) == 2
    deadline = time.monotonic() + 10
    while any(_alive(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.1)
    alive = [p for p in pids if _alive(p)]
    for p in alive:  # do not leave them behind whatever the outcome
        os.kill(p, signal.SIGKILL)
    assert not alive, f"workers {alive} outlived their killed parent"


def test_the_desks_pools_are_made_by_process_pool():
    """Every process pool of the engine and the console comes from engine.core.orphans."""
    offenders = []
    for path in list((ROOT / "engine").rglob("*.py")) + list((ROOT / "ui").rglob("*.py")) + [ROOT / "main.py"]:
        if path.name == "orphans.py":
            continue
        text = path.read_text()
        if "ProcessPoolExecutor(" in text or "multiprocessing.Process(" in text or ".Pool(" in text:
            offenders.append(str(path.relative_to(ROOT)))
    assert not offenders, offenders
