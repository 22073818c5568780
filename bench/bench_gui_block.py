"""Benchmark: the longest GUI-thread block of each panel action (first open, tab switch, filter,
reload) on a big book. Target (issue 20): under 100 ms per action on 100,000 accounts.

    .venv/bin/python bench/bench_gui_block.py --db /tmp/gui100k.db [--make 100000] [--workers 2]

``--make N`` first writes a sample book of N accounts, imports it into ``--db``, runs it, approves
the Core tier's proposals and exports one batch (so Blotter, Batches and History have rows);
without it ``--db`` must hold such a database. Runs offscreen.

How a block is measured: a 2 ms QTimer ticks in the GUI thread while the action runs and while
the events it causes are processed (until the panel's background reads are in and 300 ms are
quiet); the longest gap between two ticks is the longest time the GUI thread could not paint or
answer the mouse ("wall"). On a shared, overloaded machine that gap is mostly the scheduler not
running the process at all, so each tick also records the GUI thread's own CPU time
(``time.thread_time``): "cpu" is the most CPU the GUI thread spent between two ticks, i.e. the
longest piece of work it did without going back to its event loop — what the wall block is on
a quiet machine, less any wait for the GIL held by a background read. ``--profile PANEL`` prints
a cProfile of the GUI thread's work for that panel's first open.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
TARGET_MS = 100.0


def make(db: str, n: int, workers: int) -> None:
    from engine.desk.exporter import export_batch
    from engine.book.importer import import_book
    from engine.desk.review import approve
    from engine.book.sample import generate_sample
    from engine.decide.workflow import proposals_frame, run_workflow
    from storage.db import make_engine

    tmp = Path(tempfile.mkdtemp(prefix="gui-block-"))
    t0 = time.perf_counter()
    generate_sample(tmp / "book", accounts=n, seed=7)
    engine = make_engine(db)
    import_book(engine, tmp / "book", user="bench")
    run_workflow(engine, workers=workers, user="bench")
    with engine.connect() as conn:
        p = proposals_frame(conn)
    todo = p[(p["status"] == "PROPOSED") & p["category"].isin(["MANDATE", "SCORE"])]["account_id"].tolist()
    if todo:
        approve(engine, todo[: len(todo) // 2], user="bench")
    export_batch(engine, tmp / "out", ("csv", "fix", "signoff"), user="bench")
    print(f"made {db}: {n:,} accounts in {time.perf_counter() - t0:.0f} s", file=sys.stderr)


class GcWatch:
    """Every garbage collection's length, generation and thread (via ``gc.callbacks``)."""

    def __init__(self):
        import gc

        self.events: list[tuple[int, float, bool, float]] = []  # (generation, ms, in the GUI thread, cpu ms)
        self._start: dict[int, tuple[float, float]] = {}
        self._gui = threading.get_ident()
        gc.callbacks.append(self._cb)

    def _cb(self, phase: str, info: dict) -> None:
        tid = threading.get_ident()
        if phase == "start":
            self._start[tid] = (time.perf_counter(), time.thread_time())
        elif tid in self._start:
            t0, c0 = self._start.pop(tid)
            self.events.append((info.get("generation", -1), (time.perf_counter() - t0) * 1000, tid == self._gui,
                                (time.thread_time() - c0) * 1000))

    def mark(self) -> int:
        return len(self.events)

    def since(self, mark: int) -> tuple[int, float, float, int]:
        """GUI-thread collections since ``mark``: how many, the longest by CPU (wall ms, CPU ms) and
        its generation."""
        gui = [(g, ms, cpu) for g, ms, in_gui, cpu in self.events[mark:] if in_gui]
        if not gui:
            return 0, 0.0, 0.0, -1
        g, ms, cpu = max(gui, key=lambda e: e[2])
        return len(gui), ms, cpu, g


