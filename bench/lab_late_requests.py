"""The late and unpaid cash requests of one lab variant, with the day-1 suspensions of their
accounts (docs/decision-quality.md: late cash requests).

    python bench/lab_late_requests.py DB DAYS [policy]   # the shipped policy; default: the band baseline
"""
import sys
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from storage.db import make_engine
from engine.lab.runner import load_book, build_variants, simulate
from engine.book.checks import run_checks
from engine.core.frames import holdings
db, days = sys.argv[1], int(sys.argv[2])
book = load_book(make_engine(db, migrate=False))
which = sys.argv[3] if len(sys.argv) > 3 else "band"
if which == "policy":
    from engine.core.policy import default_policy
    book.policy = default_policy()
vs = build_variants(book.policy, baselines=[] if which == "policy" else ["band"], default=which == "policy")
res = simulate(book, vs, days, seed=7)
susp = run_checks(book.frames, book.as_of, book.policy, holdings(book.frames["lots"]))
L = res.ledgers[which]
paid = pd.concat(L.paid, ignore_index=True)
print(paid[paid["late"]].head(20).to_string())
un = L.unpaid; last = L.dates[-1].isoformat()
ov = un[un["due_date"].astype(object) < last]
print(ov.to_string())
ids = set(paid[paid["late"]]["account_id"]) | set(ov["account_id"])
print(susp[susp["account_id"].isin(ids)].to_string())
print(book.overrides.to_string())
