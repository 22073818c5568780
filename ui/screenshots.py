# Long because one module makes every README screenshot (one maker, as issue #14 asked); each group is its own function with a shared set-up.
"""PNG screenshots of the console for the README: ``python -m ui.screenshots OUTDIR`` (under xvfb-run).

One 2,000-account sample book (seed 7) is generated into a temporary folder; each group of
shots imports it into its own database, sets the scene and opens the console:

* ``console``: empty.png (a new database), then the book run with a few overrides:
  today.png, suspended.png, manual_trade.png, overrides.png, policy.png and running.png (a run
  in progress, then cancelled);
* ``review``: a policy where the Core tier reviews every account, a run, approvals, a
  rejection, an edited trade and one exported batch: proposals.png, charts.png, batches.png,
  audit.png and export_result.png;
* ``lab``: lab.png after a short policy-lab simulation (a 300-account sample × 20 business
  days: the current policy, λ 0.3 and 3, the band and calendar baselines); in a full set it is
  taken in the ``review`` console, after the review;
* ``safety``: the same policy, most proposals approved, then a widely traded security halted
  and an approved account held: override_impact.png (what the halt stops), export_blocked.png
  (the trades the export keeps back and why) and reject_dialog.png (a rejection's reason);
* ``households``: its own sample (same size and seed, 40 % of the accounts in households), run:
  households.png (the Households panel on its largest household) and name_search.png (Proposals
  found by a client's last name, with the Name column).
* ``desk``: the same policy, a morning's decisions and one batch with its sign-off: blotter.png
  (one symbol's sells and who sells it), trade_detail.png (a proposal's sells and the lots they
  relieve), history.png (an account's story), export_settings.png (the drop folder and formats
  of the book and of one custodian) and signoff.png (page 1 of the batch's sign-off PDF,
  rendered with pypdfium2).
* ``budgets``: the book with gains budgets on 30 % of the taxable accounts and some cash-flow
  accounts, run, then the next day's book with its largest model reweighted, run with model
  changes traded now: model_changes.png (Today's list) and budgets.png (Proposals: a proposal's
  budget used and left, its mode and where its model change stands).

``--only GROUP[,GROUP…]`` takes some of them (``--lab`` = ``--only lab``); ``--accounts N``
a smaller book (tests)::

    xvfb-run -a -s "-screen 0 1600x1000x24" python -m ui.screenshots docs/screenshots
    xvfb-run -a -s "-screen 0 1600x1000x24" python -m ui.screenshots --lab /tmp/shots
"""
from __future__ import annotations

import argparse
import math
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

SIZE = (1560, 940)
GROUPS = ("console", "review", "lab", "safety", "households", "desk", "budgets")
USER = "desk.operator"


def _settle(app, ms: int = 250) -> None:
    end = time.monotonic() + ms / 1000
    while time.monotonic() < end:
        app.processEvents()
        time.sleep(0.01)


class Shots:
    """The QApplication, the output folder, a temporary folder with the sample book, and the
    PNGs written so far."""

    def __init__(self, out: Path, accounts: int):
        from PySide6.QtWidgets import QApplication

        self.app = QApplication.instance() or QApplication([sys.argv[0]])
        self.app.setOrganizationName("RebalanceDesk")
        self.app.setApplicationName("Rebalance Desk")
        self.out = out
        self.accounts = accounts
        self.tmp = Path(tempfile.mkdtemp(prefix="rebalance-shots-"))
        self.written: list[Path] = []
        self._book: Path | None = None
        self.windows: list = []  # the consoles opened, whose background reads a shot waits for

    def __call__(self, widget, name: str, ms: int = 300) -> None:
        self.wait_reads()
        _settle(self.app, ms)
        path = self.out / f"{name}.png"
        widget.grab().save(str(path))
        self.written.append(path)

    def wait_reads(self, limit: float = 300.0) -> None:
        """Until the consoles' panels have their background reads in (a shot never shows "Loading…")."""
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline and any(
                getattr(p, "loading", False) for w in self.windows for p in w.panels.values()):
            self.app.processEvents()
            time.sleep(0.01)

    def settings(self, name: str):
        """Throw-away QSettings of one group's console (window state does not leak between groups)."""
        from PySide6.QtCore import QSettings

        return QSettings(str(self.tmp / f"{name}.ini"), QSettings.Format.IniFormat)

    def engine(self, name: str):
        """A new database ``name`` with the sample book imported: (engine, db path)."""
        from engine.book.importer import import_book
        from storage.db import make_engine

        db = str(self.tmp / f"{name}.db")
        engine = make_engine(db)
        import_book(engine, self.book(), user=USER, as_of_ok=True)  # a generated book: its date is the generator's
        return engine, db

    def book(self) -> Path:
        """The sample book's folder (generated at the first call)."""
        from engine.book.sample import generate_sample

        if self._book is None:
            print(f"generating a {self.accounts:,}-account sample book…", file=sys.stderr)
            self._book = self.tmp / "book"
            generate_sample(self._book, accounts=self.accounts, seed=7)
        return self._book

    def window(self, engine, db: str, settings):
        from ui.main_window import MainWindow

        w = MainWindow(engine, db=db, user=USER, settings=settings, workers=1)
        w.resize(*SIZE)
        w.show()
        self.windows.append(w)
        return w


