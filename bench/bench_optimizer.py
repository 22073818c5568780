"""Throughput benchmark of the per-account optimizer (engine/decide/optimizer.py).

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

from engine.decide.optimizer import AccountInput, OptimizerSettings, optimize_many

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
    owner = np.repeat(np.arange(len(held)), nl)
    share = split / np.bincount(owner, split)[owner]
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
    c0 = time.process_time()
    res = optimize_many(accounts, settings)
    return time.perf_counter() - t0, time.process_time() - c0, res


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
    results = [r for _, _, rs in outs for r in rs]
    busy = sum(w for w, _, _ in outs)
    cpu = sum(c for _, c, _ in outs)
    return wall, busy, cpu, results


def bench_cvxpy_dpp(accounts, settings, S_pad=32, L_pad=64, K_pad=8):
    """The alternative we measured against: one cvxpy DPP problem compiled for a padded shape
    (lot->security, security->group and ->class maps as Parameters), values updated per account.
    Same relaxed model as the first solve of engine/decide/optimizer.py (bands left out)."""
    import cvxpy as cp

    from engine.decide.optimizer import _prepare

    G_pad = S_pad
    A = cp.Parameter((S_pad, L_pad))  # lot -> security incidence
    Gm = cp.Parameter((G_pad, S_pad))  # security -> group (scaled by sqrt(cg))
    Km = cp.Parameter((K_pad, S_pad))  # security -> class (rows scaled by sqrt(ck))
    h0, y_ub = cp.Parameter(S_pad), cp.Parameter(S_pad, nonneg=True)
    x_ub, cx, cy = cp.Parameter(L_pad, nonneg=True), cp.Parameter(L_pad), cp.Parameter(S_pad)
    Tg, Tk = cp.Parameter(G_pad), cp.Parameter(K_pad)
    c0, creq = cp.Parameter(), cp.Parameter()
    x, y, w = cp.Variable(L_pad), cp.Variable(S_pad), cp.Variable(S_pad)
    kap = settings.cost_bps * 1e-4
    prob = cp.Problem(
        cp.Minimize(cp.sum_squares(Gm @ w - Tg) + cp.sum_squares(Km @ w - Tk)
                    + cx @ x + cy @ y),
        [w == h0 - A @ x + y, x >= 0, x <= x_ub, y >= 0, y <= y_ub,
         c0 + (1 - kap) * cp.sum(x) - (1 + kap) * cp.sum(y) >= creq])
    assert prob.is_dpp()
    fits = [a for a in accounts if len(a.symbols) <= S_pad and len(a.lot_id) <= L_pad
            and len(set(a.asset_class)) <= K_pad][:200]
    times, solver_times = [], []
    t_compile = None
    for a in fits:
        p = _prepare(a, settings)
        t0 = time.perf_counter()
        Av = np.zeros((S_pad, L_pad))
        Av[p.lot_sec, np.arange(p.L)] = 1.0
        Gv = np.zeros((G_pad, S_pad))
        Gv[p.gi, np.arange(p.S)] = np.sqrt(p.cg)
        Kv = np.zeros((K_pad, S_pad))
        Kv[p.ci, np.arange(p.S)] = np.sqrt(p.ck)[p.ci]
        A.value, Gm.value, Km.value = Av, Gv, Kv
        h0.value = np.r_[p.h0, np.zeros(S_pad - p.S)]
        y_ub.value = np.r_[np.where(p.buy_eff, 10.0, 0.0), np.zeros(S_pad - p.S)]
        x_ub.value = np.r_[p.lot_val * p.sell_ok, np.zeros(L_pad - p.L)]
        tax = p.tax_true * (~(p.cost > p.price[p.lot_sec]) | p.candidate)
        cx.value = np.r_[kap + tax + p.rv * p.rho[p.lot_sec], np.zeros(L_pad - p.L)]
        cy.value = np.r_[kap - p.rv * p.rho, np.zeros(S_pad - p.S)]
        Tg.value = np.r_[p.Tg * np.sqrt(p.cg), np.zeros(G_pad - p.G)]
        Tk.value = np.r_[p.Tk * np.sqrt(p.ck), np.zeros(K_pad - p.K)]
        c0.value, creq.value = p.c0, min(p.creq, p.c0 + p.h0.sum())
        prob.solve(solver=settings.solver)
        dt = time.perf_counter() - t0
        if t_compile is None:
            t_compile = dt
        else:
            times.append(dt)
            solver_times.append(prob.solver_stats.solve_time or float("nan"))
    return t_compile, len(fits), float(np.mean(times)), float(np.mean(solver_times))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-n", type=int, default=3000, help="accounts")
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--chunk", type=int, default=250)
    ap.add_argument("--large", type=float, default=0.05, help="share of large accounts")
    ap.add_argument("--solver", default="PIQP")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--cvxpy-dpp", action="store_true",
                    help="also time the compiled cvxpy DPP alternative (padded S=32, L=64)")
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
    print("acct/s: wall-clock throughput incl. pickling to/from workers; ms/acct: wall time per "
          "account inside a worker;\ncpu ms/acct: worker CPU time per account (what the machine "
          "would give without other load); solver%: time in the QP solver calls / worker time")
    print(f"{'procs':>5} {'acct/s':>8} {'ms/acct':>8} {'cpu ms/acct':>11} {'solver%':>8} "
          f"{'solves/acct':>11} {'traded%':>8} {'failed':>6}  load avg")
    for w in a.workers:
        wall, busy, cpu, res = run(accounts, settings, w, a.chunk)
        solve = sum(r.solve_time for r in res)
        nsolve = sum(r.n_solves for r in res)
        traded = sum(1 for r in res if r.trades)
        failed = [r for r in res if r.status != "optimal"]
        n = len(res)
        print(f"{w:>5} {n / wall:>8.0f} {busy / n * 1e3:>8.2f} {cpu / n * 1e3:>11.2f} "
              f"{100 * solve / busy:>7.0f}% {nsolve / n:>11.2f} {100 * traded / n:>7.0f}% "
              f"{len(failed):>6}  {os.getloadavg()[0]:.1f}")
        for r in failed[:3]:
            print("   ", r.account_id, r.status)
    if a.cvxpy_dpp:
        t_c, n, per, solver = bench_cvxpy_dpp(accounts, settings)
        sub = [x for x in accounts if len(x.symbols) <= 32 and len(x.lot_id) <= 64][:200]
        t0 = time.perf_counter()
        res = optimize_many(sub, settings)
        ours = (time.perf_counter() - t0) / len(sub)
        ours_solver = sum(r.solve_time for r in res) / len(sub)
        print(f"cvxpy DPP (padded 32 securities / 64 lots, n={n}): compile {t_c:.2f}s, "
              f"{per * 1e3:.2f} ms per solve (solver-reported {solver * 1e3:.2f} ms); this module: "
              f"{ours * 1e3:.2f} ms per account all-in ({ours_solver * 1e3:.2f} ms in "
              f"{sum(r.n_solves for r in res) / len(sub):.2f} solves)")
    # per-size breakdown, single process
    for name, sel in (("typical (<60 securities)", lambda x: len(x.symbols) < 60),
                      ("large (>=60 securities)", lambda x: len(x.symbols) >= 60)):
        part = [x for x in accounts if sel(x)]
        if part:
            t0 = time.perf_counter()
            res = optimize_many(part, settings)
            dt = time.perf_counter() - t0
            print(f"{name}, n={len(part)}: {dt / len(part) * 1e3:.2f} ms/acct, solver "
                  f"{100 * sum(r.solve_time for r in res) / dt:.0f}%, "
                  f"lots median {np.median([len(x.lot_id) for x in part]):.0f}")


if __name__ == "__main__":
    main()
