"""History: one account's story, newest first — runs (category, score, threshold), decisions and
edits, trades and their batches, manual trades, holds, suspensions and their resolution, cash
requests and their status, notes (:func:`engine.desk.desk_views.account_history`).

Reached from any table of the console with H (or a double-click where the table has no
double-click of its own) on a row with an account: ``ctx.navigate.emit("History", account)``.
"""
from __future__ import annotations

import pandas as pd
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLineEdit, QPushButton, QVBoxLayout

from engine.desk.desk_views import HISTORY_COLUMNS, account_history
from engine.core.tasks import RefusedError
from ui.background import BackgroundReader
from ui.models import Col, FrameModel
from ui.panel import AppContext, Panel
from ui.review_dialogs import ReasonDialog
from ui.widgets import DataTable, EmptyState, count_label, filter_edit, inline_error, section_title, set_error_text

COLUMNS = [
    Col("at", "When", "datetime", "Your local time"), Col("kind", "What"),
    Col("summary", "Summary", tooltip_key="summary"), Col("user", "By"),
    Col("detail", "Detail", tooltip_key="detail"),
]
ALL_KINDS = "Everything"


class HistoryPanel(Panel):
    title = "History"

    def __init__(self, ctx: AppContext, parent=None):
        super().__init__(ctx, parent)
        self.account: str | None = None
        self.reader = BackgroundReader(self)
        outer = QVBoxLayout(self)
        outer.setContentsMargins(16, 12, 16, 12)
        bar = QHBoxLayout()
        self.heading = section_title("Account history")
        bar.addWidget(self.heading, 1)
        self.account_edit = QLineEdit()
        self.account_edit.setObjectName("historyAccount")
        self.account_edit.setPlaceholderText("Account id")
        self.account_edit.setMaximumWidth(180)
        self.show_button = QPushButton("Show")
        self.show_button.setObjectName("historyShow")
        self.kind = QComboBox()
        self.kind.setObjectName("historyKind")
        self.kind.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
        self.search = filter_edit("historySearch", "Search the history")
        self.note_button = QPushButton("Add note…")
        self.note_button.setObjectName("historyAddNote")
        self.note_button.setEnabled(False)
        self.note_dialog: ReasonDialog | None = None
        for w in (self.account_edit, self.show_button, self.kind, self.search, self.note_button):
            bar.addWidget(w)
        outer.addLayout(bar)
        self.count = count_label()
        outer.addWidget(self.count)
        self.msg = inline_error()
        outer.addWidget(self.msg)
        self.model = FrameModel(COLUMNS, self)
        self.table = DataTable(self.model, "historyTable")
        self.table.double_click_history = False
        self.table.max_column_width = 520
        self.empty = EmptyState("No account chosen", "Press H on an account in any table (or double-click it), "
                                "or type an account id above.")
        outer.addWidget(self.empty, 1)
        outer.addWidget(self.table, 1)
        self.table.hide()
        self.show_button.clicked.connect(lambda: self.focus(self.account_edit.text().strip()))
        self.account_edit.returnPressed.connect(lambda: self.focus(self.account_edit.text().strip()))
        self.note_button.clicked.connect(self.ask_note)
        self.kind.currentIndexChanged.connect(self._filter)
        self.search.textChanged.connect(self._filter)

    def focus(self, payload) -> None:
        if not payload:
            return
        self.account = str(payload)
        self.account_edit.setText(self.account)
        self.refresh()

    @property
    def loading(self) -> bool:
        return self.reader.loading

    def refresh(self) -> None:
        """Read the account's history off the GUI thread."""
        if not self.account:
            return
        engine, account = self.ctx.engine, self.account
        self.count.setText(f"Loading the history of {account}…")
        self.reader.start(lambda: (account, account_history(engine, account)), self._apply,
                          lambda exc: set_error_text(self.msg, f"Could not load the history: {exc}"))

    def _apply(self, result) -> None:
        account, df = result
        if account != self.account:
            return
        self.model.set_frame(df if len(df) else pd.DataFrame(columns=HISTORY_COLUMNS))
        keep = self.kind.currentData()
        self.kind.blockSignals(True)
        self.kind.clear()
        self.kind.addItem(ALL_KINDS, None)
        for k in sorted(set(df["kind"])) if len(df) else []:
            self.kind.addItem(k.replace("_", " ").lower(), k)
        i = self.kind.findData(keep)
        self.kind.setCurrentIndex(max(i, 0))
        self.kind.blockSignals(False)
        self.heading.setText(f"Account history — {self.account}")
        self.note_button.setEnabled(True)
        self.empty.setVisible(not len(df))
        self.table.setVisible(bool(len(df)))
        if not len(df):
            self.empty.set_text(f"Nothing recorded for {self.account}", "No run, decision, trade, override, "
                                "suspension, cash request or note names this account.")
        self._filter()
        self.table.fit_columns(force=True)

    def _filter(self) -> None:
        df = self.model.frame()
        kind = self.kind.currentData()
        self.model.set_mask("kind", None if kind is None or not len(df) else (df["kind"] == kind).to_numpy())
        self.model.set_text_filter(self.search.text(), ["kind", "summary", "user", "detail"])
        self.count.setText(f"{self.model.rowCount():,} of {self.model.total_rows():,} events, newest first"
                           if self.account else "")

    def ask_note(self) -> ReasonDialog | None:
        """A note on the account: a reason code of the policy and the text (required)."""
        from engine.core.policy_store import current_policy

        if not self.account:
            return None
        with self.ctx.engine.connect() as conn:
            codes = current_policy(conn).note_policy().codes
        if self.note_dialog is not None:
            self.note_dialog.close()
        dlg = self.note_dialog = ReasonDialog(self, "Add note", f"A note on {self.account}", "Add note",
                                              codes=codes, informative="Kept with the account's history and the "
                                              "audit log; searchable.")
        dlg.accepted.connect(lambda: self.add_note(dlg.values()[1], dlg.values()[0]))
        dlg.open()
        return dlg

    def add_note(self, text: str, code: str | None = None) -> bool:
        from engine.core.notes import add_note

        try:
            add_note(self.ctx.engine, self.account, text, code=code, user=self.ctx.user)
        except RefusedError as exc:
            set_error_text(self.msg, str(exc))
            return False
        set_error_text(self.msg, "Note added.", ok=True)
        self.refresh()
        return True

    def events(self) -> pd.DataFrame:
        rows = [self.model.source_row(r) for r in range(self.model.rowCount())]
        return self.model.frame().iloc[rows].reset_index(drop=True)

    def save_state(self, settings) -> None:
        self.table.save_state(settings)

    def restore_state(self, settings) -> None:
        self.table.restore_state(settings)
