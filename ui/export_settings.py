"""Export settings, set once per database: the drop folder and the formats of a one-click export
(CSV, FIX, XLSX, the PDF/HTML sign-off; the lots file always goes), and the import and export
folders remembered separately for each database.

Kept in the console's QSettings under a key made from the database's label
(``db/<key>/export/folder``, ``db/<key>/export/formats``, ``db/<key>/paths/import``), so a desk
that works on two books never sends one book's batch into the other's drop folder. With a drop
folder set, "Export approved" asks only for the confirmation; without one it asks for a folder
(and remembers it for that database).
"""
from __future__ import annotations

import hashlib
import os

from PySide6.QtWidgets import (QCheckBox, QDialog, QDialogButtonBox, QFileDialog, QFormLayout, QHBoxLayout, QLabel,
                               QLineEdit, QPushButton, QVBoxLayout)

from engine.desk.exporter import FORMATS

FORMAT_LABELS = {"csv": "CSV", "fix": "FIX 4.4", "xlsx": "XLSX (a sheet per custodian)",
                 "signoff": "Sign-off (PDF and HTML)"}
DEFAULT_FORMATS = ("csv", "fix", "signoff")


def db_key(db_label: str) -> str:
    """A settings-safe key for a database (its label may hold slashes and a URL)."""
    return hashlib.sha256(str(db_label).encode()).hexdigest()[:16]


def _key(ctx, name: str) -> str:
    return f"db/{db_key(ctx.db_label)}/{name}"


def export_formats(ctx) -> tuple[str, ...]:
    raw = ctx.settings.value(_key(ctx, "export/formats"), None)
    if raw is None:  # the console-wide setting before formats were kept per database
        raw = ctx.settings.value("export/formats", ",".join(DEFAULT_FORMATS))
    chosen = tuple(f for f in str(raw).split(",") if f in FORMATS)
    return chosen or DEFAULT_FORMATS


def drop_folder(ctx) -> str:
    """The database's drop folder for one-click exports ('' = ask each time)."""
    return str(ctx.settings.value(_key(ctx, "export/folder"), "") or "")


def remembered_folder(ctx, what: str) -> str:
    """The folder last used for ``what`` (import, export, sample) with this database."""
    return str(ctx.settings.value(_key(ctx, f"paths/{what}"), "") or "")


def remember_folder(ctx, what: str, folder: str) -> None:
    ctx.settings.setValue(_key(ctx, f"paths/{what}"), str(folder))


def save_export_settings(ctx, folder: str, formats) -> None:
    formats = [f for f in formats if f in FORMATS]
    if not any(f in ("csv", "fix", "xlsx") for f in formats):
        raise ValueError("choose at least one trades format (CSV, FIX or XLSX)")
    folder = str(folder or "").strip()
    if folder and not os.path.isdir(folder):
        raise ValueError(f"the drop folder {folder} does not exist")
    ctx.settings.setValue(_key(ctx, "export/folder"), folder)
    ctx.settings.setValue(_key(ctx, "export/formats"), ",".join(formats))


class ExportSettingsDialog(QDialog):
    """File → Export settings…: the drop folder and formats of this database's exports."""

    def __init__(self, ctx, parent=None):
        super().__init__(parent)
        self.ctx = ctx
        self.setObjectName("exportSettings")
        self.setWindowTitle("Export settings")
        lay = QVBoxLayout(self)
        lay.addWidget(QLabel(f"For the database {ctx.db_label}"))
        form = QFormLayout()
        row = QHBoxLayout()
        self.folder = QLineEdit(drop_folder(ctx))
        self.folder.setObjectName("dropFolder")
        self.folder.setPlaceholderText("empty: ask for a folder at each export")
        browse = QPushButton("Choose…")
        browse.clicked.connect(self._browse)
        row.addWidget(self.folder, 1)
        row.addWidget(browse)
        form.addRow("Drop folder", row)
        chosen = set(export_formats(ctx))
        self.checks: dict[str, QCheckBox] = {}
        box = QVBoxLayout()
        for f in FORMATS:
            cb = QCheckBox(FORMAT_LABELS.get(f, f.upper()))
            cb.setObjectName(f"format_{f}")
            cb.setChecked(f in chosen)
            box.addWidget(cb)
            self.checks[f] = cb
        form.addRow("Formats", box)
        lay.addLayout(form)
        lay.addWidget(QLabel("The lots file and the manifest (with every file's SHA-256) always go."))
        self.error = QLabel()
        self.error.setObjectName("inlineError")
        self.error.hide()
        lay.addWidget(self.error)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Save | QDialogButtonBox.StandardButton.Cancel)
        self.save_button = buttons.button(QDialogButtonBox.StandardButton.Save)
        buttons.accepted.connect(self.save)
        buttons.rejected.connect(self.reject)
        lay.addWidget(buttons)
        self.resize(560, self.sizeHint().height())

    def _browse(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Drop folder", self.folder.text())
        if folder:
            self.folder.setText(folder)

    def save(self) -> bool:
        try:
            save_export_settings(self.ctx, self.folder.text(), [f for f, cb in self.checks.items() if cb.isChecked()])
        except ValueError as exc:
            self.error.setText(str(exc))
            self.error.show()
            return False
        self.accept()
        return True
