"""The proposal's per-sell tax detail: the lots each sell relieves (the run's lot relief, as a
batch's lots file will list them) with shares, unit cost, acquired date, term, estimated gain,
estimated tax and wash-sale status (:func:`engine.desk.desk_views.trade_lot_detail`)."""
from __future__ import annotations

import pandas as pd
from PySide6.QtWidgets import QVBoxLayout, QWidget

from engine.desk.desk_views import LOT_DETAIL_COLUMNS, trade_line_detail, trade_lot_detail
from ui import fmt
from ui.models import Col, FrameModel
from ui.read_worker import in_worker
from ui.widgets import DataTable, count_label, section_title

COLUMNS = [
    Col("symbol", "Symbol"), Col("lot_id", "Lot"), Col("quantity", "Shares", "qty"),
    Col("unit_cost", "Unit cost", "money2"), Col("acquired_date", "Acquired"),
    Col("term", "Term", tip="ST: held a year or less at the book's date; LT: longer"),
    Col("est_gain", "Est. gain", "money2", "At the trade's estimated price; negative: a loss"),
    Col("est_tax", "Est. tax", "money2", "At the account's ST/LT rates (0 when tax-exempt); negative: tax saved"),
    Col("wash", "Wash sale", tip="A loss is disallowed when the account bought the security within 30 days"),
]


class LotDetail(QWidget):
    def __init__(self, parent=None):
        super().__init__(parent)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 4, 0, 0)
        lay.setSpacing(2)
        self.title = section_title("Lots the sells relieve")
        lay.addWidget(self.title)
        self.model = FrameModel(COLUMNS, self)
        self.table = DataTable(self.model, "proposalLots")
        self.table.double_click_history = False
        self.table.max_column_width = 200
        rows = self.table.verticalHeader().defaultSectionSize()
        self.table.setMaximumHeight(rows * 6 + self.table.horizontalHeader().sizeHint().height() + 20)
        lay.addWidget(self.table, 1)
        self.account: str | None = None
        self.summary = count_label()
        self.summary.setWordWrap(True)
        lay.addWidget(self.summary)

    def frame(self) -> pd.DataFrame:
        return self.model.frame()

    def show_account(self, engine, account: str | None, run_id: int | None, load=None) -> None:
        """The lots ``account``'s sells relieve in run ``run_id``. ``load``: a panel's
        :meth:`ui.panel.Panel.load`, to read them off the GUI thread (the lot relief of an
        account with many lots takes a while); without it they are read here."""
        self.account = account
        if not account:
            self._apply((None, pd.DataFrame(columns=LOT_DETAIL_COLUMNS)))
            return
        if load is None:
            self._apply((account, trade_lot_detail(engine, account, run_id)))
            return
        self.summary.setText("Reading the lots…")
        load(in_worker(read_lots, engine, account, run_id), self._apply, channel="lots", what="the lots")

    def _apply(self, result) -> None:
        account, df = result
        if account != self.account:  # another account was selected meanwhile
            return
        self.model.set_frame(df)
        self.table.fit_columns(force=True)
        self.setVisible(bool(len(df)))
        if not len(df):
            self.summary.setText("")
            return
        gain = df["est_gain"].astype(float)
        tax = df["est_tax"].astype(float)
        st, lt = gain[df["term"] == "ST"].sum(), gain[df["term"] == "LT"].sum()
        wash = int(df["wash"].astype(str).str.startswith("wash").sum())
        self.summary.setText(f"Realized: ST {fmt.money2(st)} · LT {fmt.money2(lt)} · est. tax "
                             f"{fmt.money2(tax[tax > 0].sum())} · tax saved {fmt.money2(-tax[tax < 0].sum())}"
                             + (f" · {wash} wash-sale lot(s): loss disallowed" if wash else ""))


def read_lots(engine, account: str, run_id: int | None) -> tuple:
    """(account, the lots its sells relieve) — the lot detail's read (a worker's, ui.read_worker)."""
    return account, trade_lot_detail(engine, account, run_id)


def with_line_detail(engine, account: str, run_id: int | None, trades: pd.DataFrame) -> pd.DataFrame:
    """The proposal's trades with each line's asset class and the security's weight before and
    after the trades (engine.desk.desk_views.trade_line_detail)."""
    if not len(trades):
        return trades
    extra = trade_line_detail(engine, account, run_id)
    return trades.drop(columns=[c for c in ("asset_class", "weight_pre", "weight_post") if c in trades]).merge(
        extra, on="id", how="left")
