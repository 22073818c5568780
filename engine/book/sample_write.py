"""The sample book written: every CONTRACT.md §1 file and manifest.json from the generator's
arrays (:class:`~engine.book.sample_universe.Sample`), with the fast CSV writer of
:mod:`engine.book.sample_csv`, and the summary :func:`engine.book.sample.generate_sample` returns."""
from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Callable

import numpy as np

from engine.book.sample_csv import Cat, Fixed, Int, Strs, _fmt_dates, _write_table
from engine.book.sample_tables import (AC_INDEX, ASSET_CLASSES, CUSTODIANS, FILES, MAX_HISTORY_DAYS, SMALL_CUSTODIAN,
                                       STALE_DAYS, TIERS, _tiers_of)
from engine.book.sample_universe import Sample

BOOLS = ("false", "true")


def write_book(rng: np.random.Generator, s: Sample, out: Path, as_of: date,
               step: Callable[[float, str], None]) -> None:
    """Write the ten files into ``out``; the corporate actions are drawn here (their last
    random draws), so this step comes last."""
    N, syms, sec, rare, sec_ac = s.N, s.syms, s.sec, s.rare, s.sec_ac
    width = max(6, len(str(N)))
    s.acct_ids = acct_ids = np.char.add("A", np.char.zfill(np.arange(1, N + 1).astype(str), width)).astype(
        object)
    date_str, dlo = _fmt_dates(as_of, -(MAX_HISTORY_DAYS + 10), 400)
    s.master = master = sec["_master"].to_numpy()

    def dates(offsets, blank=None):
        codes = np.asarray(offsets, dtype=np.int64) - dlo
        return Cat(codes if blank is None else np.where(blank, -1, codes), date_str)

    def acct_col(idx):
        return Cat(idx, acct_ids)

    def sym_col(idx):
        return Cat(idx, syms)

    # securities.csv
    ms = np.flatnonzero(master)
    s_price = np.where(rare == "MISSING_PRICE", np.nan, s.price)
    s_off = np.where(rare == "STALE_PRICE", -STALE_DAYS, 0)
    _write_table(out / "securities.csv", {
        "symbol": sym_col(ms), "name": Strs(sec["name"].to_numpy()[ms]),
        "asset_class": Cat(sec_ac[ms], [a[1] for a in ASSET_CLASSES]),
        "price": Fixed(s_price[ms], 2), "price_date": dates(s_off[ms]),
        "tags": Strs(np.where(sec["tags"].to_numpy()[ms] == "", None,
                              sec["tags"].to_numpy()[ms])),
        "rating": Int(sec["rating"].to_numpy()[ms]),
        "substitute_group": Strs(np.where(s.groups[ms] == "", None, s.groups[ms])),
    })

    # models.csv
    models = s.models
    _write_table(out / "models.csv", {
        "model_id": Strs(models["model_id"].to_numpy()),
        "symbol": Strs(models["symbol"].to_numpy()),
        "weight": Fixed(models["weight"].to_numpy(), 6),
    })

    # accounts.csv
    cust_names = list(CUSTODIANS) + [SMALL_CUSTODIAN]
    _write_table(out / "accounts.csv", {
        "account_id": acct_col(np.arange(N)), "name": Strs(s.names),
        "model_id": Cat(s.acct_model, s.model_ids), "custodian": Cat(s.cust, cust_names),
        "cash": Fixed(s.cash, 2), "taxable": Cat(s.taxable.astype(np.int64), BOOLS),
        "st_rate": Fixed(s.st, 2), "lt_rate": Fixed(s.lt, 2),
        "last_trade_date": dates(s.last_off, blank=s.never),
        "restrictions": Strs(s.restr), "group": Strs(s.group),
        **({"household_id": Strs(s.household)} if s.household is not None else {}),
    })
    step(0.65, "Writing lots")

    # lots.csv
    max_lots = int(s.lots_per_acct.max()) if N else 1
    lot_w = max(4, len(str(max_lots)))
    lot_ids = np.char.add("L", np.char.zfill(np.arange(1, max_lots + 1).astype(str), lot_w))
    _write_table(out / "lots.csv", {
        "account_id": acct_col(s.lot_acct), "lot_id": Cat(s.lot_no, lot_ids),
        "symbol": sym_col(s.lot_sec), "quantity": Int(s.lot_q), "unit_cost": Fixed(s.unit_cost, 4),
        "acquired_date": dates(-s.days),
    })
    step(0.9, "Writing custodian positions and other files")

    # custodian_positions.csv
    _write_table(out / "custodian_positions.csv", {
        "account_id": acct_col(s.h_acct), "symbol": sym_col(s.h_sec), "quantity": Int(s.c_qty)})

    # feeds.csv
    nc = len(cust_names)
    _write_table(out / "feeds.csv", {
        "custodian": Cat(np.arange(nc), cust_names), "file_date": dates(np.zeros(nc)),
        "status": Cat(np.r_[np.zeros(nc - 1), 1], ("ok", "failed")),
    })

    # transactions.csv
    _write_table(out / "transactions.csv", {
        "account_id": acct_col(s.t_acct), "symbol": sym_col(s.t_sec), "trade_date": dates(s.t_off),
        "side": Cat(s.t_sell.astype(np.int64), ("BUY", "SELL")), "quantity": Int(s.t_qty),
        "price": Fixed(s.t_price, 2), "realized_gain": Fixed(s.t_gain, 2),
    })

    # cash_requests.csv
    cr_acct = s.cr_acct
    cr_w = max(5, len(str(len(cr_acct))))
    _write_table(out / "cash_requests.csv", {
        "request_id": Cat(np.arange(len(cr_acct)), np.char.add(
            "CR", np.char.zfill(np.arange(1, len(cr_acct) + 1).astype(str), cr_w))),
        "account_id": acct_col(cr_acct), "amount": Fixed(s.cr_amt, 2),
        "due_date": dates(s.cr_due), "priority": Cat(1 - s.cr_high.astype(np.int64),
                                                     ("high", "normal")),
        "note": Strs(s.cr_note),
    })

    # corporate_actions.csv
    sec_pool, sec_kind, sec_tag, rare_idx = s.sec_pool, s.sec_kind, s.sec_tag, s.rare_idx
    uslc_pool = np.flatnonzero(sec_pool & (sec_ac == AC_INDEX["USLC"]) & (sec_kind == "stock")
                               & (sec_tag == 0))
    held_uslc = uslc_pool[rng.permutation(len(uslc_pool))]
    ca_rows = [  # symbol, effective offset, kind, ratio, new symbol, processed
        (held_uslc[0], -210, "split", 2.0, -1, 1),
        (held_uslc[1], -395, "split", 3.0, -1, 1),
        (rare_idx["MERGED_AWAY"], -88, "merger", 0.85, held_uslc[2], 1),
        (held_uslc[3], -150, "spinoff", 0.2, rare_idx["SPINOFF_CHILD"], 1),
        (rare_idx["CORP_ACTION_PENDING"], -2, "split", 2.0, -1, 0),
        (held_uslc[4], 12, "split", 4.0, -1, 0),
    ]
    ca_rows.sort(key=lambda r: (r[1], str(syms[r[0]])))
    s.n_corporate_actions = len(ca_rows)
    kinds = ("split", "merger", "spinoff")
    _write_table(out / "corporate_actions.csv", {
        "symbol": sym_col([r[0] for r in ca_rows]),
        "effective_date": dates([r[1] for r in ca_rows]),
        "kind": Cat([kinds.index(r[2]) for r in ca_rows], kinds),
        "ratio": Fixed([r[3] for r in ca_rows], 2), "new_symbol": sym_col([r[4] for r in ca_rows]),
        "processed": Cat([r[5] for r in ca_rows], BOOLS),
    })

    (out / "manifest.json").write_text(json.dumps({"as_of": as_of.isoformat()}) + "\n",
                                       encoding="utf-8")


