# Kept whole, long because the desk tools share one book, window and fixtures (blotter, history, lot detail, sign-off, tables, notes, settings); split by tool when it grows.
"""The desk's daily tools through real widgets (pytest-qt, offscreen), on both databases: the
order blotter (filters and totals against the database, bulk hold / withdraw / reject with a
reason), the account history (one of each event, reached with H from a table)."""
import os

import pytest
from qt_fixtures import shown as show_loaded
from qt_fixtures import boxes, close_window, folders, make_window, reviewed, settings, statuses, window, wait_loaded  # noqa: F401
from PySide6.QtCore import Qt
from sqlalchemy import func, select

from bookkit import eager_policy, write_book
from ui.blotter_panel import read_blotter
from engine.book.importer import import_book
from engine.core.policy import policy_from_dict
from engine.core.policy_store import save_policy
from engine.decide.workflow import proposals_frame, run_workflow
from storage import models as m


def db_lines(engine, **where):
    """The latest run's not-removed trades, straight from the database."""
    T, P = m.Trade.__table__, m.Proposal.__table__
    stmt = select(T.c.account_id, T.c.symbol, T.c.side, T.c.quantity, T.c.est_value).join(
        P, P.c.id == T.c.proposal_id).where(T.c.status.in_(("PROPOSED", "APPROVED")))
    for k, v in where.items():
        stmt = stmt.where(T.c[k] == v)
    with engine.connect() as conn:
        return conn.execute(stmt).all()


def loaded(qtbot, panel):
    """Wait for the panel's background read (Blotter, History) to be applied."""
    qtbot.waitUntil(lambda: not panel.loading, timeout=20_000)


def select_rows(table, rows):
    table.clearSelection()
    sm = table.selectionModel()
    from PySide6.QtCore import QItemSelectionModel
    for r in rows:
        sm.select(table.model().index(r, 0), QItemSelectionModel.SelectionFlag.Select
                  | QItemSelectionModel.SelectionFlag.Rows)


def test_blotter_filters_totals_and_bulk_actions(qtbot, engine, reviewed, window):
    w = window
    show_loaded(qtbot, w, "Blotter")
    b = w.panel("Blotter")
    b.refresh()
    wait_loaded(qtbot, b)
    loaded(qtbot, b)
    every = db_lines(engine)
    assert b.model.rowCount() == len(every) > 0

    # "how much BBB are we selling today, and for whom?": one filter
    b.set_filters(symbol="bbb", side="SELL")
    sells = db_lines(engine, symbol="BBB", side="SELL")
    shown = b.visible_frame()
    assert sorted(shown["account_id"]) == sorted(r.account_id for r in sells)
    tot = b.totals_frame()
    assert list(tot["symbol"]) == ["BBB"]
    assert tot["sell_shares"].iloc[0] == sum(r.quantity for r in sells)
    assert tot["sell_value"].iloc[0] == pytest.approx(sum(r.est_value for r in sells))
    assert tot["accounts"].iloc[0] == len({r.account_id for r in sells})
    assert tot["buy_value"].iloc[0] == 0
    assert f"{len(sells)} of {len(every)} lines" in b.count.text()

    # custodian filter: only SCHWAB accounts (A1, A3) remain
    b.set_filters(symbol="", side=None, custodian="SCHWAB")
    assert set(b.visible_frame()["account_id"]) == {"A1", "A3"}
    b.set_filters(custodian=None)
    assert b.model.rowCount() == len(every)

    # bulk reject of A2's lines needs a reason; the dialog says it covers the whole proposal
    b.set_filters(symbol="", custodian="FIDELITY")
    select_rows(b.table, range(b.model.rowCount()))
    assert b.reject_button.isEnabled()
    dlg = b.ask_reject()
    assert not dlg.ok_button.isEnabled()  # no reason, no rejection
    assert "whole proposal" in dlg.info.text()
    dlg.reason.setText("client call pending")
    qtbot.mouseClick(dlg.ok_button, Qt.MouseButton.LeftButton)
    assert statuses(engine)["A2"] == "REJECTED"
    assert "Rejected 1 account" in b.msg.text()
    loaded(qtbot, b)
    assert not (b.frame["account_id"] == "A2").any()  # rejected lines leave the blotter

    # approve A1 and A3, withdraw A1 from the blotter, hold A3
    from engine.desk.review import approve
    approve(engine, ["A1", "A3"], user="rev")
    b.refresh()
    wait_loaded(qtbot, b)
    loaded(qtbot, b)
    b.set_filters(custodian="SCHWAB", status="APPROVED")
    assert set(b.visible_frame()["account_id"]) == {"A1", "A3"}
    rows = [r for r in range(b.model.rowCount()) if b.model.value(r, "account_id") == "A1"]
    select_rows(b.table, rows)
    dlg = b.ask_withdraw()
    dlg.reason.setText("price moved")
    qtbot.mouseClick(dlg.ok_button, Qt.MouseButton.LeftButton)
    assert statuses(engine)["A1"] == "PROPOSED"
    loaded(qtbot, b)
    b.set_filters(status=None)
    rows = [r for r in range(b.model.rowCount()) if b.model.value(r, "account_id") == "A3"]
    select_rows(b.table, rows)
    dlg = b.ask_hold()
    dlg.reason.setText("client wires cash Monday")
    qtbot.mouseClick(dlg.ok_button, Qt.MouseButton.LeftButton)
    loaded(qtbot, b)
    ov = m.Override.__table__
    with engine.connect() as conn:
        holds = conn.execute(select(ov.c.account_id, ov.c.reason, ov.c.created_by).where(ov.c.kind == "HOLD")).all()
        audited = conn.execute(select(func.count()).select_from(m.AuditEntry.__table__).where(
            m.AuditEntry.action == "HOLD_ADD", m.AuditEntry.account_id == "A3")).scalar_one()
    assert [tuple(h) for h in holds] == [("A3", "client wires cash Monday", "alice")] and audited == 1
    # the compliance check per line: A3's approved lines are now kept back by the hold
    kept = b.frame[b.frame["account_id"] == "A3"]["blocked"]
    assert kept.notna().all() and kept.str.contains("HELD: client wires cash Monday").all()
    assert b.frame[b.frame["account_id"] == "A1"]["blocked"].isna().all()


