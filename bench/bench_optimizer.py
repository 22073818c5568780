"""Throughput benchmark of the per-account optimizer (engine/optimizer.py).

Generates a synthetic book (models over substitute groups, drifted holdings with tax lots,
gains and losses, restrictions, halts, wash-sale blocks, cash requests, bands) and measures
accounts/s in one process and with a process pool, plus the share of time spent inside the
QP solver.

    python bench/bench_optimizer.py                 # 3000 accounts, 1 and 2 processes
    python bench/bench_optimizer.py -n 10000 --workers 1 2 --large 0.05
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from engine.optimizer import AccountInput, OptimizerSettings, optimize_many  # noqa: E402

CLASSES = np.array(["US_EQUITY", "INTL_EQUITY", "EM_EQUITY", "FIXED_INCOME", "MUNI", "REAL_ESTATE"])


class Universe:
    """Securities grouped into substitute groups; groups belong to asset classes."""

    def __init__(self, rng: np.random.Generator, n_groups: int = 160, n_models: int = 24):
        sizes = rng.choice([1, 2, 3], size=n_groups, p=[0.5, 0.35, 0.15])
        self.group_of = np.repeat(np.arange(n_groups), sizes)
        n = len(self.group_of)
        self.first = np.r_[0, np.cumsum(sizes)[:-1]]  # model security of each group
        self.sizes = sizes
        self.group_class = rng.integers(0, len(CLASSES), n_groups)
        self.symbols = np.array([f"S{i:04d}" for i in range(n)])
        self.groups = np.array([f"G{g:03d}" for g in range(n_groups)])
        self.price = np.round(np.exp(rng.uniform(np.log(10), np.log(500), n)), 2)
        self.rating = np.where(rng.random(n) < 0.2, np.nan, rng.integers(1, 11, n).astype(float))
        self.restricted = rng.random(n) < 0.01
        self.halted = rng.random(n) < 0.003
        self.models = []
        for _ in range(n_models):
            k = int(rng.integers(8, 25))
            grp = rng.choice(n_groups, size=k, replace=False)
            cash_w = float(rng.uniform(0.01, 0.03))
            w = rng.dirichlet(np.ones(k)) * (1 - cash_w)
            self.models.append((grp, w, cash_w))


def make_account(u: Universe, rng: np.random.Generator, i: int, large: bool) -> AccountInput:
    grp, gw, cash_w = u.models[int(rng.integers(len(u.models)))]
    if large:  # a big account: more groups from merged models
        for _ in range(2):
            grp2, gw2, _ = u.models[int(rng.integers(len(u.models)))]
            keep = ~np.isin(grp2, grp)
            grp = np.r_[grp, grp2[keep]]
            gw = np.r_[gw, gw2[keep]]
        gw = gw / gw.sum() * (1 - cash_w)
    # account securities: every member of the model's groups + a few legacy holdings
    members = np.concatenate([np.arange(u.first[g], u.first[g] + u.sizes[g]) for g in grp])
    n_legacy = int(rng.integers(0, 8 if large else 4))
    legacy = rng.choice(len(u.symbols), size=n_legacy, replace=False)
    secs = np.unique(np.r_[members, legacy])
    S = len(secs)
    group_idx = u.group_of[secs]
    target = np.zeros(S)
    tgt_of_group = dict(zip(grp.tolist(), gw.tolist()))
    is_first = np.isin(secs, u.first[grp])
    target[is_first] = [tgt_of_group[g] for g in group_idx[is_first].tolist()]
    price = u.price[secs]

    V = float(np.exp(rng.normal(np.log(400_000), 1.0))) * (4 if large else 1)
    # current weights: drifted target, some held via substitutes, some legacy
    cur = target * np.exp(rng.normal(0, rng.uniform(0.02, 0.3), S))
    sub = (~is_first) & (rng.random(S) < 0.3)
    cur[sub] = rng.uniform(0.0, 0.03, sub.sum())
    cur[np.isin(secs, legacy)] = rng.uniform(0.0, 0.03, n_legacy)
    cash_frac = float(rng.uniform(0.0, 0.05))
    cur = cur / cur.sum() * (1 - cash_frac)
    held = np.flatnonzero(cur * V > 200)
    # lots: 1..6 per held security (more for large accounts)
    nl = rng.integers(1, 12 if large else 7, len(held))
    lot_sec = np.repeat(held, nl)
    L = len(lot_sec)
    split = rng.dirichlet(np.ones(3), L)[:, 0] + 0.05
    share = split / np.bincount(np.repeat(np.arange(len(held)), nl), split)[np.repeat(np.arange(len(held)), nl)]
    lot_qty = np.maximum(1.0, np.floor(cur[lot_sec] * share * V / price[lot_sec]))
    basis = np.exp(rng.normal(-0.15, 0.3, L))  # unit cost / price: mostly gains, some deep losses
    lot_unit_cost = np.round(price[lot_sec] * basis, 4)
    st = rng.random(L) < 0.3
    blocked = rng.random(L) < 0.03
    cash = cash_frac * V
    taxable = bool(rng.random() < 0.7)
    can_buy = ~(u.restricted[secs] | u.halted[secs])
    washblock = rng.random(S) < 0.02
    can_buy &= ~washblock
    can_sell = ~u.halted[secs]
    must_sell = u.restricted[secs] & np.isin(np.arange(S), held)
    cls = CLASSES[u.group_class[group_idx]]
    bands = {}
    for c in np.unique(cls):
        t = float(target[cls == c].sum())
        if t > 0:
            bands[str(c)] = (max(0.0, t - 0.10), t + 0.10)
    cash_needed = float(rng.uniform(0.02, 0.15) * V) if rng.random() < 0.05 else 0.0
    return AccountInput(
        account_id=f"A{i:07d}", cash=cash, taxable=taxable,
        st_rate=0.37 if taxable else 0.0, lt_rate=0.20 if taxable else 0.0,
        symbols=u.symbols[secs], price=price, asset_class=cls, drift_group=u.groups[group_idx],
        target_w=target, rating=u.rating[secs], can_buy=can_buy, can_sell=can_sell,
        must_sell=must_sell, model_cash_w=cash_w, cash_needed=cash_needed, class_bands=bands,
        lot_id=np.array([f"L{i}-{j}" for j in range(L)]), lot_sec=lot_sec, lot_qty=lot_qty,
        lot_unit_cost=lot_unit_cost, lot_short_term=st, lot_loss_sale_blocked=blocked,
    )


def make_book(n: int, seed: int = 0, large_share: float = 0.05) -> list[AccountInput]:
    rng = np.random.default_rng(seed)
    u = Universe(rng)
    large = rng.random(n) < large_share
    return [make_account(u, rng, i, bool(large[i])) for i in range(n)]


def _run_chunk(args):
    accounts, settings = args
    t0 = time.perf_counter()
    res = optimize_many(accounts, settings)
    wall = time.perf_counter() - t0
    return wall, res


def run(accounts, settings, workers: int, chunk: int):
    chunks = [accounts[i:i + chunk] for i in range(0, len(accounts), chunk)]
    t0 = time.perf_counter()
    if workers == 1:
        outs = [_run_chunk((c, settings)) for c in chunks]
    else:
        with ProcessPoolExecutor(workers) as ex:
            # warm the workers (imports) before timing
            list(ex.map(_run_chunk, [(accounts[:2], settings)] * workers))
            t0 = time.perf_counter()
            outs = list(ex.map(_run_chunk, [(c, settings) for c in chunks]))
    wall = time.perf_counter() - t0
    results = [r for _, rs in outs for r in rs]
    busy = sum(w for w, _ in outs)
    return wall, busy, results


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-n", type=int, default=3000, help="accounts")
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--chunk", type=int, default=250)
    ap.add_argument("--large", type=float, default=0.05, help="share of large accounts")
    ap.add_argument("--solver", default="PIQP")
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args(argv)
    t0 = time.perf_counter()
    accounts = make_book(a.n, a.seed, a.large)
    gen = time.perf_counter() - t0
    S = np.array([len(x.symbols) for x in accounts])
    L = np.array([len(x.lot_id) for x in accounts])
    print(f"generated {a.n} accounts in {gen:.1f}s: securities median {np.median(S):.0f} "
          f"max {S.max()}, lots median {np.median(L):.0f} max {L.max()}")
    settings = OptimizerSettings(solver=a.solver)
    # warm up (imports, first solver load)
    optimize_many(accounts[:5], settings)
    print(f"{'procs':>5} {'acct/s':>8} {'ms/acct/core':>13} {'solver%':>8} {'solves/acct':>11} "
          f"{'traded%':>8} {'failed':>6}")
    for w in a.workers:
        wall, busy, res = run(accounts, settings, w, a.chunk)
        solve = sum(r.solve_time for r in res)
        nsolve = sum(r.n_solves for r in res)
        traded = sum(1 for r in res if r.trades)
        failed = [r for r in res if r.status != "optimal"]
        print(f"{w:>5} {len(res) / wall:>8.0f} {busy / len(res) * 1e3:>13.2f} "
              f"{100 * solve / busy:>7.0f}% {nsolve / len(res):>11.2f} "
              f"{100 * traded / len(res):>7.0f}% {len(failed):>6}")
        for r in failed[:3]:
            print("   ", r.account_id, r.status)
    # per-size breakdown, single process
    big = [x for x in accounts if len(x.symbols) >= 60]
    if big:
        t0 = time.perf_counter()
        res = optimize_many(big, settings)
        dt = time.perf_counter() - t0
        print(f"large accounts (>=60 securities, n={len(big)}): {dt / len(big) * 1e3:.2f} ms/acct, "
              f"solver {100 * sum(r.solve_time for r in res) / dt:.0f}%")


if __name__ == "__main__":
    main()
