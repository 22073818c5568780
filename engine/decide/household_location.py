"""Household-level rebalancing with asset location (policy: ``household_optimization = true``
on a tier, ``tax_drag_bps`` per asset class).

One convex problem per household, solved with Clarabel (the optimizer's solver library), decides
each member's asset-class weights ``W[a,k]``:

    minimize   sum_a v_a * taxable_a * sum_k drag_k * W[a,k]              (tax drag, fraction of value)
             + STICK * sum_a v_a * sum_k S[a,k]^2,  S >= C - W, S >= 0      (selling what is held)
             + PULL * sum_a v_a * sum_k (W[a,k] - A[a,k])^2                 (A: C plus spare cash spread
                                                                              as the model; uniqueness)
    subject to sum_k W[a,k] = sum_k T[a,k]          (each account keeps its own model cash)
               sum_a v_a W[a,k] = sum_a v_a T[a,k]  (the household's class weights = the blended target)
               W[a,k] >= 0, and W[a,k] = 0 where the account's model has no security of class k

with ``v_a`` the member's share of the household value, ``T`` its model's class weights and ``C``
the class weights it holds now (the household's gaps are closed where the members already are,
rather than every member moved to its own model). Tax-
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

from engine.decide.household_wash import household_label, household_of

STICK = 0.02  # cost of selling below what is held (squared): a drag gap of 35 bps sells ~8 points
PULL = 0.001  # pull of cash to the model's spread (squared): cash is placed mostly by the drag
PREFIX = "LOC:"


def _values(frames: dict[str, pd.DataFrame]) -> tuple[pd.Series, pd.Series]:
    """(account -> value: cash + lots at the book's prices, unpriced holdings count 0 here;
    (account, asset class) -> held value)."""
    acc = frames["accounts"]
    sec = frames["securities"].set_index("symbol")
    px = pd.to_numeric(sec["price"], errors="coerce")
    lots = frames["lots"]
    mv = lots["quantity"].astype(float) * lots["symbol"].map(px).fillna(0.0).astype(float)
    held = mv.groupby(lots["account_id"]).sum()
    by_class = mv.groupby([lots["account_id"], lots["symbol"].map(sec["asset_class"])]).sum()
    value = acc.set_index("account_id")["cash"].astype(float).add(held, fill_value=0.0).reindex(acc["account_id"])
    return value, by_class


def solve_location(values: np.ndarray, taxable: np.ndarray, targets: np.ndarray, drag: np.ndarray,
                   current: np.ndarray | None = None) -> np.ndarray:
    """W[a,k] for one household (``targets`` T[a,k], non-cash classes; ``drag`` per class, a
    fraction; ``current`` H[a,k], the class weights held now, None: the targets). Cash above the
    model's moves freely (a small pull to the model's spread keeps the solution unique); selling
    below what is held costs ``STICK`` x the squared amount (a proxy of the tax and trading cost,
    which the per-account optimizer then weighs exactly)."""
    import clarabel

    n_a, n_k = targets.shape
    v = np.asarray(values, float)
    v = v / v.sum() if v.sum() > 0 else np.full(n_a, 1.0 / n_a)
    held = targets.copy() if current is None else np.where(targets > 0, current, 0.0)
    spare = np.maximum(targets.sum(axis=1) - held.sum(axis=1), 0.0)
    share = targets / np.maximum(targets.sum(axis=1, keepdims=True), 1e-12)
    anchor = held + spare[:, None] * share  # what is held, plus spare cash as the model would invest it
    n = n_a * n_k
    va = np.repeat(v, n_k)
    # x = [W, S]: objective drag*W + PULL*v*(W - anchor)^2 + STICK*v*S^2, S >= held - W, S >= 0
    P = sp.diags(np.r_[2 * PULL * va, 2 * STICK * va] + 1e-12, format="csc")
    q = np.r_[np.repeat(v * taxable.astype(float), n_k) * np.tile(drag, n_a) - 2 * PULL * va * anchor.ravel(),
              np.zeros(n)]
    rows, b = [], []
    for a in range(n_a):  # each account keeps its invested share
        r = np.zeros(2 * n)
        r[a * n_k:(a + 1) * n_k] = 1.0
        rows.append(r)
        b.append(targets[a].sum())
    for k in range(n_k):  # the household's class weights are the blended target
        r = np.zeros(2 * n)
        r[k:n:n_k] = v
        rows.append(r)
        b.append(float(v @ targets[:, k]))
    for i in np.flatnonzero((targets <= 0).ravel()):  # no securities of the class in the account's model
        r = np.zeros(2 * n)
        r[i] = 1.0
        rows.append(r)
        b.append(0.0)
    n_eq = len(rows)
    eye = sp.identity(n, format="csc")
    A = sp.vstack([sp.csc_matrix(np.array(rows)),
                   sp.hstack([-eye, sp.csc_matrix((n, n))]),      # W >= 0
                   sp.hstack([sp.csc_matrix((n, n)), -eye]),      # S >= 0
                   sp.hstack([-eye, -eye])], format="csc")         # W + S >= held
    bvec = np.r_[np.array(b), np.zeros(2 * n), -held.ravel()]
    settings = clarabel.DefaultSettings()
    settings.verbose = False
    sol = clarabel.DefaultSolver(sp.triu(P, format="csc"), q, A, bvec,
                                 [clarabel.ZeroConeT(n_eq), clarabel.NonnegativeConeT(3 * n)], settings).solve()
    if "Solved" not in str(sol.status):
        return targets.copy()
    W = np.maximum(np.asarray(sol.x, float)[:n].reshape(n_a, n_k), 0.0)
    W[targets <= 0] = 0.0
    return W


def locate(frames: dict[str, pd.DataFrame], policy) -> tuple[dict[str, pd.DataFrame], dict]:
    """``frames`` with each member of an optimized household on its located model (a model
    ``LOC:<account>`` added to ``model_weights``), and {account: {household_id, class_targets,
    model_id}} for the proposal detail. Unchanged frames when no tier turns it on."""
    from engine.decide.mandates import assign_tiers

    on = {t.name for t in policy.tiers if t.household_optimization}
    acc = frames["accounts"]
    if not on or "household_id" not in acc or not acc["household_id"].notna().any():
        return frames, {}
    hh = household_of(acc)
    value, by_class = _values(frames)
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
    groups = {h: list(g) for h, g in multi.groupby(multi.to_numpy(object)).groups.items()}
    held_of: dict[str, dict] = {}
    for (a, k), x in by_class.items():
        held_of.setdefault(a, {})[k] = x
    model_cls = {mid: (g["symbol"].to_numpy(object), g["weight"].to_numpy(float), g["asset_class"].to_numpy(object),
                       g[g["asset_class"] != "CASH"].groupby("asset_class")["weight"].sum().to_dict())
                 for mid, g in by_model.items()}
    for h in chosen:
        members = groups[h]
        T = np.zeros((len(members), len(classes)))
        for i, a in enumerate(members):
            mc = model_cls.get(model_of[a])
            if mc is None:
                continue
            for k, w in mc[3].items():
                T[i, kidx[k]] = w
        vals = value.reindex(members).fillna(0.0).to_numpy(float)
        C = np.zeros_like(T)
        for i, a in enumerate(members):
            if vals[i] > 0:
                for k, x in held_of.get(a, {}).items():
                    if k in kidx:
                        C[i, kidx[k]] = x / vals[i]
        W = solve_location(vals, np.array([taxable_of[a] for a in members]), T, drag, C)
        for i, a in enumerate(members):
            if model_of[a] not in model_cls:
                continue
            syms, wts, cls, _ = model_cls[model_of[a]]
            scale = np.ones(len(syms))
            for j, k in enumerate(cls):
                if k != "CASH" and k in kidx and T[i, kidx[k]] > 0:
                    scale[j] = W[i, kidx[k]] / T[i, kidx[k]]
            mid = PREFIX + a
            new_rows.append((mid, syms, wts * scale))
            new_model[a] = mid
            info[a] = {"household_id": household_label(h), "model_id": model_of[a],
                       "located_class_targets": {k: round(float(W[i, kidx[k]]), 6) for k in classes
                                                 if T[i, kidx[k]] > 0 or W[i, kidx[k]] > 0}}
    out = dict(frames)
    out["accounts"] = acc.assign(model_id=acc["account_id"].map(new_model).fillna(acc["model_id"]))
    added = pd.DataFrame({"model_id": np.concatenate([np.full(len(x[1]), x[0], dtype=object) for x in new_rows]),
                          "symbol": np.concatenate([x[1] for x in new_rows]),
                          "weight": np.concatenate([x[2] for x in new_rows])}) if new_rows else None
    out["model_weights"] = pd.concat([frames["model_weights"], added], ignore_index=True)
    if "models" in frames:
        out["models"] = pd.concat([frames["models"], pd.DataFrame({"model_id": list(new_model.values())})],
                                  ignore_index=True)
    return out, info
