"""Benchmark: generate and import a sample book (default 100,000 accounts).

    .venv/bin/python bench/bench_import.py [--accounts N] [--keep DIR]

Prints generation time, import time (read+validate, write, commit) and peak memory (RSS) of
the import, measured in a fresh child process so the generator's memory does not count.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def child_import(folder: str, db: str) -> None:
    from engine.book.importer import import_book
    from storage.db import make_engine

    engine = make_engine(db)
    t = time.perf_counter()
    snap = import_book(engine, folder, user="bench")
    elapsed = time.perf_counter() - t
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 / 1024
    print(json.dumps({"snapshot": snap, "import_s": round(elapsed, 1), "peak_rss_gib": round(peak, 2)}))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--accounts", type=int, default=100_000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--keep", help="write the book and database here instead of a temp dir")
    ap.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child_import(*args.child)
        return
    from engine.book.sample import generate_sample

    work = Path(args.keep or tempfile.mkdtemp(prefix="bench_import_"))
    folder, db = work / "book", work / "bench.db"
    for suffix in ("", "-wal", "-shm"):
        Path(str(db) + suffix).unlink(missing_ok=True)
    t = time.perf_counter()
    summary = generate_sample(folder, accounts=args.accounts, seed=args.seed)
    gen = time.perf_counter() - t
    lots = sum(1 for _ in open(folder / "lots.csv")) - 1
    out = subprocess.run([sys.executable, __file__, "--child", str(folder), str(db)],
                         capture_output=True, text=True, check=True)
    res = json.loads(out.stdout.strip().splitlines()[-1])
    size = os.path.getsize(db) / 1024 / 1024
    print(f"machine: {platform.machine()} {os.cpu_count()} cores, Python {platform.python_version()}")
    print(f"accounts: {args.accounts:,}  lots: {lots:,}")
    print(f"generate: {gen:.1f} s")
    print(f"import:   {res['import_s']:.1f} s  peak RSS {res['peak_rss_gib']:.2f} GiB  database {size:,.0f} MiB")


if __name__ == "__main__":
    main()
