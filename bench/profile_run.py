"""cProfile, in CPU time, of one run of the workflow (one worker) on a book: where a run's time goes.

    .venv/bin/python bench/profile_run.py BOOK_FOLDER DB [--out FILE.pstats] [--top N] [--code TREE]

Imports the book into a fresh SQLite file ``DB`` (untimed), then profiles ``run_workflow(workers=1)``
with ``time.process_time`` as the clock (so other work on the machine does not count) and prints
the run's CPU seconds, its categories and stage timings, and the top functions by own and by
cumulative time. Profiler overhead included: Python-heavy code is inflated most, so compare two
codes under it, not against an unprofiled run. Set ``REBALANCE_DESK_CACHE=off`` to read the book
from the database as a cold run does.
"""
from __future__ import annotations

import argparse
import cProfile
import pstats
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("book")
    ap.add_argument("db")
    ap.add_argument("--out", help="write the profile here (pstats)")
    ap.add_argument("--top", type=int, default=40)
    ap.add_argument("--code", help="import engine and storage from this checkout instead of this one")
    args = ap.parse_args(argv)
    if args.code:
        sys.path.insert(0, str(Path(args.code).resolve()))
    for suffix in ("", "-wal", "-shm"):
        Path(args.db + suffix).unlink(missing_ok=True)
    from engine.book.importer import import_book
    from engine.decide.workflow import run_workflow
    from storage.db import make_engine

    engine = make_engine(args.db)
    import_book(engine, args.book, user="bench")
    prof = cProfile.Profile(time.process_time)
    c0 = time.process_time()
    prof.enable()
    out = run_workflow(engine, workers=1, user="bench")
    prof.disable()
    print(f"run CPU {time.process_time() - c0:.2f} s; {out.summary['categories']}; "
          f"{ {k: round(v, 2) for k, v in out.summary['timings'].items()} }")
    if args.out:
        prof.dump_stats(args.out)
    st = pstats.Stats(prof)
    st.sort_stats("tottime").print_stats(args.top)
    st.sort_stats("cumulative").print_stats(args.top)
    return 0


if __name__ == "__main__":
    sys.exit(main())
