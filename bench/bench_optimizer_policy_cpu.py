"""CPU seconds of one day's optimizer under each policy file (docs/decision-quality.md, 11b).

    .venv/bin/python bench/bench_optimizer_policy_cpu.py DB POLICY.toml [POLICY.toml ...] [--repeat 2]

Builds the inputs of every account the run would optimize on the database's newest snapshot (as
``bench/bench_optimizer_phases.py`` does: the run's builder, its universe keys and whole-book lot
terms), then optimizes them ``--repeat`` times per policy file, in the order given, in this one
process, and prints the fastest ``time.process_time`` of each (CPU, not wall: the machine may be
shared), its QP solves and order lines.  Give a file more than once to interleave the policies.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("db")
    ap.add_argument("policies", nargs="+")
    ap.add_argument("--repeat", type=int, default=2)
    args = ap.parse_args()
    from engine.book.checks import run_checks
    from engine.core.policy import load_policy
    from engine.decide import optimizer as opt
    from engine.decide import workflow as wf
    from engine.decide.overrides import active_overrides
    from storage import repo
    from storage.db import make_engine

    with make_engine(args.db).connect() as conn:
        snap = repo.snapshot_info(conn)
        frames = repo.read_book_frames(conn, snap.id)
        ov = active_overrides(conn, snap.as_of)
    hold = wf.holdings(frames["lots"])
    for path in args.policies:
        policy = load_policy(path)
        susp = run_checks(frames, snap.as_of, policy, hold)
        facts, extras = wf.account_facts(frames, snap.as_of, policy, set(), hold)
        builder = wf.InputBuilder(frames, facts, extras, snap.as_of, policy, set(ov.freeze))
        bad = set(susp["account_id"]) if len(susp) else set()
        inputs = [builder.build(a) for a in facts["account_id"].tolist() if a not in bad]
        settings = wf.optimizer_settings(policy)
        best = float("inf")
        for _ in range(max(1, args.repeat)):
            t0 = time.process_time()
            res = opt.optimize_many(inputs, settings)
            best = min(best, time.process_time() - t0)
        n = max(len(inputs), 1)
        print(f"{path}: {len(inputs)} accounts, CPU {best:.2f} s ({1e3 * best / n:.2f} ms/account), "
              f"{sum(r.n_solves for r in res)} QP solves, {sum(len(r.trades) for r in res)} order lines",
              flush=True)


if __name__ == "__main__":
    main()
