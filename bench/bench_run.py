"""Benchmark: the whole-book run (checks, optimize, score, persist) on sample books.

    .venv/bin/python bench/bench_run.py --accounts 1000 10000 100000 --workers 1 2

For each size a sample book is generated and imported once (cached under --work), then the
run is timed for each worker count. Prints the run's stage timings, the optimize stage's
accounts per second and the share of the optimize stage spent inside the QP solver.
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


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--accounts", type=int, nargs="+", default=[1000, 10000])
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--work", default="/tmp/bench_run")
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    from engine.importer import import_book
    from engine.sample import generate_sample
    from engine.workflow import run_workflow
    from storage.db import make_engine

    print(f"machine: {platform.machine()} {os.cpu_count()} cores, Python {platform.python_version()}")
    print(f"{'accounts':>9} {'workers':>7} {'total s':>8} {'checks s':>8} {'prepare s':>9} {'optimize s':>10} "
          f"{'acc/s':>7} {'solver %':>8} {'persist s':>9}  categories")
    for n in args.accounts:
        work = Path(args.work) / str(n)
        db = work / "book.db"
        if not db.exists():
            generate_sample(work / "book", accounts=n, seed=args.seed)
            import_book(make_engine(db), work / "book", user="bench")
        engine = make_engine(db)
        for w in args.workers:
            t = time.perf_counter()
            out = run_workflow(engine, workers=w, user="bench")
            total = time.perf_counter() - t
            tm = out.summary["timings"]
            optimized = sum(out.summary["categories"][c] for c in ("MANDATE", "SCORE", "NO_TRADE"))
            rate = optimized / tm["optimize"] if tm["optimize"] else float("nan")
            solver_share = tm["solver"] / (tm["optimize"] * w) * 100 if tm["optimize"] else 0.0
            cats = " ".join(f"{k}={v}" for k, v in out.summary["categories"].items())
            print(f"{n:>9,} {w:>7} {total:>8.1f} {tm['checks_overrides_mandates']:>8.1f} {tm['prepare']:>9.1f} "
                  f"{tm['optimize']:>10.1f} {rate:>7.0f} {solver_share:>8.0f} {tm['persist']:>9.1f}  {cats}")


if __name__ == "__main__":
    main()
