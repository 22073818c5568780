"""Benchmark (issue #18): peak memory of reading hostile giant books, each in a fresh process.

    .venv/bin/python bench/bench_hostile_memory.py [--work DIR] [--only NAME ...]

Cases (each a copy of a 10,000-account sample book with one file replaced): a 1 GiB lots file
(sparse), /dev/zero linked as lots.csv, lots at the row cap (6 M short rows), one row over the
cap, one 400 MB line, and a 100,000-account-sized lots file (5.4 M rows, 225 MB). Prints one JSON
line a case: outcome, seconds and peak RSS of the reading process (engine.book.book.read_book).
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
HEADER = "account_id,lot_id,symbol,quantity,unit_cost,acquired_date\n"


def child(folder: str) -> None:
    from engine.book.book import BookError, read_book

    t = time.perf_counter()
    try:
        book = read_book(folder)
        outcome = f"read ({len(book['lots']):,} lots)"
    except BookError as exc:
        lines = str(exc).splitlines()
        outcome = "refused: " + (lines[1].strip() if len(lines) > 1 else lines[0])[:160]
    print(json.dumps({"outcome": outcome, "seconds": round(time.perf_counter() - t, 1),
                      "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)}))


def _short_rows(path: Path, n: int) -> None:
    with open(path, "w") as f:
        f.write(HEADER)
        step = 200_000
        for lo in range(0, n, step):
            f.write("".join(f"A{i % 10000:06d},L{i},AAA,1,1,2020-01-01\n" for i in range(lo, min(n, lo + step))))


def build(base: Path, work: Path, name: str) -> Path:
    folder = work / name
    shutil.copytree(base, folder)
    lots = folder / "lots.csv"
    if name == "lots_1gib_sparse":
        with open(lots, "r+b") as f:
            f.truncate(1 << 30)
    elif name == "dev_zero":
        lots.unlink()
        lots.symlink_to("/dev/zero")
    elif name == "rows_at_cap":
        from engine.book.book_size import MAX_ROWS
        _short_rows(lots, MAX_ROWS)
    elif name == "rows_over_cap":
        from engine.book.book_size import MAX_ROWS
        _short_rows(lots, MAX_ROWS + 1)
    elif name == "one_400mb_line":
        with open(lots, "a") as f:
            for _ in range(400):
                f.write("x" * (1 << 20))
    elif name == "lots_100k_size":
        body = (base / "lots.csv").read_text().split("\n", 1)[1]
        with open(lots, "w") as f:
            f.write(HEADER)
            for _ in range(10):
                f.write(body)
    return folder


CASES = ["lots_1gib_sparse", "dev_zero", "one_400mb_line", "rows_over_cap", "rows_at_cap", "lots_100k_size"]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--work")
    ap.add_argument("--only", nargs="*")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args.child)
        return
    from engine.book.sample import generate_sample

    work = Path(args.work or tempfile.mkdtemp(prefix="bench_hostile_"))
    base = work / "base"
    if not base.exists():
        generate_sample(base, accounts=10_000, seed=1)
    for name in args.only or CASES:
        folder = build(base, work, name)
        out = subprocess.run([sys.executable, __file__, "--child", str(folder)], capture_output=True, text=True)
        res = json.loads(out.stdout) if out.returncode == 0 else {"error": out.stderr[-500:]}
        size = os.lstat(folder / "lots.csv").st_size if (folder / "lots.csv").is_file() else None
        print(json.dumps({"case": name, "lots_bytes": size, **res}), flush=True)
        shutil.rmtree(folder)
    if not args.work:
        shutil.rmtree(work)


if __name__ == "__main__":
    main()
