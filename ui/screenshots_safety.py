"""PNG screenshots of the safety net: ``python -m ui.screenshots_safety OUTDIR`` (under xvfb-run).

Generates a 2,000-account sample book, runs it under a policy where the Core tier reviews every
account, approves most proposals, then halts a widely traded security and holds one approved
account (after the approval, as a desk would), and writes into OUTDIR:
override_impact.png (the halt form's confirmation: what the halt stops), export_blocked.png (the
export confirmation naming the trades kept back and why) and reject_dialog.png (a rejection's
reason code and text).
"""
from __future__ import annotations

import sys

from ui.screenshots import SIZE, _settle, setup


def main(argv: list[str] | None = None) -> int:
    started = setup(argv, "ui.screenshots_safety", "rebalance-shots3-")
    if started is None:
        return 2
    app, out, tmp, settings = started

    from engine.exporter import export_preview
    from engine.importer import import_book
    from engine.overrides import add_hold
    from engine.policy import default_policy, policy_from_dict
    from engine.policy_store import save_policy
    from engine.review import approve
    from engine.sample import generate_sample
    from engine.workflow import proposals_frame, run_workflow
    from storage.db import make_engine
    from storage.bulk import read_frame
    from storage import models as m
    from sqlalchemy import func, select

    import ui.part2  # noqa: F401  (registers the part-2 panels)
    from ui import dialogs
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
    data = default_policy().model_dump()
    data["tiers"] = [{**t, "review": "all" if t["name"] == "Core" else t["review"]} for t in data["tiers"]]
    save_policy(engine, policy_from_dict(data), user="m.ortiz", note="Core: review every account this week")
    run_workflow(engine, workers=1, user="desk.operator")
    with engine.connect() as conn:
        props = proposals_frame(conn)
        T = m.Trade.__table__
        # the security bought or sold by the fewest approved accounts, but at least three
        counts = read_frame(conn, select(T.c.symbol, func.count(func.distinct(T.c.account_id)).label("n"))
                            .where(T.c.batch_id.is_(None)).group_by(T.c.symbol))
    core = props[(props["tier"] == "Core") & (props["status"] == "PROPOSED")].sort_values("score_bps",
                                                                                        ascending=False)
    ids = core["account_id"].tolist()
    approve(engine, ids[:-3], user="j.chen")
    waiting = ids[-3:]
    few = counts[counts["n"] >= 3].sort_values("n")
    symbol = str(few["symbol"].iat[0]) if len(few) else str(counts["symbol"].iat[0])
    held = str(ids[0]) if ids else str(props["account_id"].iat[0])
    add_hold(engine, held, None, "client wire pending", user="m.ortiz")

    w = MainWindow(engine, db=db, user="desk.operator", settings=settings, workers=1)
    w.resize(*SIZE)
    w.show()

    real_confirm = dialogs.confirm

    def grab_confirm(name):
        def confirm(parent, title, text, informative="", ok="OK"):
            buttons = dialogs.QMessageBox.StandardButton
            box = dialogs._box(parent, dialogs.QMessageBox.Icon.Question, title, text, informative,
                               buttons=buttons.Ok | buttons.Cancel)
            box.button(buttons.Ok).setText(ok)
            box.show()
            shot(box, name)
            box.close()
            return name == "override_impact"  # the halt is saved; the export is not
        return confirm

    # the halt form: what the halt stops, before it is saved
    w.show_panel("Overrides")
    o = w.panel("Overrides")
    o.halt_symbol.setText(symbol)
    o.halt_reason.setText("exchange halt pending news")
    dialogs.confirm = grab_confirm("override_impact")
    try:
        o.add_halt()
        # the export confirmation names the trades kept back and why
        dialogs.confirm = grab_confirm("export_blocked")
        w._confirm_export(export_preview(engine))
    finally:
        dialogs.confirm = real_confirm

    # a rejection asks for a reason code and text
    if waiting:
        w.show_panel("Proposals", waiting[0])
        p = w.panel("Proposals")
        _settle(app)
        p.reject_selected()
        dlg = p.reason_dialog
        dlg.code.setCurrentIndex(dlg.code.findData("TAX_IMPACT"))
        dlg.reason.setText("realizes $4k of short-term gains; wait for the lots to go long-term in January")
        shot(dlg, "reject_dialog")
        dlg.close()
    w.close()
    for p in written:
        print(p)
    return 0


if __name__ == "__main__":
    sys.exit(main())