def review_policy():
    """The default policy with the Core tier reviewing every account (something to review)."""
    from engine.core.policy import default_policy, policy_from_dict

    data = default_policy().model_dump()
    data["tiers"] = [{**t, "review": "all" if t["name"] == "Core" else t["review"]} for t in data["tiers"]]
    return policy_from_dict(data)


def shoot_console(shots: Shots) -> None:
    """empty, today, suspended, manual_trade, overrides, policy, running."""
    from engine.desk import views
    from engine.decide.overrides import add_halt, add_hold, end_override
    from engine.decide.workflow import run_workflow
    from storage.db import make_engine

    app = shots.app
    empty = str(shots.tmp / "empty.db")
    w = shots.window(make_engine(empty), empty, shots.settings("empty"))
    shots(w, "empty", 250)
    w.close()

    engine, db = shots.engine("console")
    print("running the book…", file=sys.stderr)
    run_workflow(engine, workers=1, user=USER)
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

    w = shots.window(engine, db, shots.settings("console"))
    w.show_panel("Today")
    shots(w, "today", 250)

    w.show_panel("Suspended")
    urgent = sus[sus["urgent"]]
    account = str(urgent["account_id"].iat[0] if len(urgent) else sus["account_id"].iat[0])
    w.show_panel("Suspended", account)
    shots(w, "suspended", 250)

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
    shots(dlg, "manual_trade", 250)
    dlg.reject()

    w.show_panel("Overrides")
    shots(w, "overrides", 250)
    w.show_panel("Policy")
    shots(w, "policy", 250)

    # a run in progress: progress bar and Cancel in the status bar
    w.show_panel("Today")
    task = w.run_workflow()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and task is not None and w.progress.value() < 300:
        _settle(app, 50)
    shots(w, "running", 250)
    w.cancel_task()
    w.ctx.tasks.wait(120_000)
    _settle(app, 100)
    w.close()


def shoot_lab(shots: Shots, w, *, accounts: int = 300, days: int = 20) -> None:
    """The Lab after a short simulation of a sample of the book (lab.png)."""
    w.show_panel("Lab")
    lab = w.panel("Lab")
    accounts = min(accounts, shots.accounts)
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
        _settle(shots.app, 200)
    lab.table.select_row(0)
    shots(w, "lab", 600)


def _reviewed_core(shots: Shots, name: str):
    """A new database ``name``: the sample book, a policy reviewing every account, run. Returns
    (engine, db, proposals, the Core accounts waiting for review, highest score first)."""
    from engine.core.policy_store import save_policy
    from engine.decide.workflow import proposals_frame, run_workflow

    engine, db = shots.engine(name)
    save_policy(engine, review_policy(), user="m.ortiz", note="Core: review every account this week")
    run_workflow(engine, workers=1, user=USER)
    with engine.connect() as conn:
        props = proposals_frame(conn)
    core = props[(props["tier"] == "Core") & (props["status"] == "PROPOSED")].sort_values("score_bps",
                                                                                        ascending=False)
    return engine, db, props, core["account_id"].tolist()


