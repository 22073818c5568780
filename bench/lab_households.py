"""One-day comparison: household optimization with asset location against account-by-account
rebalancing of the same households (the policy lab's multi-day simulation does not measure
household drift; this compares one day's decisions on the same book).

    .venv/bin/python bench/lab_households.py --accounts 1000 --share 0.4 --seed 7

On a sample with ``--share`` of the accounts in households, ``decide`` runs twice: the default
policy, and the same with ``household_optimization = true`` on every tier and ``tax_drag_bps``
(bonds, high yield, REITs and TIPS high; equity low). Over the household members it prints:
realized tax today (net, the score's), household drift after the trades (half the sum of the
absolute gaps between the household's class weights and the value-weighted blend of the members'
real models, averaged over households, value-weighted), the yearly tax drag of what the taxable
members hold after the trades (class value x drag), turnover, and the decide time.
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


def measure(d, frames, members: dict, drag: dict) -> dict:
    import numpy as np
    import pandas as pd

    sec = frames["securities"].set_index("symbol")["asset_class"]
    mw = frames["model_weights"]
    mw = mw.assign(asset_class=np.where(mw["symbol"] == "CASH", "CASH", mw["symbol"].map(sec)))
    model_cls = mw.groupby(["model_id", "asset_class"])["weight"].sum()
    acc = frames["accounts"].set_index("account_id")
    tax = turnover = drag_d = 0.0
    gaps, weights = [], []
    for h, accts in members.items():
        post, tgt, total = {}, {}, 0.0
        for a in accts:
            r = d.results.get(a)
            if r is None or r.status != "optimal":
                break
            traded = d.proposals.set_index("account_id").at[a, "category"] in ("MANDATE", "SCORE")
            w = r.class_weights_post if traded else r.class_weights_pre
            v = r.value
            total += v
            for k, x in w.items():
                post[k] = post.get(k, 0.0) + x * v
                if bool(acc.at[a, "taxable"]) and k != "CASH":
                    drag_d += x * v * drag.get(k, 0.0) / 1e4
            for k, x in model_cls.loc[acc.at[a, "model_id"]].items():
                tgt[k] = tgt.get(k, 0.0) + x * v
            if traded:
                tax += r.realized_tax
                turnover += r.turnover * v
        else:
            if total > 0:
                keys = set(post) | set(tgt)
                gaps.append(0.5 * sum(abs(post.get(k, 0) - tgt.get(k, 0)) for k in keys) / total)
                weights.append(total)
    gaps, weights = pd.Series(gaps), pd.Series(weights)
    return {"households": len(gaps), "realized_tax": tax, "household_drift_pct": 100 * float((gaps * weights).sum()
                                                                                          / weights.sum()),
            "tax_drag_per_year": drag_d, "turnover_pct": 100 * turnover / float(weights.sum())}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--accounts", type=int, default=1000)
    ap.add_argument("--share", type=float, default=0.4)
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()
    from engine.book.book import read_book
    from engine.decide.household_wash import household_of
    from engine.core.policy import default_policy
    from engine.book.sample import generate_sample
    from engine.decide.workflow import decide

    tmp = Path(tempfile.mkdtemp())
    generate_sample(tmp / "book", accounts=args.accounts, seed=args.seed, households=args.share)
    book = read_book(tmp / "book")
    hh = household_of(book["accounts"])
    members = {h: g.index.tolist() for h, g in hh[hh.str.startswith("H:")].groupby(hh[hh.str.startswith("H:")])}
    base = default_policy()
    located = base.model_copy(update={"tax_drag_bps": DRAG, "tiers": tuple(
        t.model_copy(update={"household_optimization": True}) for t in base.tiers)})
    print(f"{args.accounts} accounts, {sum(map(len, members.values()))} in {len(members)} households, seed {args.seed}")
    print(f"{'variant':<28}{'decide s':>9}{'realized tax $':>16}{'household drift %':>19}{'tax drag $/yr':>15}"
          f"{'turnover %':>12}")
    for name, pol in (("account by account", base), ("household + asset location", located)):
        t = time.perf_counter()
        d = decide(book.frames, book.as_of, pol)
        secs = time.perf_counter() - t
        m = measure(d, book.frames, members, DRAG)
        print(f"{name:<28}{secs:>9.2f}{m['realized_tax']:>16,.0f}{m['household_drift_pct']:>19.3f}"
              f"{m['tax_drag_per_year']:>15,.0f}{m['turnover_pct']:>12.2f}")


if __name__ == "__main__":
    main()
