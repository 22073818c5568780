"""PNG screenshots of the part-2 panels: ``python -m ui.screenshots_part2 OUTDIR`` (under xvfb-run).

Generates a 2,000-account sample book into a temporary folder, imports it, saves a policy where
the Core tier reviews every account (so there is something to review), runs it, approves,
rejects and edits a few proposals as different users, exports one batch, then opens the console
and writes proposals.png, charts.png, batches.png, audit.png and export_result.png into OUTDIR,
and lab.png after a short policy-lab simulation (a 300-account sample × 20 business days: the
current policy, λ 0.3 and 3, the band and calendar baselines). ``--lab`` writes lab.png only::

    xvfb-run -a -s "-screen 0 1600x1000x24" python -m ui.screenshots_part2 --lab /tmp/shots
"""
from __future__ import annotations

import sys
import time

from ui.screenshots import SIZE, _settle, setup


def shoot_lab(app, w, shot, *, accounts: int = 300, days: int = 20) -> None:
    """The Lab after a short simulation of a sample of the book (lab.png)."""
    w.show_panel("Lab")
    lab = w.panel("Lab")
    lab.sample_check.setChecked(True)
    lab.sample.setValue(accounts)
    lab.days.setValue(days)
    lab.seed.setValue(7)
    lab.sweep_checks["lambda"].setChecked(True)
    for cb in lab.baseline_checks.values():
        cb.setChecked(True)
    print(f"simulating {accounts} accounts × {days} business days in the Lab…", file=sys.stderr)
    lab.start()
    deadline = time.monotonic() + 1800
    while w.ctx.tasks.busy and time.monotonic() < deadline:
        _settle(app, 200)
    lab.table.select_row(0)
    shot(w, "lab", 600)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    lab_only = bool(argv) and argv[0] == "--lab"
    if lab_only:
        argv = argv[1:]
    started = setup(argv, "ui.screenshots_part2", "rebalance-shots2-")
    if started is None:
        return 2
    app, out, tmp, settings = started

    from engine.exporter import export_batch
    from engine.importer import import_book
    from engine.policy import default_policy, policy_from_dict
    from engine.policy_store import save_policy
    from engine.review import approve, edit_trade, proposal_trades, reject
    from engine.sample import generate_sample
    from engine.workflow import proposals_frame, run_workflow
    from storage.db import make_engine

    import ui.part2  # noqa: F401  (registers the part-2 panels)
    from ui.batches_panel import show_batch_result
    from ui.main_window import MainWindow

    written = []

    def shot(widget, name: str, ms: int = 300) -> None:
        _settle(app, ms)
        path = out / f"{name}.png"
        widget.grab().save(str(path))
        written.append(path)

    print("generating, importing and running a 2,000-account sample book…", file=sys.stderr)
    book = tmp / "book"
    generate_sample(book, accounts=2000, seed=7)
    db = str(tmp / "book.db")
    engine = make_engine(db)
    import_book(engine, book, user="desk.operator")
    if lab_only:
        w = MainWindow(engine, db=db, user="desk.operator", settings=settings, workers=1)
        w.resize(*SIZE)
        w.show()
        shoot_lab(app, w, shot)
        w.close()
        for p in written:
            print(p)
        return 0
    data = default_policy().model_dump()
    data["tiers"] = [{**t, "review": "all" if t["name"] == "Core" else t["review"]} for t in data["tiers"]]
    save_policy(engine, policy_from_dict(data), user="m.ortiz", note="Core: review every account this week")
    run_workflow(engine, workers=1, user="desk.operator")
    with engine.connect() as conn:
        props = proposals_frame(conn)

    # a morning's review: approve some Core accounts, reject one, edit a trade of another
    core = props[(props["tier"] == "Core") & (props["status"] == "PROPOSED")].sort_values("score_bps",
                                                                                        ascending=False)
    ids = core["account_id"].tolist()
    approve(engine, ids[:6], user="j.chen")
    reject(engine, ids[6:7], user="j.chen", reason="client asked to wait", code="CLIENT_INSTRUCTION")
    edited = None
    for a in ids[7:40]:  # an account with a sell big enough to trim
        trades = proposal_trades(engine, a)
        sells = trades[(trades["side"] == "SELL") & (trades["quantity"] > 20)]
        if len(sells):
            edited = a
            edit_trade(engine, int(sells["id"].iat[0]), quantity=int(sells["quantity"].iat[0]) - 10, user="m.ortiz")
            approve(engine, [a], user="m.ortiz")
            break
    result = export_batch(engine, tmp / "exports", ("csv", "fix"), user="desk.operator")

    w = MainWindow(engine, db=db, user="desk.operator", settings=settings, workers=1)
    w.resize(*SIZE)
    w.show()

    # Proposals: the Core tier, a flagged account awaiting review
    waiting = props[(props["tier"] == "Core") & props["account_id"].isin(ids[7:]) & (props["account_id"] != edited)]
    flagged = waiting[waiting["flags"].fillna("") != ""]
    account = str((flagged if len(flagged) else waiting)["account_id"].iat[0])
    w.show_panel("Proposals", account)
    shot(w, "proposals")

    # Charts: the Core tier with the preview line dragged above the floor
    w.show_panel("Charts")
    charts = w.panel("Charts").charts
    charts.set_tier("Core")
    charts.set_threshold(charts.threshold() + 20)
    shot(w, "charts", 500)

    w.show_panel("Batches")
    w.panel("Batches").verify()
    shot(w, "batches")

    w.show_panel("Audit")
    shot(w, "audit")

    dlg = show_batch_result(w, result)
    shot(dlg, "export_result")
    dlg.close()

    shoot_lab(app, w, shot)
    w.close()
    for p in written:
        print(p)
    return 0


if __name__ == "__main__":
    sys.exit(main())
