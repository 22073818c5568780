"""Check that the workflow's proposals and trades stay bit-identical across a code change.

    .venv/bin/python main.py sample /tmp/cmp/book --accounts 10000
    # on the old code: import the book into a fresh database, run, save the result
    .venv/bin/python bench/compare_proposals.py --book /tmp/cmp/book --db /tmp/cmp/before.db --save /tmp/cmp/before.pkl
    # on the new code: the same into another database, then compare field by field
    .venv/bin/python bench/compare_proposals.py --book /tmp/cmp/book --db /tmp/cmp/after.db --against /tmp/cmp/before.pkl

Compared: every proposal column but the run's ids and timestamps, every trade column but ids,
timestamps and the proposal id (trades are matched by account, symbol, side and lots). Floats
must be equal bit for bit (NaN equals NaN). Exit 0 when identical, 1 naming the first
differences otherwise.
"""
from __future__ import annotations

import argparse
import pickle
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

VOLATILE_PROPOSAL = {"id", "run_id", "decided_at", "created_at"}
VOLATILE_TRADE = {"id", "proposal_id", "created_at", "approved_at", "snapshot_id"}


def run_and_read(book: str, db: str, workers: int) -> dict:
    import pandas as pd
    from sqlalchemy import select

    from engine.book.importer import import_book
    from engine.decide.workflow import proposals_frame, run_workflow
    from storage import models as m
    from storage.bulk import read_frame
    from storage.db import make_engine

    eng = make_engine(db)
    import_book(eng, book, user="bench")
    t = time.perf_counter()
    out = run_workflow(eng, workers=workers, user="bench")
    seconds = time.perf_counter() - t
    with eng.connect() as conn:
        props = proposals_frame(conn, out.run_id)
        tt = m.Trade.__table__
        trades = read_frame(conn, select(tt).where(tt.c.proposal_id.in_(
            select(m.Proposal.id).where(m.Proposal.run_id == out.run_id))))
    eng.dispose()
    props = props.drop(columns=[c for c in props.columns if c in VOLATILE_PROPOSAL])
    props = props.sort_values("account_id").reset_index(drop=True)
    trades = trades.drop(columns=[c for c in trades.columns if c in VOLATILE_TRADE])
    trades = trades.sort_values(["account_id", "symbol", "side", "lots"], na_position="first",
                                kind="stable").reset_index(drop=True)
    print(f"run {out.run_id}: {len(props):,} proposals, {len(trades):,} trades in {seconds:.1f} s "
          f"{out.summary['categories']}")
    return {"proposals": pd.DataFrame(props), "trades": pd.DataFrame(trades)}


def differences(a, b, name: str, limit: int = 10) -> list[str]:
    import numpy as np

    out = []
    if list(a.columns) != list(b.columns):
        return [f"{name}: columns differ: {list(a.columns)} vs {list(b.columns)}"]
    if len(a) != len(b):
        return [f"{name}: {len(a):,} rows vs {len(b):,}"]
    for c in a.columns:
        x, y = a[c].to_numpy(), b[c].to_numpy()
        if x.dtype.kind == "f" and y.dtype.kind == "f":
            same = (x == y) | (np.isnan(x) & np.isnan(y))
        else:
            same = np.array([(u == v) or (u is None and v is None) or
                             (isinstance(u, float) and isinstance(v, float) and np.isnan(u) and np.isnan(v))
                             for u, v in zip(x, y)], dtype=bool)
        for i in np.flatnonzero(~same)[:limit - len(out)]:
            out.append(f"{name} row {i} ({a['account_id'].iat[i]}) column {c}: {x[i]!r} vs {y[i]!r}")
        if len(out) >= limit:
            break
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--book", required=True, help="book folder (python main.py sample DIR)")
    ap.add_argument("--db", required=True, help="a new database (file path or URL)")
    ap.add_argument("--workers", type=int, default=2)
    g = ap.add_mutually_exclusive_group(required=True)
    g.add_argument("--save", help="write the run's proposals and trades to this pickle")
    g.add_argument("--against", help="compare with a pickle written by --save")
    args = ap.parse_args()
    got = run_and_read(args.book, args.db, args.workers)
    if args.save:
        Path(args.save).write_bytes(pickle.dumps(got))
        print(f"saved to {args.save}")
        return 0
    want = pickle.loads(Path(args.against).read_bytes())
    diffs = differences(want["proposals"], got["proposals"], "proposals") + \
        differences(want["trades"], got["trades"], "trades")
    if diffs:
        print("DIFFERENT:\n  " + "\n  ".join(diffs))
        return 1
    print(f"identical: {len(got['proposals']):,} proposals and {len(got['trades']):,} trades, field by field")
    return 0


if __name__ == "__main__":
    sys.exit(main())