def shoot_review(shots: Shots, *, lab: bool) -> None:
    """proposals, charts, batches, audit, export_result (and lab when ``lab``)."""
    from engine.desk.exporter import export_batch
    from engine.desk.review import approve, edit_trade, proposal_trades, reject
    from ui.batches_panel import show_batch_result

    engine, db, props, ids = _reviewed_core(shots, "review")
    # a morning's review: approve some Core accounts, reject one, edit a trade of another
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
    result = export_batch(engine, shots.tmp / "exports", ("csv", "fix"), user=USER)

    w = shots.window(engine, db, shots.settings("review"))
    # Proposals: the Core tier, a flagged account awaiting review
    waiting = props[(props["tier"] == "Core") & props["account_id"].isin(ids[7:]) & (props["account_id"] != edited)]
    flagged = waiting[waiting["flags"].fillna("") != ""]
    account = str((flagged if len(flagged) else waiting)["account_id"].iat[0])
    w.show_panel("Proposals", account)
    shots(w, "proposals")

    # Charts: the Core tier with the preview line dragged above the floor
    w.show_panel("Charts")
    charts = w.panel("Charts").charts
    charts.set_tier("Core")
    charts.set_threshold(charts.threshold() + 20)
    shots(w, "charts", 500)

    w.show_panel("Batches")
    w.panel("Batches").verify()
    shots(w, "batches")

    w.show_panel("Audit")
    shots(w, "audit")

    dlg = show_batch_result(w, result)
    shots(dlg, "export_result")
    dlg.close()

    if lab:
        shoot_lab(shots, w)
    w.close()


def shoot_lab_alone(shots: Shots) -> None:
    """lab.png on the imported book, without the review before it."""
    engine, db = shots.engine("lab")
    w = shots.window(engine, db, shots.settings("lab"))
    shoot_lab(shots, w)
    w.close()


def shoot_safety(shots: Shots) -> None:
    """override_impact, export_blocked, reject_dialog."""
    from sqlalchemy import func, select

    from engine.desk.exporter import export_preview
    from engine.decide.overrides import add_hold
    from engine.desk.review import approve
    from storage import models as m
    from storage.bulk import read_frame
    from ui import dialogs

    app = shots.app
    engine, db, props, ids = _reviewed_core(shots, "safety")
    with engine.connect() as conn:
        T = m.Trade.__table__
        # the security bought or sold by the fewest approved accounts, but at least three
        counts = read_frame(conn, select(T.c.symbol, func.count(func.distinct(T.c.account_id)).label("n"))
                            .where(T.c.batch_id.is_(None)).group_by(T.c.symbol))
    approve(engine, ids[:-3], user="j.chen")
    waiting = ids[-3:]
    few = counts[counts["n"] >= 3].sort_values("n")
    symbol = str(few["symbol"].iat[0]) if len(few) else str(counts["symbol"].iat[0])
    held = str(ids[0]) if ids else str(props["account_id"].iat[0])
    add_hold(engine, held, None, "client wire pending", user="m.ortiz")

    w = shots.window(engine, db, shots.settings("safety"))
    real_confirm = dialogs.confirm

    def grab_confirm(name):
        def confirm(parent, title, text, informative="", ok="OK"):
            buttons = dialogs.QMessageBox.StandardButton
            box = dialogs._box(parent, dialogs.QMessageBox.Icon.Question, title, text, informative,
                               buttons=buttons.Ok | buttons.Cancel)
            box.button(buttons.Ok).setText(ok)
            box.show()
            shots(box, name)
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
        shots.wait_reads()  # the run is read in a worker process; the account is selected once it is in
        _settle(app)
        p.reject_selected()
        dlg = p.reason_dialog
        dlg.code.setCurrentIndex(dlg.code.findData("TAX_IMPACT"))
        dlg.reason.setText("realizes $4k of short-term gains; wait for the lots to go long-term in January")
        shots(dlg, "reject_dialog")
        dlg.close()
    w.close()


def family_name(names: list[str]) -> str | None:
    """The family name the sample gives a household's members ("Dorothy Butler", "Butler Family Trust")."""
    for n in names:
        toks = str(n).split()
        if "Family" in toks[1:]:
            return toks[toks.index("Family") - 1]
        if len(toks) == 2:
            return toks[1]
    return None


