"""One day's decisions on a sample book: what a run trades and what it leaves behind.

    .venv/bin/python bench/bench_decisions_day.py --accounts 2000 --seed 7 [--policy FILE] [--workers 2]

Writes a sample book (``main.py sample``), imports it into a temporary SQLite database, runs the
workflow once and prints, from the run's proposals and trades alone: accounts per category, order
lines, traded dollars and turnover (% of the value of all accounts run), realized tax (net),
harvested losses (sum of the losses of the lots the sells name), band-mandate accounts waiting
with no trade, and accounts outside an asset-class band after trading (post-trade class weights
for traded accounts, pre-trade for the others; suspended and held accounts are not optimized and
not counted).
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--accounts", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--policy", default=None)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--work", default=None, help="folder for the book and database (default: a temp dir)")
    args = ap.parse_args()

    import pandas as pd
    from sqlalchemy import text

    from engine.decide.workflow import proposals_frame, run_workflow
    from storage.db import make_engine  # noqa: E402

    work = Path(args.work or tempfile.mkdtemp(prefix="decisions_"))
    book = work / "book"
    db = work / "book.db"
    py = sys.executable
    if not book.exists():
        subprocess.run([py, str(ROOT / "main.py"), "sample", str(book), "--accounts", str(args.accounts),
                        "--seed", str(args.seed)], check=True, capture_output=True)
    if db.exists():
        db.unlink()
    subprocess.run([py, str(ROOT / "main.py"), "import", str(book), "--db", str(db)], check=True,
                   capture_output=True)
    engine = make_engine(str(db))
    out = run_workflow(engine, policy_path=args.policy, workers=args.workers, user="bench")
    with engine.connect() as conn:
        # the detail as text: the proposal's column, else its compact row (storage.compact_detail)
        props = proposals_frame(conn, out.run_id)[["account_id", "category", "value", "realized_tax", "tax_cost",
                                                   "harvest_benefit", "reasons", "detail"]]
        trades = pd.read_sql(text("select t.account_id, t.symbol, t.side, t.quantity, t.est_price, "
                                  "t.est_value, t.lots, t.reason from trades t join proposals p on "
                                  "p.id = t.proposal_id where p.run_id = :r"), conn, params={"r": out.run_id})
        lots = pd.read_sql(text("select account_id, lot_id, unit_cost from lots where snapshot_id = :s"),
                           conn, params={"s": out.summary["snapshot_id"]})
    traded = props["category"].isin(["MANDATE", "SCORE"])
    cost = dict(zip(zip(lots["account_id"], lots["lot_id"]), lots["unit_cost"]))
    harvested = 0.0
    for a, px, spec in zip(trades["account_id"], trades["est_price"], trades["lots"]):
        if not isinstance(spec, str) or not spec:
            continue
        for part in spec.split(";"):
            lot, sh = part.rsplit(":", 1)
            g = float(sh) * (px - cost[(a, lot)])
            harvested += min(g, 0.0)
    # outside a band after trading: on the value left once the account's due cash requests are
    # paid (cash owed is reserved), and as plain fractions of today's value
    outside = outside_plain = 0
    for cat, v, d in zip(props["category"], props["value"], props["detail"]):
        if not isinstance(d, str):
            continue
        d = json.loads(d)
        w = d["class_weights_post"] if cat in ("MANDATE", "SCORE") else d["class_weights_pre"]
        s = max(1.0 - d.get("cash_needed", 0.0) / v, 0.0) if v > 0 else 1.0
        bands = d["class_bands"].items()
        outside += any(not (lo * s - 1e-6 <= w.get(c, 0.0) <= hi * s + 1e-6) for c, (lo, hi) in bands)
        outside_plain += any(not (lo - 1e-6 <= w.get(c, 0.0) <= hi + 1e-6) for c, (lo, hi) in bands)
    run_value = float(props.loc[props["detail"].notna(), "value"].sum())
    traded_d = float(trades["est_value"].sum())
    waiting_band = int(((~traded) & props["reasons"].fillna("").str.contains("WAITING:band")).sum())
    unreachable = int(props["reasons"].fillna("").str.contains("BAND_UNREACHABLE").sum())
    res = {
        "categories": out.summary["categories"],
        "order_lines": int(len(trades)),
        "order_lines_harvest": int((trades["reason"] == "harvest").sum()),
        "traded_dollars": round(traded_d),
        "turnover_pct": round(100 * traded_d / run_value, 3),
        "realized_tax": round(float(props.loc[traded, "realized_tax"].sum())),
        "tax_on_gains": round(float(props.loc[traded, "tax_cost"].sum())),
        "harvest_benefit": round(float(props.loc[traded, "harvest_benefit"].sum())),
        "harvested_losses": round(-harvested),
        "waiting_band_no_trade": waiting_band,
        "band_unreachable_flagged": unreachable,
        "outside_band_after": outside,
        "outside_band_after_before_payout": outside_plain,
        "optimize_s": out.summary["timings"].get("optimize"),
    }
    print(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
