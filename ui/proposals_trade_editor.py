"""The Proposals panel's trade editor: the selected account's trades (quantities edited inline,
a trade removed with Delete or restored), the lots each sell relieves, and the engine's answer
to an edit under the table.

Every edit goes through :func:`engine.desk.review.edit_trade` (or ``engine.desk.undo``), which
checks it; the editor then asks its host (the panel) to mirror the new status, reload or show a
refusal, since those touch the account table too."""
from __future__ import annotations

import pandas as pd
from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QAbstractItemView, QHBoxLayout, QPushButton, QVBoxLayout, QWidget

from engine.core.tasks import RefusedError
from engine.desk.review import TRADING, ConflictError, edit_trade, proposal_trades
from ui import dialogs, fmt
from ui.lot_detail import LotDetail, with_line_detail
from ui.proposals_frames import TRADE_COLUMNS
from ui.proposals_trades import QuantityDelegate, TradesModel
from ui.widgets import DataTable, inline_error, section_title, set_error_text


def tax_words(rec: dict) -> str:
    """" · tax $X · tax saved $Y" of a proposal (each shown only when there is some)."""
    out = ""
    for key, word in (("tax_paid", "tax"), ("tax_saved", "tax saved")):
        v = rec.get(key)
        if v is not None and not fmt._missing(v) and round(float(v), 2) > 0:
            out += f" · {word} {fmt.money(float(v))}"
    return out


