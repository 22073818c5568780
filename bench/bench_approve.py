"""Benchmark: approve every proposal awaiting review of the latest run in one decision.

    .venv/bin/python bench/bench_approve.py --db BOOK.db [--profile FILE]
    .venv/bin/python bench/bench_approve.py --make DIR --accounts 100000   # the book, once

``--make`` writes a sample book of ``--accounts`` accounts into DIR, imports it into DIR/run.db and
runs the workflow (minutes at 100,000 accounts). Each timing works on a copy of ``--db`` (SQLite),
so the same prepared run is approved before and after a change: the time and CPU time of
``engine.desk.review.approve`` and the load average of the machine.
"""
from __future__ import annotations

import argparse
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def make(folder: Path, accounts: int, workers: int) -> Path:
    from engine.book.importer import import_book
    from engine.book.sample import generate_sample
    from engine.decide.workflow import run_workflow
    from storage.db import make_engine

    book, db = folder / "book", folder / "run.db"
    if not (book / "manifest.json").exists():
        generate_sample(book, accounts=accounts, seed=1)
    engine = make_engine(db)
    import_book(engine, book, user="bench-ops")
    run_workflow(engine, workers=workers, user="bench-ops")
    engine.dispose()
    return db


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--db", help="a SQLite database holding an imported book and its run (copied, not changed)")
    ap.add_argument("--make", help="write, import and run a sample book in this folder first")
    ap.add_argument("--accounts", type=int, default=100_000)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--profile", help="write a cProfile (CPU time) of the approval to this file")
    args = ap.parse_args()
    db = make(Path(args.make), args.accounts, args.workers) if args.make else Path(args.db)
    from sqlalchemy import select

    from engine.desk.review import approve
    from engine.desk.runs import latest_run
    from storage import models as m
    from storage.db import make_engine

    work = Path(tempfile.mkdtemp(prefix="bench_approve_"))
    copy = work / "approve.db"
    shutil.copy(db, copy)
    engine = make_engine(copy)
    with engine.connect() as conn:
        run_id = latest_run(conn)[0]
        waiting = [a for (a,) in conn.execute(select(m.Proposal.account_id).where(
            m.Proposal.run_id == run_id, m.Proposal.status == "PROPOSED"))]
    print(f"machine: {platform.machine()} {os.cpu_count()} cores, Python {platform.python_version()}; "
          f"load average {os.getloadavg()[0]:.2f}")
    prof = None
    if args.profile:
        import cProfile

        prof = cProfile.Profile(time.process_time)
        prof.enable()
    t, cpu = time.perf_counter(), time.process_time()
    approve(engine, waiting, user="bench-reviewer")
    dt, cpu = time.perf_counter() - t, time.process_time() - cpu
    if prof:
        prof.disable()
        prof.dump_stats(args.profile)
    print(f"approve {len(waiting):,} accounts of run {run_id}: {dt:.1f} s, CPU {cpu:.1f} s; "
          f"load average {os.getloadavg()[0]:.2f}", flush=True)
    engine.dispose()
    shutil.rmtree(work)


if __name__ == "__main__":
    main()
