"""Benchmark (issue 23): the day's decisions on a sample book with gains budgets on 30 % of the
taxable accounts (and 5 % cash-flow accounts) against the same book without them.

    .venv/bin/python bench/bench_budgets.py --accounts 10000 --repeat 2

The book is generated once (cached under --work); ``engine.decide.workflow.decide`` (checks, mandates,
optimizer, score; no database) runs on the plain book and on the book with budgets, alternately
``--repeat`` times; the best time of each is kept. For the budget book it then checks every
proposal: net realized gains plus this year's stay within the budget (after whole-share rounding,
within one share's gain of the lots sold), except where a mandate (restriction sale, cash due)
needs more; and every cash-flow account sells no more than its cash need or the policy's minimum
trade, whichever is more (plus restriction sales, one share of rounding and the tickets). ``BENCH_CODE=/path/to/checkout`` times another checkout (``--plain-only``:
it need not have budgets), e.g. main before this change.
"""
from __future__ import annotations

import argparse
import os
import shutil
import sys
import time
from pathlib import Path

ROOT = Path(os.environ.get("BENCH_CODE") or Path(__file__).resolve().parents[1])
sys.path.insert(0, str(ROOT))


def _imports():
    """(read_book, default_policy, decide, generate_sample) of the flat engine or of its packages."""
    try:
        from engine.book.book import read_book
        from engine.core.policy import default_policy
        from engine.book.sample import generate_sample
        from engine.decide.workflow import decide
    except ImportError:  # the engine in packages (engine/book, engine/core, engine/decide)
        from engine.book.book import read_book
        from engine.book.sample import generate_sample
        from engine.core.policy import default_policy
        from engine.decide.workflow import decide
    return read_book, default_policy, decide, generate_sample


def _decide(folder: Path, workers: int):
    read_book, default_policy, decide, _ = _imports()

    book = read_book(folder)
    frames = dict(book.frames)
    frames["models"] = book.models
    t, c = time.perf_counter(), time.process_time()
    d = decide(frames, book.as_of, default_policy(), workers=workers)
    return time.perf_counter() - t, time.process_time() - c, d, frames


def check(d, frames) -> dict:
    """Budget and cash-flow checks over every optimized account of a run."""
    import numpy as np

    min_trade = _imports()[1]().trading.min_trade_dollars
    lots = frames["lots"].set_index(["account_id", "lot_id"])["unit_cost"].astype(float)
    facts = d.facts.set_index("account_id")
    out = {"budgets": 0, "held": 0, "over_by_mandate": 0, "over_without_mandate": 0, "worst_excess": 0.0,
           "cash_flow": 0, "cash_flow_over": 0, "cash_flow_worst": 0.0}
    for a, r in d.results.items():
        if r.status != "optimal":
            continue
        f = facts.loc[a]
        if r.budget:
            out["budgets"] += 1
            b = r.budget
            ytd = b["budget_used"] - r.realized_gain
            share = max([0.0] + [t.est_price - lots.get((a, lid), t.est_price) for t in r.trades if t.side == "SELL"
                                 for lid, _ in t.lots])
            excess = b["budget_used"] - max(b["gains_budget"], ytd) - share
            mandate = any(k in str(f["mandates"]) for k in ("cash_", "restriction"))
            if excess <= 0.01:
                out["held"] += 1
            elif mandate:
                out["over_by_mandate"] += 1
            else:
                out["over_without_mandate"] += 1
                out["worst_excess"] = max(out["worst_excess"], excess)
        if bool(f.get("cash_flow", False)):
            out["cash_flow"] += 1
            sold = sum(t.value for t in r.trades if t.side == "SELL" and t.reason != "restriction")
            must = sum(t.value for t in r.trades if t.side == "SELL" and t.reason == "restriction")
            need = max(r.cash_required - float(f["cash"]) - must, 0.0)
            px = max([0.0] + [t.est_price for t in r.trades if t.side == "SELL"])
            # the need, or the smallest trade the policy allows, plus one share and the tickets
            over = sold - (max(need / (1 - 5e-4), min_trade) + px + 10.0 * len(r.trades))
            if over > 0.01:
                out["cash_flow_over"] += 1
                out["cash_flow_worst"] = max(out["cash_flow_worst"], float(np.round(over, 2)))
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--accounts", type=int, default=10000)
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--work", default="/tmp/bench_budgets")
    ap.add_argument("--plain-only", action="store_true")
    args = ap.parse_args()
    generate_sample = _imports()[3]
    work = Path(args.work) / str(args.accounts)
    plain, budgets = work / "plain", work / "budgets"
    if not plain.exists():
        generate_sample(plain, accounts=args.accounts, seed=args.seed)
    if not args.plain_only and not budgets.exists():
        from engine.book.budget_sample import add_budgets

        shutil.copytree(plain, budgets)
        print("budget book:", add_budgets(budgets))
    print(f"code: {ROOT}; {args.accounts:,} accounts, {args.workers} worker(s), best of {args.repeat}")
    best = {"plain": float("inf"), "budgets": float("inf")}
    cpu = {"plain": float("inf"), "budgets": float("inf")}
    last = None
    for _ in range(args.repeat):
        for name, folder in (("plain", plain), ("budgets", budgets)):
            if name == "budgets" and args.plain_only:
                continue
            secs, cpu_s, d, frames = _decide(folder, args.workers)
            best[name] = min(best[name], secs)
            cpu[name] = min(cpu[name], cpu_s)
            n = len(d.results)
            print(f"  {name:8} decide {secs:6.1f} s wall, {cpu_s:6.1f} s CPU of this process · {n:,} accounts "
                  f"optimized · {n / secs:,.0f} acc/s · "
                  f"{d.summary['categories']}")
            if name == "budgets":
                last = (d, frames)
    if args.plain_only:
        return
    ratio = best["plain"] / best["budgets"]
    print(f"throughput with budgets / without: {ratio:.1%} wall (best {best['budgets']:.1f} s vs "
          f"{best['plain']:.1f} s), {cpu['plain'] / cpu['budgets']:.1%} CPU (best {cpu['budgets']:.1f} s vs "
          f"{cpu['plain']:.1f} s; with 1 worker the optimizer runs in this process)")
    print("checks:", check(*last))


if __name__ == "__main__":
    main()
