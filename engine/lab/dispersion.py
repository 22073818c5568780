"""Where dispersion comes from: an exact split of every account's active return, and its floor.

Dispersion (engine/lab/metrics.py) is the standard deviation of cumulative returns among the
accounts of one model. Every account of a model shares the model's return, so it is also the
standard deviation of each account's cumulative *active* return (its cumulative return less the
model's). That active return splits exactly, per account and day, into parts (``PARTS``); with
``w`` the account's weights at the start of the day (after the previous day's trades), ``m`` the
model's, ``W_k``/``M_k`` their weights in asset class ``k``, ``r_s`` a security's return, ``R_k``
the model's return in class ``k`` (the model's own return ``r_m`` for a class the model does not
hold) and ``c`` the day's trading costs over the start value:

- ``cash``: (w_cash − m_cash)(0 − r_m), cash held against the model's cash;
- ``classes``: Σ_k (W_k − M_k)(R_k − r_m), class weights against the model's;
- ``model_securities``: Σ_{s in the model} w_s (r_s − R_k), the model's securities weighted
  otherwise than the model weights them within a class;
- ``non_model_free``: the same sum over securities not in the model, for lots free to sell (at a
  loss, or in an account that pays no tax);
- ``non_model_taxed``: the same over non-model lots that would cost tax to sell (a gain in a
  taxable account): the legacy positions a rebalancer that pays no tax must keep;
- ``costs``: −c;
- ``other``: what is left (zero up to rounding; kept so that the parts always sum exactly).

The days are linked exactly: with ``A`` the account's growth to date and ``P`` a part's
cumulative, ``P ← P (1 + r_m) + A p``, so the parts' cumulatives sum to the account's cumulative
return less the model's. Each part's share of the dispersion is its covariance with the active
return over the variance (within each model; the shares sum to one), so the parts' bps sum to
the dispersion exactly. The **floor** is the dispersion of what is left once the parts a
rebalancer can remove without paying tax (``REMOVABLE``: cash, class weights, the model's
securities' weights, non-model lots free to sell) are gone: the taxed legacy lots held as they
were, every other dollar exactly at the model, and no trading costs; an account suspended for bad
data or held on some day (no rebalancer may trade it) keeps all of its active return. It holds the rest at the
model's weights; a rebalancer that tilted the rest against the legacy lots' factor exposure could
go a little lower (the lots' own, security-specific moves it cannot hedge).
"""
from __future__ import annotations

from collections import deque

import numpy as np
import pandas as pd

PARTS = ("cash", "classes", "model_securities", "non_model_free", "non_model_taxed", "costs", "other")
REMOVABLE = ("cash", "classes", "model_securities", "non_model_free")


def split_day(start: np.ndarray, costs: np.ndarray, r_acc: np.ndarray, pos_acc: np.ndarray, pos_sec: np.ndarray,
              pos_value: np.ndarray, pos_taxed: np.ndarray, held_r: np.ndarray, sec_r: np.ndarray,
              sec_class: np.ndarray, acc_model: np.ndarray, model_sec_w: np.ndarray,
              target: np.ndarray) -> np.ndarray:
    """One day's parts of each account's active return, float[accounts, len(PARTS)].

    ``start``: account values at the start of the day; ``costs``: the day's trading costs;
    ``r_acc``: the account's return (the lab's (move − costs) / start). Positions at the start of
    the day: account and security index, dollars at the start's prices, of them the dollars of lots
    that cost tax to sell. ``held_r``: each security's return as held (splits included),
    ``sec_r``: as the model earns it; ``sec_class``: class index per security (the last class,
    ``target.shape[1] - 1``, is cash); ``acc_model``: model index per account (-1: none);
    ``model_sec_w``: float[models, securities]; ``target``: class weights per account, cash last."""
    n, nc = target.shape
    ok = (start > 0) & (acc_model >= 0)
    mi = np.maximum(acc_model, 0)
    r_model_m = model_sec_w @ sec_r                                  # per model
    mcls = np.zeros((model_sec_w.shape[0], nc))                      # model weight per class (cash 0 here)
    mret = np.zeros_like(mcls)                                       # model dollars' return per class
    for k in range(nc - 1):
        on = sec_class == k
        mcls[:, k] = model_sec_w[:, on].sum(axis=1)
        mret[:, k] = model_sec_w[:, on] @ sec_r[on]
    with np.errstate(invalid="ignore", divide="ignore"):
        R = np.where(mcls > 0, mret / np.where(mcls > 0, mcls, 1.0), r_model_m[:, None])   # [models, classes]
    r_m = np.where(acc_model >= 0, r_model_m[mi], 0.0)
    out = np.zeros((n, len(PARTS)))
    keep = (pos_acc >= 0) & (pos_sec >= 0) & ok[np.maximum(pos_acc, 0)]
    a, s = pos_acc[keep], pos_sec[keep]
    w = pos_value[keep] / start[a]
    wt = pos_taxed[keep] / start[a]
    k = sec_class[s]
    excess = held_r[s] - R[mi[a], k]
    in_model = model_sec_w[mi[a], s] > 0
    out[:, 2] = np.bincount(a, np.where(in_model, w * excess, 0.0), minlength=n)
    out[:, 3] = np.bincount(a, np.where(in_model, 0.0, (w - wt) * excess), minlength=n)
    out[:, 4] = np.bincount(a, np.where(in_model, 0.0, wt * excess), minlength=n)
    W = np.zeros((n, nc))
    np.add.at(W, (a, k), w)
    W[:, -1] = 1.0 - W[:, :-1].sum(axis=1)                           # cash: the rest of the start value
    M = target
    out[:, 0] = (W[:, -1] - M[:, -1]) * (0.0 - r_m)
    out[:, 1] = ((W[:, :-1] - M[:, :-1]) * (R[mi][:, :-1] - r_m[:, None])).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        out[:, 5] = np.where(start > 0, -costs / start, 0.0)
    out[~ok, :] = 0.0
    out[:, 6] = (r_acc - r_m) - out[:, :6].sum(axis=1)
    return out


