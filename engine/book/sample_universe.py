"""The sample book's securities and models: the security master with its tickers, prices,
ratings and screen tags; each security's price history (for cost bases); the models' rows."""
from __future__ import annotations

import re
from datetime import date

import numpy as np
import pandas as pd

from engine.book.sample_csv import _seg_start
from engine.book.sample_tables import (AC_INDEX, ASSET_CLASSES, FUND_FAMILIES, FUND_THEMES, GENERAL_INDUSTRIES,
                                       MAX_HISTORY_DAYS, MODEL_FORCED_TAGS, MODELS, PAIR_INDUSTRIES, STOCK_SUFFIX,
                                       STOCK_WORDS, TAG_BIT, TAGGED_STOCKS)


def _ticker(words: list[str], used: set[str], rng: np.random.Generator,
            stock: bool = False) -> str:
    """A unique 2-5 letter upper-case ticker that looks like it came from the name."""
    skip = {"ETF", "FUND", "TRUST", "INC", "CORP", "CO", "&", "OF", "GROUP", "HOLDINGS"}
    clean = [re.sub("[^A-Z]", "", w.upper()) for w in words]
    clean = [w for w in clean if w and w not in skip]
    first = clean[0]
    initials = "".join(w[0] for w in clean)
    rest = "".join(w[0] for w in clean[1:])
    if stock:
        pats = [first[:3], first[:4], first[:2] + rest[:1], first[:3] + rest[:1],
                first[:1] + rest[:2] + first[-1:]]
        start = int(rng.integers(len(pats)))
        cands = pats[start:] + pats[:start]
    else:
        cands = [initials[:4] if len(initials) >= 3 else first[:1] + initials[1:] + "X",
                 first[:1] + initials[1:4], first[:2] + initials[1:3], first[:3] + rest[:1]]
    for c in cands:
        if 2 <= len(c) <= 5 and c not in used and c != "CASH":
            used.add(c)
            return c
    letters = np.array(list("ABCDEFGHIJKLMNOPQRSTUVWXYZ"))
    while True:
        n = int(rng.integers(2, 4))
        c = first[:1] + "".join(rng.choice(letters, n))
        if c not in used and c != "CASH":
            used.add(c)
            return c


