"""Overrides: account holds and security halts — add, end early, history. The engine validates
and audits every change; its refusals are shown inline under the form."""
from __future__ import annotations

from datetime import date, timedelta

from PySide6.QtCore import QDate, QStringListModel, Qt
from PySide6.QtWidgets import (QCheckBox, QComboBox, QCompleter, QDateEdit, QFormLayout, QGroupBox, QHBoxLayout,
                               QLineEdit, QPushButton, QSplitter, QVBoxLayout, QWidget)

from engine.desk import views
from engine.desk.compliance import impact_text, preview_override
from engine.decide.overrides import add_halt, add_hold, end_override
from engine.core.tasks import RefusedError
from ui import dialogs, fmt
from ui.models import Col, FrameModel
from ui.panel import AppContext, Panel
from ui.widgets import Banner, DataTable, inline_error, section_title, set_error_text

MODES = [("freeze", "Freeze — no account buys or sells it"),
         ("hold-accounts", "Hold accounts — any account whose trades would touch it is held")]

ACTIVE_COLUMNS = [
    Col("id", "ID", "count"), Col("kind", "Kind"), Col("target", "Account / symbol"), Col("mode", "Mode"),
    Col("until", "Last day", "until", "The override applies up to and including this day"),
    Col("reason", "Reason", tooltip_key="reason"), Col("created_by", "Added by"),
    Col("created_at", "Added", "datetime")]
HISTORY_COLUMNS = ACTIVE_COLUMNS[:-2] + [
    Col("state", "Outcome", tip="Ended early by a user, or expired after its last day"),
    Col("created_by", "Added by"), Col("ended_by", "Ended by"), Col("ended_at", "Ended", "datetime")]


def _qdate(d: date) -> QDate:
    return QDate(d.year, d.month, d.day)


def _pydate(q: QDate) -> date:
    return date(q.year(), q.month(), q.day())


