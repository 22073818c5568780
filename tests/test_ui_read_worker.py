"""Reads in worker processes (ui.read_worker, issue 20 "never frozen"): a panel's read made with
``in_worker`` runs in another process and gives what the thread read gives; a superseded read's
result is dropped; a failing read, or a worker that dies, shows its error in the panel; an
in-memory database or ``REBALANCE_DESK_READS=thread`` reads in a thread. Real widgets (pytest-qt,
offscreen) on both databases."""
import os
import time

import pandas as pd
import pytest

from engine.core.tasks import RefusedError
from engine.decide.workflow import proposals_frame
from qt_fixtures import LONG, review_all_run, settings, wait_loaded  # noqa: F401 - fixtures
from ui import read_worker
from ui.panel import AppContext, Panel
from ui.proposals_panel import ProposalsPanel
from ui.read_worker import MODE_ENV, in_worker


# ---- read functions: module level, so a worker process finds them by name
def process_id(engine) -> int:
    return os.getpid()


def slow(engine, seconds: float, value):
    time.sleep(seconds)
    return value


def refuses(engine):
    raise RefusedError("no run yet: use `run` first")


class Unpicklable(Exception):
    def __init__(self, a, b):  # pickling calls Unpicklable(msg): one argument short
        super().__init__(f"{a} {b}")


def unpicklable(engine):
    raise Unpicklable("lost", "lock")


def dies(engine):
    os._exit(3)


def imported(engine, module: str) -> tuple[int, bool]:
    import sys

    return os.getpid(), module in sys.modules


def in_parts(engine, n: int, bad: bool = False):
    return read_worker.Parts({"n": n}, {("piece", i): list(range(i * 1000, (i + 1) * 1000)) for i in range(n)},
                             finish=refuse_parts if bad else total_of_parts)


def total_of_parts(read: dict) -> dict:
    return {"n": read["n"], "pieces": sum(1 for k in read if isinstance(k, tuple)),
            "total": sum(sum(read[("piece", i)]) for i in range(read["n"]))}


def refuse_parts(read: dict):
    raise ValueError("the pieces do not fit")


@pytest.fixture
def reviewed(engine, tmp_path):
    return review_all_run(engine, tmp_path)


@pytest.fixture
def panel(qtbot, engine, settings):  # noqa: F811 - fixtures
    p = Panel(AppContext(engine, user="alice", settings=settings))
    qtbot.addWidget(p)
    p.resize(600, 400)
    p.show()
    yield p
    p.wait_reads(60_000)


@pytest.fixture(autouse=True)
def worker_mode(monkeypatch):
    monkeypatch.delenv(MODE_ENV, raising=False)


def read_in(qtbot, p: Panel, read, channel: str = "main") -> list:
    got: list = []
    p.load(read, got.append, channel=channel)
    wait_loaded(qtbot, p)
    return got


def test_a_worker_read_runs_in_another_process_and_gives_the_thread_reads_frames(qtbot, engine, reviewed, settings):  # noqa: F811
    assert read_in(qtbot, Panel(AppContext(engine, user="a", settings=settings)), in_worker(process_id, engine)) \
        != [os.getpid()]
    assert read_worker.worker_processes(), "no worker process was started"
    p = ProposalsPanel(AppContext(engine, user="alice", settings=settings))
    qtbot.addWidget(p)
    p.resize(1400, 860)
    p.show()
    p.refresh()
    wait_loaded(qtbot, p)
    parts = ProposalsPanel.read(engine)  # what the thread read gives, read here
    assert isinstance(parts, read_worker.Parts) and parts.pieces  # each tier's frame its own piece
    in_thread = parts.result()
    tiers, cut = in_thread["cut"]
    assert p.run_id is not None and len(p._all) == sum(len(f) for f in cut.values()) > 0
    assert "detail" not in p._all  # the run is read without its per-account detail JSON
    assert p._tiers == tiers and len(tiers) > 1
    for t in tiers:
        pd.testing.assert_frame_equal(p._frames[t], cut[t])

    # the selected account's detail comes in its own worker read: the same chart as the full frame's
    with engine.connect() as conn:
        full = proposals_frame(conn)
    account = str(full.loc[full["category"].isin(["SCORE", "MANDATE"]), "account_id"].iat[0])
    p.focus(account)
    wait_loaded(qtbot, p)
    assert p.detail.account == account
    from_worker = (p.band_note.text(), p.weights.out_of_band)
    assert from_worker[0]
    p.set_proposals(full, p.policy)  # a frame with its detail: shown without a read
    p.focus(account)
    assert not p.reading("detail")
    assert (p.band_note.text(), p.weights.out_of_band) == from_worker
    p.wait_reads(60_000)


