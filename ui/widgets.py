"""Small reusable widgets: the data table, navigation badges, number cards, empty states."""
from __future__ import annotations

from PySide6.QtCore import QByteArray, QRect, QSettings, QSize, Qt, QTimer, Signal
from PySide6.QtGui import QColor, QFont, QFontMetrics, QKeySequence, QPainter, QPalette
from PySide6.QtWidgets import (QAbstractItemView, QFrame, QHBoxLayout, QHeaderView, QLabel, QLineEdit, QPushButton,
                               QSizePolicy, QSplitter, QStyle, QStyledItemDelegate, QTableView, QVBoxLayout,
                               QWidget)

from ui.models import FrameModel

BadgeRole = Qt.ItemDataRole.UserRole + 1       # int: the count shown on a navigation item
BadgeAlertRole = Qt.ItemDataRole.UserRole + 2  # bool: draw the badge in the alert colour


class DataTable(QTableView):
    """A QTableView for :class:`FrameModel`: row selection, header sorting (done in numpy by
    the model), columns fitted to their header and contents once, state kept in QSettings."""

    def __init__(self, model: FrameModel, name: str, parent=None, *, stretch_last: bool = True):
        super().__init__(parent)
        self.setObjectName(name)
        self.setModel(model)
        self.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.setAlternatingRowColors(True)
        self.setWordWrap(False)
        self.setTextElideMode(Qt.TextElideMode.ElideRight)
        self.setSortingEnabled(True)
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.verticalHeader().setVisible(False)
        self.verticalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Fixed)
        self.verticalHeader().setDefaultSectionSize(self.fontMetrics().height() + 10)
        h = self.horizontalHeader()
        h.setSectionsMovable(True)
        h.setHighlightSections(False)
        h.setStretchLastSection(stretch_last)
        h.setResizeContentsPrecision(300)
        h.setDefaultAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)
        h.setSortIndicator(-1, Qt.SortOrder.AscendingOrder)
        self._fitted = False
        self._restored = False
        self.max_column_width = 420  # long text is elided (its tooltip has it all)
        # H (or a double-click, where the table has no double-click of its own) on a row with an
        # account opens that account's history (the History panel)
        self.double_click_history = True
        from ui import table_tools

        table_tools.install(self)  # copy rows, export CSV/XLSX, column chooser, saved views

    # ------------------------------------------------------------------ account history
    def current_account(self) -> str | None:
        """The account of the current row (a frame column ``account_id``), or None."""
        model = self.model()
        idx = self.currentIndex()
        row = idx.row() if idx.isValid() else self.selected_row()
        if row < 0 or not isinstance(model, FrameModel) or "account_id" not in model.frame():
            return None
        value = model.value(row, "account_id")
        return str(value) if value else None

    def open_history(self) -> bool:
        """Ask the console to show the current row's account history (via the panel's context)."""
        account = self.current_account()
        if not account:
            return False
        w = self.parent()
        while w is not None and not hasattr(getattr(w, "ctx", None), "navigate"):
            w = w.parent()
        if w is None:
            return False
        w.ctx.navigate.emit("History", account)
        return True

    def keyPressEvent(self, event) -> None:
        if event.matches(QKeySequence.StandardKey.Copy):
            from ui.table_tools import copy_rows

            copy_rows(self)
            event.accept()
            return
        if event.key() == Qt.Key.Key_H and event.modifiers() in (Qt.KeyboardModifier.NoModifier,
                                                                 Qt.KeyboardModifier.ControlModifier) \
                and self.open_history():
            event.accept()
            return
        super().keyPressEvent(event)

    def mouseDoubleClickEvent(self, event) -> None:
        super().mouseDoubleClickEvent(event)
        if self.double_click_history and self.indexAt(event.position().toPoint()).isValid():
            self.open_history()

    def showEvent(self, event) -> None:
        super().showEvent(event)
        if not self._fitted:  # headers fit from the first show, before any data comes
            self.fit_columns()

    def frame_model(self) -> FrameModel:
        return self.model()

    def fit_columns(self, force: bool = False, sample: int = 200) -> None:
        """Size every column to its full header and its widest value among the first ``sample``
        rows (measured bold: urgent rows are), capped at 420 px. Runs once with data (and once
        before, for the headers) unless ``force``; a layout the user saved wins."""
        model = self.model()
        n = model.rowCount()
        if not force and (self._restored or self._fitted == "rows" or (self._fitted and not n)):
            return
        bold = QFont(self.font())
        bold.setBold(True)
        fm = QFontMetrics(bold)
        for c in range(model.columnCount()):
            title = str(model.headerData(c, Qt.Orientation.Horizontal) or "")
            width = fm.horizontalAdvance(title) + 30  # margins and the sort indicator
            content = 0
            for r in range(min(n, sample)):
                text = model.data(model.index(r, c))
                if text:
                    content = max(content, fm.horizontalAdvance(str(text)))
            self.setColumnWidth(c, max(width, min(content + 16, self.max_column_width), 48))
        self._fitted = "rows" if n else "header"

    def selected_row(self) -> int:
        rows = self.selectionModel().selectedRows() if self.selectionModel() else []
        return rows[0].row() if rows else -1

    def select_row(self, row: int) -> None:
        if 0 <= row < self.model().rowCount():
            self.selectRow(row)
            self.scrollTo(self.model().index(row, 0), QAbstractItemView.ScrollHint.PositionAtCenter)

    def save_state(self, settings: QSettings) -> None:
        settings.setValue(f"tables/{self.objectName()}/header", self.horizontalHeader().saveState())

    def restore_state(self, settings: QSettings) -> None:
        state = settings.value(f"tables/{self.objectName()}/header")
        if isinstance(state, (QByteArray, bytes)) and self.horizontalHeader().restoreState(state):
            self._restored = True
            h = self.horizontalHeader()
            if h.sortIndicatorSection() >= self.model().columnCount():
                h.setSortIndicator(-1, Qt.SortOrder.AscendingOrder)