class OverridesPanel(Panel):
    title = "Overrides"

    def __init__(self, ctx: AppContext, parent=None):
        super().__init__(ctx, parent)
        self._ids_snapshot = None
        self.last_impact: dict | None = None  # what the last confirmed override stopped (tests, screenshots)
        self.as_of: date | None = None
        outer = QVBoxLayout(self)
        outer.setContentsMargins(16, 12, 16, 12)
        self.banner = Banner()
        outer.addWidget(self.banner)

        forms = QHBoxLayout()
        # ------------------------------------------------ hold
        hold = QGroupBox("Hold an account")
        hf = QFormLayout(hold)
        self.hold_account = QLineEdit()
        self.hold_account.setObjectName("holdAccount")
        self.hold_account.setPlaceholderText("account id")
        self.hold_until = QDateEdit()
        self.hold_until.setObjectName("holdUntil")
        self.hold_until.setCalendarPopup(True)
        self.hold_until.setDisplayFormat("yyyy-MM-dd")
        self.hold_reason = QLineEdit()
        self.hold_reason.setObjectName("holdReason")
        self.hold_reason.setPlaceholderText("e.g. client wires $1M next week")
        self.hold_button = QPushButton("Add hold")
        self.hold_button.setObjectName("addHold")
        self.hold_button.clicked.connect(self.add_hold)
        self.hold_msg = inline_error()
        hf.addRow("Account", self.hold_account)
        hf.addRow("Last day", self.hold_until)
        hf.addRow("Reason", self.hold_reason)
        hf.addRow("", self.hold_button)
        hf.addRow(self.hold_msg)
        forms.addWidget(hold, 1)

        # ------------------------------------------------ halt
        halt = QGroupBox("Halt a security")
        af = QFormLayout(halt)
        self.halt_symbol = QLineEdit()
        self.halt_symbol.setObjectName("haltSymbol")
        self.halt_symbol.setPlaceholderText("symbol")
        self.halt_mode = QComboBox()
        self.halt_mode.setObjectName("haltMode")
        for key, text in MODES:
            self.halt_mode.addItem(text, key)
        until_row = QHBoxLayout()
        self.halt_open = QCheckBox("Until ended")
        self.halt_open.setObjectName("haltOpenEnded")
        self.halt_open.setChecked(True)
        self.halt_until = QDateEdit()
        self.halt_until.setObjectName("haltUntil")
        self.halt_until.setCalendarPopup(True)
        self.halt_until.setDisplayFormat("yyyy-MM-dd")
        self.halt_until.setEnabled(False)
        self.halt_open.toggled.connect(lambda on: self.halt_until.setEnabled(not on))
        until_row.addWidget(self.halt_open)
        until_row.addWidget(self.halt_until, 1)
        self.halt_reason = QLineEdit()
        self.halt_reason.setObjectName("haltReason")
        self.halt_reason.setPlaceholderText("e.g. trading halted pending news")
        self.halt_button = QPushButton("Add halt")
        self.halt_button.setObjectName("addHalt")
        self.halt_button.clicked.connect(self.add_halt)
        self.halt_msg = inline_error()
        af.addRow("Symbol", self.halt_symbol)
        af.addRow("Mode", self.halt_mode)
        af.addRow("Last day", until_row)
        af.addRow("Reason", self.halt_reason)
        af.addRow("", self.halt_button)
        af.addRow(self.halt_msg)
        forms.addWidget(halt, 1)
        outer.addLayout(forms)

        for w in (self.hold_account, self.hold_reason):
            w.textEdited.connect(lambda _: set_error_text(self.hold_msg, ""))
        for w in (self.halt_symbol, self.halt_reason):
            w.textEdited.connect(lambda _: set_error_text(self.halt_msg, ""))
        self.hold_reason.returnPressed.connect(self.add_hold)
        self.halt_reason.returnPressed.connect(self.add_halt)
        self.account_completer = QCompleter(QStringListModel(self), self)
        self.account_completer.setCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        self.account_completer.setModelSorting(QCompleter.ModelSorting.CaseInsensitivelySortedModel)
        self.hold_account.setCompleter(self.account_completer)
        self.symbol_completer = QCompleter(QStringListModel(self), self)
        self.symbol_completer.setCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        self.halt_symbol.setCompleter(self.symbol_completer)

        # ------------------------------------------------ tables
        self.split = QSplitter(Qt.Orientation.Vertical)
        self.split.setObjectName("overridesSplit")
        top = QWidget()
        tl = QVBoxLayout(top)
        tl.setContentsMargins(0, 8, 0, 0)
        head = QHBoxLayout()
        self.active_title = section_title("Active overrides")
        head.addWidget(self.active_title, 1)
        self.end_button = QPushButton("End early…")
        self.end_button.setObjectName("endOverride")
        self.end_button.setEnabled(False)
        self.end_button.clicked.connect(self.end_selected)
        head.addWidget(self.end_button)
        tl.addLayout(head)
        self.active_model = FrameModel(ACTIVE_COLUMNS, self)
        self.active = DataTable(self.active_model, "overridesActive")
        self.active.selectionModel().selectionChanged.connect(
            lambda *_: self.end_button.setEnabled(self.active.selected_row() >= 0))
        tl.addWidget(self.active, 1)
        self.split.addWidget(top)
        bottom = QWidget()
        bl = QVBoxLayout(bottom)
        bl.setContentsMargins(0, 8, 0, 0)
        self.history_title = section_title("History — ended or expired")
        bl.addWidget(self.history_title)
        self.history_model = FrameModel(HISTORY_COLUMNS, self)
        self.history = DataTable(self.history_model, "overridesHistory")
        bl.addWidget(self.history, 1)
        self.split.addWidget(bottom)
        outer.addWidget(self.split, 1)

    # ------------------------------------------------------------------ data
    def refresh(self) -> None:
        """Read the overrides off the GUI thread (:meth:`read`), then show them."""
        engine, known = self.ctx.engine, self._ids_snapshot
        self.load(lambda: self.read(engine, known), self._apply)

    @staticmethod
    def read(engine, known_snapshot) -> dict:
        st = views.status(engine)
        snap = st["snapshot"]
        ids = views.book_ids(engine) if snap is not None and known_snapshot != snap["id"] else None
        active, history = views.overrides(engine)
        return {"status": st, "ids": ids, "active": active, "history": history}

    def _apply(self, d: dict) -> None:
        snap = d["status"]["snapshot"]
        self.as_of = snap["as_of"] if snap else None
        if snap is None:
            self.banner.show_message("Import a book first: holds and halts name accounts and symbols of the book.",
                                     "info")
        else:
            self.banner.show_message(f"Overrides apply from the next run on. Book date {fmt.day(self.as_of)}; "
                                     "a last day before it is refused.", "info")
        for w in (self.hold_button, self.halt_button):
            w.setEnabled(snap is not None)
        if snap is not None and d["ids"] is not None and self._ids_snapshot != snap["id"]:
            ids = d["ids"]
            self.account_completer.model().setStringList(ids["accounts"])
            self.symbol_completer.model().setStringList(ids["symbols"])
            self._ids_snapshot = snap["id"]
            self.hold_until.setDate(_qdate(self.as_of + timedelta(days=7)))
            self.halt_until.setDate(_qdate(self.as_of + timedelta(days=7)))
        active, history = d["active"], d["history"]
        self.active_model.set_frame(active)
        self.history_model.set_frame(history)
        self.active_title.setText(f"Active overrides — {len(active):,}")
        self.history_title.setText(f"History — ended or expired — {len(history):,}")
        self.active.fit_columns()
        self.history.fit_columns()
        self.end_button.setEnabled(self.active.selected_row() >= 0)

    def focus(self, payload) -> None:
        if payload is None:
            return
        row = self.active_model.find("id", payload)
        if row >= 0:
            self.active.select_row(row)

    # ------------------------------------------------------------------ actions
    def _confirm_impact(self, title: str, text: str, ok: str, **target) -> bool:
        """Before saving: what the override stops now among approved and proposed trades."""
        impact = preview_override(self.ctx.engine, **target)
        if impact is None:  # not in the book: the engine refuses it with its own message
            return True
        self.last_impact = impact
        return dialogs.confirm(self, title, text, impact_text(impact), ok=ok)

    def add_hold(self) -> None:
        account = self.hold_account.text().strip()
        if account and self.hold_reason.text().strip() and not self._confirm_impact(
                "Add hold", f"Hold account {account} through {fmt.day(_pydate(self.hold_until.date()))}?",
                "Add hold", account_id=account):
            set_error_text(self.hold_msg, "Nothing added.")
            return
        try:
            oid = add_hold(self.ctx.engine, self.hold_account.text().strip(), _pydate(self.hold_until.date()),
                           self.hold_reason.text(), user=self.ctx.user)
        except RefusedError as exc:
            set_error_text(self.hold_msg, str(exc))
            return
        set_error_text(self.hold_msg, f"Hold {oid} added: {self.hold_account.text().strip()} is held through "
                                      f"{fmt.day(_pydate(self.hold_until.date()))}.", ok=True)
        self.hold_account.clear()
        self.hold_reason.clear()
        self.ctx.notify("overrides")

    def add_halt(self) -> None:
        until = None if self.halt_open.isChecked() else _pydate(self.halt_until.date())
        symbol = self.halt_symbol.text().strip()
        mode = self.halt_mode.currentData()
        if symbol and self.halt_reason.text().strip() and not self._confirm_impact(
                "Add halt", f"Halt {symbol.upper()} ({mode})" + (f" through {fmt.day(until)}?" if until else
                                                                 " until ended?"),
                "Add halt", symbol=symbol, mode=mode):
            set_error_text(self.halt_msg, "Nothing added.")
            return
        try:
            oid = add_halt(self.ctx.engine, symbol, until, self.halt_reason.text(), self.halt_mode.currentData(),
                           user=self.ctx.user)
        except RefusedError as exc:
            set_error_text(self.halt_msg, str(exc))
            return
        set_error_text(self.halt_msg, f"Halt {oid} added: {symbol.upper()} ({self.halt_mode.currentData()})"
                                      + (f" through {fmt.day(until)}." if until else " until ended."), ok=True)
        self.halt_symbol.clear()
        self.halt_reason.clear()
        self.ctx.notify("overrides")

    def end_selected(self) -> None:
        row = self.active.selected_row()
        if row < 0:
            return
        r = self.active_model.row_dict(row)
        what = f"{'hold of account' if r['kind'] == 'HOLD' else 'halt of'} {r['target']}"
        if not dialogs.confirm(self, "End override", f"End the {what} now?",
                               f"Reason it was added: {r['reason']}", ok="End override"):
            return
        try:
            end_override(self.ctx.engine, int(r["id"]), user=self.ctx.user)
        except RefusedError as exc:
            dialogs.show_error(self, "End override", exc)
        self.ctx.notify("overrides")

    # ------------------------------------------------------------------ state
    def save_state(self, settings) -> None:
        settings.setValue("overrides/split", self.split.saveState())
        self.active.save_state(settings)
        self.history.save_state(settings)

    def restore_state(self, settings) -> None:
        state = settings.value("overrides/split")
        if state is not None:
            self.split.restoreState(state)
        self.active.restore_state(settings)
        self.history.restore_state(settings)