def test_blotter_sort_mask_and_totals_made_in_the_read(qtbot, engine, reviewed, window):
    """The blotter's read makes the filter's mask, the totals per symbol, the counts line and the
    sorted order for the filters and sort the panel had (a 100,000-account book's half a million
    lines are never sorted or counted on the GUI thread); each against the database."""
    w = window
    show_loaded(qtbot, w, "Blotter")
    b = w.panel("Blotter")
    loaded(qtbot, b)
    b.table.sortByColumn([c.key for c in b.model.columns].index("quantity"), Qt.SortOrder.DescendingOrder)
    b.set_filters(side="SELL")
    sells = db_lines(engine, side="SELL")
    assert b.model.sort_spec() == ("quantity", True) and len(sells) > 1

    d = read_blotter(engine, b.filters(), b.model.sort_spec())
    mask, totals, text = d["view"][1]
    assert int(mask.sum()) == len(sells) and f"{len(sells)} of {len(db_lines(engine))} lines" in text
    want = {}
    for r in sells:
        shares, value, accounts = want.get(r.symbol, (0, 0.0, set()))
        want[r.symbol] = (shares + r.quantity, value + r.est_value, accounts | {r.account_id})
    assert list(totals["symbol"]) == sorted(want)
    for _, t in totals.iterrows():
        shares, value, accounts = want[t["symbol"]]
        assert (t["sell_shares"], t["accounts"], t["buy_shares"]) == (shares, len(accounts), 0)
        assert t["sell_value"] == pytest.approx(value)
    key, descending, order = d["order"]
    assert (key, descending) == ("quantity", True)
    every = sorted((r.quantity for r in db_lines(engine)), reverse=True)
    assert list(d["frame"]["quantity"].to_numpy()[order]) == every

    # the panel applies what the read made: the sells by shares, largest first, and the same totals
    b.refresh()
    loaded(qtbot, b)
    assert [b.model.value(r, "quantity") for r in range(b.model.rowCount())] == \
        sorted((r.quantity for r in sells), reverse=True)
    assert b.totals_frame()[["symbol", "sell_shares", "accounts"]].equals(totals[["symbol", "sell_shares", "accounts"]])
    assert b.count.text() == text
    assert sorted(b.visible_frame()["account_id"]) == sorted(r.account_id for r in sells)


RECON_BREAK = ["account_id,symbol,quantity", "A1,AAA,600", "A1,BBB,1500", "A2,BBB,3500", "A3,AAA,300",
               "A3,TOB,100", "A3,BBB,800"]


