"""The sample book's accounts and what they hold, step by step: which accounts carry which
planted problem; each account's tax status, model, value, cash, days since its last trade,
restrictions and custodian; its holdings (the model's, some substituted or missing, some legacy
and planted rare ones) drifted from the model; the tax lots of each holding; and the custodian's
positions (the lots' sums, a few broken on purpose).

Each step takes the generator and the :class:`~engine.book.sample_universe.Sample` and adds its
arrays to it; the order of the steps is the order of the random draws, so it is fixed."""
from __future__ import annotations

import numpy as np

from engine.book.sample_csv import _pick_within, _seg_start
from engine.book.sample_tables import (ASSET_CLASSES, CUSTODIAN_SHARE, CUSTODIANS, LOTS_P, MAX_HISTORY_DAYS, MODELS,
                                       PLANT_RATE, PROBLEM_KINDS, RESTRICTION_KINDS)
from engine.book.sample_universe import Sample


def plant_problems(rng: np.random.Generator, s: Sample, N: int) -> None:
    """``planted_idx``: for each problem kind, its own accounts (disjoint, at least one)."""
    s.N = N
    perm = rng.permutation(N)
    s.planted_idx = {}
    pos = 0
    for kind in PROBLEM_KINDS:
        k = max(1, int(round(PLANT_RATE[kind] * N)))
        s.planted_idx[kind] = np.sort(perm[np.arange(pos, pos + k) % N])
        pos += k


def accounts(rng: np.random.Generator, s: Sample) -> None:
    """Per account: ``taxable``, ``acct_model``, ``value`` (every size tier populated),
    ``cash_frac`` and ``cash``, ``days_since`` its last trade and ``never`` traded,
    ``drift_scale``, restrictions (``acct_tagmask``, ``acct_symres``, ``acct_clean``: already sold,
    ``n_restr``) and custodian ``cust``."""
    N, model_ids = s.N, s.model_ids
    s.taxable = taxable = rng.random(N) < 0.70
    pop = np.array([m[2] for m in MODELS])
    acct_model = rng.choice(len(MODELS), size=N, p=pop / pop.sum())
    muni = model_ids.index("MUNI_INCOME")
    s.acct_model = acct_model = np.where((acct_model == muni) & ~taxable, model_ids.index("INCOME"), acct_model)

    # account value: log-normal body, with every size tier forced to be populated
    value = np.exp(rng.normal(np.log(650_000.0), 1.25, N))
    value = np.clip(value, 50_000.0, 60_000_000.0)
    perm2 = rng.permutation(N)
    n_u, n_p, n_s = (max(2, int(round(r * N))) for r in (0.012, 0.04, 0.03))
    n_c = max(2, int(round(0.03 * N)))
    seg = np.cumsum([0, n_u, n_p, n_s, n_c])
    bands = ((27e6, 60e6), (6e6, 22e6), (50e3, 220e3), (300e3, 4.5e6))
    for (a, b), s0, s1 in zip(bands, seg[:-1], seg[1:]):
        idx = perm2[s0:min(s1, N)]
        value[idx] = np.exp(rng.uniform(np.log(a), np.log(b), len(idx)))
    s.value = value

    # cash: around the model's cash weight; some new money, some over-invested
    cash_frac = s.model_cash[acct_model] * np.exp(rng.normal(0, 0.4, N))
    u = rng.random(N)
    cash_frac = np.where(u < 0.04, rng.uniform(0.08, 0.35, N), cash_frac)
    s.cash_frac = cash_frac = np.where(u > 0.97, rng.uniform(0.0, 0.003, N), cash_frac)
    s.cash = np.round(value * cash_frac, 2)

    # days since last trade (0..400), some never traded; drift grows with it
    s.days_since = days_since = rng.integers(0, 401, N)
    s.never = never = rng.random(N) < 0.06
    mix = rng.choice(3, size=N, p=[0.5, 0.35, 0.15])
    drift_scale = np.array([0.008, 0.03, 0.12])[mix] * (0.4 + days_since / 400.0)
    s.drift_scale = np.where(never, drift_scale * 1.5, drift_scale)

    # restrictions (~10%): half of them still hold what they restrict (mandate to sell)
    s.n_restr = n_restr = max(1, int(round(0.10 * N)))
    restricted = rng.choice(N, size=n_restr, replace=False)
    rk_p = np.array([r[2] for r in RESTRICTION_KINDS])
    rkind = rng.choice(len(RESTRICTION_KINDS), size=n_restr, p=rk_p / rk_p.sum())
    rkind[0] = 4  # at least one sym: restriction that is held
    s.acct_tagmask = acct_tagmask = np.zeros(N, dtype=np.int64)
    s.acct_symres = acct_symres = np.full(N, -1, dtype=np.int64)
    s.acct_clean = acct_clean = np.zeros(N, dtype=bool)
    acct_tagmask[restricted] = np.array([r[0] for r in RESTRICTION_KINDS])[rkind]
    has_sym = np.array([r[1] for r in RESTRICTION_KINDS])[rkind]
    rm = acct_model[restricted]
    row_pick = _pick_within(rng, s.model_start[rm], s.model_len[rm])
    acct_symres[restricted[has_sym]] = s.model_sec[row_pick[has_sym]]
    clean = rng.random(n_restr) < 0.5
    clean[0] = False
    acct_clean[restricted] = clean

    # the failed small custodian holds exactly the FEED_MISSING accounts
    cust = rng.choice(len(CUSTODIANS), size=N, p=CUSTODIAN_SHARE)
    cust[s.planted_idx["FEED_MISSING"]] = len(CUSTODIANS)
    s.cust = cust


