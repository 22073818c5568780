"""A realistic sample book folder (CONTRACT.md §1) for demos, tests and benchmarks.

``generate_sample(out_dir, accounts=N, seed=S)`` writes every book file plus
``manifest.json`` and returns a summary of what it wrote, including which accounts carry
which planted data-quality problem (``summary["planted"]``), so tests can check detection.

Pure numpy/pandas and fully vectorised: the per-account and per-lot work is done with
``np.repeat``/``cumsum``/``bincount`` tricks, so 100,000 accounts (several million lots)
take seconds. Deterministic: the same arguments give the same files byte for byte.

What is planted (each kind on its own, disjoint set of accounts, about 0.2-1% of the book
and at least one account each):

* ``UNKNOWN_SECURITY``: one extra lot (and custodian position) in a symbol that is not in
  securities.csv (``summary["planted_symbols"]["UNKNOWN_SECURITY"]``).
* ``MISSING_PRICE``: a holding of a rare security whose price is blank in securities.csv.
* ``STALE_PRICE``: a holding of a rare security whose price_date is 10 days before as_of.
* ``CORP_ACTION_PENDING``: a holding of a rare security with an unprocessed split whose
  effective date is on or before as_of.
* ``RECON_BREAK``: one custodian position differs from the sum of its lots.
* ``NEGATIVE_POSITION``: one lot has a negative quantity (the custodian position equals
  the lot sum, so this is not also a recon break).
* ``FEED_MISSING``: the accounts of the one small custodian whose feed ``failed``.

The rare securities are held by no other account, so the rest of the book is clean. A few
planted accounts also have a ``high`` priority cash request (``summary["urgent"]``).

The generator is a sequence of named steps, each in the module of its kind:
:mod:`engine.book.sample_universe` (securities, models, price history),
:mod:`engine.book.sample_accounts` (planted problems, accounts, holdings, lots, custodian
positions), :mod:`engine.book.sample_flows` (transactions, cash requests, names and households,
tier groups and tax rates, restriction strings) and :mod:`engine.book.sample_write` (the files and
the summary); the fixed tables are in :mod:`engine.book.sample_tables` and the CSV writer in
:mod:`engine.book.sample_csv`. The steps share one random generator, so their order is the
order of the draws and fixed (``bench/compare_sample.py`` checks the files stay byte-identical).
"""
from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Callable

import numpy as np

from engine.book import sample_accounts as accounts_steps
from engine.book import sample_flows as flows
from engine.book.sample_tables import (  # noqa: F401 - the sample's tables, as before
    ASSET_CLASSES as ASSET_CLASSES,
    COLUMNS as COLUMNS,
    DEFAULT_AS_OF as DEFAULT_AS_OF,
    FILES as FILES,
    MODELS as MODELS,
    PLANT_RATE as PLANT_RATE,
    PROBLEM_KINDS as PROBLEM_KINDS,
    SMALL_CUSTODIAN as SMALL_CUSTODIAN,
    STALE_DAYS as STALE_DAYS,
    TIERS as TIERS,
)
from engine.book.sample_universe import universe
from engine.book.sample_write import summary_of, write_book


def generate_sample(out_dir: str | Path, accounts: int = 2000, seed: int = 1,
                    as_of: date | None = None,
                    progress: Callable[[float, str], None] | None = None, households: float = 0.0) -> dict:
    """Write a realistic book folder (all CONTRACT.md §1 files + manifest.json) into out_dir.

    Returns a summary dict: counts (accounts, securities, models, lots, positions, ...),
    accounts per size tier, and ``planted``: {problem kind: [account ids]}.
    ``households``: the share of accounts in households (accounts.csv gets ``household_id``;
    0, the default, writes the files exactly as before).
    """
    n_acc = int(accounts)
    if n_acc < 1:
        raise ValueError("accounts must be at least 1")
    if n_acc > 999_999:
        raise ValueError("accounts must be at most 999,999")
    as_of = as_of or DEFAULT_AS_OF
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)

    def step(frac: float, msg: str) -> None:
        if progress is not None:
            progress(float(frac), msg)

    step(0.0, "Building securities and models")
    s = universe(rng, as_of)
    step(0.05, "Generating accounts")
    accounts_steps.plant_problems(rng, s, n_acc)
    accounts_steps.accounts(rng, s)
    step(0.15, "Generating holdings")
    accounts_steps.holdings(rng, s)
    step(0.35, "Generating tax lots")
    accounts_steps.lots(rng, s)
    step(0.5, "Reconciling custodian positions")
    accounts_steps.custodian_positions(rng, s)
    step(0.55, "Generating transactions and cash requests")
    flows.transactions(rng, s)
    flows.cash_requests(rng, s)
    flows.names(rng, s, households, seed)  # and the households, from their own generator
    flows.groups_and_tax(rng, s)
    flows.restriction_text(s)
    step(0.6, "Writing files")
    write_book(rng, s, out, as_of, step)
    summary = summary_of(s, out, as_of, seed)
    step(1.0, "Sample book written")
    return summary
