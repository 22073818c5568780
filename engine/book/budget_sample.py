"""Sample books for issue 23 (the benchmark and the README's screenshots): a generated book
(engine.book.sample) given gains budgets, this year's realized gains and cash-flow accounts, and the
next day's book with a model reweighted (a model change)."""
from __future__ import annotations

import json
import shutil
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

__all__ = ["add_budgets", "next_day_with_model_change"]


def add_budgets(folder: str | Path, *, fraction: float = 0.3, cash_flow: float = 0.05, seed: int = 23) -> dict:
    """Give ``fraction`` of the taxable accounts of the book in ``folder`` a gains budget (some
    already used by this year's realized gains) and ``cash_flow`` of all accounts the cash-flow
    trading mode; rewrites accounts.csv in place. Returns counts."""
    path = Path(folder) / "accounts.csv"
    acc = pd.read_csv(path, dtype=str, keep_default_na=False)
    rng = np.random.default_rng(seed)
    n = len(acc)
    taxable = acc["taxable"].str.lower().isin(["true", "t", "yes", "y", "1"]).to_numpy()
    pick = taxable & (rng.random(n) < fraction / max(taxable.mean(), 1e-9))
    budget = rng.choice([2_000.0, 5_000.0, 10_000.0, 25_000.0, 50_000.0], n)
    used = budget * rng.choice([0.0, 0.3, 0.8, 1.2], n, p=[0.4, 0.3, 0.2, 0.1])  # some already over
    st_share = rng.uniform(-0.3, 0.7, n)
    acc["gains_budget"] = np.where(pick, [f"{b:.0f}" for b in budget], "")
    acc["ytd_realized_st"] = np.where(pick, [f"{u * s:.2f}" for u, s in zip(used, st_share)], "")
    acc["ytd_realized_lt"] = np.where(pick, [f"{u * (1 - s):.2f}" for u, s in zip(used, st_share)], "")
    flow = rng.random(n) < cash_flow
    acc["trading_mode"] = np.where(flow, "cash_flow", "")
    acc.to_csv(path, index=False)
    return {"accounts": n, "budgets": int(pick.sum()), "cash_flow": int(flow.sum())}


def next_day_with_model_change(folder: str | Path, out: str | Path, *, model_id: str | None = None,
                               shift: float = 0.10) -> dict:
    """Copy the book in ``folder`` to ``out`` one day later with ``model_id`` (default: the model
    of the most accounts) reweighted: ``shift`` of weight moved from its largest position to its
    smallest non-cash one. Prices and dates move with the day; holdings stay."""
    src, dst = Path(folder), Path(out)
    if dst.exists():
        shutil.rmtree(dst)
    shutil.copytree(src, dst)
    as_of = date.fromisoformat(json.loads((src / "manifest.json").read_text())["as_of"])
    new = as_of + timedelta(days=1)
    (dst / "manifest.json").write_text(json.dumps({"as_of": new.isoformat()}))
    acc = pd.read_csv(dst / "accounts.csv", dtype=str, keep_default_na=False)
    model_id = model_id or acc["model_id"].value_counts().index[0]
    mw = pd.read_csv(dst / "models.csv", dtype=str, keep_default_na=False)
    w = mw["weight"].astype(float)
    mine = (mw["model_id"] == model_id) & (mw["symbol"] != "CASH")
    hi = w[mine].idxmax()
    lo = w[mine].idxmin()
    move = min(shift, float(w[hi]))
    w[hi] -= move
    w[lo] += move
    mw["weight"] = [f"{x:.10g}" for x in w]
    mw.to_csv(dst / "models.csv", index=False)
    for name, col in (("securities.csv", "price_date"), ("feeds.csv", "file_date")):
        df = pd.read_csv(dst / name, dtype=str, keep_default_na=False)
        df[col] = np.where(df[col] == as_of.isoformat(), new.isoformat(), df[col])
        df.to_csv(dst / name, index=False)
    return {"model_id": model_id, "as_of": new.isoformat(), "accounts": int((acc["model_id"] == model_id).sum())}