def test_a_superseded_read_is_dropped(qtbot, engine, panel):
    got = []
    panel.load(in_worker(slow, engine, 1.5, "old"), got.append)
    panel.load(in_worker(slow, engine, 0.0, "new"), got.append)
    wait_loaded(qtbot, panel)
    assert got == ["new"]
    qtbot.wait(2500)  # the old read has finished meanwhile: its result is not applied
    assert got == ["new"] and not panel.loading


def test_a_failing_read_shows_its_error(qtbot, engine, panel):
    assert read_in(qtbot, panel, in_worker(refuses, engine)) == []
    assert panel.loading_text() == "Could not load: no run yet: use `run` first"
    errors = []
    panel.load(in_worker(unpicklable, engine), lambda r: None, on_error=errors.append, channel="other")
    wait_loaded(qtbot, panel)
    assert [str(e) for e in errors] == ["Unpicklable: lost lock"]


def test_a_worker_that_dies_gives_an_error_not_a_hang_and_the_next_read_works(qtbot, engine, panel):
    t0 = time.monotonic()
    assert read_in(qtbot, panel, in_worker(dies, engine)) == []
    assert time.monotonic() - t0 < LONG / 1000
    assert "worker process reading this stopped" in panel.loading_text()
    assert read_in(qtbot, panel, in_worker(slow, engine, 0.0, 42)) == [42]
    assert panel.loading_text() == ""


def test_thread_fallback_by_the_environment_and_for_an_in_memory_database(qtbot, engine, panel, monkeypatch,
                                                                            settings):  # noqa: F811
    monkeypatch.setenv(MODE_ENV, "thread")
    assert not in_worker(process_id, engine).in_process()
    assert read_in(qtbot, panel, in_worker(process_id, engine)) == [os.getpid()]
    monkeypatch.delenv(MODE_ENV)
    assert in_worker(process_id, engine).in_process()  # a file or a server: a worker can open it
    from sqlalchemy import create_engine

    memory = create_engine("sqlite://")  # only this process sees it
    assert not in_worker(process_id, memory).in_process()
    p = Panel(AppContext(memory, user="alice", settings=settings))
    qtbot.addWidget(p)
    assert read_in(qtbot, p, in_worker(process_id, memory)) == [os.getpid()]


def test_a_result_in_parts_is_loaded_a_piece_per_turn_of_the_event_loop_then_assembled(qtbot, engine, panel,
                                                                                          monkeypatch):
    from PySide6.QtCore import QTimer

    monkeypatch.setattr(read_worker, "SLICE_S", 0.0)  # one piece per turn
    turns = [0]
    ticker = QTimer()
    ticker.setInterval(0)
    ticker.timeout.connect(lambda: turns.__setitem__(0, turns[0] + 1))
    ticker.start()
    seen = []
    step = read_worker.Parts.step

    def counted(self):
        seen.append(turns[0])
        assert panel.loading  # the read is not over until every piece is in
        step(self)

    monkeypatch.setattr(read_worker.Parts, "step", counted)
    expected = {"n": 5, "pieces": 5, "total": sum(range(5000))}
    assert read_in(qtbot, panel, in_worker(in_parts, engine, 5)) == [expected]
    ticker.stop()
    assert len(seen) == 5 and all(b > a for a, b in zip(seen, seen[1:])), seen  # the event loop ran between pieces

    # a newer read while the pieces of an older one are loaded: the older one is dropped
    got, newer = [], []

    def newer_read_at_first_piece(self):
        if not newer:
            newer.append(1)
            panel.load(in_worker(slow, engine, 0.0, "new"), got.append)
        step(self)

    monkeypatch.setattr(read_worker.Parts, "step", newer_read_at_first_piece)
    panel.load(in_worker(in_parts, engine, 4), got.append)
    wait_loaded(qtbot, panel)
    qtbot.wait(50)
    assert newer and got == ["new"]

    # a failure while assembling is the read's error
    monkeypatch.setattr(read_worker.Parts, "step", step)
    errors = []
    panel.load(in_worker(in_parts, engine, 2, True), got.append, on_error=errors.append, channel="other")
    wait_loaded(qtbot, panel)
    assert [str(e) for e in errors] == ["the pieces do not fit"]

    # in the thread fallback nothing is pickled: the same result
    monkeypatch.setenv(MODE_ENV, "thread")
    assert read_in(qtbot, panel, in_worker(in_parts, engine, 3)) == [{"n": 3, "pieces": 3, "total": sum(range(3000))}]


