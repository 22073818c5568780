"""Household optimization with asset location against account-by-account rebalancing of the same
households, on the policy lab's simulation (engine.lab: the real ``decide`` every day, the
simulated market and custodian, one Ledger per variant).

    nice -n 5 .venv/bin/python bench/lab_households.py --accounts 500 --share 0.4 --days 60 --seed 7

A sample book of ``--accounts`` with ``--share`` of them in households (``sample --households``) is
imported into a temporary SQLite file and read back as ``simulate`` reads it; the lab then carries
only the household members (``--all`` keeps every account: the others decide the same way in both
variants). Two variants on the same prices: the shipped default policy, and the same with
``household_optimization = true`` on every tier and ``tax_drag_bps`` below. It prints the Ledger's
household columns (household drift: ½ Σ |household class weight − value-weighted blend of the
members' own models| over classes and cash, after trading, value-weighted over households, mean
over days; tax paid, turnover summed over the days, order lines, after-tax wealth, all over the
household members) and writes the household policy to ``--write-policy`` for ``main.py simulate
--policy`` (the same comparison from the command line). ``--decide-time N`` instead times one
day's ``decide`` on the whole sample book under each policy (the cost of household optimization).
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

DRAG = {"US Bonds": 40.0, "High Yield": 60.0, "REITs": 50.0, "TIPS": 40.0, "US Large Cap": 8.0,
        "US Small Cap": 10.0, "Intl Developed": 12.0, "Emerging Markets": 12.0, "Munis": 0.0}

COLUMNS = ["household_drift_pct", "household_tax_paid", "household_tax_drag", "household_losses_harvested", "household_turnover_pct",
           "household_order_lines", "household_after_tax_wealth", "household_after_tax_wealth_deferred",
           "drift_mean_pct", "wash_sale_disallowed"]


def household_policy(base, drag_scale: float = 1.0):
    drag = {k: v * drag_scale for k, v in DRAG.items()}
    return base.model_copy(update={"tax_drag_bps": drag, "tiers": tuple(
        t.model_copy(update={"household_optimization": True}) for t in base.tiers)})


def members_only(book):
    """The lab book restricted to the accounts in households of two or more."""
    from engine.decide.household_wash import household_of
    from engine.lab.plan import keep_accounts

    hh = household_of(book.frames["accounts"])
    multi = hh[hh.str.startswith("H:")]
    return keep_accounts(book, set(multi[multi.map(multi.value_counts()) >= 2].index))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--accounts", type=int, default=500)
    ap.add_argument("--share", type=float, default=0.4)
    ap.add_argument("--days", type=int, default=60)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--all", action="store_true", help="carry every account, not only the household members")
    ap.add_argument("--drag-scale", type=float, default=1.0, help="multiply tax_drag_bps (0: no asset location)")
    ap.add_argument("--daily", action="store_true", help="print the household drift of each day")
    ap.add_argument("--decide-time", type=int, metavar="REPEATS",
                    help="only time one day's decide on the whole book, each policy REPEATS times, and stop")
    ap.add_argument("--write-policy", metavar="FILE", help="write the household policy as TOML")
    args = ap.parse_args()
    from dataclasses import replace

    import pandas as pd

    from engine.book.importer import import_book
    from engine.book.sample import generate_sample
    from engine.core.policy import default_policy
    from engine.lab import Variant, load_book, simulate
    from storage.db import make_engine

    tmp = Path(tempfile.mkdtemp())
    generate_sample(tmp / "book", accounts=args.accounts, seed=args.seed, households=args.share)
    eng = make_engine(str(tmp / "book.db"))
    try:
        import_book(eng, tmp / "book", user="bench", as_of_ok=True)
        book = load_book(eng)
    finally:
        eng.dispose()
    if args.decide_time:
        from engine.decide.workflow import decide

        for name, pol in (("account by account", default_policy()),
                          ("household + location", household_policy(default_policy()))):
            secs = []
            for _ in range(args.decide_time):
                t = time.perf_counter()
                decide(book.frames, book.as_of, pol, workers=args.workers)
                secs.append(time.perf_counter() - t)
            print(f"{name:<24} decide on {len(book.frames['accounts'])} accounts: "
                  + ", ".join(f"{x:.2f} s" for x in secs))
        return
    if not args.all:
        book = members_only(book)
    # tax_drag_bps in both (only household optimization uses it; the lab's Ledger accrues the drag)
    base = default_policy().model_copy(update={"tax_drag_bps": DRAG})
    located = household_policy(base, args.drag_scale)
    book = replace(book, policy=base)
    if args.write_policy:
        Path(args.write_policy).write_text(located.to_toml(), encoding="utf-8")
    variants = [Variant("account by account", "engine", base), Variant("household + location", "engine", located)]
    n = len(book.frames["accounts"])
    print(f"{args.accounts}-account sample (seed {args.seed}, households {args.share}): {n} accounts carried, "
          f"{args.days} days")
    t = time.perf_counter()
    res = simulate(book, variants, args.days, seed=args.seed, workers=args.workers)
    print(f"simulated in {time.perf_counter() - t:.0f} s")
    with pd.option_context("display.float_format", "{:,.4f}".format):
        print(res.summary.set_index("variant")[["households", "household_accounts"] + COLUMNS].T.to_string())
        if args.daily:
            print(res.daily.pivot(index="day", columns="variant", values="household_drift_pct").to_string())


if __name__ == "__main__":
    main()
