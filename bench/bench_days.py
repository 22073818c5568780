"""Benchmark: consecutive days of a whole book on one database — import, run, approve, export.

    .venv/bin/python bench/bench_days.py --accounts 100000 --days 3 --book steady --db /tmp/bench_days/book.db --fresh
    .venv/bin/python bench/bench_days.py --accounts 100000 --days 1 --book first --db postgresql+psycopg://.../desk --fresh
    .venv/bin/python bench/bench_days.py ... --code /path/to/other/checkout   # time another checkout's engine

``--book first``: each day is a new sample book (``main.py sample``, seed 1) as of the next
calendar day: the first day's book, where about a third of the accounts trade. ``--book steady``:
the steady-state book of ``bench/steady_book.py`` (a lab simulation's day 20 with the default
policy, copied up to ``--accounts``), dated the next calendar day each day, where a few percent
trade. The day imports the book (which prunes old snapshots' lots by the policy's retention), runs
the workflow with ``--workers``, approves every proposal awaiting review as a reviewer in one bulk
decision, and exports one CSV+FIX batch.

Prints each step's time, the run's stages, the bench process's peak memory per step (RSS sampled
every 50 ms; the optimizer's forked workers share the parent's pages and are not added), the
trades exported, the database's size after the day and its growth over the day. ``--code DIR``
imports ``engine`` and ``storage`` from another checkout (the "before" of a comparison), with the
same book, bench and database kind. ``--fresh`` starts from an empty database (a SQLite file is
deleted; a PostgreSQL database is dropped and created again through the server's ``postgres``
database).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import threading
import time
from contextlib import contextmanager
from datetime import date, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


class PeakRSS:
    """The peak resident memory of this process while a block runs (sampled)."""

    def __init__(self, every: float = 0.05) -> None:
        self.every, self.peak, self._stop = every, 0, threading.Event()

    @staticmethod
    def now() -> int:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")

    @contextmanager
    def watch(self):
        self.peak = self.now()
        self._stop.clear()

        def loop():
            while not self._stop.wait(self.every):
                self.peak = max(self.peak, self.now())

        t = threading.Thread(target=loop, daemon=True)
        t.start()
        try:
            yield self
        finally:
            self._stop.set()
            t.join()
            self.peak = max(self.peak, self.now())


def cpu_seconds() -> float:
    """CPU seconds of this process and its finished children (the run's optimizer workers)."""
    import resource

    a, b = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return a.ru_utime + a.ru_stime + b.ru_utime + b.ru_stime


def db_size(engine) -> int:
    if engine.dialect.name == "sqlite":
        path = Path(engine.url.database)
        return sum(p.stat().st_size for p in (path, Path(f"{path}-wal")) if p.exists())
    with engine.connect() as conn:
        return int(conn.exec_driver_sql("SELECT pg_database_size(current_database())").scalar())


def used_size(engine) -> int:
    """Bytes the data takes: SQLite's pages in use (the file less its free pages, after a checkpoint);
    PostgreSQL's database size after a plain VACUUM (what autovacuum does between two days: deleted
    rows' space becomes reusable). Taken between days, outside the timed steps."""
    if engine.dialect.name == "sqlite":
        with engine.connect() as conn:
            conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
            pages, free, size = (conn.exec_driver_sql(f"PRAGMA {p}").scalar()
                                 for p in ("page_count", "freelist_count", "page_size"))
        return (pages - free) * size
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.exec_driver_sql("VACUUM")
        return int(conn.exec_driver_sql("SELECT pg_database_size(current_database())").scalar())


def fresh_database(url: str) -> None:
    if "://" not in url:
        for suffix in ("", "-wal", "-shm"):
            Path(url + suffix).unlink(missing_ok=True)
        Path(url).parent.mkdir(parents=True, exist_ok=True)
        return
    from sqlalchemy import create_engine
    from sqlalchemy.engine import make_url

    u = make_url(url)
    admin = create_engine(u.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{u.database}" WITH (FORCE)')
        conn.exec_driver_sql(f'CREATE DATABASE "{u.database}"')
    admin.dispose()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--accounts", type=int, default=100_000)
    ap.add_argument("--days", type=int, default=3)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--book", choices=("first", "steady"), default="first")
    ap.add_argument("--db", default="/tmp/bench_days/book.db")
    ap.add_argument("--fresh", action="store_true", help="start from an empty database")
    ap.add_argument("--work", default="/tmp/bench_days", help="cached book folders")
    ap.add_argument("--code", help="import engine and storage from this checkout instead of this one")
    ap.add_argument("--first", default="2026-11-20", help="as-of date of the first day")
    ap.add_argument("--json", help="append each day's figures to this file (one JSON object a line)")
    args = ap.parse_args()
    code = Path(args.code).resolve() if args.code else ROOT
    sys.path.insert(0, str(code))
    sys.path.insert(1, str(ROOT / "bench"))
    if args.fresh:
        fresh_database(args.db)
    from sqlalchemy import func, select

    from engine.book.importer import import_book
    from engine.book.sample import generate_sample
    from engine.decide.workflow import run_workflow
    from engine.desk.exporter import export_batch
    from engine.desk.review import approve
    from storage import models as m
    from storage.db import describe, make_engine

    work = Path(args.work)
    engine = make_engine(args.db)
    rss = PeakRSS()
    load = os.getloadavg()
    print(f"machine: {platform.machine()} {os.cpu_count()} cores, Python {platform.python_version()}; "
          f"code {code}; database {engine.dialect.name}: {describe(args.db)}; {args.book} book, "
          f"{args.accounts:,} accounts, {args.workers} workers; load average {load[0]:.1f} {load[1]:.1f} {load[2]:.1f}")
    if args.book == "steady":
        import steady_book
        lab = steady_book.lab_day_book(work / "steady", 2000, 20)
        print(f"steady-state book: the lab's day 20 of 2,000 accounts ({lab}), copied to {args.accounts:,}")
    print(f"{'day':>3} {'as of':>10} {'import s':>8} {'run s':>7} {'approve s':>9} {'approved':>8} "
          f"{'export s':>8} {'trades':>7} {'db MiB':>7} {'growth':>7} {'used MiB':>8} {'used +':>7} {'lot rows':>10}  run stages; peak RSS")
    first = date.fromisoformat(args.first)
    used0 = used_size(engine)
    for day in range(args.days):
        as_of = first + timedelta(days=day)
        if args.book == "first":
            book = work / f"book-{args.accounts}-{as_of}"
            if not (book / "manifest.json").exists():
                generate_sample(book, accounts=args.accounts, seed=1, as_of=as_of)
        else:
            book = steady_book.copied_book(lab, args.accounts, work / "steady" / f"book-{args.accounts}-{as_of}", as_of)
        size0 = db_size(engine)
        peaks, cpu = {}, {}
        c = cpu_seconds()
        t = time.perf_counter()
        with rss.watch():
            import_book(engine, book, user="bench-ops")
        t_import, peaks["import"] = time.perf_counter() - t, rss.peak
        cpu["import"], c = cpu_seconds() - c, cpu_seconds()
        t = time.perf_counter()
        with rss.watch():
            out = run_workflow(engine, workers=args.workers, user="bench-ops")
        t_run, peaks["run"] = time.perf_counter() - t, rss.peak
        cpu["run"], c = cpu_seconds() - c, cpu_seconds()
        with engine.connect() as conn:
            waiting = [a for (a,) in conn.execute(select(m.Proposal.account_id).where(
                m.Proposal.run_id == out.run_id, m.Proposal.status == "PROPOSED"))]
        t = time.perf_counter()
        with rss.watch():
            if waiting:
                approve(engine, waiting, user="bench-reviewer")
        t_approve, peaks["approve"] = time.perf_counter() - t, rss.peak
        cpu["approve"], c = cpu_seconds() - c, cpu_seconds()
        t = time.perf_counter()
        with rss.watch():
            res = export_batch(engine, work / f"out-{engine.dialect.name}" / str(as_of), ("csv", "fix"),
                               user="bench-ops")
        t_export, peaks["export"] = time.perf_counter() - t, rss.peak
        cpu["export"] = cpu_seconds() - c
        with engine.connect() as conn:
            lots = conn.execute(select(func.count()).select_from(m.Lot)).scalar()
        size = db_size(engine)
        used = used_size(engine)
        tm = out.summary["timings"]
        cats = out.summary["categories"]
        trading = cats.get("MANDATE", 0) + cats.get("SCORE", 0)
        stages = " ".join(f"{k}={tm[k]:.1f}" for k in ("load", "checks_overrides_mandates", "prepare", "optimize",
                                                          "solver", "optimizer_work", "score_route",
                                                          "persist_proposals", "persist_trades") if k in tm)
        ratio = (tm["optimizer_work"] - tm["solver"]) / tm["solver"] if tm.get("solver") else float("nan")
        mem = " ".join(f"{k}={v / 2**30:.2f}G" for k, v in peaks.items())
        print(f"{day + 1:>3} {as_of!s:>10} {t_import:>8.1f} {t_run:>7.1f} {t_approve:>9.1f} {len(waiting):>8,} "
              f"{t_export:>8.1f} {res.n_trades if res else 0:>7,} {size / 2**20:>7.0f} {(size - size0) / 2**20:>+7.0f} "
              f"{used / 2**20:>8.0f} {(used - used0) / 2**20:>+7.0f} {lots:>10,}  trading {trading:,} ({trading / max(1, out.summary['accounts']):.1%}); {stages}; "
              f"outside/solver {ratio:.2f}; peak {mem}; CPU s " + " ".join(f"{k}={v:.1f}" for k, v in cpu.items()),
              flush=True)
        if args.json:
            with open(args.json, "a") as f:
                f.write(json.dumps({"code": str(code), "db": engine.dialect.name, "book": args.book,
                                    "accounts": args.accounts, "day": day + 1, "as_of": str(as_of),
                                    "import": t_import, "run": t_run, "approve": t_approve, "approved": len(waiting),
                                    "export": t_export, "trades": res.n_trades if res else 0, "db_bytes": size,
                                    "growth_bytes": size - size0, "used_bytes": used,
                                    "used_growth_bytes": used - used0, "lots": lots, "categories": cats,
                                    "timings": tm, "peaks": peaks, "cpu": cpu, "load": os.getloadavg()}) + "\n")
        used0 = used


if __name__ == "__main__":
    main()