class TradeEditor(QWidget):
    """``host`` is the Proposals panel: its ``ctx``, ``current`` account, ``run_id`` and its
    ``_patch``/``_changed``/``reload``/``_refused``/``_ask``, which an edit needs."""

    def __init__(self, host, parent=None):
        super().__init__(parent)
        self.host = host
        self.frame = pd.DataFrame()  # the account's trades as shown
        ll = QVBoxLayout(self)
        ll.setContentsMargins(0, 0, 0, 0)
        ll.setSpacing(4)
        trades_head = QHBoxLayout()
        self.trades_title = section_title("Trades")
        self.trades_title.setWordWrap(True)  # the totals and tax wrap rather than widen the editor over the chart
        trades_head.addWidget(self.trades_title, 1)
        self.remove_button = QPushButton("Remove trade (Del)")
        self.remove_button.setObjectName("removeTrade")
        self.remove_button.setEnabled(False)
        trades_head.addWidget(self.remove_button)
        self.restore_trade_button = QPushButton("Restore trade…")
        self.restore_trade_button.setObjectName("restoreTrade")
        self.restore_trade_button.setEnabled(False)
        trades_head.addWidget(self.restore_trade_button)
        ll.addLayout(trades_head)
        self.trades_model = TradesModel(self, on_edit=self.edit_quantity)
        self.trades = DataTable(self.trades_model, "proposalTrades")
        self.trades.setSortingEnabled(False)
        self.trades.setEditTriggers(QAbstractItemView.EditTrigger.DoubleClicked
                                    | QAbstractItemView.EditTrigger.EditKeyPressed
                                    | QAbstractItemView.EditTrigger.AnyKeyPressed)
        self.trades.setItemDelegateForColumn(self.trades_model._qcol, QuantityDelegate(self.trades))
        self.trades.max_column_width = 160
        # the trades are what the desk reviews: never squeezed under four rows by the lots below
        row_h = self.trades.verticalHeader().defaultSectionSize()
        self.trades.setMinimumHeight(row_h * 4 + self.trades.horizontalHeader().sizeHint().height() + 6)
        ll.addWidget(self.trades, 3)
        self.lot_detail = LotDetail()  # per sell: its lots, term, gain, tax, wash status
        ll.addWidget(self.lot_detail, 2)
        self.edit_msg = inline_error(selectable=True)
        ll.addWidget(self.edit_msg)

        self.remove_action = QAction("Remove trade", self.trades)
        self.remove_action.setShortcuts([QKeySequence(QKeySequence.StandardKey.Delete), QKeySequence("Backspace")])
        self.remove_action.setShortcutContext(Qt.ShortcutContext.WidgetShortcut)
        self.remove_action.triggered.connect(self.remove_selected_trade)
        self.trades.addAction(self.remove_action)
        self.remove_button.clicked.connect(self.remove_selected_trade)
        self.restore_trade_button.clicked.connect(self.restore_selected_trade)
        self.trades.selectionModel().selectionChanged.connect(lambda *_: self.update_buttons())

    # ------------------------------------------------------------------ showing
    def _empty(self) -> pd.DataFrame:
        return pd.DataFrame(columns=[c.key for c in TRADE_COLUMNS] + ["id", "lots"])

    def clear(self) -> None:
        self.trades_model.set_frame(self._empty())
        self.trades_title.setText("Trades")
        self.lot_detail.show_account(self.host.ctx.engine, None, None)

    def show_account(self, account: str, category, run_id: int | None, rec: dict | None = None) -> None:
        """The account's trades in run ``run_id`` (none unless its category trades), with their
        asset class and weights, and the lots its sells relieve; the title adds the proposal's
        tax and tax saved (``rec``, its row of the table)."""
        engine = self.host.ctx.engine
        if category in TRADING:
            try:
                trades = proposal_trades(engine, account, run_id)
            except RefusedError as exc:
                trades = pd.DataFrame()
                set_error_text(self.edit_msg, str(exc))
        else:
            trades = pd.DataFrame()
        trades = with_line_detail(engine, account, run_id, trades)  # asset class, weights
        self.frame = trades
        if len(trades):
            self.trades_model.set_frame(trades)
            live = trades[trades["status"] != "REMOVED"]
            buys = float(live.loc[live["side"] == "BUY", "est_value"].sum())
            sells = float(live.loc[live["side"] == "SELL", "est_value"].sum())
            self.trades_title.setText(f"Trades — {len(live):,} · sells {fmt.money(sells)} · buys {fmt.money(buys)}"
                                      + tax_words(rec or {}))
        else:
            self.trades_model.set_frame(self._empty())
            self.trades_title.setText("Trades — none proposed" if category not in TRADING else "Trades — none")
        self.trades.fit_columns(force=True)
        self.lot_detail.show_account(engine, account if len(trades) else None, run_id,
                                     load=getattr(self.host, "load", None))  # off the GUI thread

    def update_buttons(self) -> None:
        stale = self.host._stale
        row = self.trades.selected_row()
        self.remove_button.setEnabled(row >= 0 and self.trades_model.is_editable(row) and not stale)
        removed = row >= 0 and self.trades_model.row_dict(row).get("status") == "REMOVED"
        self.restore_trade_button.setEnabled(removed and not stale)

    # ------------------------------------------------------------------ edits
    def edit_quantity(self, trade_id: int, quantity: int) -> bool:
        """Called by the trades model when a quantity was edited: the engine checks and stores it.
        The reload waits for the editor to close (a model reset under an open editor loses it)."""
        return self._edit(trade_id, quantity=quantity, deferred=True)

    def remove_selected_trade(self) -> bool:
        row = self.trades.selected_row()
        if row < 0 or not self.trades_model.is_editable(row):
            return False
        r = self.trades_model.row_dict(row)
        if not dialogs.confirm(self.host, "Remove trade",
                               f"Remove {r['side']} {fmt.qty(r['quantity'])} {r['symbol']} "
                               f"({fmt.money(r.get('est_value'))}) from {r['account_id']}?",
                               "The proposal goes back to review and needs an approval.", ok="Remove trade"):
            return False
        return self._edit(int(r["id"]), remove=True)

    def _edit(self, trade_id: int, *, quantity: int | None = None, remove: bool = False,
              deferred: bool = False) -> bool:
        host = self.host
        account = host.current
        before = self.frame[self.frame["id"] == trade_id] if len(self.frame) else pd.DataFrame()
        try:
            edit_trade(host.ctx.engine, trade_id, quantity=quantity, remove=remove, user=host.ctx.user)
        except ConflictError as exc:
            host._refused("Edit trade", exc, self.edit_msg, deferred=deferred)
            return False
        except RefusedError as exc:
            set_error_text(self.edit_msg, f"Refused: {exc}")
            return False
        what = ""
        if len(before):
            b = before.iloc[0]
            what = (f"{b['side']} {b['symbol']} removed" if remove else
                    f"{b['side']} {b['symbol']} changed from {fmt.qty(b['quantity'])} to {fmt.qty(quantity)} shares")
        set_error_text(self.edit_msg, f"{what or 'Trade changed'}; {account} awaits approval again.", ok=True)
        if account:
            host._patch([account], status="PROPOSED", decided_by=None, bump={account}, review="review",
                        editor=host.ctx.user)
        if deferred:
            host.reload_pending = True
            QTimer.singleShot(0, host._deferred_changed)
        else:
            host._changed()
        return True

    def restore_selected_trade(self) -> bool:
        """Put the selected removed trade back into its proposal (asks why); re-scored."""
        from engine.desk.undo import restore_trade

        row = self.trades.selected_row()
        if row < 0:
            return False
        r = self.trades_model.row_dict(row)
        if r.get("status") != "REMOVED":
            set_error_text(self.edit_msg, "Select a removed trade to restore.")
            return False
        host = self.host
        dlg = host._ask("Restore trade", f"Restore {r['side']} {fmt.qty(r['quantity'])} {r['symbol']} to "
                        f"{r['account_id']}'s proposal?", "Restore trade",
                        informative="The proposal is checked and scored again and needs an approval.")

        def done():
            try:
                restore_trade(host.ctx.engine, int(r["id"]), reason=dlg.values()[1], user=host.ctx.user)
            except RefusedError as exc:
                set_error_text(self.edit_msg, f"Refused: {exc}")
                return
            host.reload()
            set_error_text(self.edit_msg, f"{r['side']} {r['symbol']} restored; {r['account_id']} awaits "
                                          "approval again.", ok=True)
        dlg.accepted.connect(done)
        return True