class Probe:
    """Longest gap between GUI-thread ticks while an action and its aftermath run."""

    def __init__(self, app):
        from PySide6.QtCore import QTimer

        self.app = app
        self.ticks: list[float] = []
        self.cpu: list[float] = []
        self.timer = QTimer()
        self.timer.setInterval(2)
        self.timer.timeout.connect(self._tick)
        self.cpu_ms = 0.0

    def _tick(self) -> None:
        self.ticks.append(time.perf_counter())
        self.cpu.append(time.thread_time())

    def measure(self, action, busy=lambda: False, quiet: float = 0.3, limit: float = 120.0) -> float:
        from PySide6.QtCore import QTimer

        self.ticks = [time.perf_counter()]
        self.cpu = [time.thread_time()]
        self.timer.start()
        QTimer.singleShot(0, action)
        start = time.perf_counter()
        while time.perf_counter() - start < limit:
            self.app.processEvents()
            time.sleep(0.001)
            if time.perf_counter() - start > quiet and not busy() and time.perf_counter() - self.ticks[-1] < 0.05:
                if time.perf_counter() - start > quiet * 2:
                    break
        self.timer.stop()
        gaps = [b - a for a, b in zip(self.ticks, self.ticks[1:])]
        cpu = [b - a for a, b in zip(self.cpu, self.cpu[1:])]
        self.cpu_ms = (max(cpu) if cpu else 0.0) * 1000
        return (max(gaps) if gaps else 0.0) * 1000


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--db", required=True)
    ap.add_argument("--make", type=int, default=0, metavar="N")
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--profile", metavar="PANEL", default="", help="cProfile the GUI thread on PANEL's first open")
    ap.add_argument("--only", default="", metavar="PANEL,...", help="only these panels' actions")
    args = ap.parse_args(argv)
    only = {p.strip() for p in args.only.split(",") if p.strip()}
    if args.make:
        make(args.db, args.make, args.workers)

    from PySide6.QtCore import QSettings
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance() or QApplication([sys.argv[0]])
    from engine.desk import views
    from storage.db import make_engine
    from ui.main_window import MainWindow
    from ui.navigation import PANELS

    engine = make_engine(args.db, migrate=False)
    st = views.status(engine)
    if st["run"] is None:
        print(f"{args.db}: no run yet (use --make N)", file=sys.stderr)
        return 2
    settings = QSettings(str(Path(tempfile.mkdtemp()) / "bench.ini"), QSettings.Format.IniFormat)
    w = MainWindow(engine, db=args.db, user="bench", settings=settings, workers=1)
    w.resize(1440, 900)
    w.show()
    probe = Probe(app)
    gcw = GcWatch()
    probe.measure(lambda: None, quiet=1.0)  # the window's own start-up reads

    def busy():
        return w.ctx.tasks.busy or any(getattr(w.panel(n), "loading", False) for n in PANELS)

    results = []

    def step(panel, action, fn):
        if only and panel not in only:
            return
        mark = gcw.mark()
        if args.profile == panel and action == "first open":
            import cProfile
            import pstats

            prof = cProfile.Profile()
            inner = fn

            def fn():
                prof.enable()
                inner()

            ms = probe.measure(fn, busy)
            prof.disable()
            pstats.Stats(prof).sort_stats("cumulative").print_stats(25)
        else:
            ms = probe.measure(fn, busy)
        n_gc, gc_ms, gc_cpu, gen = gcw.since(mark)
        results.append((panel, action, ms, probe.cpu_ms))
        print(f"{panel:10s} {action:28s} wall {ms:8.0f} ms{'' if ms <= TARGET_MS else ' over'}"
              f"   cpu {probe.cpu_ms:7.0f} ms{'' if probe.cpu_ms <= TARGET_MS else ' over'}"
              f"   gc {n_gc:3d} in GUI, longest " + (f"{gc_ms:5.0f} / {gc_cpu:4.0f} ms [gen {gen}]" if n_gc else "-"),
              flush=True)

    account = str(views.suspended_accounts(engine)["account_id"].iat[0]) if st else None
    for name in PANELS:
        if name == "Lab":
            continue  # the Lab reads nothing until a simulation is asked for
        step(name, "first open", lambda n=name: w.show_panel(n))
        step(name, "reload (F5)", lambda: w._on_changed("refresh"))
    p = w.panel("Proposals")
    if not only or "Proposals" in only:
        w.show_panel("Proposals")
    step("Proposals", "tier tab switch", lambda: p.tiers.setCurrentIndex(1))
    b = w.panel("Blotter")
    if not only or "Blotter" in only:
        w.show_panel("Blotter")
    sym = str(b.frame["symbol"].iat[0]) if len(b.frame) else ""
    step("Blotter", "filter: one symbol, sells", lambda: b.set_filters(symbol=sym, side="SELL"))
    step("Blotter", "filter cleared", lambda: b.set_filters(symbol="", side=None))
    if account:
        step("History", "an account's history", lambda: w.show_panel("History", account))
    if not results:
        print("no actions run (check --only)", file=sys.stderr)
        os._exit(2)
    worst = max(ms for _, _, ms, _ in results)
    worst_cpu = max(c for _, _, _, c in results)
    over = [f"{p} {a}" for p, a, ms, _ in results if ms > TARGET_MS]
    over_cpu = [f"{p} {a}" for p, a, _, c in results if c > TARGET_MS]
    print(f"accounts {st['snapshot']['n_accounts']:,}; longest block {worst:.0f} ms wall, {worst_cpu:.0f} ms cpu; "
          f"over {TARGET_MS:.0f} ms: {len(over)} of {len(results)} actions (wall), {len(over_cpu)} (cpu): "
          f"{', '.join(over_cpu)}; load average {os.getloadavg()[0]:.1f}")
    gui_gc = [(g, cpu) for g, _, in_gui, cpu in gcw.events if in_gui]
    full = [cpu for g, cpu in gui_gc if g == 2]
    print(f"SUMMARY actions {len(results)}; over {TARGET_MS:.0f} ms: wall {len(over)}, GUI cpu {len(over_cpu)}; "
          f"longest wall {worst:.0f} ms, GUI cpu {worst_cpu:.0f} ms; GUI-thread collections {len(gui_gc)} "
          f"(full {len(full)}, longest {max(full, default=0):.0f} ms CPU), longest any "
          f"{max((c for _, c in gui_gc), default=0):.0f} ms CPU; load average {os.getloadavg()[0]:.1f}", flush=True)
    guard = getattr(w, "gc_guard", None)
    if hasattr(guard, "full"):  # what the idle full collection (ui.read_gc) costs with every panel loaded
        import gc

        frozen, c0, t0 = gc.get_freeze_count(), time.thread_time(), time.perf_counter()
        guard.full()
        print(f"idle full collection (ui.read_gc, every panel loaded): {(time.thread_time() - c0) * 1000:.0f} ms CPU, "
              f"{(time.perf_counter() - t0) * 1000:.0f} ms wall; {frozen:,} frozen objects before, "
              f"{gc.get_freeze_count():,} after", flush=True)
    w.ctx.tasks.cancel()
    w.ctx.tasks.wait(60_000)
    from ui.read_worker import shutdown

    shutdown()  # the read workers (os._exit skips the atexit that would stop them)
    os._exit(0)


if __name__ == "__main__":
    sys.exit(main())
