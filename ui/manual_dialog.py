"""Enter manual trades for one (suspended) account: checked live by the engine, with the cash
they raise against the account's cash request."""
from __future__ import annotations

import html

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (QAbstractItemView, QComboBox, QDialog, QDialogButtonBox, QHBoxLayout, QHeaderView,
                               QLabel, QLineEdit, QProgressBar, QPushButton, QTableWidget, QVBoxLayout, QWidget)

from engine.desk import views
from engine.desk.manual import ManualTrade, check_manual_trades, enter_manual_trades, manual_context, parse_quantity
from engine.core.tasks import RefusedError
from ui import fmt
from ui.models import Col, FrameModel
from ui.panel import AppContext
from ui.widgets import DataTable, debounce, inline_error, section_title, set_error_text

ANY_LOT = "Best lots (losses first)"
SIDE, SYMBOL, QTY, LOT, VALUE = range(5)


class QuantityEdit(QLineEdit):
    """Whole positive shares as typed: what is not one ("1.5", "12.5abc-", "0", "-3") is shown as
    an error naming the field (engine.desk.manual.parse_quantity), never reinterpreted."""

    def __init__(self):
        super().__init__()
        self.setObjectName("manualQuantity")
        self.setPlaceholderText("shares")
        self.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        self.valueChanged = self.textChanged  # the editors' change signal, as a spin box names it

    def error(self, field: str = "quantity") -> str | None:
        if not self.text().strip():
            return None
        try:
            parse_quantity(self.text(), field)
        except RefusedError as exc:
            return str(exc)
        return None

    def value(self) -> int:
        """The shares typed (0 while blank or not a whole positive number)."""
        try:
            return parse_quantity(self.text())
        except RefusedError:
            return 0

    def setValue(self, q: int) -> None:
        self.setText(str(int(q)) if q else "")


class TradeLine(QWidget):
    """The editors of one order line (they live in the cells of the trades table)."""
    changed = Signal()

    def __init__(self, dialog: "ManualTradeDialog"):
        super().__init__()
        self.dialog = dialog
        self.side = QComboBox()
        self.side.addItems(["SELL", "BUY"])
        self.symbol = QComboBox()
        self.symbol.setEditable(True)
        self.symbol.setInsertPolicy(QComboBox.InsertPolicy.NoInsert)
        self.symbol.addItems(list(dialog.holdings["symbol"]))
        self.symbol.setCurrentIndex(-1)
        self.symbol.lineEdit().setPlaceholderText("symbol")
        self.quantity = QuantityEdit()
        self.lot = QComboBox()
        self.value = QLabel()
        self.value.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        self.value.setContentsMargins(0, 0, 6, 0)
        self.side.currentIndexChanged.connect(self._side_changed)
        self.symbol.currentTextChanged.connect(self._symbol_changed)
        self.quantity.valueChanged.connect(lambda _: self._changed())
        self.lot.currentIndexChanged.connect(lambda _: self._changed())
        self._fill_lots()

    def sym(self) -> str:
        return self.symbol.currentText().strip().upper()

    def _side_changed(self) -> None:
        self.lot.setEnabled(self.side.currentText() == "SELL")
        self._changed()

    def _symbol_changed(self) -> None:
        self._fill_lots()
        self._changed()

    def _fill_lots(self) -> None:
        self.lot.blockSignals(True)
        self.lot.clear()
        self.lot.addItem(ANY_LOT, None)
        lots = self.dialog.lots
        for r in lots[lots["symbol"] == self.sym()].itertuples(index=False):
            self.lot.addItem(f"{r.lot_id} · {fmt.qty(r.quantity)} sh @ {fmt.money2(r.unit_cost)} · "
                             f"{fmt.day(r.acquired_date)}", r.lot_id)
        self.lot.setEnabled(self.side.currentText() == "SELL")
        self.lot.blockSignals(False)

    def _changed(self) -> None:
        price = self.dialog.prices.get(self.sym())
        q = self.quantity.value()
        if price is None or price != price or not q:
            self.value.setText("")
        else:
            v = q * float(price)
            self.value.setText(fmt.money2(v if self.side.currentText() == "SELL" else -v))
        self.changed.emit()

    def blank(self) -> bool:
        return not self.sym() and not self.quantity.text().strip()

    def trade(self) -> ManualTrade:
        lot = self.lot.currentData() if self.side.currentText() == "SELL" else None
        return ManualTrade(self.sym(), self.side.currentText(), int(self.quantity.value()), lot)

    def set(self, side: str = "SELL", symbol: str = "", quantity: int = 0, lot: str | None = None) -> None:
        self.side.setCurrentText(side)
        self.symbol.setCurrentText(symbol)
        self.quantity.setValue(int(quantity))
        i = self.lot.findData(lot) if lot else 0
        self.lot.setCurrentIndex(max(0, i))