def _build_universe(rng: np.random.Generator, as_of: date) -> pd.DataFrame:
    """The security master, plus internal columns (leading underscore)."""
    used: set[str] = set()
    rows: list[dict] = []
    sg_counter = {code: 0 for code in AC_INDEX}

    def add(name, code, *, tags="", group="", kind="fund", rare="", master=True, pool=True):
        sym = _ticker(name.split(), used, rng, stock=(kind == "stock"))
        rows.append(dict(symbol=sym, name=name, _ac=AC_INDEX[code], tags=tags,
                         substitute_group=group, _kind=kind, _rare=rare, _master=master,
                         _pool=pool))
        return sym

    def new_group(code):
        sg_counter[code] += 1
        return f"SG_{code}_{sg_counter[code]}"

    # funds
    for code, themes in FUND_THEMES.items():
        for theme, n in themes:
            fams = rng.choice(len(FUND_FAMILIES), size=n, replace=False)
            group = new_group(code) if n > 1 else ""
            for f in fams:
                tags = "energy" if theme == "Crude Oil" else ""
                add(f"{FUND_FAMILIES[f]} {theme} ETF", code, tags=tags, group=group)

    # stocks: names from a shuffled word list so names and tickers stay distinct
    words = list(np.array(STOCK_WORDS, dtype=object)[rng.permutation(len(STOCK_WORDS))])

    def stock_name(industry):
        w = words.pop()
        return f"{w} {industry} {STOCK_SUFFIX[int(rng.integers(len(STOCK_SUFFIX)))]}"

    for industry, tags in TAGGED_STOCKS:
        add(stock_name(industry), "USLC", tags=tags, kind="stock")
    for industry in PAIR_INDUSTRIES:
        group = new_group("USLC")
        for _ in range(2):
            add(stock_name(industry), "USLC", group=group, kind="stock")
    n_general = int(rng.integers(12, 19))
    inds = rng.choice(len(GENERAL_INDUSTRIES), size=n_general, replace=False)
    for i in inds:
        add(stock_name(GENERAL_INDUSTRIES[i]), "USLC", kind="stock")
    for i in rng.choice(len(GENERAL_INDUSTRIES), size=4, replace=False):
        add(stock_name(GENERAL_INDUSTRIES[i]), "USSC", kind="stock")
    for ind in ("Realty", "Properties"):
        add(stock_name(ind), "REIT", kind="stock")
    # spin-off of a processed corporate action: in the master, may be held as legacy
    add(stock_name("Spinco"), "USLC", kind="stock", rare="SPINOFF_CHILD", pool=False)
    # rare securities carrying planted problems: in the master but in no model
    add(stock_name("Biotech"), "USSC", kind="stock", rare="MISSING_PRICE", pool=False)
    add(stock_name("Minerals"), "USSC", kind="stock", rare="STALE_PRICE", pool=False)
    add(stock_name("Robotics"), "USSC", kind="stock", rare="CORP_ACTION_PENDING", pool=False)
    # an unknown security (not written to securities.csv) and a merged-away symbol
    add(stock_name("Acquisition"), "USSC", kind="stock", rare="UNKNOWN_SECURITY",
        master=False, pool=False)
    add(stock_name("Merged"), "USLC", kind="stock", rare="MERGED_AWAY", master=False,
        pool=False)

    sec = pd.DataFrame(rows)
    n = len(sec)
    is_stock = (sec["_kind"] == "stock").to_numpy()
    # prices: log-uniform 10..500 (funds a bit narrower)
    lo, hi = np.where(is_stock, np.log(10.0), np.log(20.0)), np.where(is_stock, np.log(500.0),
                                                                        np.log(350.0))
    sec["_price"] = np.round(np.exp(rng.uniform(lo, hi)), 2)
    ac = sec["_ac"].to_numpy()
    mu = np.array([a[2] for a in ASSET_CLASSES])[ac]
    vol = np.array([a[3] for a in ASSET_CLASSES])[ac] * np.where(is_stock, 1.5, 1.0)
    sec["_mu"] = mu + rng.normal(0, 0.03, n)
    sec["_vol"] = vol * rng.uniform(0.8, 1.2, n)
    # a few securities crashed recently: their recent lots sit on deep short-term losses
    equity_like = np.array([a[3] for a in ASSET_CLASSES])[ac] >= 0.15
    crash = ((rng.random(n) < np.where(is_stock, 0.25, np.where(equity_like, 0.08, 0.0)))
             * rng.uniform(0.15, 0.40, n))
    sec["_crash"] = crash
    r = np.where(is_stock, rng.integers(1, 11, n), rng.integers(1, 8, n))
    sec["rating"] = r.astype(np.int64)
    sec["_tagmask"] = [sum(TAG_BIT[x] for x in str(t).split(";") if x) for t in sec["tags"]]
    sec["asset_class"] = [ASSET_CLASSES[i][1] for i in ac]
    return sec


def _price_history(rng: np.random.Generator, sec: pd.DataFrame) -> np.ndarray:
    """Log price of every security ``d`` days before as_of, shape (n_sec, MAX_HISTORY_DAYS+1).

    A random walk backwards from today's price with the asset class's drift and volatility;
    securities with a ``_crash`` fell that much over the last ~3 months, so their recent lots
    carry deep short-term losses.
    """
    n = len(sec)
    d = MAX_HISTORY_DAYS + 1
    mu = sec["_mu"].to_numpy()[:, None] / 365.25
    vol = sec["_vol"].to_numpy()[:, None] / np.sqrt(365.25)
    steps = mu + vol * rng.normal(0, 1, (n, d - 1))
    logp = np.empty((n, d))
    logp[:, 0] = np.log(sec["_price"].to_numpy())
    logp[:, 1:] = logp[:, :1] - np.cumsum(steps, axis=1)
    ramp = np.clip((np.arange(d) - 10) / 80.0, 0.0, 1.0)[None, :]
    logp += np.log1p(sec["_crash"].to_numpy())[:, None] * ramp
    return logp


