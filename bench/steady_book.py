"""The steady-state book of the benchmarks: a lab simulation's day-20 book, scaled up by copies.

    .venv/bin/python bench/steady_book.py --accounts 100000 --out /tmp/bench_days/steady

A first day's sample book is far from its models (about a third of its accounts trade); a desk
lives with the book the engine has been trading for weeks, where a few percent trade a day. A
lab simulation of 100,000 accounts over 20 days takes hours here, so the bench makes the day once
at a smaller size and copies it:

1. ``main.py sample`` of ``--lab-accounts`` accounts (2,000, seed 1), imported into a scratch
   database, carried ``--lab-days`` (20) business days by ``main.py simulate`` with the default
   policy (``--write-book``: the book after the last day, as the simulated custodian left it);
2. that book's accounts, lots, custodian positions, transactions and cash requests copied
   ``accounts / lab-accounts`` times with a suffix on every account, lot, household and request id
   (``-c1``, ``-c2``, ...; the first copy keeps its ids); securities, models, feeds and corporate
   actions are shared. Every copy is the lab's own day 20, so the copied book has its statistics
   (share of accounts that trade, lines per account, cash, lots per account) by construction;
   ``bench_days.py`` prints the share that trades on both, the lab's and the copied book's.

Both steps are cached under ``--out`` (delete the folder to make them again). ``as_of`` shifts
the copied book to another day (prices and feeds dated that day), so consecutive bench days
import a new book each day.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
from datetime import date
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
PY = sys.executable

ACCOUNT_TABLES = ("accounts", "lots", "custodian_positions", "transactions", "cash_requests")


def lab_day_book(work: Path, accounts: int, days: int, seed: int = 1, workers: int = 2) -> Path:
    """The lab's book after ``days`` simulated days of an ``accounts``-account sample (cached)."""
    out = work / f"lab{accounts}-day{days}"
    book = out / "book"
    if (book / "manifest.json").exists():
        return book
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    run = lambda *a: subprocess.run([PY, str(ROOT / "main.py"), *a], check=True, cwd=ROOT,  # noqa: E731
                                    stdout=subprocess.DEVNULL)
    run("sample", str(out / "day0"), "--accounts", str(accounts), "--seed", str(seed))
    run("import", str(out / "day0"), "--db", str(out / "lab.db"))
    run("simulate", "--db", str(out / "lab.db"), "--days", str(days), "--workers", str(workers),
        "--seed", str(seed), "--out", str(out / "lab"), "--write-book", str(out / "tmp-book"))
    (out / "tmp-book").rename(book)
    return book


def _read(folder: Path, name: str) -> pd.DataFrame | None:
    p = folder / f"{name}.csv"
    return pd.read_csv(p, dtype=str, keep_default_na=False) if p.exists() else None


def _suffix(col: pd.Series, k: int) -> pd.Series:
    if k == 0:
        return col
    return col.where(col == "", col + f"-c{k}")


def copied_book(lab_book: Path, accounts: int, out: Path, as_of: date | None = None) -> Path:
    """``lab_book`` copied up to ``accounts`` accounts into ``out`` (cached), dated ``as_of``."""
    if (out / "manifest.json").exists():
        return out
    frames = {n: _read(lab_book, n) for n in ACCOUNT_TABLES}
    n_lab = len(frames["accounts"])
    copies = max(1, -(-accounts // n_lab))
    tmp = out.with_name(f"{out.name}.tmp{os.getpid()}")  # several benches may make it at once
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    for p in lab_book.glob("*.csv"):
        if p.stem not in ACCOUNT_TABLES:
            shutil.copy(p, tmp / p.name)
    manifest = json.loads((lab_book / "manifest.json").read_text())
    if as_of is not None:
        manifest["as_of"] = str(as_of)
        sec = _read(tmp, "securities")
        sec.loc[sec["price_date"] != "", "price_date"] = str(as_of)
        sec.to_csv(tmp / "securities.csv", index=False)
        feeds = _read(tmp, "feeds")
        if feeds is not None:
            feeds["file_date"] = str(as_of)
            feeds.to_csv(tmp / "feeds.csv", index=False)
    (tmp / "manifest.json").write_text(json.dumps(manifest))
    ids = {"account_id", "lot_id", "household_id", "request_id"}
    for name, df in frames.items():
        if df is None:
            continue
        parts = []
        for k in range(copies):
            c = df.copy()
            for col in ids & set(c.columns):
                c[col] = _suffix(c[col], k)
            parts.append(c)
        full = pd.concat(parts, ignore_index=True)
        if name == "accounts":
            full = full.iloc[:accounts]
        full.to_csv(tmp / f"{name}.csv", index=False)
    if accounts % n_lab:  # the last copy cut short: keep only rows of the accounts kept
        kept = set(_read(tmp, "accounts")["account_id"])
        for name in ACCOUNT_TABLES[1:]:
            df = _read(tmp, name)
            if df is not None:
                df[df["account_id"].isin(kept)].to_csv(tmp / f"{name}.csv", index=False)
    try:
        tmp.rename(out)
    except OSError:  # another bench made it first: same content
        shutil.rmtree(tmp)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--accounts", type=int, default=100_000)
    ap.add_argument("--lab-accounts", type=int, default=2000)
    ap.add_argument("--lab-days", type=int, default=20)
    ap.add_argument("--out", default="/tmp/bench_days/steady")
    ap.add_argument("--as-of", type=date.fromisoformat)
    args = ap.parse_args()
    work = Path(args.out)
    lab = lab_day_book(work, args.lab_accounts, args.lab_days)
    book = copied_book(lab, args.accounts, work / f"book-{args.accounts}-{args.as_of or 'lab'}", args.as_of)
    print(f"lab book {lab}; copied book {book}")


if __name__ == "__main__":
    main()
