"""Where an optimized account's time goes: per-phase microseconds per account, in one process.

    .venv/bin/python bench/bench_optimizer_phases.py                  # the 10,000-account sample book
    .venv/bin/python bench/bench_optimizer_phases.py --accounts 1000 --repeat 5

Builds the inputs of every account the run would optimize (as the run's builder does, with
its universe keys and whole-book lot terms), then optimizes them ``--repeat`` times and keeps
each phase's best time.  Phases are timed by wrapping the optimizer's module functions (a
wrapper costs ~0.2 us a call; there are about ten calls per account):

* ``build``: ``InputBuilder.build`` (the account's arrays from the indexed book)
* ``prepare``, ``no_trade``, ``build_qp``, ``round``, ``finish`` (incl. ``trade_lines``)
* ``solver``: inside PIQP (creation, set-up, solves, fetching the solution, release)
* ``other``: the rest of ``optimize_account`` (direction and minimum-size decisions between
  the solves, copying the solution within its bounds) and ``optimize_many``'s loop

The book is generated and imported once under ``--work`` (shared with bench_run.py).
"""
from __future__ import annotations

import argparse
import gc
import os
import platform
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

PHASES = ("_prepare", "_no_trade_is_optimal", "_build_qp", "_round", "_finish", "_trade_lines")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--accounts", type=int, default=10000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--work", default="/tmp/bench_run")
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    from engine.decide import optimizer as opt
    from engine.decide import workflow as wf
    from engine.book.checks import run_checks
    from engine.book.importer import import_book
    from engine.decide.overrides import active_overrides
    from engine.book.sample import generate_sample
    from storage import repo
    from storage.db import make_engine

    work = Path(args.work) / str(args.accounts)
    db = work / "book.db"
    if not db.exists():
        generate_sample(work / "book", accounts=args.accounts, seed=args.seed)
        import_book(make_engine(db), work / "book", user="bench")
    with make_engine(db).connect() as conn:
        snap = repo.snapshot_info(conn)
        frames = repo.read_book_frames(conn, snap.id)
        policy = wf.current_policy(conn)
        ov = active_overrides(conn, snap.as_of)
    hold = wf.holdings(frames["lots"])
    susp = run_checks(frames, snap.as_of, policy, hold)
    facts, extras = wf.account_facts(frames, snap.as_of, policy, set(), hold)
    builder = wf.InputBuilder(frames, facts, extras, snap.as_of, policy, set(ov.freeze))
    bad = set(susp["account_id"]) if len(susp) else set()
    ids = [a for a in facts["account_id"].tolist() if a not in bad]
    settings = wf.optimizer_settings(policy)

    spent: dict[str, float] = {}
    clock = time.perf_counter

    def timed(fn, label):
        def wrapper(*a, **k):
            t = clock()
            try:
                return fn(*a, **k)
            finally:
                spent[label] = spent.get(label, 0.0) + clock() - t
        return wrapper

    for name in PHASES:
        setattr(opt, name, timed(getattr(opt, name), name.strip("_")))
    build = timed(builder.build, "build")
    opt.optimize_many([builder.build(a) for a in ids[:300]], settings)  # warm caches and imports
    best: dict[str, float] = {}
    gc.disable()
    for _ in range(args.repeat):
        spent.clear()
        inputs = [build(a) for a in ids]
        t = clock()
        results = opt.optimize_many(inputs, settings)
        spent["optimize"] = clock() - t
        spent["solver"] = sum(r.solve_time for r in results)
        for k, v in spent.items():
            best[k] = min(best.get(k, float("inf")), v)
        del inputs, results
    gc.enable()
    n = len(ids)
    us = {k: v / n * 1e6 for k, v in best.items()}
    own = ("prepare", "no_trade_is_optimal", "build_qp", "round", "finish")
    us["other"] = us["optimize"] - us["solver"] - sum(us[k] for k in own)
    outside = us["build"] + us["optimize"] - us["solver"]
    print(f"machine: {platform.machine()} {os.cpu_count()} cores, Python {platform.python_version()}")
    print(f"{n:,} accounts optimized; microseconds per account (best of {args.repeat}):")
    for k in ("build", "prepare", "no_trade_is_optimal", "build_qp", "round", "finish", "trade_lines",
              "other", "solver"):
        print(f"  {k:<20} {us[k]:>7.1f}" + ("   (part of finish)" if k == "trade_lines" else ""))
    print(f"  outside the solver   {outside:>7.1f}  = {outside / us['solver']:.2f} x the solver's time; "
          f"solver share {us['solver'] / (outside + us['solver']):.1%}")


if __name__ == "__main__":
    main()
