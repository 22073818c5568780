"""PNG screenshots of each panel: ``python -m ui.screenshots OUTDIR`` (under xvfb-run).

Generates a 2,000-account sample book into a temporary folder, imports and runs it, adds a
few overrides, then opens the console and writes empty.png, today.png, suspended.png,
manual_trade.png, overrides.png, policy.png and running.png into OUTDIR.
"""
from __future__ import annotations

import math
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

SIZE = (1560, 940)


def _settle(app, ms: int = 250) -> None:
    end = time.monotonic() + ms / 1000
    while time.monotonic() < end:
        app.processEvents()
        time.sleep(0.01)


def setup(argv: list[str] | None, prog: str, prefix: str):
    """What every screenshot script starts with: OUTDIR from argv, the QApplication, a temp
    folder and throw-away QSettings. None when the arguments are wrong (usage printed)."""
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        print(f"usage: python -m {prog} OUTDIR", file=sys.stderr)
        return None
    out = Path(argv[0])
    out.mkdir(parents=True, exist_ok=True)

    from PySide6.QtCore import QSettings
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance() or QApplication([sys.argv[0]])
    app.setOrganizationName("RebalanceDesk")
    app.setApplicationName("Rebalance Desk")
    tmp = Path(tempfile.mkdtemp(prefix=prefix))
    settings = QSettings(str(tmp / "settings.ini"), QSettings.Format.IniFormat)
    return app, out, tmp, settings


def main(argv: list[str] | None = None) -> int:
    started = setup(argv, "ui.screenshots", "rebalance-shots-")
    if started is None:
        return 2
    app, out, tmp, settings = started

    from engine import views
    from engine.importer import import_book
    from engine.overrides import add_halt, add_hold, end_override
    from engine.sample import generate_sample
    from engine.workflow import run_workflow
    from storage.db import make_engine
    from ui.main_window import MainWindow

    written = []

    def shot(widget, name: str) -> None:
        _settle(app)
        path = out / f"{name}.png"
        widget.grab().save(str(path))
        written.append(path)

    # a new database: the empty state
    empty_engine = make_engine(str(tmp / "empty.db"))
    w = MainWindow(empty_engine, db=str(tmp / "empty.db"), user="desk.operator", settings=settings, workers=1)
    w.resize(*SIZE)
    w.show()
    shot(w, "empty")
    w.close()
    settings.clear()

    print("generating and running a 2,000-account sample book…", file=sys.stderr)
    book = tmp / "book"
    generate_sample(book, accounts=2000, seed=7)
    db = str(tmp / "book.db")
    engine = make_engine(db)
    import_book(engine, book, user="desk.operator")
    run_workflow(engine, workers=1, user="desk.operator")
    as_of = views.status(engine)["snapshot"]["as_of"]
    ids = views.book_ids(engine)
    sus = views.suspended_accounts(engine)
    calm = [a for a in ids["accounts"] if a not in set(sus["account_id"])]
    add_hold(engine, calm[0], as_of + timedelta(days=7), "Client wires $1M next week", user="j.chen")
    add_hold(engine, calm[1], as_of, "Beneficiary change in progress", user="m.ortiz")
    add_halt(engine, ids["symbols"][3], None, "Trading halted pending news", "freeze", user="j.chen")
    add_halt(engine, ids["symbols"][7], as_of + timedelta(days=3), "Merger vote", "hold-accounts", user="m.ortiz")
    old = add_hold(engine, calm[2], as_of + timedelta(days=2), "Address change", user="m.ortiz")
    end_override(engine, old, user="j.chen")

    w = MainWindow(engine, db=db, user="desk.operator", settings=settings, workers=1)
    w.resize(*SIZE)
    w.show()
    w.show_panel("Today")
    shot(w, "today")

    w.show_panel("Suspended")
    urgent = sus[sus["urgent"]]
    account = str(urgent["account_id"].iat[0] if len(urgent) else sus["account_id"].iat[0])
    w.show_panel("Suspended", account)
    shot(w, "suspended")

    panel = w.panel("Suspended")
    panel.open_manual()
    dlg = panel.manual_dialog
    hold = dlg.holdings[dlg.holdings["price"].notna() & (dlg.holdings["custodian_qty"] > 0)]
    hold = hold.sort_values("value", ascending=False)
    need = dlg.check.cash_requested if dlg.check else 0.0
    first = True
    for r in hold.itertuples(index=False):  # sell the largest holdings until the request is covered
        qty = int(min(r.custodian_qty, math.ceil(need / r.price))) if need > 0 else int(r.custodian_qty // 4)
        if first:
            dlg.lines[0].set("SELL", str(r.symbol), max(qty, 1))
            first = False
        else:
            dlg.add_line("SELL", str(r.symbol), max(qty, 1))
        need -= qty * r.price
        if need <= 0:
            break
    dlg.recheck()
    shot(dlg, "manual_trade")
    dlg.reject()

    w.show_panel("Overrides")
    shot(w, "overrides")
    w.show_panel("Policy")
    shot(w, "policy")

    # a run in progress: progress bar and Cancel in the status bar
    w.show_panel("Today")
    task = w.run_workflow()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and task is not None and w.progress.value() < 300:
        _settle(app, 50)
    shot(w, "running")
    w.cancel_task()
    w.ctx.tasks.wait(120_000)
    _settle(app, 100)
    w.close()
    for p in written:
        print(p)
    return 0


if __name__ == "__main__":
    sys.exit(main())