class NavDelegate(QStyledItemDelegate):
    """Navigation items with a count badge on the right (alert badges in red)."""

    def sizeHint(self, option, index) -> QSize:
        s = super().sizeHint(option, index)
        return QSize(s.width() + 48, max(s.height(), option.fontMetrics.height() + 16))

    def paint(self, painter: QPainter, option, index) -> None:
        super().paint(painter, option, index)
        n = index.data(BadgeRole)
        if not n:
            return
        alert = bool(index.data(BadgeAlertRole))
        text = f"{int(n):,}"
        painter.save()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        font = QFont(option.font)
        font.setPointSizeF(max(7.0, font.pointSizeF() * 0.85))
        font.setBold(True)
        painter.setFont(font)
        fm = painter.fontMetrics()
        w = fm.horizontalAdvance(text) + 14
        h = fm.height() + 4
        r = option.rect
        box = QRect(r.right() - w - 8, r.center().y() - h // 2, w, h)
        selected = bool(option.state & QStyle.StateFlag.State_Selected)
        bg = QColor("#b3261e") if alert else (QColor("#ffffff") if selected else QColor("#5f6b7a"))
        fg = QColor("#ffffff") if alert or not selected else QColor("#1f4e8c")
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(bg)
        painter.drawRoundedRect(box, h / 2, h / 2)
        painter.setPen(fg)
        painter.drawText(box, Qt.AlignmentFlag.AlignCenter, text)
        painter.restore()


class Card(QFrame):
    """A big number with a caption (the Today panel's headline counts)."""
    clicked = Signal()

    def __init__(self, caption: str, parent=None, *, alert: bool = False):
        super().__init__(parent)
        self.setObjectName("card")
        self.setProperty("alert", alert)
        self.setFrameShape(QFrame.Shape.StyledPanel)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(14, 10, 14, 10)
        lay.setSpacing(2)
        self.value = QLabel("–")
        self.value.setObjectName("cardValue")
        self.caption = QLabel(caption)
        self.caption.setObjectName("cardCaption")
        self.note = QLabel("")
        self.note.setObjectName("cardNote")
        lay.addWidget(self.value)
        lay.addWidget(self.caption)
        lay.addWidget(self.note)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)

    def set(self, value: str, note: str = "") -> None:
        self.value.setText(value)
        self.note.setText(note)

    def mouseReleaseEvent(self, event) -> None:
        self.clicked.emit()
        super().mouseReleaseEvent(event)


