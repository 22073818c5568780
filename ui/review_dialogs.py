"""The reason dialogs of the Proposals panel: reject (a reason code and text), withdraw an
approval, restore a rejection or a removed trade (text). Window-modal and not blocking
(``open()``): the caller acts on ``accepted``; tests fill the fields and click the buttons."""
from __future__ import annotations

from PySide6.QtWidgets import (QComboBox, QDialog, QDialogButtonBox, QFormLayout, QLabel, QLineEdit,
                               QVBoxLayout)


class ReasonDialog(QDialog):
    """Asks why before a decision is changed: an optional reason code (rejections) and the
    required text; the OK button (named after the action) is enabled once there is text."""

    def __init__(self, parent, title: str, text: str, ok: str, *, codes: tuple[str, ...] = (),
                 informative: str = ""):
        super().__init__(parent)
        self.setObjectName("reasonDialog")
        self.setWindowTitle(title)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(18, 16, 18, 12)
        self.heading = QLabel(text)
        self.heading.setObjectName("emptyTitle")
        self.heading.setWordWrap(True)
        lay.addWidget(self.heading)
        if informative:
            self.info = QLabel(informative)
            self.info.setWordWrap(True)
            lay.addWidget(self.info)
        form = QFormLayout()
        self.code = QComboBox()
        self.code.setObjectName("reasonCode")
        for c in codes:
            self.code.addItem(c.replace("_", " ").capitalize(), c)
        if codes:
            form.addRow("Reason code", self.code)
        else:
            self.code.hide()
        self.reason = QLineEdit()
        self.reason.setObjectName("reasonText")
        self.reason.setPlaceholderText("why (required; kept on the proposal and in the audit log)")
        form.addRow("Reason", self.reason)
        lay.addLayout(form)
        buttons = QDialogButtonBox()
        self.ok_button = buttons.addButton(ok, QDialogButtonBox.ButtonRole.AcceptRole)
        self.ok_button.setObjectName("reasonOk")
        self.ok_button.setProperty("primary", True)
        self.cancel_button = buttons.addButton(QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        lay.addWidget(buttons)
        self.ok_button.setEnabled(False)
        self.reason.textChanged.connect(lambda t: self.ok_button.setEnabled(bool(t.strip())))
        self.resize(520, self.sizeHint().height())

    def values(self) -> tuple[str | None, str]:
        """(code or None, text)."""
        return (self.code.currentData() if self.code.count() else None), self.reason.text().strip()
