"""Blotter: every order line of the day across accounts (proposed, approved, exported), with
filters, per-symbol totals and bulk actions on the selected lines' accounts.

"How much XYZ are we selling today, and for whom?" is one filter: type XYZ, pick SELL; the
totals table says shares, dollars and accounts. The lines come from
:func:`engine.desk.desk_views.order_blotter` (with the pre-export compliance check per line, column
"Kept back by"); the bulk actions call the engine's own functions: hold (an account hold,
:func:`engine.decide.overrides.add_hold`), withdraw approval (:func:`engine.desk.undo.withdraw`) and reject
(:func:`engine.desk.review.reject`), each with a reason. A proposal is decided as a whole, so an
action on a line applies to its account's whole proposal: the dialog says how many accounts.
"""
from __future__ import annotations

import pandas as pd
from PySide6.QtCore import Qt
from PySide6.QtWidgets import (QAbstractItemView, QComboBox, QHBoxLayout, QPushButton,
                               QSplitter, QVBoxLayout, QWidget)

from engine.desk.desk_views import BlotterIndex, order_blotter
from engine.core.tasks import RefusedError
from ui import dialogs, fmt
from ui.models import Col, FrameModel, frame_order, gui_ready
from ui.panel import AppContext, Panel
from ui.read_worker import in_worker
from ui.review_dialogs import ReasonDialog
from ui.widgets import DataTable, EmptyState, count_label, filter_edit, inline_error, section_title, set_error_text

ALL = "All"
LINE_COLUMNS = [
    Col("symbol", "Symbol"), Col("side", "Side"), Col("quantity", "Shares", "qty"),
    Col("est_value", "Value", "money", "Shares × estimated price"), Col("est_price", "Price", "money2"),
    Col("account_id", "Account"), Col("name", "Name"), Col("custodian", "Custodian"), Col("tier", "Tier"),
    Col("category", "Category", tip="MANDATE, SCORE or MANUAL (entered by hand)"),
    Col("status", "Status", tip="The line: PROPOSED, APPROVED, PENDING_APPROVAL (four-eyes) or EXPORTED"),
    Col("batch_id", "Batch"),
    Col("blocked", "Kept back by", tip="What in force now keeps the line out of the next export (hold, halt, "
                                       "suspension, restriction); blank: it would go", tooltip_key="blocked"),
    Col("reason", "Reason", tooltip_key="reason"),
]
TOTAL_COLUMNS = [
    Col("symbol", "Symbol"), Col("sell_shares", "Shares sold", "qty"), Col("sell_value", "Sold", "money"),
    Col("buy_shares", "Shares bought", "qty"), Col("buy_value", "Bought", "money"),
    Col("net_value", "Net", "money", "Bought minus sold, dollars"),
    Col("accounts", "Accounts", "count", "Accounts with a line in the symbol"), Col("lines", "Lines", "count"),
]
# filter combo -> frame column
COMBOS = (("custodian", "Custodian"), ("tier", "Tier"), ("side", "Side"), ("status", "Status"),
          ("category", "Category"), ("batch_id", "Batch"))


def read_blotter(engine, filters: dict | None = None, sort: tuple | None = None) -> dict:
    """The blotter's read (module-level: it runs in a worker process, :mod:`ui.read_worker`; the
    arguments and the result are pickled): the lines with everything the filters need, prepared
    off the GUI thread (a 100,000-account book has half a million lines: no pass over them is left
    for the GUI thread): text columns as categoricals, and for the ``filters`` and ``sort`` the
    panel had when it asked, the filter's mask, the totals per symbol, the counts line and the
    sorted order."""
    df = order_blotter(engine)
    frame = gui_ready(df.assign(kept_back=df["blocked"].notna() & (df["status"] != "EXPORTED")),
                      categorical=True)
    values = {key: sorted(str(v) for v in pd.unique(frame[key].dropna().astype(str))) for key, _ in COMBOS}
    out = {"frame": frame, "values": values, "index": BlotterIndex(frame),
           "kept": frame["kept_back"].to_numpy(bool)}
    if filters is not None:
        out["view"] = (dict(filters), BlotterPanel.summary(out["index"], out["kept"], filters))
    if sort is not None and sort[0] in frame:
        out["order"] = (sort[0], sort[1], frame_order(frame, *sort))
    return out