class EmptyState(QWidget):
    """A centred message with optional action buttons."""

    def __init__(self, title: str, text: str = "", parent=None):
        super().__init__(parent)
        self.setObjectName("emptyState")
        lay = QVBoxLayout(self)
        lay.addStretch(2)
        self.title = QLabel(title)
        self.title.setObjectName("emptyTitle")
        self.title.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.title.setWordWrap(True)
        self.text = QLabel(text)
        self.text.setObjectName("emptyText")
        self.text.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.text.setWordWrap(True)
        lay.addWidget(self.title)
        lay.addWidget(self.text)
        self.buttons = QHBoxLayout()
        self.buttons.addStretch(1)
        self.buttons.addStretch(1)
        lay.addSpacing(12)
        lay.addLayout(self.buttons)
        lay.addStretch(3)

    def add_button(self, text: str, slot, primary: bool = False) -> QPushButton:
        b = QPushButton(text)
        b.setProperty("primary", primary)
        b.clicked.connect(slot)
        self.buttons.insertWidget(self.buttons.count() - 1, b)
        return b

    def set_text(self, title: str, text: str = "") -> None:
        self.title.setText(title)
        self.text.setText(text)


class Banner(QLabel):
    """A one-line notice above a panel's content: info, warn or error."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setObjectName("banner")
        self.setWordWrap(True)
        self.setTextFormat(Qt.TextFormat.RichText)
        self.setOpenExternalLinks(False)
        self.hide()

    def show_message(self, text: str, level: str = "info") -> None:
        self.setProperty("level", level)
        self.style().unpolish(self)
        self.style().polish(self)
        self.setText(text)
        self.setVisible(bool(text))


def section_title(text: str) -> QLabel:
    label = QLabel(text)
    label.setObjectName("sectionTitle")
    return label


def inline_error(selectable: bool = False) -> QLabel:
    """An inline message under a form or a table, hidden until :func:`set_error_text` fills it."""
    label = QLabel()
    label.setObjectName("inlineError")
    label.setWordWrap(True)
    if selectable:
        label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    label.hide()
    return label


def filter_edit(name: str, placeholder: str) -> QLineEdit:
    """A table's text filter: named for the tests and the style sheet, with a clear button."""
    edit = QLineEdit()
    edit.setObjectName(name)
    edit.setPlaceholderText(placeholder)
    edit.setClearButtonEnabled(True)
    return edit


def debounce(owner: QWidget, ms: int, slot) -> QTimer:
    """A single-shot timer of ``ms`` that calls ``slot``: start it on each keystroke, so the slot
    runs once the typing pauses."""
    timer = QTimer(owner)
    timer.setSingleShot(True)
    timer.setInterval(ms)
    timer.timeout.connect(slot)
    return timer


def count_label() -> QLabel:
    """The grey "n of m" line beside a table's filters."""
    label = QLabel()
    label.setObjectName("countLabel")
    return label


class MasterDetail(QSplitter):
    """A panel's table above the selected row's detail: ``table`` over ``model``, then the
    ``detail`` widget whose layout ``dl`` starts with the ``title_row`` (the ``title`` label,
    stretching; the panel adds its buttons to the row and its widgets to ``dl``)."""

    def __init__(self, owner, name: str, columns, table_name: str, max_column_width: int):
        super().__init__(Qt.Orientation.Vertical)
        self.setObjectName(name)
        self.model = FrameModel(columns, owner)
        self.table = DataTable(self.model, table_name)
        self.table.max_column_width = max_column_width
        self.addWidget(self.table)
        self.detail = QWidget()
        self.dl = QVBoxLayout(self.detail)
        self.dl.setContentsMargins(0, 8, 0, 0)
        self.title_row = QHBoxLayout()
        self.title = QLabel()
        self.title.setObjectName("sectionTitle")
        self.title_row.addWidget(self.title, 1)
        self.dl.addLayout(self.title_row)
        self.addWidget(self.detail)

    def selected(self, key: str):
        """The ``key`` column of the selected row (None when no row is selected)."""
        row = self.table.selected_row()
        return self.model.value(row, key) if row >= 0 else None


def set_error_text(label: QLabel, text: str, ok: bool = False) -> None:
    """An inline message under a form: red for a refusal, green for a success."""
    label.setProperty("ok", ok)
    label.style().unpolish(label)
    label.style().polish(label)
    label.setText(text)
    label.setVisible(bool(text))


def palette_color(widget: QWidget, role=QPalette.ColorRole.Mid) -> QColor:
    return widget.palette().color(role)