@pytest.fixture
def story(engine, tmp_path):
    """A2: suspended by a reconciliation break (run 1), a manual trade, a note, a hold added and
    ended, exported; the break fixed by the next book (resolved), run 2 proposes, an edit, an
    approval with a note, withdrawn, approved again and exported; its cash request."""
    from bookkit import BASE
    from engine.desk.exporter import export_batch
    from engine.desk.manual import ManualTrade, enter_manual_trades
    from engine.core.notes import add_note
    from engine.decide.overrides import add_hold, end_override
    from engine.desk.review import approve, edit_trade, proposal_trades
    from engine.desk.undo import withdraw

    data = eager_policy().model_dump()
    data["tiers"] = [{**t, "review": "all"} for t in data["tiers"]]
    import_book(engine, write_book(tmp_path / "b1", changes={"custodian_positions.csv": RECON_BREAK}), user="ops1")
    save_policy(engine, policy_from_dict(data), user="admin")
    run_workflow(engine, workers=1, user="sched")
    enter_manual_trades(engine, "A2", [ManualTrade("BBB", "SELL", 100)], user="ops1")
    add_note(engine, "A2", "custodian confirms 3,500 BBB; lots file late", code="DATA", user="ops1")
    oid = add_hold(engine, "A2", None, "client on holiday", user="ops1")
    end_override(engine, oid, user="ops1")
    export_batch(engine, tmp_path / "out1", user="ops1")
    later = {k: [ln.replace("2026-11-20", "2026-11-23") for ln in BASE[k]] for k in ("securities.csv", "feeds.csv")}
    import_book(engine, write_book(tmp_path / "b2", as_of="2026-11-23", changes=later), user="ops1")
    run_workflow(engine, workers=1, user="sched")
    t = proposal_trades(engine, "A2").iloc[0]
    edit_trade(engine, int(t["id"]), quantity=int(t["quantity"]) - 1, user="ed")
    approve(engine, ["A2"], user="rev", note="advisor agreed by phone", note_code="ADVISOR_INSTRUCTION")
    withdraw(engine, ["A2"], reason="recheck the bond price", user="rev")
    approve(engine, ["A2"], user="rev")
    export_batch(engine, tmp_path / "out2", user="ops1")


def test_history_has_every_event_and_opens_with_h(qtbot, engine, story, window, tmp_path):
    """Every event of A2's story is in its history, newest first, reached with H from Proposals."""
    w = window
    show_loaded(qtbot, w, "Proposals")
    p = w.panel("Proposals")
    p.focus("A2")
    qtbot.waitUntil(lambda: p.current == "A2", timeout=2000)
    p.table.setFocus()
    qtbot.keyClick(p.table, Qt.Key.Key_H)
    assert w.current_panel_name() == "History"
    h = w.panel("History")
    assert h.account == "A2"
    loaded(qtbot, h)
    ev = h.events()
    kinds = set(ev["kind"])
    for k in ("RUN", "SUSPENDED", "RESOLVED", "MANUAL_TRADE", "NOTE", "HOLD_ADD", "HOLD_END", "EDIT", "APPROVE",
              "WITHDRAW", "EXPORTED", "CASH_REQUEST"):
        assert k in kinds, (k, sorted(kinds))
    assert list(ev["at"]) == sorted(ev["at"], reverse=True)  # newest first
    runs = ev[ev["kind"] == "RUN"]["summary"].tolist()
    assert len(runs) == 2 and "SUSPENDED" in runs[1] and "threshold" in runs[0]
    assert ev[ev["kind"] == "WITHDRAW"]["summary"].str.contains("recheck the bond price").all()
    assert ev[ev["kind"] == "APPROVE"]["summary"].str.contains("ADVISOR_INSTRUCTION — advisor agreed by phone").any()
    assert ev[ev["kind"] == "NOTE"]["summary"].iloc[0].endswith("DATA — custodian confirms 3,500 BBB; lots file late")
    assert len(ev[ev["kind"] == "EXPORTED"]) >= 2  # the manual trade (batch 1) and run 2's trades (batch 2)
    cash = ev[ev["kind"] == "CASH_REQUEST"]["summary"].iloc[0]
    assert "CR1" in cash and "$5,000.00" in cash
    # filter by kind and search
    h.kind.setCurrentIndex(h.kind.findData("EXPORTED"))
    assert set(h.events()["kind"]) == {"EXPORTED"}
    h.kind.setCurrentIndex(0)
    h.search.setText("holiday")
    assert set(h.events()["kind"]) == {"HOLD_ADD", "HOLD_END"}


