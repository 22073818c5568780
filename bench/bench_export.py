"""Benchmark: export one batch of N approved trade lines (default 200,000) in CSV+FIX and XLSX.

    .venv/bin/python bench/bench_export.py [--lines N] [--formats csv,fix xlsx] [--profile FILE] [--keep DIR]

Trades are inserted directly as approved (manual-category) trades on a small imported book,
one per account/symbol/side so every trade is one order line; then `export_batch` runs the
real path: read, aggregate, write files atomically, record the batch in one transaction.
"""
from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))


def setup(db: Path, n: int):
    from bookkit import write_book
    from engine.book.importer import import_book
    from storage import models as m
    from storage.bulk import insert_frame
    from storage.db import make_engine

    engine = make_engine(db)
    import_book(engine, write_book(db.parent / "book"), user="bench")
    rng = np.random.default_rng(1)
    per = 20
    acc = np.array([f"X{i:07d}" for i in range(n // per + 1)], dtype=object)
    idx = np.arange(n)
    df = pd.DataFrame({
        "proposal_id": None, "snapshot_id": 1, "account_id": acc[idx // per],
        "custodian": np.array(["SCHWAB", "FIDELITY", "PERSHING", "BNY"], dtype=object)[(idx // per) % 4],
        "symbol": np.array([f"S{i:03d}" for i in range(per)], dtype=object)[idx % per],
        "side": np.where(rng.random(n) < 0.5, "BUY", "SELL").astype(object),
        "quantity": rng.integers(1, 5000, n), "est_price": np.round(rng.uniform(10, 500, n), 2),
        "lots": None, "category": "SCORE", "reason": "drift", "status": "APPROVED",
        "created_by": "bench", "created_at": pd.Timestamp("2026-11-20 12:00:00").to_pydatetime()})
    df["est_value"] = df["quantity"] * df["est_price"]
    df.loc[df["side"] == "SELL", "lots"] = "L1:" + df["quantity"].astype(str)
    with engine.begin() as conn:
        insert_frame(conn, m.Trade.__table__, df)
    return engine


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--lines", type=int, default=200_000)
    ap.add_argument("--formats", nargs="*", default=["csv,fix", "xlsx"],
                    help="one export per item, e.g. csv,fix xlsx")
    ap.add_argument("--profile", help="write a cProfile of the exports to this file")
    ap.add_argument("--keep", help="write each database and batch under this folder (kept) instead of a temp dir")
    args = ap.parse_args()
    from engine.desk.exporter import export_batch

    print(f"machine: {platform.machine()} {os.cpu_count()} cores, Python {platform.python_version()}; "
          f"load average {os.getloadavg()[0]:.2f}")
    prof = None
    if args.profile:
        import cProfile

        prof = cProfile.Profile(time.process_time)  # CPU time: the machine may be shared
    for item in args.formats:
        formats = tuple(item.split(","))
        if args.keep:
            work = Path(args.keep) / "_".join(formats)
            work.mkdir(parents=True, exist_ok=True)
        else:
            work = Path(tempfile.mkdtemp(prefix="bench_export_"))
        engine = setup(work / "b.db", args.lines)
        t, cpu = time.perf_counter(), time.process_time()
        if prof:
            prof.enable()
        res = export_batch(engine, work / "out", formats=formats, user="bench")
        if prof:
            prof.disable()
        dt, cpu = time.perf_counter() - t, time.process_time() - cpu
        size = sum(os.path.getsize(p) for p, _ in res.files) / 1e6
        print(f"{'+'.join(formats):>8}: {res.n_lines:,} order lines in {dt:.1f} s, CPU {cpu:.1f} s ({size:,.0f} MB); "
              f"load average {os.getloadavg()[0]:.2f}", flush=True)
    if prof:
        prof.dump_stats(args.profile)


if __name__ == "__main__":
    main()