def positions(lot_acc: np.ndarray, lot_sec: np.ndarray, qty: np.ndarray, unit_cost: np.ndarray, price: np.ndarray,
              taxable: np.ndarray, acc_model: np.ndarray, model_sec_w: np.ndarray, n_sec: int):
    """Lots → positions (account, security, dollars, dollars that cost tax to sell): a lot costs tax
    to sell when it stands at a gain in a taxable account (only non-model lots are counted as such
    in :func:`split_day`)."""
    ok = (lot_acc >= 0) & (lot_sec >= 0)
    a, s = lot_acc[ok], lot_sec[ok]
    px = np.nan_to_num(price[s])
    val = qty[ok] * px
    taxed = np.where(taxable[a] & (px > unit_cost[ok]), val, 0.0)
    key = a.astype(np.int64) * n_sec + s
    uk, inv = np.unique(key, return_inverse=True)
    return (uk // n_sec, uk % n_sec, np.bincount(inv, val, minlength=len(uk)),
            np.bincount(inv, taxed, minlength=len(uk)))


class DispersionSplit:
    """The parts of every account's cumulative active return, carried day by day (the Ledger's)."""

    def __init__(self, n_accounts: int, n_sec: int, window: int = 20):
        self.n_sec = n_sec
        self.recent: deque = deque(maxlen=window)     # the last days' (parts, r_acc, r_m)
        self.growth = np.ones(n_accounts)                # each account's growth to date
        self.cum = np.zeros((n_accounts, len(PARTS)))    # each part's linked cumulative
        self.pos = None                                   # positions at the start of the next day

    def hold(self, lot_acc, lot_sec, qty, unit_cost, price, taxable, acc_model, model_sec_w) -> None:
        """The positions the next day starts from (the lots after today's trades, today's prices)."""
        self.pos = positions(lot_acc, lot_sec, qty, unit_cost, price, taxable, acc_model, model_sec_w, self.n_sec)

    def day(self, start, costs, r_acc, held_r, sec_r, sec_class, acc_model, model_sec_w, target) -> np.ndarray:
        p = split_day(start, costs, r_acc, *self.pos, held_r, sec_r, sec_class, acc_model, model_sec_w, target)
        r_m = np.where(acc_model >= 0, (model_sec_w @ sec_r)[np.maximum(acc_model, 0)], 0.0)
        self.cum = self.cum * (1.0 + r_m)[:, None] + self.growth[:, None] * p
        self.growth = self.growth * (1.0 + r_acc)
        self.recent.append((p, r_acc, r_m))
        return p

    def window(self) -> np.ndarray:
        """The parts' cumulatives linked over the last ``window`` days only."""
        if not self.recent:
            return np.zeros_like(self.cum)
        growth, cum = np.ones(len(self.cum)), np.zeros_like(self.cum)
        for p, r_acc, r_m in self.recent:
            cum = cum * (1.0 + r_m)[:, None] + growth[:, None] * p
            growth = growth * (1.0 + r_acc)
        return cum