def test_proposal_lot_detail_equals_the_batch_lots_file(qtbot, engine, reviewed, window, tmp_path):
    import csv

    from engine.desk.review import approve, proposal_trades
    w = window
    show_loaded(qtbot, w, "Proposals")
    p = w.panel("Proposals")
    p.focus("A1")
    qtbot.waitUntil(lambda: p.current == "A1", timeout=2000)
    wait_loaded(qtbot, p)  # the lots are read off the GUI thread
    shown = p.lot_detail.frame()
    sells = proposal_trades(engine, "A1").query("side == 'SELL'")
    assert len(shown) and set(shown["trade_id"]) == set(sells["id"])
    # the lots and shares are the trade's own lot relief, share for share
    relief = {(t.symbol, lot.split(":")[0]): int(lot.split(":")[1])
              for t in sells.itertuples() for lot in t.lots.split(";")}
    assert {(r.symbol, r.lot_id): int(r.quantity) for r in shown.itertuples()} == relief
    # A1's AAA lot L2 was bought at 120 on 2026-09-01: short-term, a loss at 100, tax saved at 37%
    l2 = shown[(shown["symbol"] == "AAA") & (shown["lot_id"] == "L2")].iloc[0]
    assert l2["term"] == "ST" and l2["acquired_date"] == "2026-09-01" and l2["unit_cost"] == 120.0
    assert l2["est_gain"] == pytest.approx((100.0 - 120.0) * l2["quantity"])
    assert l2["est_tax"] == pytest.approx(l2["est_gain"] * 0.37)
    assert l2["wash"] == "loss allowed"  # bought 80 days before the book's date: outside 30 days
    assert "tax saved" in p.lot_detail.summary.text()
    # per line: the asset class and the security's weight before and after (600 AAA at $100 held)
    with engine.connect() as conn:
        value = float(proposals_frame(conn).set_index("account_id").at["A1", "value"])
    aaa = p.trades_model.frame().query("symbol == 'AAA'").iloc[0]
    assert aaa["asset_class"] == "US Equity"
    assert aaa["weight_pre"] == pytest.approx(600 * 100.0 / value)
    assert aaa["weight_post"] == pytest.approx((600 - aaa["quantity"]) * 100.0 / value)
    # and the batch's lots file (the engine's lot relief at export) says the same
    approve(engine, ["A1"], user="rev")
    from engine.desk.exporter import export_batch
    res = export_batch(engine, tmp_path / "out", user="ops1")
    with open(tmp_path / "out" / f"lots_{res.batch_id}.csv", newline="") as fh:
        rows = [r for r in csv.DictReader(fh) if r["account_id"] == "A1"]
    assert {(r["symbol"], r["lot_id"]): (int(r["quantity"]), r["term"], float(r["est_gain"])) for r in rows} == {
        (r.symbol, r.lot_id): (int(r.quantity), r.term, float(r.est_gain)) for r in shown.itertuples()}


def test_wash_sale_status_names_the_recent_buy(engine, tmp_path):
    """A restricted holding sold at a loss a few days after the account bought more of it (a
    must-sell): the detail says the loss is disallowed and names the buy; other losses are allowed."""
    from bookkit import BASE
    from engine.desk.desk_views import trade_lot_detail

    lots = [ln.replace("A3,L2,TOB,100,30.00,2020-02-02", "A3,L2,TOB,100,50.00,2020-02-02")
            for ln in BASE["lots.csv"]]
    book = write_book(tmp_path / "book", changes={"lots.csv": lots},
                      append={"transactions.csv": ["A3,TOB,2026-11-10,BUY,5,41.00,"]})
    import_book(engine, book, user="ops1")
    save_policy(engine, eager_policy(), user="admin")  # A1 harvests its losses (the allowed ones)
    run_workflow(engine, workers=1, user="sched")
    d = trade_lot_detail(engine, "A3")
    tob = d[d["symbol"] == "TOB"].iloc[0]
    assert tob["est_gain"] == pytest.approx(-1000.0) and tob["wash"] == "wash: bought 2026-11-10"
    a1 = trade_lot_detail(engine, "A1")
    assert (a1.loc[a1["est_gain"] < 0, "wash"] == "loss allowed").all() and (a1["est_gain"] < 0).any()


def pdf_text(path) -> str:
    from pypdf import PdfReader

    return "\n".join(page.extract_text() for page in PdfReader(str(path)).pages)


