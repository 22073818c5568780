"""Household-level rebalancing with asset location (policy: ``household_optimization = true``
on a tier, ``tax_drag_bps`` per asset class).

One convex problem per household, solved with Clarabel (the optimizer's solver library), decides
each member's asset-class weights ``W[a,k]``:

    minimize   sum_a v_a * taxable_a * sum_k drag_k * W[a,k]              (tax drag, fraction of value)
             + STICK * sum_a v_a * sum_k (W[a,k] - T[a,k])^2                (stay near the own model)
    subject to sum_k W[a,k] = sum_k T[a,k]          (each account keeps its own model cash)
               sum_a v_a W[a,k] = sum_a v_a T[a,k]  (the household's class weights = the blended target)
               W[a,k] >= 0, and W[a,k] = 0 where the account's model has no security of class k

with ``v_a`` the member's share of the household value and ``T`` its model's class weights. Tax-
inefficient classes (high drag) move to tax-deferred members, tax-efficient ones to taxable members.
Each member then gets a *located model*: its model's weights scaled per class by ``W / T`` (the
model's securities keep their proportions within a class), and is optimized and scored alone by
the unchanged per-account optimizer, so it keeps its own cash needs, restrictions, halts, lots,
wash-sale blocks and bands (measured against the located model). A one-member household's
problem has the single solution ``W = T``: its located model is its model. Pure: no database.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import scipy.sparse as sp

from engine.household_wash import household_label, household_of

STICK = 0.0002  # weight of the squared distance to the own model (unique solution; a drag gap of 4 bps moves ~10 points)
PREFIX = "LOC:"


def _values(frames: dict[str, pd.DataFrame]) -> pd.Series:
    """account -> value (cash + lots at the book's prices; unpriced holdings count 0 here)."""
    acc = frames["accounts"]
    px = pd.to_numeric(frames["securities"].set_index("symbol")["price"], errors="coerce")
    lots = frames["lots"]
    mv = lots["quantity"].astype(float) * lots["symbol"].map(px).fillna(0.0).astype(float)
    held = mv.groupby(lots["account_id"]).sum()
    return acc.set_index("account_id")["cash"].astype(float).add(held, fill_value=0.0).reindex(acc["account_id"])


def solve_location(values: np.ndarray, taxable: np.ndarray, targets: np.ndarray, drag: np.ndarray) -> np.ndarray:
    """W[a,k] for one household (``targets`` T[a,k], non-cash classes; ``drag`` per class, a fraction)."""
    import clarabel

    n_a, n_k = targets.shape
    v = np.asarray(values, float)
    v = v / v.sum() if v.sum() > 0 else np.full(n_a, 1.0 / n_a)
    free = (targets > 0).ravel()
    n = n_a * n_k
    # objective 0.5 x'Px + q'x with P = 2*STICK*diag(v_a), q = v_a*taxable_a*drag_k - 2*STICK*v_a*T
    va = np.repeat(v, n_k)
    P = sp.diags(2 * STICK * va + 1e-12, format="csc")
    q = np.repeat(v * taxable.astype(float), n_k) * np.tile(drag, n_a) - 2 * STICK * va * targets.ravel()
    rows, b = [], []
    for a in range(n_a):  # each account keeps its invested share
        r = np.zeros(n)
        r[a * n_k:(a + 1) * n_k] = 1.0
        rows.append(r)
        b.append(targets[a].sum())
    for k in range(n_k):  # the household's class weights are the blended target
        r = np.zeros(n)
        r[k::n_k] = v
        rows.append(r)
        b.append(float(v @ targets[:, k]))
    for i in np.flatnonzero(~free):  # no securities of the class in the account's model
        r = np.zeros(n)
        r[i] = 1.0
        rows.append(r)
        b.append(0.0)
    n_eq = len(rows)
    A = sp.vstack([sp.csc_matrix(np.array(rows)), -sp.identity(n, format="csc")], format="csc")
    bvec = np.r_[np.array(b), np.zeros(n)]
    settings = clarabel.DefaultSettings()
    settings.verbose = False
    sol = clarabel.DefaultSolver(sp.triu(P, format="csc"), q, A, bvec,
                                 [clarabel.ZeroConeT(n_eq), clarabel.NonnegativeConeT(n)], settings).solve()
    if str(sol.status) not in ("Solved", "AlmostSolved", "SolverStatus.Solved"):
        return targets.copy()
    W = np.maximum(np.asarray(sol.x, float).reshape(n_a, n_k), 0.0)
    W[targets <= 0] = 0.0
    return W


def locate(frames: dict[str, pd.DataFrame], policy) -> tuple[dict[str, pd.DataFrame], dict]:
    """``frames`` with each member of an optimized household on its located model (a model
    ``LOC:<account>`` added to ``model_weights``), and {account: {household_id, class_targets,
    model_id}} for the proposal detail. Unchanged frames when no tier turns it on."""
    from engine.mandates import assign_tiers

    on = {t.name for t in policy.tiers if t.household_optimization}
    acc = frames["accounts"]
    if not on or "household_id" not in acc or not acc["household_id"].notna().any():
        return frames, {}
    hh = household_of(acc)
    value = _values(frames)
    multi = hh[hh.str.startswith("H:")]
    multi = multi[multi.map(multi.value_counts()) >= 1]
    if not len(multi):
        return frames, {}
    totals = value.reindex(multi.index).groupby(multi.to_numpy(object)).sum()
    tiers = dict(zip(totals.index, assign_tiers(totals.to_numpy(float), np.full(len(totals), None, object), policy)))
    chosen = [h for h in totals.index if tiers[h] in on]
    if not chosen:
        return frames, {}
    sec_class = frames["securities"].set_index("symbol")["asset_class"]
    mw = frames["model_weights"]
    mw = mw.assign(asset_class=np.where(mw["symbol"] == "CASH", "CASH", mw["symbol"].map(sec_class).astype(object)))
    classes = sorted(set(mw.loc[mw["asset_class"] != "CASH", "asset_class"].dropna()))
    kidx = {k: i for i, k in enumerate(classes)}
    drag_bps = policy.tax_drag_bps or {}
    drag = np.array([float(drag_bps.get(k, 0.0)) / 1e4 for k in classes])
    by_model = {m: g for m, g in mw.groupby("model_id")}
    model_of = dict(zip(acc["account_id"], acc["model_id"]))
    taxable_of = dict(zip(acc["account_id"], acc["taxable"].astype(bool)))
    new_rows, new_model, info = [], {}, {}
    for h in chosen:
        members = multi.index[multi.to_numpy(object) == h].tolist()
        T = np.zeros((len(members), len(classes)))
        for i, a in enumerate(members):
            g = by_model.get(model_of[a])
            if g is None:
                continue
            for k, w in g[g["asset_class"] != "CASH"].groupby("asset_class")["weight"].sum().items():
                T[i, kidx[k]] = w
        W = solve_location(value.reindex(members).fillna(0.0).to_numpy(float),
                           np.array([taxable_of[a] for a in members]), T, drag)
        for i, a in enumerate(members):
            g = by_model[model_of[a]]
            scale = np.ones(len(g))
            cls = g["asset_class"].to_numpy(object)
            for j, k in enumerate(cls):
                if k != "CASH" and k in kidx and T[i, kidx[k]] > 0:
                    scale[j] = W[i, kidx[k]] / T[i, kidx[k]]
            mid = PREFIX + a
            new_rows.append(pd.DataFrame({"model_id": mid, "symbol": g["symbol"].to_numpy(object),
                                          "weight": g["weight"].to_numpy(float) * scale}))
            new_model[a] = mid
            info[a] = {"household_id": household_label(h), "model_id": model_of[a],
                       "located_class_targets": {k: round(float(W[i, kidx[k]]), 6) for k in classes
                                                 if T[i, kidx[k]] > 0 or W[i, kidx[k]] > 0}}
    out = dict(frames)
    out["accounts"] = acc.assign(model_id=acc["account_id"].map(new_model).fillna(acc["model_id"]))
    out["model_weights"] = pd.concat([frames["model_weights"]] + new_rows, ignore_index=True)
    if "models" in frames:
        out["models"] = pd.concat([frames["models"], pd.DataFrame({"model_id": list(new_model.values())})],
                                  ignore_index=True)
    return out, info