def holdings(rng: np.random.Generator, s: Sample) -> None:
    """Holdings sorted by (account, security): ``h_acct``, ``h_sec``, ``h_qty``, with
    ``h_count``/``h_start`` per account and ``H`` in all. The model's positions (a few missing or
    held through a substitute), legacy positions outside the model and the planted rare ones;
    drifted from the model's weights by per-holding noise and per-account asset-class shocks."""
    N, sec_tag, acct_tagmask, acct_symres = s.N, s.sec_tag, s.acct_tagmask, s.acct_symres
    model_len, alt_n, rare = s.model_len, s.alt_n, s.rare
    cnt = model_len[s.acct_model]
    h_acct = np.repeat(np.arange(N, dtype=np.int64), cnt)
    within = np.arange(len(h_acct)) - np.repeat(_seg_start(cnt), cnt)
    row = np.repeat(s.model_start[s.acct_model], cnt) + within
    h_sec = s.model_sec[row]
    h_w = s.model_w[row]
    del within, row
    h_restr = ((acct_tagmask[h_acct] & sec_tag[h_sec]) != 0) | (acct_symres[h_acct] == h_sec)
    # some model positions not held, some held through a substitute
    keep = (rng.random(len(h_acct)) >= 0.025) | h_restr
    keep &= ~(h_restr & s.acct_clean[h_acct])
    sub_p = np.where(s.taxable, 0.08, 0.02)[h_acct]
    sub = (rng.random(len(h_acct)) < sub_p) & (alt_n[h_sec] > 0) & ~h_restr
    j = np.minimum((rng.random(len(h_acct)) * np.maximum(alt_n[h_sec], 1)).astype(np.int64), 1)
    j = np.minimum(j, np.maximum(alt_n[h_sec] - 1, 0))
    h_sec = np.where(sub, s.alt[h_sec, j], h_sec)
    h_acct, h_sec, h_w = h_acct[keep], h_sec[keep], h_w[keep]

    # legacy positions outside the model (6% of accounts, 1-2 each)
    extra_pool = np.flatnonzero(s.sec_pool | (rare == "SPINOFF_CHILD"))
    n_extra = np.where(rng.random(N) < 0.06, rng.integers(1, 3, N), 0)
    e_acct = np.repeat(np.arange(N, dtype=np.int64), n_extra)
    e_sec = extra_pool[rng.integers(0, len(extra_pool), len(e_acct))]
    e_ok = ~(((acct_tagmask[e_acct] & sec_tag[e_sec]) != 0) | (acct_symres[e_acct] == e_sec))
    e_acct, e_sec = e_acct[e_ok], e_sec[e_ok]
    e_w = rng.uniform(0.005, 0.03, len(e_acct))

    # planted rare holdings
    p_acct, p_sec = [], []
    for kind in ("UNKNOWN_SECURITY", "MISSING_PRICE", "STALE_PRICE", "CORP_ACTION_PENDING"):
        p_acct.append(s.planted_idx[kind])
        p_sec.append(np.full(len(s.planted_idx[kind]), s.rare_idx[kind], dtype=np.int64))
    p_acct = np.concatenate(p_acct).astype(np.int64)
    p_sec = np.concatenate(p_sec)
    p_w = rng.uniform(0.01, 0.04, len(p_acct))

    all_acct = np.concatenate([h_acct, e_acct, p_acct])
    all_sec = np.concatenate([h_sec, e_sec, p_sec])
    all_w = np.concatenate([h_w, e_w, p_w])
    key = all_acct * s.n_sec + all_sec
    _, first = np.unique(key, return_index=True)  # sorted by (account, security), deduped
    h_acct, h_sec, h_w = all_acct[first], all_sec[first], all_w[first]
    del all_acct, all_sec, all_w, key, first
    H = len(h_acct)

    # drift: per-holding noise plus per-account asset-class shocks, then normalise
    shock = rng.normal(0, 1, (N, len(ASSET_CLASSES))) * 0.4
    z = rng.normal(0, 1, H)
    ds = s.drift_scale[h_acct]
    raw = h_w * np.exp(ds * (z + shock[h_acct, s.sec_ac[h_sec]]))
    raw_sum = np.bincount(h_acct, weights=raw, minlength=N)
    invested = s.value * (1.0 - np.minimum(s.cash_frac, 0.9))
    h_val = raw / raw_sum[h_acct] * invested[h_acct]
    s.h_qty = np.maximum(1, np.rint(h_val / s.price[h_sec])).astype(np.int64)
    s.h_acct, s.h_sec, s.H = h_acct, h_sec, H
    s.h_count = h_count = np.bincount(h_acct, minlength=N)
    s.h_start = _seg_start(h_count)


