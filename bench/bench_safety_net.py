"""What the safety net costs on a run book: ``python bench/bench_safety_net.py DB``.

DB: a database with an imported book and a finished run (e.g. ``main.py sample`` 10,000 accounts,
``import``, ``run``). Times, in seconds: the export preview and the Today panel's numbers with
nothing in force, a bulk approval of every proposal awaiting review (with the re-check), the
override form's impact count, the preview again with a hold-accounts halt of the most traded
symbol and a hold in force (every exportable trade of the accounts they touch checked), and one
edit re-scored. Changes the database (approvals, an override, an edit): use a copy.
"""
from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main(db: str) -> int:
    from sqlalchemy import func, select

    from engine.desk import views
    from engine.desk.compliance import override_impact
    from engine.desk.exporter import export_preview
    from engine.decide.overrides import add_halt, add_hold
    from engine.desk.review import approve, edit_trade
    from engine.decide.workflow import latest_run_id, proposals_frame
    from storage import models as m
    from storage.db import make_engine

    engine = make_engine(db)

    def timed(label, fn):
        t = time.perf_counter()
        out = fn()
        print(f"{label:<62} {time.perf_counter() - t:8.3f} s")
        return out

    pre = timed("export_preview, nothing in force", lambda: export_preview(engine))
    print(f"  {pre['trades']:,} trades of {pre['accounts']:,} accounts exportable, {pre['blocked']:,} blocked")
    timed("views.today (Today panel, Batches badge), nothing in force", lambda: views.today(engine))
    with engine.connect() as conn:
        props = proposals_frame(conn)
        T = m.Trade.__table__
        top = conn.execute(select(T.c.symbol).group_by(T.c.symbol).order_by(func.count().desc()).limit(1)).scalar()
    waiting = props[(props["status"] == "PROPOSED")]["account_id"].tolist()
    d = timed(f"approve {len(waiting):,} accounts (bulk, with the re-check)", lambda: approve(engine, waiting,
                                                                                             user="bench"))
    print(f"  {len(d.blocked):,} flagged as blocked")
    with engine.connect() as conn:
        imp = timed(f"override_impact of a hold-accounts halt of {top}",
                    lambda: override_impact(conn, symbol=top, mode="hold-accounts"))
    print(f"  {imp}")
    add_halt(engine, top, None, "bench halt", "hold-accounts", user="bench")
    add_hold(engine, waiting[0] if waiting else props["account_id"].iat[0], None, "bench hold", user="bench")
    pre = timed("export_preview, halt + hold in force", lambda: export_preview(engine))
    print(f"  {pre['trades']:,} trades exportable, {pre['blocked']:,} blocked of {pre['blocked_accounts']:,} accounts")
    timed("views.today, halt + hold in force", lambda: views.today(engine))
    with engine.connect() as conn:
        run_id = latest_run_id(conn)
        P = m.Proposal.__table__
        tid = conn.execute(select(T.c.id).join(P, P.c.id == T.c.proposal_id).where(
            P.c.run_id == run_id, T.c.side == "BUY", T.c.quantity > 2, T.c.batch_id.is_(None)).limit(1)).scalar()
        q = conn.execute(select(T.c.quantity).where(T.c.id == tid)).scalar()
    timed("edit_trade (quantity, re-scored)", lambda: edit_trade(engine, tid, quantity=int(q) - 1, user="bench"))
    engine.dispose()
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    sys.exit(main(sys.argv[1]))
