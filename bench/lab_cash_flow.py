"""Lab check (issue 23): a cash-flow account never sells beyond its cash need plus rounding, over a
simulation of a sample book with cash-flow accounts and budgets.

    nice -n 5 .venv/bin/python bench/lab_cash_flow.py --accounts 1000 --days 60

A sample book (engine.book.sample, ``--seed``) gets gains budgets on 30 % of its taxable accounts
and ``--cash-flow`` of its accounts in ``trading_mode = cash_flow``
(engine.book.budget_sample.add_budgets), is imported into a SQLite file (cached under --work) and
simulated ``--days`` business days with the default policy deciding every day and cash requests
arriving at ``--request-rate`` per account and day (more than the lab's default, so the
cash-flow accounts have needs to meet). Every day, every cash-flow account's executed sells are
checked against that day's cash need (engine.lab.cash_flow_check, which reads the executions,
not the engine's reasons). Prints the figures and every account-day over the rule; exit 1 if any.
"""
from __future__ import annotations

import argparse
import os
import shutil
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def cash_flow_book(accounts: int, seed: int, share: float, work: str):
    from engine.book.budget_sample import add_budgets
    from engine.book.importer import import_book
    from engine.book.sample import generate_sample
    from engine.lab import load_book
    from storage.db import make_engine

    folder = Path(work) / f"{accounts}_{seed}_{share:g}"
    db = folder / "book.db"
    if not db.exists():
        if folder.exists():
            shutil.rmtree(folder)
        folder.mkdir(parents=True)
        generate_sample(folder / "book", accounts=accounts, seed=seed)
        print("book:", add_budgets(folder / "book", cash_flow=share, seed=seed), flush=True)
        import_book(make_engine(str(db)), folder / "book", user="bench", as_of_ok=True)
    eng = make_engine(str(db))
    try:
        return load_book(eng)
    finally:
        eng.dispose()


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--accounts", type=int, default=1000)
    ap.add_argument("--days", type=int, default=60)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--cash-flow", type=float, default=0.25, help="share of accounts in cash-flow mode")
    ap.add_argument("--request-rate", type=float, default=0.01, help="new cash requests per account and day")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--work", default="/tmp/lab_cash_flow")
    args = ap.parse_args()
    from engine.lab import build_variants, simulate

    book = cash_flow_book(args.accounts, args.seed, args.cash_flow, args.work)
    (v,) = build_variants(book.policy, baselines=[], default=True)
    t = time.perf_counter()
    r = simulate(book, [v], args.days, seed=args.seed, workers=args.workers, request_rate=args.request_rate)
    secs = time.perf_counter() - t
    cf = r.cash_flow
    flow_ids = set(book.frames["accounts"].loc[book.frames["accounts"]["trading_mode"].fillna("") == "cash_flow",
                                               "account_id"])
    sellers = cf[cf["sold"] + cf["restricted_sold"] > 0]
    needy = cf[cf["need"] > 0]
    bad = cf[cf["excess"] > 0]
    print(f"{args.accounts:,} accounts ({len(flow_ids):,} cash-flow) x {args.days} days, {args.workers} worker(s), "
          f"request rate {args.request_rate:g}: {secs:.1f} s, load average {os.getloadavg()[0]:.1f}")
    print(f"cash-flow account-days that traded: {len(cf):,} ({cf['account_id'].nunique():,} accounts); "
          f"that sold: {len(sellers):,}; with a cash need: {len(needy):,} (needs ${needy['need'].sum():,.0f}); "
          f"sold ${cf['sold'].sum():,.0f} (+ ${cf['restricted_sold'].sum():,.0f} restricted) against "
          f"${cf['allowed'].sum():,.0f} allowed; largest sale over its need: "
          f"${(cf['sold'] - cf['need']).max() if len(cf) else 0:,.2f}")
    print(f"account-days over the rule: {len(bad):,}" + (f", worst ${bad['excess'].max():,.2f}" if len(bad) else ""))
    if len(bad):
        print(bad.to_string(index=False))
    return 1 if len(bad) else 0


if __name__ == "__main__":
    sys.exit(main())
