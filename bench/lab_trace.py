"""A policy-lab run with its trace (docs/decision-quality.md): the summary and daily tables the CLI
writes, plus order lines by reason, side and whether the security is in the account's model
(day 1 apart), every account-day outside a band that the decision does not excuse, and the cash
requests not paid on time (late, or of accounts suspended for bad data when due).

    python bench/lab_trace.py DB DAYS OUT [--sample N] [--policy FILE ...] [--no-default]
                              [--baseline band,calendar] [--seed 7] [--workers 2]
                              [--baseline-policy FILE]

Writes OUT/summary.csv and OUT/daily.csv (as ``main.py simulate`` does; bench/goal_table.py
reads them), OUT/dispersion_parts_VARIANT.csv (each account's parts of its active return:
bench/lab_dispersion_floor.py reads them) and OUT/trace.txt (also printed).
"""
from __future__ import annotations

import argparse
import sys
from dataclasses import replace
import time
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main(argv=None) -> None:
    from engine.lab.plan import sample_accounts
    from engine.lab.runner import build_variants, load_book, simulate
    from engine.core.policy import default_policy
    from storage.db import make_engine

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("db")
    ap.add_argument("days", type=int)
    ap.add_argument("out")
    ap.add_argument("--sample", type=int)
    ap.add_argument("--policy", nargs="*", default=[])
    ap.add_argument("--no-default", action="store_true")
    ap.add_argument("--baseline", default="band")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--baseline-policy", help="a policy FILE the baselines run under (bands, minimum trade; "
                                              "default: the shipped policy)")
    a = ap.parse_args(argv)
    eng = make_engine(a.db, migrate=False)
    book = load_book(eng)
    book.policy = default_policy()
    book = sample_accounts(book, a.sample, a.seed)
    baselines = [b for b in a.baseline.split(",") if b]
    first = [] if a.baseline_policy else baselines
    variants = build_variants(book.policy, policy_files=a.policy, default=not a.no_default, baselines=first) \
        if a.policy or not a.no_default or first else []
    if a.baseline_policy and baselines:
        from engine.core.policy import load_policy

        stem = Path(a.baseline_policy).stem
        variants += [replace(v, name=f"{v.name}_{stem}")
                     for v in build_variants(load_policy(a.baseline_policy), baselines=baselines, default=False)]
    t0 = time.perf_counter()
    res = simulate(book, variants, a.days, seed=a.seed, workers=a.workers)
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    res.summary.to_csv(out / "summary.csv", index=False)
    res.daily.round(6).to_csv(out / "daily.csv", index=False)
    for v in variants:  # each account's parts of its active return (engine/lab/dispersion.py)
        res.ledgers[v.name].dispersion_parts().to_csv(out / f"dispersion_parts_{v.name}.csv", index=False)
    lines = [f"{len(book.frames['accounts'])} accounts x {a.days} days, seed {a.seed}: "
             f"{time.perf_counter() - t0:.0f} s"]
    mw = book.frames["model_weights"]
    model_of = book.frames["accounts"].set_index("account_id")["model_id"]
    in_model = set(zip(mw["model_id"], mw["symbol"]))
    for v in variants:
        led = res.ledgers[v.name]
        ex = led.all_executions()
        ln = ex.drop_duplicates(["account_id", "day", "line", "side", "symbol"])
        ln = ln.assign(when=(ln["day"] > 0).map({False: "day 1", True: "after"}),
                       model=[(model_of.get(x), s) in in_model for x, s in zip(ln["account_id"], ln["symbol"])])
        tab = ln.groupby(["when", "reason", "side", "model"]).size().unstack(["when"], fill_value=0)
        lines += [f"\n== {v.name}: order lines by reason, side, security in the model", tab.to_string()]
        if v.kind == "engine":
            lines.append(f"account-days outside a band, not excused: {led.unexcused}")
        paid = pd.concat(led.paid, ignore_index=True) if led.paid else pd.DataFrame()
        late = paid[paid["late"]] if len(paid) else paid
        last = led.dates[-1].isoformat()
        un = led.unpaid[led.unpaid["due_date"].astype(str) <= last] if led.unpaid is not None else pd.DataFrame()
        for name, frame in (("paid late", late), ("due and never paid", un)):
            if len(frame):
                s = led.suspended_when_due(frame)
                lines.append(f"{name}: {len(frame)} ({int(s.sum())} on accounts suspended for bad data when due)\n"
                             + frame.assign(suspended_when_due=s)[["request_id", "account_id", "amount", "due_date",
                                                                   "suspended_when_due"]].to_string())
    text = "\n".join(lines)
    (out / "trace.txt").write_text(text + "\n", encoding="utf-8")
    print(text)


if __name__ == "__main__":
    main()
