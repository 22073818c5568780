"""Replay a few accounts of a policy-lab run alone, with the full book's prices and simulated
cash requests (docs/decision-quality.md: tracing unexcused account-days).

    python bench/lab_replay_accounts.py DB ACCOUNT[,ACCOUNT...] POLICY_FILE DAYS [--show]

Prints the account-days outside a band that the decision does not excuse and the summary counts;
with ``--show`` also each day's proposal of each account (category, reasons, order lines) and, for
every unexcused account-day, the lab's class weights against their bands.
"""
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import engine.lab.runner as R  # noqa: E402
import engine.lab.metrics as M  # noqa: E402
import engine.decide.workflow as W  # noqa: E402
from engine.lab.plan import ACCOUNT_FRAMES  # noqa: E402
from engine.core.policy import load_policy  # noqa: E402
from storage.db import make_engine  # noqa: E402

db, ids, policy_file, days = sys.argv[1], set(sys.argv[2].split(",")), sys.argv[3], int(sys.argv[4])
show = "--show" in sys.argv[5:]
book = R.load_book(make_engine(db, migrate=False))
book.policy = load_policy(policy_file)
path = R.price_path(book, days, seed=7)
full = R.request_arrivals(book.frames, path.dates, 0.0005, 7)  # the whole book's draws
R.request_arrivals = lambda frames, dates, rate, seed: full[full["account_id"].isin(ids)].reset_index(drop=True)
frames = dict(book.frames)
for name in ACCOUNT_FRAMES:
    frames[name] = frames[name][frames[name]["account_id"].isin(ids)].reset_index(drop=True)

if show:
    decide, record = W.decide, M.Ledger.record

    def shown_decide(frames, day, *a, **k):
        d = decide(frames, day, *a, **k)
        for _, r in d.proposals.iterrows():
            res = d.results.get(r["account_id"])
            lines = [(t.side, t.symbol, t.shares, round(t.value), t.reason) for t in res.trades] if res else []
            print(day, r["account_id"], r["category"], r["status"], r["reasons"], lines)
        return d

    def shown_record(self, day, start, move, costs, payouts, executions, paid, lots, cash, price, *a, **k):
        n0 = len(self.unexcused)
        row = record(self, day, start, move, costs, payouts, executions, paid, lots, cash, price, *a, **k)
        owed = k.get("owed")
        for _, acc in self.unexcused[n0:]:
            i = int(np.flatnonzero(self.ids == acc)[0])
            cv = self.class_values(lots, cash, price)[i]
            net = cv.sum() - min(0.0 if owed is None else owed[i], cv[-1])
            print("  lab: outside, not excused", day, acc)
            for c, x, lo, hi in zip(self.classes, cv / net, self.lo[i], self.hi[i]):
                print(f"    {c:20s} {x:.5f} [{lo:.5f}, {hi:.5f}]")
        return row

    W.decide, M.Ledger.record = shown_decide, shown_record

res = R.simulate(replace(book, frames=frames), R.build_variants(book.policy), days, seed=7, prices=path)
led = res.ledgers["policy"]
print("unexcused", led.unexcused)
print(res.summary[["account_days_outside_band", "account_days_outside_band_unflagged", "order_lines"]].to_string())