class BlotterPanel(Panel):
    title = "Blotter"

    def __init__(self, ctx: AppContext, parent=None):
        super().__init__(ctx, parent)
        self.frame = pd.DataFrame()
        self._view = None  # (filters, summary) made by the read for the filters it was asked with
        self.dialog: ReasonDialog | None = None
        outer = QVBoxLayout(self)
        outer.setContentsMargins(16, 12, 16, 12)
        head = QHBoxLayout()
        head.addWidget(section_title("Order blotter: today's lines across accounts"), 1)
        self.count = count_label()
        self.count.setWordWrap(True)  # the counts and totals wrap beside the filters at 1440 px, never cut off
        head.addWidget(self.count)
        outer.addLayout(head)

        bar = QHBoxLayout()
        self.symbol = filter_edit("blotterSymbol", "Symbol")
        self.symbol.setMaximumWidth(120)
        bar.addWidget(self.symbol)
        self.combos: dict[str, QComboBox] = {}
        for key, label in COMBOS:
            c = QComboBox()
            c.setObjectName(f"blotter_{key}")
            c.setToolTip(label)
            c.addItem(f"{label}: {ALL}", None)
            c.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
            bar.addWidget(c)
            self.combos[key] = c
            c.currentIndexChanged.connect(self.apply_filters)
        bar.addStretch(1)
        self.hold_button = QPushButton("Hold accounts…")
        self.hold_button.setObjectName("blotterHold")
        self.withdraw_button = QPushButton("Withdraw approval…")
        self.withdraw_button.setObjectName("blotterWithdraw")
        self.reject_button = QPushButton("Reject…")
        self.reject_button.setObjectName("blotterReject")
        for b in (self.hold_button, self.withdraw_button, self.reject_button):
            b.setEnabled(False)
            bar.addWidget(b)
        outer.addLayout(bar)
        self.msg = inline_error()
        outer.addWidget(self.msg)

        self.split = QSplitter(Qt.Orientation.Vertical)
        self.split.setObjectName("blotterSplit")
        top = QWidget()
        tl = QVBoxLayout(top)
        tl.setContentsMargins(0, 0, 0, 0)
        self.totals_title = section_title("Totals per symbol")
        tl.addWidget(self.totals_title)
        self.totals_model = FrameModel(TOTAL_COLUMNS, self)
        self.totals = DataTable(self.totals_model, "blotterTotals")
        tl.addWidget(self.totals)
        self.split.addWidget(top)
        self.model = FrameModel(LINE_COLUMNS, self, emphasis="kept_back")
        self.table = DataTable(self.model, "blotterLines")
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.table.max_column_width = 320
        self.split.addWidget(self.table)
        self.split.setSizes([200, 600])
        self.empty = EmptyState("No order lines today", "Run the workflow: its proposed and approved trades, the "
                                "manual trades and today's exported lines show here.")
        outer.addWidget(self.empty, 1)
        outer.addWidget(self.split, 1)

        self.symbol.textChanged.connect(self.apply_filters)
        self.table.selectionModel().selectionChanged.connect(lambda *_: self._on_select())
        self.totals.selectionModel().selectionChanged.connect(lambda *_: self._on_total())
        self.hold_button.clicked.connect(self.ask_hold)
        self.withdraw_button.clicked.connect(self.ask_withdraw)
        self.reject_button.clicked.connect(self.ask_reject)

    # ------------------------------------------------------------------ data
    def refresh(self) -> None:
        """Read the blotter in a worker process (a large book's lines take a while and would hold
        this process's GIL: :mod:`ui.read_worker`); the panel says it is loading and keeps showing
        the last lines meanwhile."""
        self.count.setText("Loading the blotter…")
        self.load(in_worker(read_blotter, self.ctx.engine, self.filters(), self.model.sort_spec()),
                  self._apply_frame, what="the blotter",
                  on_error=lambda exc: set_error_text(self.msg, f"Could not load the blotter: {exc}"))

    @staticmethod
    def summary(ix: BlotterIndex, kept, filters: dict) -> tuple:
        """``(mask, totals per symbol, counts line)`` of the lines under ``filters``."""
        mask = ix.mask(**filters)
        n_kept = int((mask & kept).sum())
        buys = float(ix.value[mask & ix.buy].sum())
        sells = float(ix.value[mask & ~ix.buy].sum())
        text = (f"{int(mask.sum()):,} of {ix.n:,} lines · {ix.accounts(mask):,} accounts"
                f" · sells {fmt.money(sells)} · buys {fmt.money(buys)}" + (f" · {n_kept:,} kept back" if n_kept else ""))
        return mask, ix.totals(mask), text

    def _apply_frame(self, d: dict) -> None:
        df = self.frame = d["frame"]
        for key, combo in self.combos.items():
            keep = combo.currentData()
            values = d["values"][key]
            combo.blockSignals(True)
            combo.clear()
            combo.addItem(f"{dict(COMBOS)[key]}: {ALL}", None)
            for v in values:
                combo.addItem(v, v)
            i = combo.findData(keep)
            combo.setCurrentIndex(i if i >= 0 else 0)
            combo.blockSignals(False)
        self.index, self._kept = d["index"], d["kept"]  # filters and totals on every keystroke: prepared once
        self._view = d.get("view")  # this view's mask, totals and counts, made in the read
        self.model.set_frame(self.frame, order=d.get("order"))
        self.empty.setVisible(not len(df))
        self.split.setVisible(bool(len(df)))
        self.apply_filters()
        self._view = None
        self.table.fit_columns(sample=40)
        self.totals.fit_columns(sample=40)

    def filters(self) -> dict:
        out = {key: c.currentData() for key, c in self.combos.items()}
        out["symbol"] = self.symbol.text().strip()
        return out

    def set_filters(self, **filters) -> None:
        """Set filters by value (symbol text, combo values; None = all)."""
        for key, value in filters.items():
            if key == "symbol":
                self.symbol.setText(value or "")
            else:
                c = self.combos[key]
                i = c.findData(value) if value is not None else 0
                c.setCurrentIndex(max(i, 0))

    def view_filters(self) -> dict:
        """The filters a saved view keeps (ui.table_tools)."""
        return self.filters()

    def apply_view_filters(self, filters: dict) -> None:
        self.set_filters(**{k: v for k, v in filters.items() if k == "symbol" or k in self.combos})

    def apply_filters(self) -> None:
        if not len(self.frame):
            self.totals_model.set_frame(BlotterIndex(self.frame).totals())
            self.count.setText("")
            return
        filters = self.filters()
        view = getattr(self, "_view", None)
        if view is not None and view[0] == filters:
            mask, totals, text = view[1]
        else:
            mask, totals, text = self.summary(self.index, self._kept, filters)
        self.model.set_mask("filters", mask)
        self.totals_model.set_frame(totals)
        self.count.setText(text)
        self._on_select()

    def visible_frame(self) -> pd.DataFrame:
        return self.frame.iloc[self.model.source_rows()].reset_index(drop=True)

    def totals_frame(self) -> pd.DataFrame:
        return self.totals_model.frame()

    # ------------------------------------------------------------------ selection
    def selected_lines(self) -> pd.DataFrame:
        rows = sorted({i.row() for i in self.table.selectionModel().selectedRows()})
        return self.frame.iloc[self.model.source_rows(rows)] if rows else self.frame.iloc[:0]

    def select_all_lines(self) -> None:
        self.table.selectAll()

    def _on_select(self) -> None:
        sel = self.selected_lines()
        open_ = sel[sel["status"] != "EXPORTED"] if len(sel) else sel
        proposed = open_[open_["proposal_id"].notna()] if len(open_) else open_
        self.hold_button.setEnabled(bool(len(open_)))
        self.withdraw_button.setEnabled(bool(len(proposed) and (proposed["proposal_status"] == "APPROVED").any()))
        self.reject_button.setEnabled(bool(len(proposed)))

    def _on_total(self) -> None:
        row = self.totals.selected_row()
        if row >= 0 and not self.symbol.text().strip():
            self.symbol.setText(str(self.totals_model.value(row, "symbol")))

    def focus(self, payload) -> None:
        if isinstance(payload, dict):
            self.set_filters(**payload)

    # ------------------------------------------------------------------ bulk actions
    def _accounts(self, proposals_only: bool, status: str | None = None) -> tuple[list[str], dict]:
        sel = self.selected_lines()
        sel = sel[sel["status"] != "EXPORTED"]
        if proposals_only:
            sel = sel[sel["proposal_id"].notna()]
        if status is not None:
            sel = sel[sel["proposal_status"] == status]
        accounts = list(dict.fromkeys(sel["account_id"].astype(str)))
        versions = {a: int(v) for a, v in zip(sel["account_id"], sel["version"]) if pd.notna(v)}
        return accounts, versions

    def _open(self, title: str, accounts: list[str], verb: str, codes=()) -> ReasonDialog | None:
        if not accounts:
            set_error_text(self.msg, f"Select the lines to {verb.lower()} (not exported ones).")
            return None
        if self.dialog is not None:
            self.dialog.close()
        who = accounts[0] if len(accounts) == 1 else f"{len(accounts):,} accounts"
        lines = int(self.frame["account_id"].isin(accounts).sum()) if len(self.frame) else 0
        self.dialog = ReasonDialog(self, title, f"{verb} {who}?", verb, codes=tuple(codes),
                                   informative=f"It applies to the whole proposal of each account: {lines:,} "
                                               f"line(s) in the blotter ({', '.join(accounts[:8])}"
                                               f"{' …' if len(accounts) > 8 else ''}).")
        self.dialog.open()
        return self.dialog

    def _after(self, title: str, fn) -> None:
        try:
            text = fn()
        except RefusedError as exc:
            set_error_text(self.msg, f"{title} refused: {exc}")
            return
        except Exception as exc:  # noqa: BLE001 - shown, not swallowed
            dialogs.show_error(self, title, exc)
            return
        self.ctx.notify("review")
        self.refresh()
        set_error_text(self.msg, text, ok=True)

    def ask_hold(self) -> ReasonDialog | None:
        from engine.desk.desk_actions import hold_accounts

        accounts, _ = self._accounts(False)
        dlg = self._open("Hold accounts", accounts, "Hold")
        if dlg is not None:
            dlg.accepted.connect(lambda: self._after("Hold accounts", lambda: (
                hold_accounts(self.ctx.engine, accounts, None, dlg.values()[1], user=self.ctx.user),
                f"Held {len(accounts):,} account(s) until the hold is ended: their trades stay out of exports.")[1]))
        return dlg

    def ask_withdraw(self) -> ReasonDialog | None:
        from engine.desk.undo import withdraw

        accounts, versions = self._accounts(True, "APPROVED")
        dlg = self._open("Withdraw approval", accounts, "Withdraw")
        if dlg is not None:
            dlg.accepted.connect(lambda: self._after("Withdraw approval", lambda: (
                withdraw(self.ctx.engine, accounts, reason=dlg.values()[1], user=self.ctx.user,
                         expected_versions=versions),
                f"Withdrew the approval of {len(accounts):,} account(s): back to review.")[1]))
        return dlg

    def ask_reject(self) -> ReasonDialog | None:
        from engine.desk.review import reject
        from engine.core.policy_store import current_policy

        accounts, versions = self._accounts(True)
        with self.ctx.engine.connect() as conn:
            codes = current_policy(conn).reject_codes()
        dlg = self._open("Reject", accounts, "Reject", codes)
        if dlg is not None:
            dlg.accepted.connect(lambda: self._after("Reject", lambda: (
                reject(self.ctx.engine, accounts, reason=dlg.values()[1], code=dlg.values()[0], user=self.ctx.user,
                       expected_versions=versions),
                f"Rejected {len(accounts):,} account(s).")[1]))
        return dlg

    def save_state(self, settings) -> None:
        for t in (self.table, self.totals):
            t.save_state(settings)

    def restore_state(self, settings) -> None:
        for t in (self.table, self.totals):
            t.restore_state(settings)