class ManualTradeDialog(QDialog):
    """Opened from the Suspended panel; ``open_modal`` shows it window-modal (non-blocking)."""

    def __init__(self, ctx: AppContext, account_id: str, parent=None):
        super().__init__(parent)
        self.ctx = ctx
        self.account_id = account_id
        self.setObjectName("manualTradeDialog")
        self.setWindowTitle(f"Manual trades — {account_id}")
        self.resize(980, 680)
        self.entered: list[int] = []
        self.check = None
        c = manual_context(ctx.engine, account_id)
        self.context = c
        self.account = c["account"]
        self.holdings = c["holdings"]
        self.lots = c["lots"]
        self.prices = {k: v for k, v in c.get("prices", {}).items()}
        self.requests = c["requests"]
        self.tier = c.get("tier")
        self.four_eyes = bool(c.get("four_eyes"))
        self.reserved = float(views.account_reasons(ctx.engine, account_id)["reserved"])

        lay = QVBoxLayout(self)
        acc = self.account
        head = QLabel(f"<h2 style='margin:0'>{html.escape(account_id)} · {html.escape(str(acc.get('name') or ''))}</h2>"
                      f"<span style='color:#5f6b7a'>{html.escape(str(acc.get('custodian')))} · model "
                      f"{html.escape(str(acc.get('model_id')))} · cash {fmt.money2(acc.get('cash'))} "
                      f"(reserved for cash requests: {fmt.money2(self.reserved)}) · "
                      f"{html.escape(str(self.tier))} tier · book as of {fmt.day(c.get('as_of'))}</span>"
                      + (f"<br><span style='color:#8a5a00'>Tier set by a value of {fmt.money(c.get('value'))}: "
                         f"{html.escape(str(c['tier_basis']))}</span>" if c.get("tier_basis") else ""))
        head.setObjectName("manualHeader")
        lay.addWidget(head)
        if self.four_eyes:
            note = QLabel(f"Four-eyes ({html.escape(str(self.tier))} tier): these trades wait for the approval of "
                          f"a user other than you ({html.escape(ctx.user)}) before they are exported.")
            note.setObjectName("fourEyesNote")
            note.setWordWrap(True)
            note.setStyleSheet("color:#8a5a00")
            lay.addWidget(note)
        why = views.account_reasons(ctx.engine, account_id)["reasons"]
        if why:
            reasons = QLabel("Suspended: " + "; ".join(
                html.escape(f"{r['title']} ({', '.join(r['details']) or r['code']})") for r in why))
            reasons.setObjectName("manualReasons")
            reasons.setWordWrap(True)
            reasons.setStyleSheet("color:#b3261e")
            lay.addWidget(reasons)

        lay.addWidget(section_title("Holdings — double-click one to sell it"))
        self.holdings_model = FrameModel([
            Col("symbol", "Symbol"), Col("custodian_qty", "Custodian shares", "qty"),
            Col("lot_qty", "Lot shares", "qty", "Shares in the tax lots (differs on a reconciliation break)"),
            Col("price", "Price", "money2"), Col("value", "Value", "money2", "Custodian shares × price")])
        self.holdings_model.set_frame(self.holdings)
        self.holdings_table = DataTable(self.holdings_model, "manualHoldings")
        self.holdings_table.setMaximumHeight(190)
        self.holdings_table.doubleClicked.connect(self._sell_holding)
        self.holdings_table.double_click_history = False
        self.holdings_table.fit_columns()
        lay.addWidget(self.holdings_table)

        req_row = QHBoxLayout()
        req_row.addWidget(QLabel("For cash request:"))
        self.request = QComboBox()
        self.request.setObjectName("manualRequest")
        self.request.addItem("(none)", None)
        if len(self.requests):
            for r in self.requests.itertuples(index=False):  # every listed request (sent: cash reserved)
                self.request.addItem(f"{r.request_id} · {fmt.money2(r.amount)} due {fmt.day(r.due_date)} · "
                                     f"{r.priority} · {r.status}" + (f" · {r.note}" if r.note else ""), r.request_id)
            high = [i for i in range(1, self.request.count()) if "· high ·" in self.request.itemText(i)]
            self.request.setCurrentIndex(high[0] if high else (1 if self.request.count() > 1 else 0))
        req_row.addWidget(self.request, 1)
        lay.addLayout(req_row)

        lay.addWidget(section_title("Order lines"))
        self.table = QTableWidget(0, 5)
        self.table.setObjectName("manualLines")
        self.table.setHorizontalHeaderLabels(["Side", "Symbol", "Quantity", "Lot (sells)", "Cash (est.)"])
        self.table.verticalHeader().setVisible(False)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        h = self.table.horizontalHeader()
        for col, w in ((SIDE, 90), (SYMBOL, 130), (QTY, 150), (VALUE, 140)):
            h.resizeSection(col, w)
        h.setSectionResizeMode(LOT, QHeaderView.ResizeMode.Stretch)
        self.table.verticalHeader().setDefaultSectionSize(34)
        lay.addWidget(self.table, 1)
        buttons_row = QHBoxLayout()
        self.add_button = QPushButton("Add line")
        self.add_button.clicked.connect(lambda: self.add_line())
        self.remove_button = QPushButton("Remove line")
        self.remove_button.clicked.connect(self.remove_line)
        buttons_row.addWidget(self.add_button)
        buttons_row.addWidget(self.remove_button)
        self.suggest_button = QPushButton("Suggest sells")
        self.suggest_button.setObjectName("suggestSells")
        self.suggest_button.setToolTip("Fill the sells that raise what the request still needs, tax-minimally, plus "
                                       "the policy's cash cushion (halts, wash sales and held shares respected); "
                                       "edit them before entering")
        self.suggest_button.clicked.connect(self.suggest_sells)
        buttons_row.addWidget(self.suggest_button)
        self.suggest_note = QLabel()
        self.suggest_note.setObjectName("suggestNote")
        self.suggest_note.setWordWrap(True)
        buttons_row.addWidget(self.suggest_note, 1)
        buttons_row.addStretch(1)
        lay.addLayout(buttons_row)

        cash_row = QHBoxLayout()
        self.cash_label = QLabel()
        self.cash_label.setObjectName("cashLabel")
        self.cash_bar = QProgressBar()
        self.cash_bar.setObjectName("cashBar")
        self.cash_bar.setRange(0, 1000)
        self.cash_bar.setTextVisible(False)
        self.cash_bar.setMaximumWidth(260)
        cash_row.addWidget(self.cash_label, 1)
        cash_row.addWidget(self.cash_bar)
        lay.addLayout(cash_row)
        self.messages = QLabel()
        self.messages.setObjectName("manualMessages")
        self.messages.setWordWrap(True)
        self.messages.setTextFormat(Qt.TextFormat.RichText)
        lay.addWidget(self.messages)
        self.error = inline_error()
        lay.addWidget(self.error)

        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        self.enter_button = self.buttons.button(QDialogButtonBox.StandardButton.Ok)
        self.enter_button.setText("Enter trades")
        self.enter_button.setObjectName("enterTrades")
        self.buttons.accepted.connect(self.enter)
        self.buttons.rejected.connect(self.reject)
        lay.addWidget(self.buttons)

        self.lines: list[TradeLine] = []
        self._timer = debounce(self, 100, self.recheck)
        self.request.currentIndexChanged.connect(lambda _: self._schedule())
        self.add_line()
        self.recheck()

    # ------------------------------------------------------------------ lines
    def add_line(self, side: str = "SELL", symbol: str = "", quantity: int = 0, lot: str | None = None) -> TradeLine:
        line = TradeLine(self)
        row = self.table.rowCount()
        self.table.insertRow(row)
        for col, w in ((SIDE, line.side), (SYMBOL, line.symbol), (QTY, line.quantity), (LOT, line.lot),
                       (VALUE, line.value)):
            self.table.setCellWidget(row, col, w)
        self.lines.append(line)
        line.changed.connect(self._schedule)
        if symbol or quantity:
            line.set(side, symbol, quantity, lot)
        self._schedule()
        return line

    def remove_line(self) -> None:
        row = self.table.currentRow()
        if row < 0:
            row = self.table.rowCount() - 1
        if row < 0:
            return
        self.table.removeRow(row)
        self.lines.pop(row)
        self._schedule()

    def _sell_holding(self, index) -> None:
        sym = self.holdings_model.value(index.row(), "symbol")
        empty = [ln for ln in self.lines if ln.blank()]
        line = empty[0] if empty else self.add_line()
        line.set("SELL", sym, int(self.holdings_model.value(index.row(), "custodian_qty") or 0))

    def suggest_sells(self) -> None:
        """Replace the blank lines with the tax-minimal sells for what the request still needs."""
        from engine.desk.raise_cash import raise_need, suggest_sells

        try:
            need = raise_need(self.ctx.engine, self.account_id, self.selected_request())
            if need < 0.005:
                set_error_text(self.error, "Nothing to raise: the request is covered by the cash and the trades "
                                           "entered")
                return
            plan, facts = suggest_sells(self.ctx.engine, self.account_id, need)
        except RefusedError as exc:
            set_error_text(self.error, str(exc))
            return
        set_error_text(self.error, "")
        for row in reversed(range(len(self.lines))):
            if self.lines[row].blank():
                self.table.removeRow(row)
                self.lines.pop(row)
        for t in plan.trades():
            self.add_line("SELL", t.symbol, t.quantity, t.lot_id)
        note = (f"Suggested {len(plan.lines)} sell(s) for {fmt.money2(plan.target)} ({fmt.money2(need)} + "
                f"{plan.cushion_pct:g} % cushion): est. gain {fmt.money2(float(plan.lines['gain'].sum()))}, "
                f"est. tax {fmt.money2(facts['tax'])}")
        if plan.left_out:
            note += " · left out: " + "; ".join(plan.left_out[:4]) + (" …" if len(plan.left_out) > 4 else "")
        if plan.short > 0.005:
            note += f" · {fmt.money2(plan.short)} short: nothing more can be sold"
        self.suggest_note.setText(note)
        self._schedule()

    def trades(self) -> list[ManualTrade]:
        """The order lines entered, skipping blank ones (no symbol and no quantity)."""
        return [ln.trade() for ln in self.lines if not ln.blank()]

    def quantity_errors(self) -> list[str]:
        """A message per line whose quantity is not whole positive shares (naming the line)."""
        out = []
        for n, ln in enumerate([ln for ln in self.lines if not ln.blank()], 1):
            err = ln.quantity.error(f"line {n} ({ln.side.currentText()} {ln.sym() or '?'}) quantity")
            if err:
                out.append(err)
        return out

    # ------------------------------------------------------------------ checks
    def _schedule(self) -> None:
        self._timer.start()

    def selected_request(self) -> str | None:
        return self.request.currentData()

    def recheck(self) -> None:
        """Ask the engine about the lines as they are now (cheap; runs on every edit)."""
        self._timer.stop()
        bad = self.quantity_errors()
        chk = check_manual_trades(self.ctx.engine, self.account_id, self.trades(), self.selected_request())
        if bad:  # the engine never sees a quantity that is not whole positive shares
            chk.errors = bad + [e for e in chk.errors if "quantity must be" not in e]
        self.check = chk
        req_id = chk.request
        what = f"request {req_id}" if req_id else "all listed cash requests"
        target, total = chk.cash_requested, chk.cash_total
        if target > 0:
            self.cash_label.setText(
                f"Cash for {html.escape(what)}: <b>{fmt.money2(total)}</b> of <b>{fmt.money2(target)}</b>"
                + (" — covered" if chk.covered else f" — {fmt.money2(chk.short)} short") + "<br>"
                + f"<span style='color:#5f6b7a'>{self.arithmetic(chk)}</span>")
            self.cash_bar.setValue(int(max(0.0, min(1.0, total / target)) * 1000))
            self.cash_bar.setProperty("covered", chk.covered)
        else:
            self.cash_label.setText(f"Cash raised <b>{fmt.money2(chk.cash_raised)}</b> (no cash request listed)")
            self.cash_bar.setValue(0)
            self.cash_bar.setProperty("covered", False)
        self.cash_bar.style().unpolish(self.cash_bar)
        self.cash_bar.style().polish(self.cash_bar)
        msgs = [f"<span style='color:#b3261e'>✖ {html.escape(e)}</span>" for e in chk.errors]
        msgs += [f"<span style='color:#8a5a00'>⚠ {html.escape(w)}</span>" for w in chk.warnings]
        self.messages.setText("<br>".join(msgs))
        self.messages.setVisible(bool(msgs))
        self.enter_button.setEnabled(not chk.errors)

    @staticmethod
    def arithmetic(chk) -> str:
        """The sum the label shows, in words: spare cash + trades entered + these lines."""
        spare = (f"cash {fmt.money2(chk.cash)} above model cash {fmt.money2(chk.model_cash)}: "
                 f"{fmt.money2(max(chk.cash - chk.model_cash, 0.0))}")
        if chk.reserved_other:
            spare += f", less {fmt.money2(chk.reserved_other)} raised for other requests"
        parts = [spare]
        if chk.entered:
            parts.append("trades entered " + ", ".join(f"{k} {fmt.money2(v)}" for k, v in sorted(chk.entered.items())))
        parts.append(f"these lines {fmt.money2(chk.cash_raised)}")
        return html.escape(" + ".join(parts))

    def enter(self) -> None:
        """Record the trades (the engine checks them again and refuses with a message)."""
        self.recheck()
        bad = self.quantity_errors()
        if bad:
            set_error_text(self.error, "\n".join(bad))
            return
        try:
            self.entered = enter_manual_trades(self.ctx.engine, self.account_id, self.trades(), user=self.ctx.user,
                                               request_id=self.selected_request())
        except RefusedError as exc:
            set_error_text(self.error, str(exc))
            return
        set_error_text(self.error, "")
        self.ctx.notify("manual")
        self.accept()

    def open_modal(self) -> None:
        self.setWindowModality(Qt.WindowModality.WindowModal)
        self.open()