def shoot_households(shots: Shots) -> None:
    """households.png and name_search.png on a sample with 40 % of the accounts in households."""
    from engine.desk.household_views import households
    from engine.book.importer import import_book
    from engine.book.sample import generate_sample
    from engine.decide.workflow import run_workflow
    from storage.db import make_engine

    book = shots.tmp / "households_book"
    generate_sample(book, accounts=shots.accounts, seed=7, households=0.4)
    db = str(shots.tmp / "households.db")
    engine = make_engine(db)
    import_book(engine, book, user=USER, as_of_ok=True)
    print("running the household book…", file=sys.stderr)
    run_workflow(engine, workers=1, user=USER)
    data = households(engine)
    top = data["households"].sort_values(["pending_trades", "value"], ascending=False)
    hid = str(top["household_id"].iat[0])
    w = shots.window(engine, db, shots.settings("households"))
    w.show_panel("Households", hid)
    shots(w, "households", 300)
    members = data["members"]
    mem = members[members["household_id"] == hid]
    trading = mem[mem["category"].isin(["MANDATE", "SCORE"])]
    account = str((trading if len(trading) else mem)["account_id"].iat[0])
    w.show_panel("Proposals", account)
    panel = w.panel("Proposals")
    tier = panel.current_tier()
    panel.filter.setText(family_name(mem["name"].tolist()) or hid)
    panel.apply_filter()
    panel.set_tier(tier)
    shots(w, "name_search", 300)
    w.close()


def shoot_desk(shots: Shots) -> None:
    """blotter, trade_detail, history, export_settings, signoff."""
    from engine.desk.desk_views import order_blotter, trade_lot_detail
    from engine.desk.exporter import export_batch
    from engine.core.notes import add_note
    from engine.decide.overrides import add_hold
    from engine.desk.review import approve, reject

    engine, db, props, ids = _reviewed_core(shots, "desk")
    approve(engine, ids[:8], user="j.chen")
    reject(engine, ids[8:9], user="j.chen", reason="client asked to wait", code="CLIENT_INSTRUCTION")
    if len(ids) > 9:
        add_hold(engine, ids[9], None, "client wires $1M next week", user="m.ortiz")
    result = export_batch(engine, shots.tmp / "desk_exports", ("csv", "fix", "signoff"), user=USER)
    approve(engine, ids[10:20], user="m.ortiz")
    story = str(ids[0]) if ids else str(props["account_id"].iat[0])
    add_note(engine, story, "advisor confirmed the model change by phone", code="ADVISOR_INSTRUCTION", user="j.chen")
    w = shots.window(engine, db, shots.settings("desk"))
    lines = order_blotter(engine)
    sells = lines[lines["side"] == "SELL"]
    symbol = str(sells.groupby("symbol")["account_id"].nunique().idxmax()) if len(sells) else ""
    w.show_panel("Blotter")
    blotter = w.panel("Blotter")
    deadline = time.monotonic() + 60  # the blotter reads off the GUI thread: its lines first, then the filters
    while (blotter.loading or not len(blotter.frame)) and time.monotonic() < deadline:
        _settle(shots.app, 200)
    blotter.set_filters(symbol=symbol, side="SELL" if symbol else None)
    shots(w, "blotter")
    # the proposal of an account waiting for review whose sells (a few lots) move the most tax
    waiting = [a for a in ids[20:80]]
    best, most = None, 0.0
    for a in waiting:
        d = trade_lot_detail(engine, a)
        tax = float(d["est_tax"].abs().sum()) if 2 <= len(d) <= 6 else 0.0
        if tax > most:
            best, most = a, tax
    w.show_panel("Proposals", best or (waiting[0] if waiting else story))
    p = w.panel("Proposals")
    p.split.setSizes([260, 560])  # the detail taller and its trades pane wider, as a desk drags them
    p.detail_split.setSizes([760, 380, 300])
    shots(w, "trade_detail", 600)
    w.show_panel("History", story)
    shots(w, "history")
    # File → Export settings…: the book's drop folder and formats, one custodian with its own
    w.export_settings()
    dlg = w.export_settings_dialog
    dlg.folder.setText("/srv/desk/drop")
    first = next(iter(dlg.custodian_rows.values()), None)
    if first is not None:
        first.own.setChecked(True)
        first.folder.setText(f"/srv/desk/drop/{first.custodian.lower()}")
        for f, cb in first.checks.items():
            cb.setChecked(f in ("fix", "lots", "signoff"))
    shots(dlg, "export_settings")
    dlg.reject()
    if result is not None:
        import pypdfium2
        pdf = pypdfium2.PdfDocument(str(shots.tmp / "desk_exports" / f"signoff_{result.batch_id}.pdf"))
        path = shots.out / "signoff.png"
        pdf[0].render(scale=1.6).to_pil().save(str(path))
        pdf.close()
        shots.written.append(path)
    w.close()


