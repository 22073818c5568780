"""The sample book's recent activity and the accounts' words, step by step: recent
transactions (wash-sale material) and the last trade dates they set; cash requests (some
urgent, on planted accounts); client names, households and account forms; explicit tier groups;
tax rates; and the restriction strings.

Each step takes the generator and the :class:`~engine.book.sample_universe.Sample` and adds its
arrays to it, in the fixed order of the random draws (households draw from their own
generator, seeded from the book's seed, so a book without households is the same as before
households existed)."""
from __future__ import annotations

import numpy as np

from engine.book.sample_csv import _pick_within
from engine.book.sample_tables import (CASH_NOTES, CASH_NOTES_URGENT, EXEMPT_FORMS, FIRST_NAMES, LAST_NAMES,
                                       MAX_HISTORY_DAYS, PROBLEM_KINDS, TAG_BIT, TAGS, TAX_BRACKET_P, TAX_BRACKETS,
                                       TAXABLE_FORMS)
from engine.book.sample_universe import Sample

TRUST_FORMS = [" Family Trust", " Revocable Trust", " Family LP", " Family Foundation", " Family Office",
               " Charitable Trust"]


def transactions(rng: np.random.Generator, s: Sample) -> None:
    """Transactions of the last 60 days for ~3% of accounts (``t_acct``, ``t_sec``, ``t_off``,
    ``t_sell``, ``t_price``, ``t_qty``, ``t_gain``; half the sells harvest a loss), sorted by
    account and date; ``last_off`` (the last trade's day offset) and ``never`` follow them."""
    N, h_count, hist = s.N, s.h_count, s.hist
    last_off = -s.days_since.astype(np.int64)
    n_tx_acc = max(1, int(round(0.03 * N)))
    tx_accounts = np.sort(rng.choice(N, size=n_tx_acc, replace=False))
    tx_accounts = tx_accounts[h_count[tx_accounts] > 0]
    n_tx = rng.integers(1, 6, len(tx_accounts))
    t_acct = np.repeat(tx_accounts, n_tx)
    t_h = _pick_within(rng, s.h_start[t_acct], h_count[t_acct])
    t_sec = s.h_sec[t_h]
    t_off = -rng.integers(1, 61, len(t_acct))
    t_sell = rng.random(len(t_acct)) < 0.55
    t_price = np.round(np.exp(hist[t_sec, -t_off] + rng.normal(0, 0.005, len(t_acct))), 2)
    t_qty = np.maximum(1, (np.abs(s.lot_sum[t_h]) * rng.uniform(0.05, 0.5, len(t_acct)))
                       .astype(np.int64))
    basis = np.exp(hist[t_sec, rng.integers(40, MAX_HISTORY_DAYS + 1, len(t_acct))])
    harvest = rng.random(len(t_acct)) < 0.5  # loss-harvesting sells: wash-sale material
    basis = np.where(harvest, t_price * rng.uniform(1.05, 1.35, len(t_acct)), basis)
    t_gain = np.where(t_sell, np.round(t_qty * (t_price - basis), 2), np.nan)
    order = np.lexsort((t_off, t_acct))
    s.t_acct, s.t_sec, s.t_off, s.t_sell = t_acct[order], t_sec[order], t_off[order], t_sell[order]
    s.t_price, s.t_qty, s.t_gain = t_price[order], t_qty[order], t_gain[order]
    # the accounts' last trade date is their latest transaction
    latest = np.full(N, np.iinfo(np.int64).min, dtype=np.int64)
    np.maximum.at(latest, s.t_acct, s.t_off)
    has_tx = latest > np.iinfo(np.int64).min
    s.last_off = np.where(has_tx, latest, last_off)
    s.never = s.never & ~has_tx


