"""Household-level rebalancing with asset location (policy: ``household_optimization = true``
on a tier, ``tax_drag_bps`` per asset class).

One convex problem per household, solved with Clarabel (the optimizer's solver library), decides
each member's asset-class weights ``W[a,k]``, from ``C[a,k]``, the weights it holds now:

    minimize   sum_a v_a * taxable_a * YEARS * sum_k drag_k * W[a,k]     (tax drag over the years held)
             + sum_a v_a * sum_k (cost * B[a,k] + sell_a,k * S[a,k])      (moving from what is held:
                                                                          trading cost, and the tax a
                                                                          sale realizes in a taxable member)
             + PULL * sum_a v_a * sum_k (W[a,k] - T[a,k])^2               (a member strays from its own
                                                                          model only as far as it pays)
             + GAP * sum_k G[k]^2                                          (the household's gap)
    subject to W = C + B - S, B >= 0, S >= 0
               sum_a v_a W[a,k] - G[k] = sum_a v_a T[a,k]  (the household's class weights: the blended target)
               sum_k W[a,k] = sum_k T[a,k]          (each account keeps its own model cash)
               T - room <= W <= T + room            (inside the member's own model's bands)
               W[a,k] = 0 where the account's model has no security of class k
               W[a] = C[a] for a member that does not trade today (suspended, held, or decided)

with ``v_a`` the member's share of the household value and ``T`` its model's class weights. With
every member free the gap is held at 0 (``W = T`` is feasible); with members held where they are,
``GAP`` makes it a soft constraint (the decided members may leave more than the others can close
inside their bands). The location term is the yearly drag times ``YEARS`` (a drag paid yearly over
the policy's ``[harvest]`` horizon, at its discount rate).

Two steps (engine.decide.workflow.decide):

1. :func:`locate`, with no cost of moving and ``room`` = ``ROOM`` x the member's band: every
   member gets a *located model* (its model's weights scaled per class by ``W / T``; the
   securities keep their proportions within a class): its own model tilted for asset location
   (the high-drag classes towards the tax-deferred members), the same whatever it holds today, so
   it is a target the member tracks day after day as it tracks its model. The taxable members are
   optimized on theirs by the unchanged per-account optimizer, which weighs each sale's real tax and
   may stop short of the target or not trade at all (its threshold).
2. :func:`complete`, with the costs of moving and ``room`` = the member's band: the problem again
   with the taxable members held where their decisions leave them; the tax-exempt members get the
   result as their located model and are optimized: they close the household's gap, at no tax.

Each member keeps its own cash needs, restrictions, halts, lots, wash-sale blocks, mandates and
bands (those of its own model: the located weights lie inside them). A first version (one step,
a squared cost of selling below what is held, no cost of buying, bands around the located model)
moved members a little further every day, band mandates traded to the edge of bands around
targets that kept moving, and household drift and turnover rose; a located model using the whole
band left members at its edge, breaching it often (docs/decision-quality.md, households). A
one-member household's problem has the single solution ``W = T``: its located model is its model.
Pure: no database.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta

import numpy as np
import pandas as pd
import scipy.sparse as sp

from engine.decide.household_wash import household_label, household_of

PULL = 0.1  # a member's squared distance from its own model (bounds the location tilt)
ROOM = 0.5  # share of a member's band the location may use (a member at its band's edge breaches it often)
GAP = 5.0  # the household's squared gap to its blended target (a soft constraint: 50 gave 6 % more lines for 1.7 % less drift)
PREFIX = "LOC:"
SECOND = "LOC2:"


def annuity_years(discount_rate: float, horizon_years: float) -> float:
    """Present value of 1 a year for ``horizon_years`` at ``discount_rate`` (the horizon when 0)."""
    r, h = float(discount_rate), float(horizon_years)
    return h if r <= 0 else (1.0 - (1.0 + r) ** -h) / r


def _values(frames: dict[str, pd.DataFrame], as_of: date | None = None) -> tuple[pd.Series, pd.Series, pd.Series]:
    """(account -> value: cash + lots at the book's prices, unpriced holdings count 0 here;
    (account, asset class) -> held value; (account, asset class) -> the tax selling it all would
    realize, at least 0: gains at the account's short- or long-term rate, 0 in a tax-exempt account)."""
    acc = frames["accounts"]
    sec = frames["securities"].set_index("symbol")
    px = pd.to_numeric(sec["price"], errors="coerce")
    lots = frames["lots"]
    price = lots["symbol"].map(px).fillna(0.0).astype(float)
    qty = lots["quantity"].astype(float)
    mv = qty * price
    held = mv.groupby(lots["account_id"]).sum()
    key = [lots["account_id"], lots["symbol"].map(sec["asset_class"])]
    by_class = mv.groupby(key).sum()
    a = acc.set_index("account_id")
    taxable = lots["account_id"].map(a["taxable"].astype(bool)).fillna(False).to_numpy(bool)
    st = lots["account_id"].map(pd.to_numeric(a["st_rate"], errors="coerce")).fillna(0.37).to_numpy(float)
    lt = lots["account_id"].map(pd.to_numeric(a["lt_rate"], errors="coerce")).fillna(0.20).to_numpy(float)
    short = np.zeros(len(lots), bool)
    if as_of is not None:
        short = (lots["acquired_date"].astype(str) > (as_of - timedelta(days=365)).isoformat()).to_numpy(bool)
    gain = (price - lots["unit_cost"].astype(float)).to_numpy(float) * qty.to_numpy(float)
    tax = pd.Series(np.where(taxable & (price.to_numpy(float) > 0), gain * np.where(short, st, lt), 0.0),
                    index=lots.index).groupby(key).sum().clip(lower=0.0)
    value = a["cash"].astype(float).add(held, fill_value=0.0).reindex(acc["account_id"])
    return value, by_class, tax


def solve_location(values: np.ndarray, taxable: np.ndarray, targets: np.ndarray, drag: np.ndarray,
                   current: np.ndarray | None = None, sell_cost: np.ndarray | None = None, *,
                   years: float = 7.72, cost: float = 0.0005, pull: float = PULL,
                   width: np.ndarray | None = None, fixed: np.ndarray | None = None) -> np.ndarray:
    """W[a,k] for one household (``targets`` T[a,k], non-cash classes; ``drag`` per class, a
    yearly fraction; ``current`` C[a,k], the class weights held now, None: the targets;
    ``sell_cost`` [a,k]: what selling a dollar costs beyond ``cost`` (the tax it realizes), None:
    nothing). ``cost``: trading cost per dollar bought or sold; ``years``: the drag's weight;
    ``width`` [a,k]: each W stays within T ± width (the member's own bands), None: no bound;
    ``fixed`` (bool per member): members held at ``current`` (they do not trade)."""
    import clarabel

    n_a, n_k = targets.shape
    v = np.asarray(values, float)
    v = v / v.sum() if v.sum() > 0 else np.full(n_a, 1.0 / n_a)
    fixed = np.zeros(n_a, bool) if fixed is None else np.asarray(fixed, bool)
    cur = targets if current is None else current
    held = np.where(fixed[:, None], cur, np.where(targets > 0, cur, 0.0))
    extra = np.zeros_like(targets) if sell_cost is None else np.where(targets > 0, sell_cost, 0.0)
    n = n_a * n_k
    va = np.repeat(v, n_k)
    # x = [W, B, S, G]
    P = sp.diags(np.r_[2 * pull * va, np.full(2 * n, 1e-9), np.full(n_k, 2 * GAP)], format="csc")
    q = np.r_[years * np.repeat(v * np.asarray(taxable, float), n_k) * np.tile(drag, n_a) - 2 * pull * va * targets.ravel(),
              va * cost, va * (cost + extra.ravel()), np.zeros(n_k)]
    rows, b = [], []
    for k in range(n_k):  # the household's class weights: the blended target, up to the gap G
        r = np.zeros(3 * n + n_k)
        r[k:n:n_k] = v
        r[3 * n + k] = -1.0
        rows.append(r)
        b.append(float(v @ targets[:, k]))
    for a in range(n_a):
        if fixed[a]:  # where its holdings (or today's decision) leave it
            for k in range(n_k):
                r = np.zeros(3 * n + n_k)
                r[a * n_k + k] = 1.0
                rows.append(r)
                b.append(float(held[a, k]))
            continue
        r = np.zeros(3 * n + n_k)  # each account keeps its invested share
        r[a * n_k:(a + 1) * n_k] = 1.0
        rows.append(r)
        b.append(targets[a].sum())
        for k in np.flatnonzero(targets[a] <= 0):  # no securities of the class in the account's model
            r = np.zeros(3 * n + n_k)
            r[a * n_k + k] = 1.0
            rows.append(r)
            b.append(0.0)
    if not fixed.any():  # every member free: W = T is feasible, the gap is 0 exactly
        for k in range(n_k):
            r = np.zeros(3 * n + n_k)
            r[3 * n + k] = 1.0
            rows.append(r)
            b.append(0.0)
    n_eq = len(rows) + n
    free = ~np.repeat(fixed, n_k)
    lo = np.zeros(n) if width is None else np.where(free, np.maximum(targets - width, 0.0).ravel(), 0.0)
    hi = np.full(n, 1e6) if width is None else np.where(free, (targets + width).ravel(), 1e6)
    # a small dense matrix made sparse once (the problem has tens of variables)
    A = np.zeros((len(rows) + 5 * n, 3 * n + n_k))
    A[:len(rows)] = np.array(rows)
    i = np.arange(n)
    r0 = len(rows)
    A[r0 + i, i], A[r0 + i, n + i], A[r0 + i, 2 * n + i] = 1.0, -1.0, 1.0  # W - B + S = held
    A[r0 + n + np.arange(3 * n), np.arange(3 * n)] = -1.0                   # W >= lo, B, S >= 0
    A[r0 + 4 * n + i, i] = 1.0                                              # W <= hi
    A = sp.csc_matrix(A)
    bvec = np.r_[np.array(b), held.ravel(), -lo, np.zeros(2 * n), hi]
    settings = clarabel.DefaultSettings()
    settings.verbose = False
    sol = clarabel.DefaultSolver(sp.triu(P, format="csc"), q, A, bvec,
                                 [clarabel.ZeroConeT(n_eq), clarabel.NonnegativeConeT(4 * n)], settings).solve()
    if "Solved" not in str(sol.status):
        return np.where(fixed[:, None], held, targets)
    W = np.maximum(np.asarray(sol.x, float)[:n].reshape(n_a, n_k), 0.0)
    W[~fixed[:, None] & (targets <= 0)] = 0.0
    return W


@dataclass
class Household:
    """One optimized household's problem, kept for :func:`complete`."""
    key: str
    members: list[str]
    values: np.ndarray
    taxable: np.ndarray
    targets: np.ndarray
    current: np.ndarray
    sell_cost: np.ndarray
    width: np.ndarray
    fixed: np.ndarray


@dataclass
class Plan:
    """What :func:`locate` decided: the problem of each household, the classes, and the settings."""
    classes: list[str]
    drag: np.ndarray
    years: float
    cost: float
    households: list[Household] = field(default_factory=list)
    models: dict[str, tuple] = field(default_factory=dict)  # account -> (symbols, weights, classes) of its own model
    info: dict[str, dict] = field(default_factory=dict)

    def second_step(self) -> set[str]:
        """The members optimized after the others: tax-exempt members that trade today."""
        return {a for h in self.households for a, t, f in zip(h.members, h.taxable, h.fixed) if not t and not f}


def _located(model: tuple, classes: list[str], t_row: np.ndarray, w_row: np.ndarray) -> np.ndarray:
    """The model's security weights scaled per class by W / T (CASH and unknown classes unchanged)."""
    syms, wts, cls = model
    kidx = {k: i for i, k in enumerate(classes)}
    scale = np.ones(len(syms))
    for j, k in enumerate(cls):
        i = kidx.get(k)
        if k != "CASH" and i is not None and t_row[i] > 0:
            scale[j] = w_row[i] / t_row[i]
    return wts * scale


def _targets_info(classes, t_row, w_row) -> dict:
    return {k: round(float(w_row[i]), 6) for i, k in enumerate(classes) if t_row[i] > 0 or w_row[i] > 0}


def locate(frames: dict[str, pd.DataFrame], policy, as_of: date | None = None,
           fixed: set[str] | frozenset = frozenset()) -> tuple[dict[str, pd.DataFrame], Plan | None]:
    """``frames`` with each member of an optimized household on its located model (a model
    ``LOC:<account>`` added to ``model_weights``), and the :class:`Plan` (its ``info``: {account:
    {household_id, model_id, located_class_targets}} for the proposal detail); unchanged frames
    and None when no tier turns it on. ``fixed``: accounts that do not trade today (suspended,
    held, exported): held where they are."""
    from engine.decide.mandates import assign_tiers, band_width

    on = {t.name for t in policy.tiers if t.household_optimization}
    acc = frames["accounts"]
    if not on or "household_id" not in acc or not acc["household_id"].notna().any():
        return frames, None
    hh = household_of(acc)
    multi = hh[hh.str.startswith("H:")]
    if not len(multi):
        return frames, None
    value, by_class, tax_of = _values(frames, as_of)
    totals = value.reindex(multi.index).groupby(multi.to_numpy(object)).sum()
    tiers = dict(zip(totals.index, assign_tiers(totals.to_numpy(float), np.full(len(totals), None, object), policy)))
    chosen = [h for h in totals.index if tiers[h] in on]
    if not chosen:
        return frames, None
    sec_class = frames["securities"].set_index("symbol")["asset_class"]
    mw = frames["model_weights"]
    mw = mw.assign(asset_class=np.where(mw["symbol"] == "CASH", "CASH", mw["symbol"].map(sec_class).astype(object)))
    classes = sorted(set(mw.loc[mw["asset_class"] != "CASH", "asset_class"].dropna()))
    kidx = {k: i for i, k in enumerate(classes)}
    drag_bps = policy.tax_drag_bps or {}
    plan = Plan(classes, np.array([float(drag_bps.get(k, 0.0)) / 1e4 for k in classes]),
                annuity_years(policy.harvest.discount_rate, policy.harvest.horizon_years),
                float(policy.trading.cost_bps) / 1e4)
    model_of = dict(zip(acc["account_id"], acc["model_id"]))
    taxable_of = dict(zip(acc["account_id"], acc["taxable"].astype(bool)))
    groups = {h: list(g) for h, g in multi.groupby(multi.to_numpy(object)).groups.items()}
    held_of: dict[str, dict] = {}
    for (a, k), x in by_class.items():
        held_of.setdefault(a, {})[k] = x
    mv_of = by_class.reindex(tax_of.index)
    tax_frac = (tax_of[mv_of > 0] / mv_of[mv_of > 0]).to_dict()
    model_cls = {mid: ((g["symbol"].to_numpy(object), g["weight"].to_numpy(float), g["asset_class"].to_numpy(object)),
                       g[g["asset_class"] != "CASH"].groupby("asset_class")["weight"].sum().to_dict())
                 for mid, g in mw.groupby("model_id")}
    new_rows, new_model = [], {}
    for h in chosen:
        members = groups[h]
        T = np.zeros((len(members), len(classes)))
        for i, a in enumerate(members):
            for k, w in model_cls.get(model_of[a], (None, {}))[1].items():
                T[i, kidx[k]] = w
        vals = value.reindex(members).fillna(0.0).to_numpy(float)
        C = np.zeros_like(T)
        for i, a in enumerate(members):
            if vals[i] > 0:
                for k, x in held_of.get(a, {}).items():
                    if k in kidx:
                        C[i, kidx[k]] = x / vals[i]
        hp = Household(h, members, vals, np.array([taxable_of[a] for a in members]), T, C,
                       np.array([[tax_frac.get((a, k), 0.0) for k in classes] for a in members]),
                       np.where(T > 0, band_width(T, policy), 0.0),
                       np.array([a in fixed or model_of[a] not in model_cls for a in members]))
        plan.households.append(hp)
        W = solve_location(hp.values, hp.taxable, T, plan.drag, C, None, years=plan.years, cost=0.0,
                           width=ROOM * hp.width, fixed=hp.fixed)
        for i, a in enumerate(members):
            if model_of[a] not in model_cls:
                continue
            model = model_cls[model_of[a]][0]
            plan.models[a] = model
            mid = PREFIX + a
            new_rows.append((mid, model[0], _located(model, classes, T[i], W[i])))
            new_model[a] = mid
            plan.info[a] = {"household_id": household_label(h), "model_id": model_of[a],
                            "located_class_targets": _targets_info(classes, T[i], W[i])}
    out = dict(frames)
    out["accounts"] = acc.assign(model_id=acc["account_id"].map(new_model).fillna(acc["model_id"]))
    added = pd.DataFrame({"model_id": np.concatenate([np.full(len(x[1]), x[0], dtype=object) for x in new_rows]),
                          "symbol": np.concatenate([x[1] for x in new_rows]),
                          "weight": np.concatenate([x[2] for x in new_rows])}) if new_rows else None
    out["model_weights"] = pd.concat([frames["model_weights"], added], ignore_index=True)
    if "models" in frames:
        out["models"] = pd.concat([frames["models"], pd.DataFrame({"model_id": list(new_model.values())})],
                                  ignore_index=True)
    return out, plan


def complete(plan: Plan, decided: dict[str, dict[str, float]]) -> dict[str, tuple]:
    """The second step: each household's problem again with the members in ``decided`` ({account:
    class weights after today's decision}) and the fixed ones held where they are; returns {account:
    (model id ``LOC2:<account>``, symbols, weights)} for the tax-exempt members still to optimize
    (their ``plan.info`` updated)."""
    out = {}
    late = plan.second_step()
    for h in plan.households:
        todo = [i for i, a in enumerate(h.members) if a in late and a in plan.models]
        if not todo:
            continue
        C = h.current.copy()
        fixed = h.fixed.copy()
        for i, a in enumerate(h.members):
            if a in decided:
                C[i] = [decided[a].get(k, 0.0) for k in plan.classes]
                fixed[i] = True
        W = solve_location(h.values, h.taxable, h.targets, plan.drag, C, h.sell_cost, years=plan.years,
                           cost=plan.cost, width=h.width, fixed=fixed)
        for i in todo:
            a = h.members[i]
            w = _located(plan.models[a], plan.classes, h.targets[i], W[i])
            keep = plan.models[a][2] != "CASH"
            out[a] = (SECOND + a, plan.models[a][0][keep], w[keep])
            plan.info[a]["located_class_targets"] = _targets_info(plan.classes, h.targets[i], W[i])
    return out


def relocate(frames: dict[str, pd.DataFrame], account_id: str, class_targets: dict[str, float]
             ) -> dict[str, pd.DataFrame]:
    """``frames`` with ``account_id`` on the located model its proposal recorded (``class_targets``,
    the detail's ``household.location.located_class_targets``): its model's weights scaled per
    class, as the run located it (re-scoring an edited proposal, engine.decide.rescore)."""
    acc = frames["accounts"]
    own = acc.loc[acc["account_id"] == account_id, "model_id"]
    if not len(own) or not class_targets:
        return frames
    sec_class = frames["securities"].set_index("symbol")["asset_class"]
    mw = frames["model_weights"]
    g = mw[mw["model_id"] == own.iloc[0]]
    if not len(g):
        return frames
    cls = np.where(g["symbol"] == "CASH", "CASH", g["symbol"].map(sec_class).astype(object))
    classes = sorted(set(cls) - {"CASH"} | set(class_targets))
    t_row = np.array([g["weight"].to_numpy(float)[cls == k].sum() for k in classes])
    w_row = np.array([float(class_targets.get(k, 0.0)) for k in classes])
    model = (g["symbol"].to_numpy(object), g["weight"].to_numpy(float), cls)
    mid = PREFIX + account_id
    out = dict(frames)
    out["accounts"] = acc.assign(model_id=np.where(acc["account_id"] == account_id, mid, acc["model_id"]))
    out["model_weights"] = pd.concat([mw, pd.DataFrame({"model_id": mid, "symbol": model[0],
                                                        "weight": _located(model, classes, t_row, w_row)})],
                                     ignore_index=True)
    return out