def test_signoff_pdf_at_export_and_on_demand(qtbot, engine, reviewed, window, boxes, folders, tmp_path):
    import hashlib
    import json

    from engine.desk.exporter import export_batch
    from engine.decide.overrides import add_hold
    from engine.desk.review import approve, edit_trade, proposal_trades
    from engine.desk.signoff import batch_signoff_facts

    # an edited proposal approved by another user (four-eyes), a hold in force, approvals by two users
    sell = proposal_trades(engine, "A1").query("side == 'SELL'").iloc[0]
    edit_trade(engine, int(sell["id"]), quantity=int(sell["quantity"]) - 1, user="ed")
    approve(engine, ["A1"], user="rev")
    approve(engine, ["A2"], user="rev2")
    add_hold(engine, "A3", None, "client wires cash Monday", user="ops1")
    res = export_batch(engine, tmp_path / "out", ("csv", "fix", "signoff"), user="ops1")
    out = tmp_path / "out"
    manifest = json.loads((out / f"batch_{res.batch_id}.json").read_text())
    assert [f["format"] for f in manifest["files"]] == ["csv", "fix", "lots"]  # "files" as before
    pdf, page = out / f"signoff_{res.batch_id}.pdf", out / f"signoff_{res.batch_id}.html"
    assert {s["name"]: s["sha256"] for s in manifest["signoff"]} == {
        p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in (pdf, page)}
    text = pdf_text(pdf)
    facts = batch_signoff_facts(engine, res.batch_id)
    grand = facts["grand_total"]
    # the totals equal the batch's (the manifest's gross buy / sell and estimated realized gain)
    assert grand["buys"] == pytest.approx(manifest["gross_buy"])
    assert grand["sells"] == pytest.approx(manifest["gross_sell"])
    assert grand["est_gain"] == pytest.approx(manifest["est_realized_gain"])
    assert grand["trades"] == manifest["counts"]["trades"]
    for v in (grand["buys"], grand["sells"]):
        assert f"${v:,.2f}" in text
    assert {r["custodian"] for r in facts["totals"]} == {"SCHWAB", "FIDELITY"}
    assert "client wires cash Monday" in text                       # the override in force
    assert "rev2" in text and "rev" in text                          # who approved what
    fe = facts["four_eyes"]
    assert fe == [{"what": "proposal A1 (Small)", "entered_or_edited_by": "ed", "approved_by": "rev"}]
    for f in manifest["files"]:
        assert f["sha256"] in text                                   # the manifest's checksums
    assert "Approved by (trading desk)" in text                      # signature lines
    assert "client wires cash Monday" in page.read_text()           # the HTML says the same

    # on demand from Batches: a folder, the same totals, audited
    w = window
    show_loaded(qtbot, w, "Batches")
    b = w.panel("Batches")
    b.refresh()
    wait_loaded(qtbot, b)
    folders.append(str(tmp_path / "again"))
    written = b.write_signoff()
    assert [x["name"] for x in written] == [pdf.name, page.name]
    again = pdf_text(tmp_path / "again" / pdf.name)
    assert f"${grand['sells']:,.2f}" in again and boxes.seen[-1].title == "Sign-off"
    from engine.core.audit import audit_entries
    assert len(audit_entries(engine, action="SIGNOFF")) == 1


