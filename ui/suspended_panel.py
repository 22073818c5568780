"""Suspended accounts: who is stopped by bad data, why in words, and the manual-trade queue.

Four-eyes: manual trades of a tier under four-eyes wait for a second user's approval; they are
listed under the table ("Manual trades awaiting a second approval") with Approve and Reject.
Approving a trade one entered oneself is refused by the engine and the refusal is shown in a
message box; a trade someone else decided meanwhile is refused too, and the list reloads.
"""
from __future__ import annotations

import html

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtWidgets import (QAbstractItemView, QCheckBox, QComboBox, QGroupBox, QHBoxLayout, QLabel, QPushButton, QScrollArea, QSplitter, QVBoxLayout, QWidget)

from engine.desk import views
from engine.desk.manual import decide_manual_trades, pending_manual_trades
from engine.desk.review import ConflictError, FourEyesError
from engine.core.tasks import RefusedError
from ui import dialogs, fmt
from ui.models import Col, FrameModel, gui_ready, text_index
from ui.panel import AppContext, Panel
from ui.widgets import Banner, DataTable, count_label, debounce, filter_edit, inline_error, set_error_text

ALL = "All reasons"

COLUMNS = [
    Col("account_id", "Account"),
    Col("name", "Name"),
    Col("value", "Value", "money", "Account value (holdings at the book's prices plus cash; a holding without a "
                                   "usable price at its last known price): it sets the tier"),
    Col("tier", "Tier"),
    Col("reasons", "Reasons", tip="Why the account is suspended; hover for the detail", tooltip_key="detail"),
    Col("since", "Since", "date", "When the oldest open reason was first found"),
    Col("urgent", "Urgent", "bool", "A high-priority cash request is waiting and nothing covers it yet: trade it "
                                    "by hand"),
    Col("pending_cash", "Cash requested", "money_nz", "Cash requests of the account whose cash is not raised yet"),
    Col("due", "Due", "date", "The next cash request due date"),
    Col("cash_out", "Cash-out", tip="Where the account's cash requests stand: covered by trades entered (awaiting "
                                    "approval or export), sent (cash reserved until the custodian pays), or what is "
                                    "still to raise"),
]
PENDING_COLUMNS = [
    Col("id", "Trade", "count", "The manual trade's id (approve --trade ID on the command line)"),
    Col("account_id", "Account"),
    Col("side", "Side"),
    Col("quantity", "Shares", "qty"),
    Col("symbol", "Symbol"),
    Col("est_value", "Value (est.)", "money2"),
    Col("created_by", "Entered by", tip="Four-eyes: a different user must approve it"),
    Col("created_at", "Entered", "datetime"),
    Col("reason", "Reason", tooltip_key="reason"),
]


TEXT_KEYS = ["account_id", "name", "household_id", "tier", "reasons", "detail", "custodian"]  # the text filter

