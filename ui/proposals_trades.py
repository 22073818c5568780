"""The Proposals panel's trade editor: the Qt model of a proposal's trades and the quantity
delegate that edits them."""
from __future__ import annotations
import numpy as np
import pandas as pd
from PySide6.QtCore import Qt
from PySide6.QtGui import QBrush, QFont
from PySide6.QtWidgets import (QSpinBox, QStyledItemDelegate)
from ui.models import FrameModel
from ui.proposals_frames import GREY, TRADE_COLUMNS, lots_text


class TradesModel(FrameModel):
    """The selected account's trades; Shares is editable on trades not removed nor exported.
    ``setData`` hands the new quantity to ``on_edit(trade_id, quantity) -> bool``."""

    EDITABLE = ("PROPOSED", "APPROVED", "REJECTED")

    def __init__(self, parent=None, on_edit=None):
        super().__init__(TRADE_COLUMNS, parent)
        self.on_edit = on_edit
        self._qcol = [c.key for c in self.columns].index("quantity")
        self._strike = QFont()
        self._strike.setStrikeOut(True)
        self._grey = QBrush(GREY)
        self._removed = np.zeros(0, bool)
        self._editable = np.zeros(0, bool)

    def set_frame(self, df: pd.DataFrame) -> None:
        df = df.reset_index(drop=True)
        if "lots" in df:
            df = df.assign(lots_text=[lots_text(v) for v in df["lots"].to_numpy(object)])
        status = df["status"].astype(object).to_numpy() if "status" in df else np.full(len(df), None, object)
        batch = df["batch_id"].astype(object).to_numpy() if "batch_id" in df else np.full(len(df), None, object)
        self._removed = status == "REMOVED"
        self._editable = np.isin(status, self.EDITABLE) & pd.isna(batch)
        super().set_frame(df)

    def trade_id(self, row: int) -> int:
        return int(self.value(row, "id"))

    def is_editable(self, row: int) -> bool:
        return 0 <= row < self.rowCount() and bool(self._editable[self.source_row(row)])

    def flags(self, index):
        f = super().flags(index)
        if index.isValid() and index.column() == self._qcol and self.is_editable(index.row()):
            f |= Qt.ItemFlag.ItemIsEditable
        return f

    def data(self, index, role=Qt.ItemDataRole.DisplayRole):
        if not index.isValid() or not (0 <= index.row() < self.rowCount()):
            return None
        if role == Qt.ItemDataRole.EditRole and index.column() == self._qcol:
            return int(self.value(index.row(), "quantity"))
        if self._removed[self.source_row(index.row())]:
            if role == Qt.ItemDataRole.ForegroundRole:
                return self._grey
            if role == Qt.ItemDataRole.FontRole:
                return self._strike
        if role == Qt.ItemDataRole.ToolTipRole and index.column() == self._qcol and self.is_editable(index.row()):
            return "Double-click to change the quantity; Delete removes the trade"
        return super().data(index, role)

    def setData(self, index, value, role=Qt.ItemDataRole.EditRole) -> bool:
        if role != Qt.ItemDataRole.EditRole or index.column() != self._qcol or not self.is_editable(index.row()):
            return False
        try:
            quantity = int(value)
        except (TypeError, ValueError):
            return False
        if quantity == int(self.value(index.row(), "quantity")) or self.on_edit is None:
            return False
        return bool(self.on_edit(self.trade_id(index.row()), quantity))


class QuantityDelegate(QStyledItemDelegate):
    """Whole shares, with thousands separators, at least 1."""

    def createEditor(self, parent, option, index):
        box = QSpinBox(parent)
        box.setObjectName("quantityEditor")
        box.setRange(1, 2_000_000_000)
        box.setGroupSeparatorShown(True)
        box.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        box.setFrame(False)
        return box

    def setEditorData(self, editor, index):
        editor.setValue(int(index.data(Qt.ItemDataRole.EditRole) or 1))

    def setModelData(self, editor, model, index):
        editor.interpretText()
        model.setData(index, editor.value(), Qt.ItemDataRole.EditRole)