@pytest.mark.sqlite_only  # the console's own behaviour: one database is enough
def test_tables_copy_export_column_chooser_and_saved_views(qtbot, engine, reviewed, window, tmp_path,
                                                          monkeypatch):
    import openpyxl
    import pandas as pd
    from PySide6.QtGui import QGuiApplication
    from PySide6.QtWidgets import QFileDialog

    from ui import table_tools

    w = window
    show_loaded(qtbot, w, "Blotter")
    b = w.panel("Blotter")
    b.refresh()
    wait_loaded(qtbot, b)
    loaded(qtbot, b)
    t = b.table
    rows = [r for r in range(b.model.rowCount()) if b.model.value(r, "symbol") == "BBB"]
    select_rows(t, rows)
    t.setFocus()
    qtbot.keyClick(t, Qt.Key.Key_C, Qt.KeyboardModifier.ControlModifier)
    qtbot.keyRelease(t, Qt.Key.Key_Control)  # the offscreen platform would otherwise keep Ctrl held
    lines = QGuiApplication.clipboard().text().splitlines()
    assert lines[0].split("\t")[:4] == ["Symbol", "Side", "Shares", "Value"]
    assert len(lines) == 1 + len(rows)
    db = {(r.account_id, r.quantity) for r in db_lines(engine, symbol="BBB")}
    cells = [ln.split("\t") for ln in lines[1:]]
    assert {(c[5], int(c[2])) for c in cells} == db  # raw numbers, the database's

    # the column chooser: hide "Name"; copy and export follow what is shown
    name_col = [c.title for c in b.model.columns].index("Name")
    menu = table_tools.header_menu(t)
    action = [a for a in menu.actions() if a.text() == "Name"][0]
    action.setChecked(False)
    assert t.horizontalHeader().isSectionHidden(name_col)
    assert "Name" not in table_tools.copy_rows(t).splitlines()[0].split("\t")

    # export to CSV and XLSX (the file picker answered), read back
    b.set_filters(side="SELL")
    out = tmp_path / "sells.csv"
    monkeypatch.setattr(QFileDialog, "getSaveFileName", staticmethod(lambda *a, **k: (str(out), "")))
    assert table_tools.export_table(t, fmt="csv") == str(out)
    csv = pd.read_csv(out)
    assert "Name" not in csv.columns and set(csv["Side"]) == {"SELL"}
    assert len(csv) == len([r for r in db_lines(engine) if r.side == "SELL"])
    assert csv["Shares"].sum() == sum(r.quantity for r in db_lines(engine) if r.side == "SELL")
    xlsx = tmp_path / "sells.xlsx"
    table_tools.export_table(t, str(xlsx))
    sheet = list(openpyxl.load_workbook(xlsx).worksheets[0].values)
    assert list(sheet[0]) == list(csv.columns) and len(sheet) == len(csv) + 1

    # a saved view keeps the columns and the filters; applying it brings both back
    table_tools.save_view(t, "sells without names")
    action = [a for a in table_tools.header_menu(t).actions() if a.text() == "Name"][0]
    action.setChecked(True)
    b.set_filters(side=None, symbol="OIL")
    assert not t.horizontalHeader().isSectionHidden(name_col) and b.filters()["symbol"] == "OIL"
    assert table_tools.apply_view(t, "sells without names")
    assert t.horizontalHeader().isSectionHidden(name_col)
    assert b.filters()["side"] == "SELL" and b.filters()["symbol"] == ""
    assert set(b.visible_frame()["side"]) == {"SELL"}
    assert "sells without names" in table_tools.saved_views(t)  # kept in the console's settings
    table_tools.delete_view(t, "sells without names")
    assert table_tools.saved_views(t) == {}


@pytest.fixture
def notes_policy(engine, tmp_path):
    """A note is required to approve Small accounts (before the window opens)."""
    data = eager_policy().model_dump()
    data["tiers"] = [{**t, "review": "all"} for t in data["tiers"]]
    data["notes"] = {"required": [{"action": "approve", "tiers": ["Small"]}]}
    import_book(engine, write_book(tmp_path / "book"), user="ops1")
    save_policy(engine, policy_from_dict(data), user="admin")
    run_workflow(engine, workers=1, user="sched")


def test_a_required_note_is_refused_when_empty(qtbot, engine, notes_policy, window, tmp_path):
    """Policy: a note is required to approve Small accounts. Without one the engine refuses (and
    nothing changes); the Proposals panel asks for it (OK disabled while empty) and keeps it with
    its code; account notes from History are searchable."""
    from engine.core.notes import search_notes
    from engine.desk.review import approve
    from engine.core.tasks import RefusedError

    with pytest.raises(RefusedError, match="a note is required to approve accounts of tier Small"):
        approve(engine, ["A1"], user="rev", note="   ")
    assert statuses(engine)["A1"] == "PROPOSED"
    with pytest.raises(RefusedError, match="note code 'NOPE'"):
        approve(engine, ["A1"], user="rev", note="ok", note_code="nope")

    w = window
    show_loaded(qtbot, w, "Proposals")
    p = w.panel("Proposals")
    p.focus("A1")
    qtbot.waitUntil(lambda: p.current == "A1", timeout=2000)
    assert p.approve_selected(), p.action_msg.text()
    dlg = p.reason_dialog
    assert dlg.windowTitle() == "Approve" and "requires a note" in dlg.info.text()
    assert not dlg.ok_button.isEnabled()                     # empty: refused
    assert statuses(engine)["A1"] == "PROPOSED"
    dlg.code.setCurrentIndex(dlg.code.findData("CLIENT_REQUEST"))
    dlg.reason.setText("non-discretionary: client approved by email")
    qtbot.mouseClick(dlg.ok_button, Qt.MouseButton.LeftButton)
    assert statuses(engine)["A1"] == "APPROVED"
    n = search_notes(engine, "by email")
    assert list(n[["account_id", "kind", "code", "user"]].itertuples(index=False, name=None)) == [
        ("A1", "approval", "CLIENT_REQUEST", "alice")]

    # an account note from History: empty refused, then kept and found by search
    show_loaded(qtbot, w, "History", "A3")
    h = w.panel("History")
    loaded(qtbot, h)
    dlg = h.ask_note()
    assert not dlg.ok_button.isEnabled()
    assert not h.add_note("  ") and "a note needs text" in h.msg.text()
    dlg.reason.setText("prefers trades on Fridays")
    qtbot.mouseClick(dlg.ok_button, Qt.MouseButton.LeftButton)
    loaded(qtbot, h)
    notes = h.events().query("kind == 'NOTE'")
    assert list(notes["summary"]) == ["note on account: CLIENT_REQUEST — prefers trades on Fridays"]
    assert list(search_notes(engine, "fridays")["account_id"]) == ["A3"]
    assert list(search_notes(engine, "", account_id="A3")["text"]) == ["prefers trades on Fridays"]


