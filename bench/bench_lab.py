"""Benchmark: the policy lab, in process — one variant of N accounts x D business days.

    .venv/bin/python bench/bench_lab.py --accounts 1000 --days 60 --workers 1 2
    .venv/bin/python bench/bench_lab.py --accounts 1000 --days 60 --variants policy band calendar

A sample book is generated and imported once (cached under --work); the book is read once and
each timed simulation works in memory. Prints wall seconds per simulation and per simulated
day, the CPU seconds of this process and its workers (on a shared machine, with one worker the
wall time an idle machine needs is about the CPU seconds), and the variant's summary line.
"""
from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _children() -> float:
    """CPU seconds of this process's finished children (the optimizer's forked workers)."""
    import resource

    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def cached_book(accounts: int, seed: int, work: str):
    """The sample book of ``accounts`` and ``seed`` as the lab reads it: generated and imported
    once under ``work`` (the next call reads the database, unless its schema is out of date)."""
    import shutil

    from engine.book.importer import import_book
    from engine.book.sample import generate_sample
    from engine.lab import load_book
    from storage.db import make_engine

    folder = Path(work) / f"{accounts}_{seed}"
    db = folder / "book.db"
    for attempt in (1, 2):
        if not db.exists():
            folder.mkdir(parents=True, exist_ok=True)
            generate_sample(folder / "book", accounts=accounts, seed=seed)
            import_book(make_engine(str(db)), folder / "book", user="bench", as_of_ok=True)
        eng = make_engine(str(db))  # migrates a cache made by older code
        try:
            return load_book(eng)
        except Exception:  # noqa: BLE001 - a cache the current code cannot read: make it again
            if attempt == 2:
                raise
            shutil.rmtree(folder)
        finally:
            eng.dispose()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--accounts", type=int, default=1000)
    ap.add_argument("--days", type=int, default=60)
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--variants", nargs="+", default=["policy"], help="policy, band, calendar")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--work", default="/tmp/bench_lab")
    args = ap.parse_args()
    from engine.lab import build_variants, simulate

    print(f"machine: {platform.machine()} {os.cpu_count()} cores, Python {platform.python_version()}")
    book = cached_book(args.accounts, args.seed, args.work)
    vs = build_variants(book.policy, baselines=[v for v in args.variants if v != "policy"],
                        default="policy" in args.variants)
    for w in args.workers:
        for v in vs:
            t, c0, k0 = time.perf_counter(), time.process_time(), _children()
            r = simulate(book, [v], args.days, seed=args.seed, workers=w)
            s = time.perf_counter() - t
            cpu = time.process_time() - c0 + _children() - k0
            row = r.summary.iloc[0]
            print(f"{v.name:>9} {args.accounts:,} accounts x {args.days} days, {w} worker(s): {s:6.1f} s "
                  f"({s / args.days:.2f} s/day), CPU {cpu:6.1f} s; order lines {row['order_lines']:,}, turnover "
                  f"{row['turnover_pct']:.1f} %, drift {row['drift_mean_pct']:.2f} %, tax ${row['tax_paid']:,.0f}",
                  flush=True)


if __name__ == "__main__":
    main()
