"""Benchmark: consecutive days of a whole book on one database — import, run, approve, export.

    .venv/bin/python bench/bench_days.py --accounts 100000 --days 3 --db /tmp/bench_days/book.db
    .venv/bin/python bench/bench_days.py --accounts 100000 --days 3 --db postgresql+psycopg://...

Each day is a new sample book as of the next calendar day (same accounts, new file set). The day
imports it (which prunes old snapshots' lots by the policy's retention), runs the workflow with
--workers, approves every proposal awaiting review as a reviewer, and exports one CSV+FIX batch.
Prints the time of each step, the trades exported, and the database's size and lot rows after
the day, so growth over days is visible.
"""
from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from datetime import date, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def db_size(engine) -> int:
    if engine.dialect.name == "sqlite":
        path = Path(engine.url.database)
        return sum(p.stat().st_size for p in (path, Path(f"{path}-wal")) if p.exists())
    with engine.connect() as conn:
        return int(conn.exec_driver_sql("SELECT pg_database_size(current_database())").scalar())


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--accounts", type=int, default=100_000)
    ap.add_argument("--days", type=int, default=3)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--db", default="/tmp/bench_days/book.db")
    ap.add_argument("--work", default="/tmp/bench_days")
    ap.add_argument("--first", default="2026-11-20", help="as-of date of the first day")
    args = ap.parse_args()
    from sqlalchemy import func, select

    from engine.desk.exporter import export_batch
    from engine.book.importer import import_book
    from engine.desk.review import approve
    from engine.book.sample import generate_sample
    from engine.decide.workflow import run_workflow
    from storage import models as m
    from storage.db import describe, make_engine

    work = Path(args.work)
    engine = make_engine(args.db)
    print(f"machine: {platform.machine()} {os.cpu_count()} cores, Python {platform.python_version()}; "
          f"database {engine.dialect.name}: {describe(args.db)}; {args.accounts:,} accounts, "
          f"{args.workers} workers")
    print(f"{'day':>3} {'as of':>10} {'import s':>8} {'run s':>7} {'approve s':>9} {'approved':>8} "
          f"{'export s':>8} {'trades':>7} {'db MiB':>7} {'lot rows':>10}")
    first = date.fromisoformat(args.first)
    for day in range(args.days):
        as_of = first + timedelta(days=day)
        book = work / f"book-{as_of}"
        if not (book / "manifest.json").exists():
            generate_sample(book, accounts=args.accounts, seed=1, as_of=as_of)
        t = time.perf_counter()
        import_book(engine, book, user="bench-ops")
        t_import = time.perf_counter() - t
        t = time.perf_counter()
        out = run_workflow(engine, workers=args.workers, user="bench-ops")
        t_run = time.perf_counter() - t
        with engine.connect() as conn:
            waiting = [a for (a,) in conn.execute(select(m.Proposal.account_id).where(
                m.Proposal.run_id == out.run_id, m.Proposal.status == "PROPOSED"))]
        t = time.perf_counter()
        if waiting:
            approve(engine, waiting, user="bench-reviewer")
        t_approve = time.perf_counter() - t
        t = time.perf_counter()
        res = export_batch(engine, work / f"out-{engine.dialect.name}" / str(as_of), ("csv", "fix"),
                           user="bench-ops")
        t_export = time.perf_counter() - t
        with engine.connect() as conn:
            lots = conn.execute(select(func.count()).select_from(m.Lot)).scalar()
        print(f"{day + 1:>3} {as_of!s:>10} {t_import:>8.1f} {t_run:>7.1f} {t_approve:>9.1f} {len(waiting):>8,} "
              f"{t_export:>8.1f} {res.n_trades if res else 0:>7,} {db_size(engine) / 2**20:>7.0f} {lots:>10,}",
              flush=True)


if __name__ == "__main__":
    main()
