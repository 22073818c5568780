"""Screenshot of the Charts panel on a sample run.

    python -m ui.charts_demo OUT.png [--accounts 1500] [--seed 3] [--db PATH] [--tier Core]
                                     [--threshold BPS] [--size 1500x950]

Without ``--db`` a sample book is generated, imported and run in a temporary database; with
``--db`` the latest run of that database is shown (one is made when it has a book but no run).
Under a display-less session run it with ``xvfb-run -a`` or ``QT_QPA_PLATFORM=offscreen``.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path


def load_run(db: str | None, accounts: int, seed: int, workdir: Path):
    """(proposals, policy, days_since_trade) of the latest run, making one if needed."""
    from engine.book.importer import import_book
    from engine.decide.preview import days_since_trade
    from engine.book.sample import generate_sample
    from engine.decide.workflow import current_policy, latest_run_id, proposals_frame, run_workflow
    from storage import repo
    from storage.db import make_engine

    engine = make_engine(db or str(workdir / "demo.db"))
    with engine.connect() as conn:
        snap = repo.snapshot_info(conn)
        run_id = latest_run_id(conn)
    if snap is None:
        print(f"generating and importing a sample book of {accounts:,} accounts…", file=sys.stderr)
        generate_sample(workdir / "book", accounts=accounts, seed=seed)
        import_book(engine, workdir / "book", user="demo")
    if run_id is None:
        print("running the book…", file=sys.stderr)
        run_id = run_workflow(engine, user="demo").run_id
    with engine.connect() as conn:
        props = proposals_frame(conn, run_id)
        days = days_since_trade(conn, run_id)
        policy = current_policy(conn)
    engine.dispose()
    return props, policy, days


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m ui.charts_demo", description=__doc__.splitlines()[0])
    ap.add_argument("out", help="PNG file to write")
    ap.add_argument("--accounts", type=int, default=1500)
    ap.add_argument("--seed", type=int, default=3)
    ap.add_argument("--db", help="an existing database (SQLite path or SQLAlchemy URL)")
    ap.add_argument("--tier", help="tier to select (default: the one with most score accounts)")
    ap.add_argument("--threshold", type=float, help="preview threshold in bps (default: the policy floor)")
    ap.add_argument("--size", default="1500x950", help="window size WxH")
    ap.add_argument("--click", action="store_true", help="select one account as a click would")
    args = ap.parse_args(argv)

    from PySide6.QtWidgets import QApplication

    from ui.charts import ChartsPanel

    with tempfile.TemporaryDirectory() as tmp:
        props, policy, days = load_run(args.db, args.accounts, args.seed, Path(tmp))
    app = QApplication.instance() or QApplication(sys.argv[:1])
    panel = ChartsPanel()
    w, h = (int(v) for v in args.size.lower().split("x"))
    panel.resize(w, h)
    panel.setWindowTitle("Rebalance Desk — Charts")
    panel.set_data(props, policy, days)
    if args.tier:
        panel.set_tier(args.tier)
    if args.threshold is not None:
        panel.set_threshold(args.threshold)
    if args.click:
        tier_rows = props.index[(props["tier"] == panel.current_tier()) & (props["category"] == "SCORE")]
        if len(tier_rows):
            panel.select_account(str(props.loc[tier_rows[len(tier_rows) // 2], "account_id"]))
    panel.show()
    for _ in range(5):
        app.processEvents()
    img = panel.grab()
    if not img.save(args.out):
        print(f"could not write {args.out}", file=sys.stderr)
        return 1
    print(f"wrote {args.out} ({img.width()}x{img.height()}, {len(props):,} accounts)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
