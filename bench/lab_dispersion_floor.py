"""Where dispersion comes from, and its floor (docs/decision-quality.md, section 11).

    python bench/lab_dispersion_floor.py OUT [OUT ...] [--db DB --days 60 --seed 7]

Each OUT is a ``bench/lab_trace.py`` folder (summary.csv and dispersion_parts_VARIANT.csv). Prints:

1. the split table: each part of the active return (engine/lab/dispersion.py) in bps of each
   variant's dispersion (the parts sum to it), over all accounts, the managed ones, and the last
   20 days; and the floors (what is left once cash, class weights, the model's securities' weights
   and the non-model lots free to sell are gone; accounts no rebalancer may trade keep all);
2. with ``--db``: the floor recomputed from the book alone, independently of any run and of the
   split's code: every account holds its taxed legacy lots (non-model securities at a gain on day
   1 in a taxable account) as they are and every other dollar exactly at its model, along the
   same seeded prices; accounts suspended for bad data on day 1 or held keep their whole book;
3. the tax frontier: what selling the taxed legacy lots of the accounts that add most to the
   floor per dollar of tax buys, at several tax budgets (the goal's: tax at most 35 % of the band
   rebalancer's), on the book-level floor and on each run's own floor.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from engine.lab.dispersion import PARTS, dispersion_of, left_after_removal  # noqa: E402

LABELS = {"cash": "cash held vs the model's cash", "classes": "class weights vs the model's",
          "model_securities": "the model's securities weighted otherwise",
          "non_model_free": "non-model lots free to sell", "non_model_taxed": "non-model lots that cost tax to sell",
          "costs": "trading costs", "other": "rest (rounding)"}


def split_table(dirs: list[str]) -> tuple[str, dict[str, pd.DataFrame]]:
    cols, parts = {}, {}
    for d in dirs:
        s = pd.read_csv(Path(d) / "summary.csv")
        for _, r in s.iterrows():
            cols[r["variant"]] = r
            f = Path(d) / f"dispersion_parts_{r['variant']}.csv"
            if f.exists():
                parts[r["variant"]] = pd.read_csv(f)
    names = list(cols)
    out = []
    for scope, pre, total in (("all accounts, the period", "", "dispersion_bps"),
                              ("managed accounts, the period", "managed_", "dispersion_managed_bps"),
                              ("all accounts, the last 20 days", "last20_", "dispersion_last20_bps"),
                              ("managed accounts, the last 20 days", "managed_last20_", "dispersion_managed_last20_bps")):
        out += [f"\n{scope}: bps of the dispersion (share)\n", "| part | " + " | ".join(names) + " |",
                "|---" * (len(names) + 1) + "|"]
        for p in PARTS:
            cells = []
            for n in names:
                v, t = cols[n].get(f"disp_{pre}{p}_bps", np.nan), cols[n][total]
                cells.append(f"{v:.2f} ({100 * v / t:.0f} %)" if t else f"{v:.2f}")
            out.append(f"| {LABELS[p]} | " + " | ".join(cells) + " |")
        out.append("| **dispersion** | " + " | ".join(f"**{cols[n][total]:.2f}**" for n in names) + " |")
        out.append("| floor (taxed legacy lots; untradable accounts whole) | "
                   + " | ".join(f"{cols[n][f'dispersion_{pre}floor_bps']:.2f}" for n in names) + " |")
        out.append("| … with the run's trading costs kept | "
                   + " | ".join(f"{cols[n][f'dispersion_{pre}floor_with_costs_bps']:.2f}" for n in names) + " |")
    out.append("\nmanaged accounts: " + ", ".join(f"{n} {int(cols[n]['managed_accounts'])}" for n in names))
    return "\n".join(out), parts


def legacy(book) -> pd.DataFrame:
    """Per day-1 lot: account and security index, quantity, whether it is a taxed legacy lot and the
    tax of selling it on day 1."""
    fr = book.frames
    acc, sec, lots = fr["accounts"], fr["securities"], fr["lots"]
    apos = pd.Series(np.arange(len(acc)), index=acc["account_id"].to_numpy(object))
    spos = pd.Series(np.arange(len(sec)), index=sec["symbol"].to_numpy(object))
    a = apos.reindex(lots["account_id"]).to_numpy(float)
    s = spos.reindex(lots["symbol"]).to_numpy(float)
    ok = np.isfinite(a) & np.isfinite(s)
    lots, a, s = lots[ok], a[ok].astype(int), s[ok].astype(int)
    price = pd.to_numeric(sec["price"], errors="coerce").to_numpy(float)
    px = np.nan_to_num(price[s])
    q = lots["quantity"].to_numpy(float)
    gain = (px - lots["unit_cost"].to_numpy(float)) * q
    mw = fr["model_weights"]
    in_model = set(zip(mw["model_id"], mw["symbol"]))
    model = acc["model_id"].to_numpy(object)
    inm = np.array([(model[i], y) in in_model for i, y in zip(a, lots["symbol"])], bool)
    taxable = acc["taxable"].to_numpy(bool)
    st = np.where(np.isnan(acc["st_rate"].to_numpy(float)), 0.37, acc["st_rate"].to_numpy(float))
    lt = np.where(np.isnan(acc["lt_rate"].to_numpy(float)), 0.20, acc["lt_rate"].to_numpy(float))
    short = lots["acquired_date"].astype(str).to_numpy(object) > (pd.Timestamp(book.as_of)
                                                                  - pd.Timedelta(days=365)).date().isoformat()
    locked = taxable[a] & (gain > 0) & ~inm
    tax = np.where(locked, gain * np.where(short, st[a], lt[a]), 0.0)
    return pd.DataFrame({"acc": a, "sec": s, "q": q, "locked": locked, "tax": tax, "value": q * px})


def book_floor(book, path, unmanaged: np.ndarray) -> np.ndarray:
    """Each account's cumulative active return when it holds its taxed legacy lots as they are and
    every other dollar at its model (unmanaged accounts: their whole book, untouched)."""
    fr = book.frames
    acc, sec = fr["accounts"], fr["securities"]
    n, ns = len(acc), len(sec)
    spos = {y: i for i, y in enumerate(sec["symbol"])}
    classes = sorted(set(sec["asset_class"].astype(str)))
    cls = np.array([classes.index(str(c)) for c in sec["asset_class"]])
    mw = fr["model_weights"]
    models = sorted(set(mw["model_id"]))
    W = np.zeros((len(models), ns))
    for m, y, w in zip(mw["model_id"], mw["symbol"], mw["weight"].astype(float)):
        if y in spos:
            W[models.index(m), spos[y]] += w
    am = np.array([models.index(m) if m in models else -1 for m in acc["model_id"]])
    lg = legacy(book)
    keep = lg[lg["locked"].to_numpy(bool) | unmanaged[lg["acc"].to_numpy(int)]]
    a, s, q = keep["acc"].to_numpy(int), keep["sec"].to_numpy(int), keep["q"].to_numpy(float)
    whole = unmanaged[a]
    price = pd.to_numeric(sec["price"], errors="coerce").to_numpy(float)
    cash = acc["cash"].to_numpy(float)
    value = cash.copy()
    np.add.at(value, lg["acc"].to_numpy(int), lg["value"].to_numpy(float))
    growth_a, growth_m = np.ones(n), np.ones(n)
    p_prev = np.where(path.moving, path.prices[0], price)
    for k in range(1, len(path.dates)):
        r = np.where(path.moving, path.returns(k), 0.0)
        r_model = W @ r
        mc = np.zeros((len(models), len(classes)))
        mr = np.zeros_like(mc)
        for c in range(len(classes)):
            mc[:, c] = W[:, cls == c].sum(axis=1)
            mr[:, c] = W[:, cls == c] @ r[cls == c]
        R = np.where(mc > 0, mr / np.where(mc > 0, mc, 1.0), r_model[:, None])
        rm = np.where(am >= 0, r_model[np.maximum(am, 0)], 0.0)
        dollars = q * np.nan_to_num(p_prev[s])
        with np.errstate(invalid="ignore", divide="ignore"):
            w = np.where(value[a] > 0, dollars / value[a], 0.0)
        excess = np.where(whole, r[s], r[s] - R[np.maximum(am[a], 0), cls[s]])
        ra = np.where(unmanaged, 0.0, rm)  # an untouched account earns only what it holds
        ra = ra + np.bincount(a, w * excess, minlength=n)
        growth_a *= 1.0 + ra
        growth_m *= 1.0 + rm
        value *= 1.0 + ra
        p_prev = np.where(path.moving, path.prices[k], p_prev)
    return growth_a - growth_m


def frontier(active: np.ndarray, model: np.ndarray, mask: np.ndarray, tax: np.ndarray, tradable: np.ndarray,
             budgets: list[float]) -> list[tuple[float, float, int]]:
    """Greedy: sell on day 1 the taxed legacy lots of the tradable account adding most to its
    model's variance per dollar of tax first (its active return then 0: at the model all along);
    (budget, dispersion, accounts sold) at each budget."""
    df = pd.DataFrame({"m": model, "x": active, "on": mask})
    dev = ((df["x"] - df[df["on"]].groupby("m")["x"].transform("mean")) ** 2).fillna(0.0).to_numpy(float)
    sellable = mask & tradable & (tax > 0)
    score = np.where(sellable, dev / np.maximum(tax, 1.0), -1.0)
    order = np.argsort(-score)
    order = order[score[order] >= 0]
    out = []
    for b in budgets:
        x = active.copy()
        spent, sold = 0.0, 0
        for i in order:
            if spent + tax[i] <= b:
                x[i] = 0.0
                spent += tax[i]
                sold += 1
        out.append((b, dispersion_of(x, model, mask), sold))
    return out


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("dirs", nargs="+")
    ap.add_argument("--db")
    ap.add_argument("--days", type=int, default=60)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--budget", type=float, nargs="*", default=[0, 250e3, 500e3, 1.05e6, 2e6, 3e6, 5e6, 1e9])
    a = ap.parse_args(argv)
    text, parts = split_table(a.dirs)
    print(text)
    if not a.db:
        return
    from engine.book.checks import run_checks
    from engine.core.frames import holdings
    from engine.core.policy import default_policy
    from engine.decide.overrides import overrides_in_force
    from engine.lab.runner import load_book, price_path
    from storage.db import make_engine

    book = load_book(make_engine(a.db, migrate=False))
    book.policy = default_policy()
    acc = book.frames["accounts"]
    ids = acc["account_id"].to_numpy(object)
    susp = set(run_checks(book.frames, book.as_of, book.policy, holdings(book.frames["lots"]))["account_id"])
    held = set(overrides_in_force(book.overrides, book.as_of).holds)
    unmanaged = np.isin(ids, list(susp | held))
    path = price_path(book, a.days, seed=a.seed)
    lg = legacy(book)
    tax = np.bincount(lg["acc"], lg["tax"], minlength=len(ids))
    locked_value = np.bincount(lg["acc"], np.where(lg["locked"], lg["value"], 0.0), minlength=len(ids))
    total = np.bincount(lg["acc"], lg["value"], minlength=len(ids)) + acc["cash"].to_numpy(float)
    model = acc["model_id"].to_numpy(object)
    mw_models = set(book.frames["model_weights"]["model_id"])
    live = (total > 0) & np.isin(model, list(mw_models))
    x = book_floor(book, path, unmanaged)
    print(f"\nthe book (day 1, {book.as_of}): {len(ids):,} accounts, {int(unmanaged.sum())} suspended for bad data or "
          f"held; taxed legacy lots ${locked_value.sum() / 1e6:,.1f} M of ${total.sum() / 1e6:,.1f} M "
          f"({100 * locked_value.sum() / total.sum():.2f} %) in {int((locked_value > 0).sum()):,} accounts; "
          f"the tax of selling them all on day 1: ${tax.sum() / 1e6:,.2f} M")
    managed = live & ~unmanaged
    print(f"book-level floor ({a.days} days, seed {a.seed}): all accounts {dispersion_of(x, model, live):.2f} bps, "
          f"managed accounts {dispersion_of(x, model, managed):.2f} bps")
    rows = [("book-level floor, all accounts", x, live, tax, ~unmanaged, model),
            ("book-level floor, managed accounts", x, managed, tax, ~unmanaged, model)]
    pos_of = pd.Series(np.arange(len(ids)), index=ids)
    for name, df in parts.items():
        cum = df[[f"cum_{p}" for p in PARTS]].to_numpy(float)
        tradable = df["managed"].to_numpy(bool)
        pos = pos_of.reindex(df["account_id"]).to_numpy(int)
        left = left_after_removal(cum, ~tradable)
        rows.append((f"{name}'s floor, all accounts", left, df["live"].to_numpy(bool), tax[pos], tradable,
                     df["model_id"].to_numpy(object)))
    print("\ntax frontier: the floor (bps; accounts sold) when the taxed legacy lots of the accounts that add "
          "most per tax dollar are sold on day 1, by tax budget\n")
    print("| | " + " | ".join(f"${b / 1e6:,.2f} M" if b < 1e8 else "all" for b in a.budget) + " |")
    print("|---" * (len(a.budget) + 1) + "|")
    for name, vec, mask, t, tradable, m in rows:
        fr = frontier(vec, m, mask, t, tradable, a.budget)
        print(f"| {name} | " + " | ".join(f"{d:.2f} ({n:,})" for _, d, n in fr) + " |")


if __name__ == "__main__":
    main()