def lots(rng: np.random.Generator, s: Sample) -> None:
    """Each holding split into 1-8 tax lots (``lot_h``, ``lot_q``, acquired ``days`` ago, oldest
    first, ``unit_cost`` from the price history), numbered per account (``lot_acct``,
    ``lot_no``, ``lots_per_acct``, ``L`` in all); one lot of each NEGATIVE_POSITION account
    made negative."""
    N, H, h_qty = s.N, s.H, s.h_qty
    k = rng.choice(len(LOTS_P), size=H, p=LOTS_P) + 1
    k = np.minimum(k, h_qty)
    L = int(k.sum())
    lot_h = np.repeat(np.arange(H, dtype=np.int64), k)
    lot_start_h = _seg_start(k)
    # split h_qty into k positive integer parts
    uu = rng.random(L) + 0.05
    usum = np.bincount(lot_h, weights=uu, minlength=H)
    spare = (h_qty - k)
    base = np.floor(spare[lot_h] * uu / usum[lot_h]).astype(np.int64)
    rem = spare - np.bincount(lot_h, weights=base, minlength=H).astype(np.int64)
    base[lot_start_h] += rem
    lot_q = base + 1
    del uu, usum, base, rem, spare
    # acquisition days ago: uniform over ~6 years plus a recent-heavy share; oldest first
    days = np.where(rng.random(L) < 0.7, rng.integers(1, MAX_HISTORY_DAYS + 1, L),
                    np.minimum(1 + rng.exponential(180.0, L).astype(np.int64), MAX_HISTORY_DAYS))
    skey = np.sort(lot_h * 4096 + (4095 - days))
    days = 4095 - (skey & 4095)
    del skey
    lot_sec = s.h_sec[lot_h]
    # cost basis from the security's price history, plus a little intraday noise
    cost = np.exp(s.hist[lot_sec, days] + rng.normal(0, 0.01, L))
    s.unit_cost = np.round(np.maximum(cost, 0.01), 4)
    del cost

    lot_acct = s.h_acct[lot_h]
    lots_per_acct = np.bincount(lot_acct, minlength=N)
    lot_acct_start = _seg_start(lots_per_acct)
    s.lot_no = np.arange(L, dtype=np.int64) - lot_acct_start[lot_acct]

    # NEGATIVE_POSITION: one lot of the account goes negative
    neg_a = s.planted_idx["NEGATIVE_POSITION"]
    neg_lot = _pick_within(rng, lot_acct_start[neg_a], lots_per_acct[neg_a])
    lot_q[neg_lot] = -np.maximum(lot_q[neg_lot], 1)
    s.L, s.lot_h, s.lot_q, s.days, s.lot_sec = L, lot_h, lot_q, days, lot_sec
    s.lot_acct, s.lots_per_acct = lot_acct, lots_per_acct


def custodian_positions(rng: np.random.Generator, s: Sample) -> None:
    """``lot_sum`` per holding and the custodian's ``c_qty``: equal to it but in one holding of
    each RECON_BREAK account."""
    c_qty = np.bincount(s.lot_h, weights=s.lot_q, minlength=s.H).astype(np.int64)
    s.lot_sum = c_qty.copy()
    rb_a = s.planted_idx["RECON_BREAK"]
    rb_h = _pick_within(rng, s.h_start[rb_a], s.h_count[rb_a])
    delta = np.maximum(1, (np.abs(c_qty[rb_h]) * rng.uniform(0.02, 0.25, len(rb_h))).astype(
        np.int64))
    sign = np.where(rng.random(len(rb_h)) < 0.5, -1, 1)
    newq = c_qty[rb_h] + sign * delta
    newq = np.where(newq < 0, c_qty[rb_h] + delta, newq)
    c_qty[rb_h] = newq
    s.c_qty = c_qty