def test_warm_starts_the_workers_with_the_panels_imports_once(qtbot, engine, panel, monkeypatch):
    from concurrent.futures import wait as wait_futures

    from sqlalchemy import create_engine

    read_worker.shutdown()
    assert read_worker.warm(create_engine("sqlite://")) == [] and not read_worker.worker_processes()
    monkeypatch.setenv(MODE_ENV, "thread")
    assert read_worker.warm(engine) == [] and not read_worker.worker_processes()
    monkeypatch.delenv(MODE_ENV)
    futures = read_worker.warm(engine, ("ui.navigation",))
    assert len(futures) == read_worker.WORKERS and read_worker.worker_processes()
    assert read_worker.warm(engine) == []  # up already: nothing more
    wait_futures(futures, timeout=LONG / 1000)
    warmed = {f.result() for f in futures}
    assert warmed <= {p.pid for p in read_worker.worker_processes()} and os.getpid() not in warmed
    [(pid, done)] = read_in(qtbot, panel, in_worker(imported, engine, "ui.navigation"))
    assert pid in {p.pid for p in read_worker.worker_processes()}
    if pid in warmed:  # the read ran in a worker warm() started: the panels' modules were there already
        assert done


def test_the_main_window_warms_the_read_workers_once_it_is_up(qtbot, engine, db_path, settings,  # noqa: F811
                                                              monkeypatch):
    from ui.main_window import MainWindow

    calls = []
    monkeypatch.setattr(read_worker, "warm", lambda db, modules: calls.append((db, modules)) or [])
    w = MainWindow(engine, db=db_path, user="alice", settings=settings)
    qtbot.addWidget(w)
    w.show()
    assert not calls  # not in the window's own start
    qtbot.waitUntil(lambda: calls == [(engine, ("ui.navigation",))], timeout=LONG)

    def cannot(db, modules):
        raise OSError("no processes left")

    monkeypatch.setattr(read_worker, "warm", cannot)  # a failure is said, not raised
    assert read_worker.warm_or_say(engine, (), w.statusBar()) == []
    assert w.statusBar().currentMessage() == "Could not start the read workers: no processes left"


def test_the_workers_stop_with_the_application(qtbot, engine, panel):
    assert read_in(qtbot, panel, in_worker(slow, engine, 0.0, 1)) == [1]
    procs = read_worker.worker_processes()
    assert procs and all(p.is_alive() for p in procs)
    read_worker.shutdown()
    assert [p.exitcode for p in procs if p.is_alive()] == [] and read_worker.worker_processes() == []
    assert read_in(qtbot, panel, in_worker(slow, engine, 0.0, 2)) == [2]  # made again when needed


@pytest.mark.sqlite_only
def test_a_worker_ends_when_the_console_process_is_killed(engine, db_path):
    """However the console ends (here ``os._exit``: no atexit, no aboutToQuit), its workers end too."""
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    code = ("import os, sys\n"
            f"sys.path[:0] = [{str(root)!r}, {str(root / 'tests')!r}]\n"
            "from ui.read_worker import _pool, in_worker\n"
            "from test_ui_read_worker import process_id\n"
            f"print(_pool.submit(in_worker(process_id, {db_path!r})).result(), flush=True)\n"
            "os._exit(0)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    pid = int(out.stdout.split()[0])

    def alive() -> bool:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        return Path(f"/proc/{pid}/status").exists() and "zombie" not in Path(f"/proc/{pid}/status").read_text()

    deadline = time.monotonic() + 30
    while alive() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not alive(), f"worker {pid} outlived its console"


def count_audit(engine) -> int:
    from sqlalchemy import text

    with engine.connect() as conn:
        return int(conn.execute(text("SELECT count(*) FROM audit_log")).scalar())


@pytest.mark.sqlite_only
def test_a_commit_made_after_a_worker_read_is_not_lost(qtbot, engine, db_path, panel):
    """A worker closing its connections must not take a database this process still uses as
    unused and delete its write-ahead log (seen: opening a second engine on the file read its
    header with a plain open/close, which dropped this process's SQLite locks on it)."""
    import sqlite3
    from pathlib import Path

    from sqlalchemy import text

    from storage.db import make_engine

    other = make_engine(db_path)  # a second desk in this process: checks the file again
    before = count_audit(engine)
    assert read_in(qtbot, panel, in_worker(count_audit, engine)) == [before]
    with other.begin() as conn:
        conn.execute(text("INSERT INTO audit_log (seq, at, username, action, detail) "
                          "VALUES (999999, '2026-11-20', 'bob', 'test', 'after the worker read')"))
    assert Path(db_path + "-wal").exists()
    fresh = sqlite3.connect(db_path)
    try:
        assert fresh.execute("SELECT count(*) FROM audit_log").fetchone()[0] == before + 1
    finally:
        fresh.close()
    assert read_in(qtbot, panel, in_worker(count_audit, engine)) == [before + 1]
    other.dispose()