def summary_of(s: Sample, out: Path, as_of: date, seed: int) -> dict:
    """What was written: counts, accounts per size tier, the planted accounts and symbols."""
    acct_ids, syms, household = s.acct_ids, s.syms, s.household
    tiers = _tiers_of(s.acct_value)
    tier_counts = {name: int(c) for (name, _, _), c in
                   zip(TIERS, np.bincount(tiers, minlength=len(TIERS)))}
    planted = {k: [str(acct_ids[i]) for i in v] for k, v in s.planted_idx.items()}
    planted_symbols = {k: str(syms[s.rare_idx[k]]) for k in
                       ("UNKNOWN_SECURITY", "MISSING_PRICE", "STALE_PRICE",
                        "CORP_ACTION_PENDING")}
    return {
        "out_dir": str(out), "as_of": as_of.isoformat(), "seed": seed,
        "accounts": s.N, "securities": int(s.master.sum()), "models": len(s.model_ids),
        "asset_classes": len(ASSET_CLASSES), "holdings": s.H, "positions": s.H, "lots": s.L,
        "transactions": int(len(s.t_acct)), "cash_requests": int(len(s.cr_acct)),
        "high_priority_cash_requests": int(s.cr_high.sum()), "corporate_actions": s.n_corporate_actions,
        "custodians": len(CUSTODIANS) + 1, "failed_custodian": SMALL_CUSTODIAN,
        "restricted_accounts": int(s.n_restr),
        "restricted_holding_accounts": [str(acct_ids[i]) for i in s.restricted_holding],
        "tiers": tier_counts,
        "total_value": float(round(s.acct_value.sum(), 2)),
        "planted": planted,
        "planted_counts": {k: len(v) for k, v in planted.items()},
        "planted_symbols": planted_symbols,
        "urgent": [str(acct_ids[i]) for i in s.urgent],
        "households": 0 if household is None else int(len(set(household) - {None})),
        "household_accounts": 0 if household is None else int(sum(h is not None for h in household)),
        "files": list(FILES),
    }
