"""Benchmark: the whole-book run (checks, optimize, score, persist) on sample books.

    .venv/bin/python bench/bench_run.py --accounts 1000 10000 100000 --workers 1 2
    .venv/bin/python bench/bench_run.py --accounts 100000 --workers 2 --executor dask-local

For each size a sample book is generated and imported once (cached under --work), then the
run is timed for each worker count. Prints the run's stage timings, the optimize stage's
accounts per second, the share of the optimize stage spent inside the QP solver (solver
seconds / (stage wall seconds x workers)) and the per-account share (solver seconds / seconds
the workers spent building and optimizing accounts, i.e. without the pool's own overhead).

``--executor dask-local`` runs each worker count through a ``dask.distributed`` LocalCluster of
that many single-threaded worker processes (started and warmed up before the timed run, as a
standing cluster would be), i.e. the ``run --executor dask://...`` path with inputs built in this
process; ``--executor dask://HOST:PORT`` uses a running cluster (its own worker count).
"""
from __future__ import annotations

import argparse
import contextlib
import logging
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
    ap.add_argument("--executor", default="local",
                    help="local (default), dask-local (a LocalCluster of --workers processes) or dask://HOST:PORT")
    args = ap.parse_args()
    from engine.book.importer import import_book
    from engine.book.sample import generate_sample
    from engine.decide.workflow import run_workflow
    from storage.db import make_engine

    print(f"machine: {platform.machine()} {os.cpu_count()} cores, Python {platform.python_version()}")
    print(f"executor: {args.executor}")
    print(f"{'accounts':>9} {'workers':>7} {'total s':>8} {'checks s':>8} {'prepare s':>9} {'optimize s':>10} "
          f"{'acc/s':>7} {'solver %':>8} {'per-acc solver %':>16} {'persist s':>9}  categories")
    for n in args.accounts:
        work = Path(args.work) / str(n)
        db = work / "book.db"
        if not db.exists():
            generate_sample(work / "book", accounts=n, seed=args.seed)
            import_book(make_engine(db), work / "book", user="bench")
        engine = make_engine(db)
        for w in args.workers:
            with _executor(args.executor, w) as spec:
                t = time.perf_counter()
                out = run_workflow(engine, workers=w, executor=spec, user="bench")
                total = time.perf_counter() - t
            tm = out.summary["timings"]
            optimized = sum(out.summary["categories"][c] for c in ("MANDATE", "SCORE", "NO_TRADE"))
            rate = optimized / tm["optimize"] if tm["optimize"] else float("nan")
            solver_share = tm["solver"] / (tm["optimize"] * w) * 100 if tm["optimize"] else 0.0
            # per account: solver time / time spent building and optimizing the accounts (in the
            # workers; the pool's own overhead — forking, pickling, the parent — left out)
            per_acc = tm["solver"] / tm["optimizer_work"] * 100 if tm.get("optimizer_work") else float("nan")
            cats = " ".join(f"{k}={v}" for k, v in out.summary["categories"].items())
            print(f"{n:>9,} {w:>7} {total:>8.1f} {tm['checks_overrides_mandates']:>8.1f} {tm['prepare']:>9.1f} "
                  f"{tm['optimize']:>10.1f} {rate:>7.0f} {solver_share:>8.0f} {per_acc:>16.0f} {tm['persist']:>9.1f}  {cats}")


@contextlib.contextmanager
def _executor(name: str, workers: int):
    """The executor spec for one timed run; for dask-local, a LocalCluster around it."""
    if name != "dask-local":
        yield name
        return
    import importlib

    from distributed import Client, LocalCluster

    with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None,
                      scheduler_port=0, silence_logs=logging.WARNING) as cluster:
        with Client(cluster, set_as_default=False) as client:  # warm: workers import the engine untimed
            client.run(importlib.import_module, "engine.decide.workflow")
        yield "dask://" + cluster.scheduler_address.split("://", 1)[1]


if __name__ == "__main__":
    main()
