"""Benchmark: the run's throughput with a share of accounts in households against none.

    .venv/bin/python bench/bench_households.py --accounts 5000 --share 0.4 --workers 2 --repeat 2

Two sample books of the same seed and size are generated and imported once (cached under
--work): one without households, one with ``--share`` of the accounts in households
(``sample --households``). The run is timed on each, alternating, ``--repeat`` times; the best
of each is compared (a shared machine's noise only ever slows a run). Prints the stage timings,
accounts per second and the ratio (the goal: households keep >= 80 % of the throughput).
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
    ap.add_argument("--accounts", type=int, default=5000)
    ap.add_argument("--share", type=float, default=0.4)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--work", default="/tmp/bench_households")
    args = ap.parse_args()
    from engine.book.importer import import_book
    from engine.book.sample import generate_sample
    from engine.decide.workflow import run_workflow
    from storage.db import make_engine

    print(f"machine: {platform.machine()} {os.cpu_count()} cores, Python {platform.python_version()}")
    engines = {}
    for label, share in (("none", 0.0), (f"{args.share:.0%}", args.share)):
        work = Path(args.work) / f"{args.accounts}-{share}"
        db = work / "book.db"
        if not db.exists():
            generate_sample(work / "book", accounts=args.accounts, seed=args.seed, households=share)
            import_book(make_engine(db), work / "book", user="bench")
        engines[label] = make_engine(db)
    best: dict[str, tuple[float, dict]] = {}
    for r in range(args.repeat):
        for label, engine in engines.items():
            t = time.perf_counter()
            out = run_workflow(engine, workers=args.workers, user="bench")
            wall = time.perf_counter() - t
            tm = out.summary["timings"]
            print(f"repeat {r + 1} households {label:>5}: total {wall:6.2f} s  checks {tm['checks_overrides_mandates']:5.2f}"
                  f"  prepare {tm['prepare']:5.2f}  optimize {tm['optimize']:6.2f}  persist {tm['persist']:5.2f}"
                  f"  {args.accounts / wall:7.0f} acc/s  {out.summary['categories']}", flush=True)
            if label not in best or wall < best[label][0]:
                best[label] = (wall, tm)
    (a, _), (b, _) = best.values()
    print(f"best: none {a:.2f} s ({args.accounts / a:.0f} acc/s), households {b:.2f} s "
          f"({args.accounts / b:.0f} acc/s): throughput ratio {a / b:.1%}")


if __name__ == "__main__":
    main()