def cash_requests(rng: np.random.Generator, s: Sample) -> None:
    """Cash requests of ~2% of accounts plus the ``urgent`` planted ones (``cr_acct``,
    ``cr_high``, ``cr_amt``, ``cr_due``, ``cr_note``), sized on ``acct_value``, the accounts' true
    value (rare and missing-price holdings included)."""
    N, planted_idx = s.N, s.planted_idx
    n_cr = max(1, int(round(0.02 * N)))
    cr_rand = rng.choice(N, size=n_cr, replace=False)
    urgent_pick = [planted_idx[k][:1] for k in ("RECON_BREAK", "FEED_MISSING", "MISSING_PRICE")]
    planted_all = np.concatenate([planted_idx[k] for k in PROBLEM_KINDS])
    more = planted_all[rng.random(len(planted_all)) < 0.06]
    s.urgent = urgent = np.unique(np.concatenate(urgent_pick + [more]))
    s.cr_acct = cr_acct = np.union1d(cr_rand, urgent)
    s.cr_high = cr_high = (rng.random(len(cr_acct)) < 0.30) | np.isin(cr_acct, urgent)
    # true account value (at the generation price, including rare/missing-price holdings)
    s.acct_value = acct_value = s.cash + np.bincount(s.h_acct, weights=s.lot_sum * s.price[s.h_sec], minlength=N)
    cr_amt = acct_value[cr_acct] * rng.uniform(0.02, 0.30, len(cr_acct))
    s.cr_amt = np.maximum(100.0, np.round(cr_amt / 100.0) * 100.0)
    s.cr_due = rng.integers(0, 21, len(cr_acct))
    s.cr_note = np.where(cr_high,
                         np.array(CASH_NOTES_URGENT, dtype=object)[
                             rng.integers(0, len(CASH_NOTES_URGENT), len(cr_acct))],
                         np.array(CASH_NOTES, dtype=object)[
                             rng.integers(0, len(CASH_NOTES), len(cr_acct))])


def _households(rng: np.random.Generator, share: float, taxable: np.ndarray, acct_model: np.ndarray,
                model_start: np.ndarray, model_sec: np.ndarray, hist: np.ndarray, last: np.ndarray):
    """``share`` of the accounts in households of 2-6 accounts, each with a taxable and a
    tax-exempt member (joint, IRAs, Roth, trust), the members sharing a last name (``last`` is
    changed in place). Returns (household id or None per account, planted transactions): about
    a quarter of the households get a recent loss sale, in a taxable member, of the first
    security of a tax-exempt member's model (account, security, day offset, shares)."""
    N = len(taxable)
    out = np.full(N, None, dtype=object)
    want = int(round(min(max(share, 0.0), 1.0) * N))
    tax_pool = list(rng.permutation(np.flatnonzero(taxable)))
    exempt_pool = list(rng.permutation(np.flatnonzero(~taxable)))
    plant_a, plant_s, plant_o, plant_q = [], [], [], []
    placed, n = 0, 0
    while want - placed >= 2 and tax_pool and exempt_pool:
        size = int(min(rng.integers(2, 7), want - placed))
        members = [tax_pool.pop(), exempt_pool.pop()]
        for _ in range(size - 2):
            pool = tax_pool if (rng.random() < 0.6 and tax_pool) or not exempt_pool else exempt_pool
            if not pool:
                break
            members.append(pool.pop())
        n += 1
        hid = f"HH{n:05d}"
        out[members] = hid
        last[members[1:]] = last[members[0]]
        placed += len(members)
        if rng.random() < 0.25:
            sec = int(model_sec[model_start[acct_model[members[1]]]])
            plant_a.append(members[0])
            plant_s.append(sec)
            plant_o.append(-int(rng.integers(1, 26)))
            plant_q.append(int(rng.integers(10, 200)))
    return out, (np.array(plant_a, np.int64), np.array(plant_s, np.int64), np.array(plant_o, np.int64),
                 np.array(plant_q, np.int64))


def households(s: Sample, share: float, seed: int) -> None:
    """``household`` per account (None without households) and the members' shared last name;
    the households' planted loss sales join the transactions (still sorted) and move
    ``last_off``."""
    s.household = None
    if share <= 0:
        return
    hist = s.hist
    s.household, planted_tx = _households(np.random.default_rng([seed, 17]), share, s.taxable, s.acct_model,
                                          s.model_start, s.model_sec, hist, s.last)
    if len(planted_tx[0]):  # the IRA trap: a taxable member's recent loss sale of what another buys
        pa_, ps_, po_, pq_ = planted_tx
        pp_ = np.round(np.exp(hist[ps_, -po_]), 2)
        t_acct, t_sec, t_off = np.r_[s.t_acct, pa_], np.r_[s.t_sec, ps_], np.r_[s.t_off, po_]
        t_sell, t_price, t_qty = np.r_[s.t_sell, np.ones(len(pa_), bool)], np.r_[s.t_price, pp_], np.r_[s.t_qty, pq_]
        t_gain = np.r_[s.t_gain, np.round(-pq_ * pp_ * 0.15, 2)]
        order = np.lexsort((t_off, t_acct))
        s.t_acct, s.t_sec, s.t_off, s.t_sell = t_acct[order], t_sec[order], t_off[order], t_sell[order]
        s.t_price, s.t_qty, s.t_gain = t_price[order], t_qty[order], t_gain[order]
        np.maximum.at(s.last_off, pa_, po_)