def shoot_budgets(shots: Shots) -> None:
    """model_changes, budgets (issue 23)."""
    import shutil

    from engine.book.budget_sample import add_budgets, next_day_with_model_change
    from engine.book.importer import import_book
    from engine.core.policy import default_policy
    from engine.core.policy_store import save_policy
    from engine.decide.workflow import proposals_frame, run_workflow
    from storage.db import make_engine

    day0, day1 = shots.tmp / "budget-book-0", shots.tmp / "budget-book-1"
    shutil.copytree(shots.book(), day0)
    add_budgets(day0)
    next_day_with_model_change(day0, day1)
    db = str(shots.tmp / "budgets.db")
    engine = make_engine(db)
    import_book(engine, day0, user=USER, as_of_ok=True)
    pol = default_policy()
    pol = pol.model_copy(update={"mandates": pol.mandates.model_copy(
        update={"trade_now": pol.mandates.trade_now + ("model_change",)})})
    save_policy(engine, pol, user="m.ortiz", note="model changes trade now, phased under budgets")
    run_workflow(engine, workers=1, user=USER)
    import_book(engine, day1, user=USER, as_of_ok=True)
    print("running the book with budgets and a model change…", file=sys.stderr)
    run_workflow(engine, workers=1, user=USER)
    with engine.connect() as conn:
        props = proposals_frame(conn)
    w = shots.window(engine, db, shots.settings("budgets"))
    w.show_panel("Today")
    shots(w, "model_changes")
    has = props[props["category"].isin(["MANDATE", "SCORE"]) & props["detail"].fillna("").str.contains('"budget"')
                & props["detail"].fillna("").str.contains("model_change")]
    if not len(has):
        has = props[props["detail"].fillna("").str.contains('"budget"')]
    pick = has.sort_values("value", ascending=False)
    account = str(pick["account_id"].iat[0])
    w.show_panel("Proposals", account)
    shots(w, "budgets")
    w.close()


def _groups(text: str) -> list[str]:
    chosen = [g.strip() for g in text.split(",") if g.strip()]
    unknown = [g for g in chosen if g not in GROUPS]
    if unknown or not chosen:
        raise argparse.ArgumentTypeError(f"unknown group {', '.join(unknown) or text!r}: choose from "
                                         + ", ".join(GROUPS))
    return chosen


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m ui.screenshots", description="PNG screenshots of the console.")
    ap.add_argument("outdir", type=Path)
    ap.add_argument("--only", type=_groups, default=list(GROUPS), metavar="GROUP[,GROUP…]",
                    help="some of: " + ", ".join(GROUPS))
    ap.add_argument("--lab", action="store_const", const=["lab"], dest="only", help="lab.png only")
    ap.add_argument("--accounts", type=int, default=2000, help="sample book size (default 2,000)")
    try:
        args = ap.parse_args(sys.argv[1:] if argv is None else list(argv))
    except SystemExit as exc:
        return int(exc.code or 0)
    args.outdir.mkdir(parents=True, exist_ok=True)
    shots = Shots(args.outdir, args.accounts)
    groups = set(args.only)
    if "console" in groups:
        shoot_console(shots)
    if "review" in groups:
        shoot_review(shots, lab="lab" in groups)
    elif "lab" in groups:
        shoot_lab_alone(shots)
    if "safety" in groups:
        shoot_safety(shots)
    if "households" in groups:
        shoot_households(shots)
    if "desk" in groups:
        shoot_desk(shots)
    if "budgets" in groups:
        shoot_budgets(shots)
    for p in shots.written:
        print(p)
    return 0


if __name__ == "__main__":
    sys.exit(main())