def test_settings_driven_one_click_export(qtbot, engine, reviewed, window, boxes, folders, tmp_path):
    """File → Export settings…: a drop folder and formats for this database; Export approved then
    writes there without asking for a folder, in those formats (with the sign-off)."""
    from types import SimpleNamespace

    from engine.desk.review import approve
    from qt_fixtures import wait_idle
    from ui import export_settings as es

    approve(engine, ["A1", "A2", "A3"], user="rev")
    w = window
    w.export_settings()
    dlg = w.export_settings_dialog
    drop = tmp_path / "drop"
    dlg.folder.setText(str(drop))
    assert not dlg.save() and "does not exist" in dlg.error.text()      # a folder that is not there
    drop.mkdir()
    for f, cb in dlg.checks.items():
        cb.setChecked(f in ("signoff", "lots"))
    assert not dlg.save() and "at least one trades format" in dlg.error.text()
    dlg.checks["csv"].setChecked(True)
    assert dlg.save()
    assert es.export_formats(w.ctx) == ("csv", "signoff") and es.drop_folder(w.ctx) == str(drop)
    # another database has its own settings
    other = SimpleNamespace(db_label="/elsewhere/other.db", settings=w.ctx.settings)
    assert es.drop_folder(other) == "" and es.export_formats(other) == es.DEFAULT_FORMATS

    w.export_approved()
    wait_idle(qtbot, w)
    confirm = [b for b in boxes.seen if b.title == "Export approved"][-1]
    assert f"Into the drop folder {drop}" in confirm.info
    names = sorted(p.name for p in drop.iterdir() if p.is_file())
    batch = names[0].split("_", 1)[1].rsplit(".", 1)[0]
    assert names == sorted([f"batch_{batch}.json", f"lots_{batch}.csv", f"signoff_{batch}.html",
                            f"signoff_{batch}.pdf", f"trades_{batch}.csv"])  # no FIX: not chosen
    assert es.remembered_folder(w.ctx, "export") == str(drop)
    for p in drop.iterdir():  # written with the folder's usual mode, not a temp file's 0600
        assert p.stat().st_mode & 0o044 == (~os.umask(os.umask(0)) & 0o044)


def test_business_date_book_age_and_urgent_due_marks():
    import datetime as dt

    import pandas as pd

    from engine.desk.desk_views import book_age_warning, business_date, mark_due

    sat, mon = dt.date(2026, 11, 21), dt.date(2026, 11, 23)
    assert business_date(sat) == dt.date(2026, 11, 20) and business_date(mon) == mon
    assert book_age_warning("2026-11-20", sat) == ""                  # Friday's book on a Saturday
    warn = book_age_warning("2026-11-20", dt.date(2026, 11, 24))
    assert "2 business days before today's business date 2026-11-24" in warn
    urgent = pd.DataFrame({"account_id": ["A", "B", "C", "D"],
                           "due": [pd.Timestamp("2026-11-25"), pd.NaT, pd.Timestamp("2026-11-18"),
                                   pd.Timestamp("2026-11-20")]})
    out = mark_due(urgent, dt.date(2026, 11, 20))
    assert list(out["account_id"]) == ["C", "D", "A", "B"]               # soonest first, none last
    assert list(out["due_state"]) == ["overdue by 2 days", "due today", "in 5 days", ""]
    assert list(out["due_alert"]) == [True, True, False, False]


