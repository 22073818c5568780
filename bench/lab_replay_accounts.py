"""Replay a few accounts of a policy-lab run alone, with the full book's prices and simulated
cash requests (docs/decision-quality.md: tracing unexcused account-days).

    python bench/lab_replay_accounts.py DB ACCOUNT[,ACCOUNT...] POLICY_FILE DAYS

Prints the account-days outside a band that the decision does not excuse and the summary counts.
"""
import sys
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import engine.lab.runner as R  # noqa: E402
from engine.lab.plan import ACCOUNT_FRAMES  # noqa: E402
from engine.core.policy import load_policy  # noqa: E402
from storage.db import make_engine  # noqa: E402

db, ids, policy_file, days = sys.argv[1], set(sys.argv[2].split(",")), sys.argv[3], int(sys.argv[4])
book = R.load_book(make_engine(db, migrate=False))
book.policy = load_policy(policy_file)
path = R.price_path(book, days, seed=7)
full = R.request_arrivals(book.frames, path.dates, 0.0005, 7)  # the whole book's draws
R.request_arrivals = lambda frames, dates, rate, seed: full[full["account_id"].isin(ids)].reset_index(drop=True)
frames = dict(book.frames)
for name in ACCOUNT_FRAMES:
    frames[name] = frames[name][frames[name]["account_id"].isin(ids)].reset_index(drop=True)
res = R.simulate(replace(book, frames=frames), R.build_variants(book.policy), days, seed=7, prices=path)
led = res.ledgers["policy"]
print("unexcused", led.unexcused)
print(res.summary[["account_days_outside_band", "account_days_outside_band_unflagged", "order_lines"]].to_string())
