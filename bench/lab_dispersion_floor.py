"""Dispersion of the band and calendar baselines with and without the accounts suspended at day 1
(docs/decision-quality.md: the dispersion floor).

    python bench/lab_dispersion_floor.py DB DAYS    # seed 7, as the goal table
"""
import sys
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from storage.db import make_engine
from engine.lab.runner import load_book, build_variants, simulate
from engine.book.checks import run_checks
from engine.core.frames import holdings
db, days = sys.argv[1], int(sys.argv[2])
book = load_book(make_engine(db, migrate=False))
vs = build_variants(book.policy, baselines=["band", "calendar"], default=False)
res = simulate(book, vs, days, seed=7)
susp = set(run_checks(book.frames, book.as_of, book.policy, holdings(book.frames["lots"]))["account_id"])
for name, L in res.ledgers.items():
    cum = L.cumulative_returns()
    live = (L.start_value > 0) & L.known_model
    s = np.array([a in susp for a in L.ids])
    def disp(mask):
        df = pd.DataFrame({"m": L.model[mask], "r": cum[mask]})
        g = df.groupby("m")["r"].agg(["std", "count"]); g = g[g["count"] >= 2]
        return float((g["std"] * g["count"]).sum() / g["count"].sum() * 1e4)
    print(name, "all", round(disp(live), 2), "without suspended", round(disp(live & ~s), 2), "n susp", int((live & s).sum()))