@pytest.mark.sqlite_only  # the console's own behaviour: one database is enough
def test_the_selected_tier_tab_is_restored(qtbot, engine, db_path, reviewed, settings, boxes):
    from qt_fixtures import make_window as new_window

    w = new_window(qtbot, engine, db_path, settings)
    show_loaded(qtbot, w, "Proposals")
    p = w.panel("Proposals")
    assert p.current_tier() == "Small"  # the first tier with accounts to review
    p.set_tier("Premier")
    close_window(w, boxes)
    w.close()
    w2 = new_window(qtbot, engine, db_path, settings)
    show_loaded(qtbot, w2, "Proposals")
    assert w2.panel("Proposals").current_tier() == "Premier"
    close_window(w2, boxes)


def test_orders_in_flight_are_counted_apart_from_holds(qtbot, engine, reviewed, window, tmp_path):
    from engine.desk.desk_views import orders_in_flight
    from engine.desk.exporter import export_batch
    from engine.decide.overrides import add_hold
    from engine.desk.review import approve

    approve(engine, ["A1", "A2"], user="rev")
    export_batch(engine, tmp_path / "out", user="ops1")
    add_hold(engine, "A3", None, "client on holiday", user="ops1")
    run_workflow(engine, workers=1, user="sched")  # the same book: A1 and A2 have orders in flight
    with engine.connect() as conn:
        p = proposals_frame(conn).set_index("account_id")
    assert set(p.index[p["category"] == "HELD"]) == {"A1", "A2", "A3"}
    assert orders_in_flight(engine) == 2
    w = window
    show_loaded(qtbot, w, "Today")
    today = w.panel("Today")
    today.refresh()
    wait_loaded(qtbot, today)
    assert today.cards["HELD"].value.text() == "3"
    assert today.cards["HELD"].note.text() == "2 with orders in flight"


@pytest.mark.sqlite_only  # the console's own behaviour: one database is enough
def test_dark_theme_and_font_scale_are_saved(qtbot, engine, db_path, settings, boxes):
    from qt_fixtures import make_window as new_window

    from ui import themes

    w = new_window(qtbot, engine, db_path, settings)
    base = w.font().pointSizeF()
    assert "#f6f7f9" in w.styleSheet() and not w.dark_action.isChecked()   # light by default
    w.dark_action.trigger()
    assert "#15191e" in w.styleSheet() and "#f6f7f9" not in w.styleSheet()
    assert "background: #1f2a37" in w.styleSheet()                          # the navigation stays dark
    larger = [a for a in w.menuBar().actions()[-1].menu().actions() if a.text() == "Larger text"][0]
    larger.trigger()
    assert w.font().pointSizeF() == pytest.approx(base * 1.1)
    assert "font-size: 15px" in w.styleSheet()                              # the navigation's 14px × 1.1
    assert themes.current(settings) == ("dark", 1.1)
    close_window(w, boxes)
    w.close()
    w2 = new_window(qtbot, engine, db_path, settings)
    assert w2.dark_action.isChecked() and "#15191e" in w2.styleSheet()
    assert w2.font().pointSizeF() == pytest.approx(base * 1.1)
    close_window(w2, boxes)


@pytest.mark.sqlite_only  # the console's own behaviour: one database is enough
def test_a_tier_from_the_group_column_says_so(qtbot, engine, window, tmp_path):
    from bookkit import BASE

    accounts = [ln if not ln.startswith("A1,") else ln.rstrip(",") + ",,Core" for ln in BASE["accounts.csv"]]
    assert accounts[1].endswith(",Core")
    import_book(engine, write_book(tmp_path / "book", changes={"accounts.csv": accounts}), user="ops1")
    run_workflow(engine, workers=1, user="sched")
    w = window
    show_loaded(qtbot, w, "Proposals")
    p = w.panel("Proposals")
    p.refresh()
    wait_loaded(qtbot, p)
    p.focus("A1")
    qtbot.waitUntil(lambda: p.current == "A1", timeout=2000)
    wait_loaded(qtbot, p)  # the account's detail is read in a worker process (ui.read_worker)
    assert "Tier Core comes from the book's group column (Core)" in p.band_note.text()
    p.focus("A2")
    qtbot.waitUntil(lambda: p.current == "A2", timeout=2000)
    wait_loaded(qtbot, p)
    assert "group column" not in p.band_note.text()