def names(rng: np.random.Generator, s: Sample, share: float, seed: int) -> None:
    """Client ``names``: a last name (shared within a household), one or two first names and
    the account's form (trust, joint, IRA...), drawn by tax status."""
    N = s.N
    s.last = last = np.array(LAST_NAMES, dtype=object)[rng.integers(0, len(LAST_NAMES), N)]
    households(s, share, seed)
    f1 = np.array(FIRST_NAMES, dtype=object)[rng.integers(0, len(FIRST_NAMES), N)]
    f2 = np.array(FIRST_NAMES, dtype=object)[rng.integers(0, len(FIRST_NAMES), N)]
    tf = np.array([f for f, _ in TAXABLE_FORMS], dtype=object)
    tp = np.array([p for _, p in TAXABLE_FORMS])
    ef = np.array([f for f, _ in EXEMPT_FORMS], dtype=object)
    ep = np.array([p for _, p in EXEMPT_FORMS])
    form = np.where(s.taxable, tf[rng.choice(len(tf), size=N, p=tp / tp.sum())],
                    ef[rng.choice(len(ef), size=N, p=ep / ep.sum())])
    person = f1 + " " + last
    s.names = np.where(form == "JOINT", f1 + " & " + f2 + " " + last,
                       np.where(form == "INDIV", person,
                                np.where(np.isin(form, TRUST_FORMS), last + form, person + form)))


def groups_and_tax(rng: np.random.Generator, s: Sample) -> None:
    """Explicit tier ``group`` on a few accounts (Premier, UHNW) and the taxable accounts'
    short- and long-term rates ``st``, ``lt`` (NaN when exempt)."""
    N = s.N
    group = np.full(N, None, dtype=object)
    perm3 = rng.permutation(N)
    n_g1 = max(1, int(round(0.006 * N)))
    n_g2 = max(1, int(round(0.003 * N)))
    group[perm3[:n_g1]] = "Premier"
    group[perm3[n_g1:n_g1 + n_g2]] = "UHNW"
    s.group = group
    br = rng.choice(len(TAX_BRACKETS), size=N, p=TAX_BRACKET_P)
    s.st = np.where(s.taxable, np.array([b[0] for b in TAX_BRACKETS])[br], np.nan)
    s.lt = np.where(s.taxable, np.array([b[1] for b in TAX_BRACKETS])[br], np.nan)


def restriction_text(s: Sample) -> None:
    """accounts.csv's ``restrictions`` (``tag:x;sym:Y``, None when unrestricted) and the
    ``restricted_holding`` accounts, which hold what their restrictions forbid."""
    acct_tagmask, acct_symres = s.acct_tagmask, s.acct_symres
    s.syms = syms = s.sec["symbol"].to_numpy().astype(object)
    tag_txt = np.full(s.N, "", dtype=object)
    for t in TAGS:
        has = (acct_tagmask & TAG_BIT[t]) != 0
        tag_txt = np.where(has, np.where(tag_txt == "", "tag:" + t, tag_txt + ";tag:" + t),
                           tag_txt)
    sym_txt = np.where(acct_symres >= 0, "sym:" + syms[np.maximum(acct_symres, 0)], "")
    both = np.where((tag_txt != "") & (sym_txt != ""), tag_txt + ";" + sym_txt,
                    tag_txt + sym_txt)
    s.restr = np.where(both == "", None, both)
    h_acct, h_sec = s.h_acct, s.h_sec
    hr = ((acct_tagmask[h_acct] & s.sec_tag[h_sec]) != 0) | (acct_symres[h_acct] == h_sec)
    s.restricted_holding = np.unique(h_acct[hr])