class SuspendedPanel(Panel):
    title = "Suspended"

    def __init__(self, ctx: AppContext, parent=None):
        super().__init__(ctx, parent)
        self.current: str | None = None
        self._reason_masks: dict = {}
        self._pending_msg_fresh = False  # the message was set after the reload under way started
        outer = QVBoxLayout(self)
        outer.setContentsMargins(16, 12, 16, 12)
        self.banner = Banner()
        outer.addWidget(self.banner)

        bar = QHBoxLayout()
        self.filter = filter_edit("suspendedFilter", "Filter: account, name, household, tier, reason or detail (e.g. AAA, RECON)")
        self.reason = QComboBox()
        self.reason.setObjectName("suspendedReason")
        self.reason.addItem(ALL)
        self.urgent_only = QCheckBox("Urgent only")
        self.count = count_label()
        bar.addWidget(self.filter, 3)
        bar.addWidget(self.reason, 1)
        bar.addWidget(self.urgent_only)
        bar.addStretch(0)
        bar.addWidget(self.count)
        outer.addLayout(bar)

        self.split = QSplitter(Qt.Orientation.Horizontal)
        self.split.setObjectName("suspendedSplit")
        self.model = FrameModel(COLUMNS, self, emphasis="urgent")
        self.table = DataTable(self.model, "suspendedTable")
        self.table.max_column_width = 190
        self.split.addWidget(self.table)

        side = QWidget()
        sl = QVBoxLayout(side)
        sl.setContentsMargins(12, 0, 0, 0)
        self.detail = QLabel()
        self.detail.setObjectName("suspendedDetail")
        self.detail.setWordWrap(True)
        self.detail.setTextFormat(Qt.TextFormat.RichText)
        self.detail.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        self.detail.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(self.detail)
        scroll.setFrameShape(QScrollArea.Shape.NoFrame)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        sl.addWidget(scroll, 1)
        self.manual_button = QPushButton("Enter manual trades…")
        self.manual_button.setObjectName("manualButton")
        self.manual_button.setProperty("primary", True)
        self.manual_button.setEnabled(False)
        self.manual_button.setToolTip("Trade this suspended account by hand (e.g. to raise a cash request); "
                                      "the trades go into the next export")
        self.manual_button.clicked.connect(self.open_manual)
        sl.addWidget(self.manual_button)
        self.split.addWidget(side)
        self.split.setStretchFactor(0, 4)
        self.split.setStretchFactor(1, 1)
        self.split.setSizes([1100, 300])
        side.setMinimumWidth(280)
        outer.addWidget(self.split, 1)

        # four-eyes: manual trades awaiting a second user's approval (hidden while there are none)
        self.pending_box = QGroupBox("Manual trades awaiting a second approval (four-eyes)")
        self.pending_box.setObjectName("pendingManualBox")
        pl = QVBoxLayout(self.pending_box)
        self.pending_model = FrameModel(PENDING_COLUMNS, self)
        self.pending = DataTable(self.pending_model, "pendingManualTable")
        self.pending.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.pending.setMaximumHeight(180)
        pl.addWidget(self.pending)
        pb = QHBoxLayout()
        self.pending_note = count_label()
        self.approve_manual_button = QPushButton("Approve selected")
        self.approve_manual_button.setObjectName("approveManual")
        self.approve_manual_button.setToolTip("Approve the selected manual trades as the second user; they go "
                                              "into the next export")
        self.approve_manual_button.clicked.connect(lambda: self.decide_pending(True))
        self.reject_manual_button = QPushButton("Reject selected")
        self.reject_manual_button.setObjectName("rejectManual")
        self.reject_manual_button.clicked.connect(lambda: self.decide_pending(False))
        pb.addWidget(self.pending_note, 1)
        pb.addWidget(self.approve_manual_button)
        pb.addWidget(self.reject_manual_button)
        pl.addLayout(pb)
        self.pending_msg = inline_error()
        pl.addWidget(self.pending_msg)
        self.pending_box.hide()
        outer.addWidget(self.pending_box)
        self.pending.selectionModel().selectionChanged.connect(lambda *_: self._update_pending_buttons())

        self._debounce = debounce(self, 120, self.apply_filter)
        self.filter.textChanged.connect(lambda _: self._debounce.start())
        self.reason.currentIndexChanged.connect(lambda _: self.apply_filter())
        self.urgent_only.toggled.connect(lambda _: self.apply_filter())
        self.table.selectionModel().selectionChanged.connect(lambda *_: self._on_select())
        self.model.modelReset.connect(self._reselect)
        self.model.layoutChanged.connect(lambda *_: self._update_count())
        self._show_detail(None)

    # ------------------------------------------------------------------ data
    def refresh(self) -> None:
        """Read the suspensions off the GUI thread (:meth:`read`), then show them."""
        engine = self.ctx.engine
        self.load(lambda: self.read(engine), self._apply)

    @staticmethod
    def read(engine) -> dict:
        df = views.suspended_accounts(engine)
        split = df["reasons"].fillna("").str.split("; ")
        codes = sorted({c for r in split for c in r if c})
        # the reason filter is a lookup, not a pass over the rows, on the GUI thread
        flat = split.explode()
        rows = flat.index.to_numpy()
        reason_masks = {}
        for c in codes:
            m = np.zeros(len(df), bool)
            m[np.unique(rows[(flat == c).to_numpy()])] = True
            reason_masks[c] = m
        df = gui_ready(df)
        return {"frame": df, "status": views.status(engine), "text": {tuple(TEXT_KEYS): text_index(df, TEXT_KEYS)},
                "codes": [(c, views.reason_title(c)) for c in codes], "reason_masks": reason_masks,
                "pending": pending_manual_trades(engine)}

    def _apply(self, d: dict) -> None:
        df, st = d["frame"], d["status"]
        run = st["run"]
        if run is None:
            self.banner.show_message("No run yet: accounts are checked when the workflow runs (Ctrl+R)."
                                     if st["snapshot"] else "Import a book folder or generate a sample.", "info")
        elif run["stale"]:
            self.banner.show_message(f"These are the suspensions of run {run['id']}; a newer book was imported "
                                     "since: run again (Ctrl+R) to check it.", "warn")
        else:
            self.banner.show_message("")
        keep = self.reason.currentText()
        self.reason.blockSignals(True)
        self.reason.clear()
        self.reason.addItem(ALL)
        for c, title in d["codes"]:
            self.reason.addItem(c)
            self.reason.setItemData(self.reason.count() - 1, title, Qt.ItemDataRole.ToolTipRole)
        self.reason.setCurrentIndex(max(0, self.reason.findText(keep)))
        self.reason.blockSignals(False)
        self._reason_masks = d["reason_masks"]
        self.model.set_frame(df, d["text"])  # the filter's text index made in the read
        self._apply_masks()
        self.table.fit_columns()
        self._update_count()
        if not self._pending_msg_fresh:  # a reload clears an old message, not the one of the action that caused it
            set_error_text(self.pending_msg, "")
        self._pending_msg_fresh = False
        self._show_pending(d["pending"])

    # ------------------------------------------------------------------ four-eyes queue
    def refresh_pending(self, keep_message: bool = False) -> None:
        """Reload the four-eyes queue; the box shows while trades wait (or a message is shown)."""
        if not keep_message:
            set_error_text(self.pending_msg, "")
        self._show_pending(pending_manual_trades(self.ctx.engine))

    def _show_pending(self, df) -> None:
        self.pending_model.set_frame(df)
        self.pending.fit_columns(force=True)
        n = len(df)
        mine = int((df["created_by"] == self.ctx.user).sum()) if n else 0
        self.pending_note.setText(
            (f"{n:,} trade{'s' if n != 1 else ''} of {df['account_id'].nunique():,} account(s) wait for a user "
             "other than the one who entered them; they are not exported until approved" if n else
             "No manual trade awaits a second approval.")
            + (f" · {mine:,} entered by you ({self.ctx.user}): another user approves them" if mine else ""))
        self.pending_box.setVisible(bool(n) or bool(self.pending_msg.text()))
        self._update_pending_buttons()

    def _update_pending_buttons(self) -> None:
        ok = bool(self.selected_pending())
        self.approve_manual_button.setEnabled(ok)
        self.reject_manual_button.setEnabled(ok)

    def selected_pending(self) -> list[int]:
        sm = self.pending.selectionModel()
        rows = sorted({i.row() for i in sm.selectedRows()}) if sm and self.pending_model.rowCount() else []
        return [int(self.pending_model.value(r, "id")) for r in rows]

    def select_pending(self, trade_ids) -> None:
        self.pending.clearSelection()
        for tid in trade_ids:
            row = self.pending_model.find("id", tid)
            if row >= 0:
                self.pending.selectionModel().select(
                    self.pending_model.index(row, 0),
                    self.pending.selectionModel().SelectionFlag.Select
                    | self.pending.selectionModel().SelectionFlag.Rows)
        self._update_pending_buttons()

    def decide_pending(self, approve: bool) -> bool:
        """Approve (or reject) the selected pending manual trades as this console's user."""
        ids = self.selected_pending()
        word = "Approve" if approve else "Reject"
        if not ids:
            set_error_text(self.pending_msg, f"Select the manual trades to {word.lower()}.")
            return False
        if not approve and not dialogs.confirm(self, "Reject manual trades",
                                               f"Reject {len(ids)} manual trade{'s' if len(ids) != 1 else ''}?",
                                               "They are never exported.", ok="Reject"):
            return False
        try:
            done = decide_manual_trades(self.ctx.engine, ids, approve=approve, user=self.ctx.user)
        except RefusedError as exc:
            text = str(exc).replace("\n  ", " · ").replace("\n", " ")
            if isinstance(exc, FourEyesError):
                dialogs.show_error(self, f"{word} manual trades: four-eyes", exc)
            elif isinstance(exc, ConflictError):
                dialogs.show_error(self, f"{word} manual trades: changed by someone else", exc)
                set_error_text(self.pending_msg, text + " The list was reloaded.")
                self.refresh_pending(keep_message=True)
                return False
            set_error_text(self.pending_msg, text)
            return False
        self.ctx.notify("manual")  # the window reloads this panel (and the header's export count)
        self._pending_msg_fresh = True
        set_error_text(self.pending_msg, f"{'Approved' if approve else 'Rejected'} manual trade"
                                         f"{'s' if len(done) != 1 else ''} {', '.join(map(str, done))}"
                       + ("; they go into the next export." if approve else "."), ok=True)
        self.refresh_pending(keep_message=True)
        return True

    def _apply_masks(self) -> None:
        df = self.model.frame()
        code = self.reason.currentText()
        mask = None
        if code and code != ALL and len(df):
            mask = self._reason_masks.get(code, np.zeros(len(df), bool))
        if self.urgent_only.isChecked() and len(df):
            urgent = df["urgent"].to_numpy(bool)
            mask = urgent if mask is None else mask & urgent
        self.model.set_mask("reason", mask)
        self.model.set_mask("text", self.model.text_mask(
            self.filter.text(), TEXT_KEYS))

    def apply_filter(self) -> None:
        self._apply_masks()
        self._update_count()

    def _update_count(self) -> None:
        shown, total = self.model.rowCount(), self.model.total_rows()
        urgent = int(self.model.frame()["urgent"].sum()) if total else 0
        self.count.setText(f"{shown:,} of {total:,} accounts · {urgent:,} urgent" if shown != total
                           else f"{total:,} accounts · {urgent:,} urgent")

    def _reselect(self) -> None:
        row = self.model.find("account_id", self.current) if self.current else -1
        if row >= 0:
            self.table.select_row(row)
        else:
            self._show_detail(None)

    def _on_select(self) -> None:
        row = self.table.selected_row()
        if row < 0:
            return
        account = self.model.value(row, "account_id")
        if account != self.current:
            self.current = account
            self._show_detail(account)

    def focus(self, payload) -> None:
        if not payload:
            return
        self.current = str(payload)
        row = self.model.find("account_id", self.current)
        if row < 0:  # hidden by a filter: clear the filters
            self.filter.clear()
            self.reason.setCurrentIndex(0)
            self.urgent_only.setChecked(False)
            self.apply_filter()
            row = self.model.find("account_id", self.current)
        if row >= 0:
            self.table.select_row(row)
        self._show_detail(self.current if row >= 0 else None)

    # ------------------------------------------------------------------ detail
    def _show_detail(self, account: str | None) -> None:
        if account is None:
            self.current = None
            self.manual_button.setEnabled(False)
            n = self.model.total_rows()
            self.detail.setText("<p style='color:#5f6b7a'>Select an account to see why it is suspended "
                                "and what to do.</p>" if n else
                                "<p style='color:#5f6b7a'>No suspended accounts in the latest run.</p>")
            return
        row = self.model.find("account_id", account)
        rec = self.model.row_dict(row) if row >= 0 else {}
        info = views.account_reasons(self.ctx.engine, account)
        acc = info["account"] or {}
        e = html.escape
        parts = [f"<h2 style='margin-bottom:2px'>{e(account)} · {e(str(acc.get('name') or ''))}</h2>",
                 f"<p style='color:#5f6b7a;margin-top:0'>{e(str(acc.get('custodian', '')))} · model "
                 f"{e(str(acc.get('model_id', '')))} · {e(str(rec.get('tier', '')))} · value "
                 f"{fmt.money(rec.get('value'))} · cash {fmt.money2(acc.get('cash'))}"
                 f" (reserved for cash requests: {fmt.money2(info.get('reserved', 0.0))})"
                 f"{' · taxable' if acc.get('taxable') else ' · tax-exempt'}</p>"]
        if info.get("tier_basis"):
            parts.append(f"<p style='color:#8a5a00'>Tier {e(str(rec.get('tier', '')))} set by a value of "
                         f"{fmt.money(rec.get('value'))}: {e(str(info['tier_basis']))}</p>")
        if rec.get("urgent"):
            parts.append(f"<p style='color:#b3261e'><b>URGENT</b> — {e(views.URGENT_HELP)}</p>")
        elif rec.get("cash_out"):
            parts.append(f"<p style='color:#1b7f3b'><b>Cash-out:</b> {e(str(rec['cash_out']))}</p>")
        for r in info["reasons"]:
            items = "".join(f"<li>{e(d)}</li>" for d in r["details"])
            parts.append(f"<h3 style='margin-bottom:2px'>{e(r['title'])} "
                         f"<span style='color:#5f6b7a;font-weight:normal'>({e(r['code'])}, since "
                         f"{fmt.day(r['since'])})</span></h3><ul style='margin-top:2px'>{items}</ul>"
                         f"<p><i>What to do:</i> {e(r['action'])}</p>")
        if "OPTIMIZER_FAILED" in str(rec.get("reasons", "")):
            title, action = views.REASONS["OPTIMIZER_FAILED"]
            parts.append(f"<h3>{e(title)}</h3><p><i>What to do:</i> {e(action)}</p>")
        req = info["requests"]
        if len(req):
            items = "".join(
                f"<li><b>{fmt.money2(r.amount)}</b> due {fmt.day(r.due_date)} · {e(str(r.priority))} priority · "
                f"{e(str(r.status))} · {e(str(r.request_id))}"
                + (f"<br><span style='color:#5f6b7a'>{e(str(r.note))}</span>" if r.note else "") + "</li>"
                for r in req.itertuples(index=False))
            parts.append(f"<h3 style='margin-bottom:2px'>Cash requests</h3><ul style='margin-top:2px'>{items}</ul>")
        self.detail.setText("".join(parts))
        self.manual_button.setEnabled(acc != {})

    def open_manual(self) -> None:
        if not self.current:
            return
        from ui.manual_dialog import ManualTradeDialog

        self.manual_dialog = ManualTradeDialog(self.ctx, self.current, self)
        self.manual_dialog.accepted.connect(self._manual_entered)
        self.manual_dialog.open_modal()

    def _manual_entered(self) -> None:
        dlg = self.manual_dialog
        self.refresh_pending()
        waiting = [i for i in dlg.entered if self.pending_model.find("id", i) >= 0]
        if waiting:
            self.banner.show_message(
                f"Entered {len(dlg.entered)} manual trade(s) for {html.escape(dlg.account_id)}: four-eyes "
                f"({html.escape(str(dlg.tier))}) — another user approves them below before they are exported.",
                "info")

    # ------------------------------------------------------------------ state
    def save_state(self, settings) -> None:
        settings.setValue("suspended/split", self.split.saveState())
        self.table.save_state(settings)

    def restore_state(self, settings) -> None:
        state = settings.value("suspended/split")
        if state is not None:
            self.split.restoreState(state)
        self.table.restore_state(settings)