def _groups(model: np.ndarray, mask: np.ndarray):
    """(model codes, counts) of the masked accounts, models of two or more only."""
    codes, uniq = pd.factorize(pd.Series(model[mask]))
    counts = np.bincount(codes, minlength=len(uniq))
    return codes, counts


def dispersion_of(values: np.ndarray, model: np.ndarray, mask: np.ndarray) -> float:
    """Std (ddof 1) of ``values`` among the masked accounts of each model (two or more),
    averaged over models weighted by account count, in bps: the lab's dispersion."""
    if not mask.any():
        return 0.0
    df = pd.DataFrame({"m": model[mask], "r": values[mask]})
    g = df.groupby("m")["r"].agg(["std", "count"])
    g = g[g["count"] >= 2]
    if not len(g):
        return 0.0
    return float((g["std"] * g["count"]).sum() / g["count"].sum() * 1e4)


def shares(cum_parts: np.ndarray, model: np.ndarray, mask: np.ndarray) -> dict[str, float]:
    """Each part's bps of the dispersion of the parts' sum (they sum to it exactly): per model,
    the model's std times the part's covariance with the total over the total's variance,
    averaged over models weighted by account count."""
    out = dict.fromkeys(PARTS, 0.0)
    if not mask.any():
        return out
    codes, counts = _groups(model, mask)
    x = cum_parts[mask]
    total = x.sum(axis=1)
    big = counts >= 2
    weight_sum = counts[big].sum()
    if not weight_sum:
        return out
    for g in np.flatnonzero(big):
        on = codes == g
        t = total[on] - total[on].mean()
        var = float((t * t).sum()) / (on.sum() - 1)
        if var <= 0:
            continue
        cov = ((x[on] - x[on].mean(axis=0)) * t[:, None]).sum(axis=0) / (on.sum() - 1)
        for j, name in enumerate(PARTS):
            out[name] += float(cov[j] / var * np.sqrt(var)) * counts[g]
    return {k: v / weight_sum * 1e4 for k, v in out.items()}


def left_after_removal(cum_parts: np.ndarray, fixed: np.ndarray | None = None, keep_costs: bool = False) -> np.ndarray:
    """Each account's cumulative active return once the parts removable without tax (``REMOVABLE``)
    are gone, and the trading costs too unless ``keep_costs``; an account in ``fixed`` (suspended or
    held: no rebalancer may trade it) keeps every part."""
    left = [j for j, name in enumerate(PARTS) if name not in REMOVABLE and (keep_costs or name != "costs")]
    out = cum_parts[:, left].sum(axis=1)
    if fixed is not None:
        out = np.where(fixed, cum_parts.sum(axis=1), out)
    return out


def floor_bps(cum_parts: np.ndarray, model: np.ndarray, mask: np.ndarray, keep_costs: bool = False,
              fixed: np.ndarray | None = None) -> float:
    """The floor: the dispersion of :func:`left_after_removal` among the masked accounts."""
    return dispersion_of(left_after_removal(cum_parts, fixed, keep_costs), model, mask)


def summary_columns(cum_parts: np.ndarray, model: np.ndarray, masks: dict[str, np.ndarray],
                    fixed: np.ndarray | None = None) -> dict[str, float]:
    """The summary's split columns for each mask (its name the prefix, e.g. ``""``, ``"managed_"``):
    ``disp_<prefix><part>_bps`` (each part's bps of the dispersion, summing to it),
    ``dispersion_<prefix>floor_bps`` and ``dispersion_<prefix>floor_with_costs_bps``; ``fixed``:
    the accounts no rebalancer may trade, which keep every part in the floor."""
    out = {}
    for prefix, mask in masks.items():
        for name, v in shares(cum_parts, model, mask).items():
            out[f"disp_{prefix}{name}_bps"] = round(v, 4)
        out[f"dispersion_{prefix}floor_bps"] = round(floor_bps(cum_parts, model, mask, fixed=fixed), 4)
        out[f"dispersion_{prefix}floor_with_costs_bps"] = round(
            floor_bps(cum_parts, model, mask, keep_costs=True, fixed=fixed), 4)
    return out