def _build_models(rng: np.random.Generator, sec: pd.DataFrame) -> pd.DataFrame:
    """models.csv rows (CASH last per model), with internal security index `_sec`."""
    out = []
    pool = sec["_pool"].to_numpy()
    ac = sec["_ac"].to_numpy()
    groups = sec["substitute_group"].to_numpy()
    tagsets = [set(t.split(";")) - {""} for t in sec["tags"]]
    for model_id, alloc, _pop in MODELS:
        cash_w = float(rng.choice([0.01, 0.015, 0.02, 0.025, 0.03]))
        total = int(rng.integers(14, 27))
        chosen: list[int] = []
        cls_w: list[float] = []
        forced_tags = MODEL_FORCED_TAGS.get(model_id, ())
        for code, w in alloc.items():
            cands = np.flatnonzero(pool & (ac == AC_INDEX[code]))
            cands = cands[rng.permutation(len(cands))]
            k = max(1, int(round(w * total)))
            picked: list[int] = []
            seen_groups: set[str] = set()
            if code == "USLC":  # screened stocks first, so restrictions have a bite
                for t in forced_tags:
                    for i in cands:
                        if t in tagsets[i] and int(i) not in picked:
                            picked.append(int(i))
                            break
            for i in cands:
                if len(picked) >= k:
                    break
                if int(i) in picked or (groups[i] and groups[i] in seen_groups):
                    continue
                picked.append(int(i))
                if groups[i]:
                    seen_groups.add(groups[i])
            chosen += picked
            # split the class weight among its picks
            cls_w += list(rng.dirichlet(np.full(len(picked), 4.0)) * w)
        wts = np.array(cls_w)
        wts = wts / wts.sum() * (1.0 - cash_w)
        wts = np.round(wts, 6)
        # the model cash is exact; the largest position absorbs the rounding
        big = int(np.argmax(wts))
        wts[big] = round(1.0 - cash_w - (float(wts.sum()) - float(wts[big])), 6)
        cash = cash_w
        for i, w in zip(chosen, wts):
            out.append((model_id, int(i), float(w)))
        out.append((model_id, -1, cash))
    m = pd.DataFrame(out, columns=["model_id", "_sec", "weight"])
    syms = sec["symbol"].to_numpy()
    m["symbol"] = np.where(m["_sec"] >= 0, syms[np.maximum(m["_sec"], 0)], "CASH")
    return m


class Sample:
    """The arrays the generator's steps hand to one another (one attribute per array; each
    step's docstring says what it reads and what it adds)."""


def universe(rng: np.random.Generator, as_of: date) -> Sample:
    """Securities, models and price history, and the arrays the later steps index: per
    security its price, asset class, tag bits, pool and kind flags, rare kind and substitute
    alternatives; per model its rows (securities, weights) and its cash weight."""
    s = Sample()
    s.sec = sec = _build_universe(rng, as_of)
    s.n_sec = n_sec = len(sec)
    s.price = sec["_price"].to_numpy()
    s.sec_ac = sec["_ac"].to_numpy()
    s.sec_tag = sec["_tagmask"].to_numpy().astype(np.int64)
    s.sec_pool = sec_pool = sec["_pool"].to_numpy()
    s.sec_kind = sec["_kind"].to_numpy()
    s.rare = rare = sec["_rare"].to_numpy()
    s.rare_idx = {k: int(np.flatnonzero(rare == k)[0]) for k in
                  ("MISSING_PRICE", "STALE_PRICE", "CORP_ACTION_PENDING", "UNKNOWN_SECURITY",
                   "SPINOFF_CHILD", "MERGED_AWAY")}
    s.models = models = _build_models(rng, sec)
    s.hist = _price_history(rng, sec)
    s.model_ids = model_ids = [m[0] for m in MODELS]
    mrows = models[models["_sec"] >= 0].reset_index(drop=True)
    m_code = pd.Categorical(mrows["model_id"], categories=model_ids).codes.astype(np.int64)
    s.model_len = model_len = np.bincount(m_code, minlength=len(model_ids))
    s.model_start = _seg_start(model_len)
    s.model_sec = mrows["_sec"].to_numpy().astype(np.int64)
    s.model_w = mrows["weight"].to_numpy()
    s.model_cash = models[models["_sec"] < 0].set_index("model_id")["weight"].reindex(model_ids).to_numpy()

    # substitute alternatives per security (groups have at most 3 members)
    s.groups = groups = sec["substitute_group"].to_numpy()
    s.alt = alt = np.full((n_sec, 2), -1, dtype=np.int64)
    s.alt_n = alt_n = np.zeros(n_sec, dtype=np.int64)
    for g in sorted(set(groups) - {""}):
        members = np.flatnonzero(groups == g)
        for i in members:
            others = [int(j) for j in members if j != i and sec_pool[j]]
            alt[i, :len(others)] = others[:2]
            alt_n[i] = min(len(others), 2)
    return s
