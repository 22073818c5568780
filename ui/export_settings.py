"""Export settings, set once per database: the drop folder and the formats of a one-click export
(CSV, FIX, XLSX, the lots file, the PDF/HTML sign-off) for the book, and for any custodian that
wants its own (its own folder and formats: its trades go in a batch of their own, see
:mod:`engine.desk.export_routes`); and the import and export folders remembered separately for
each database.

Kept in the console's QSettings under a key made from the database's label
(``db/<key>/export/folder``, ``db/<key>/export/formats``, ``db/<key>/export/no_lots``,
``db/<key>/export/custodians`` (JSON), ``db/<key>/paths/import``), so a desk that works on two
books never sends one book's batch into the other's drop folder. With a drop folder set,
"Export approved" asks only for the confirmation; without one it asks for a folder (and
remembers it for that database).
"""
from __future__ import annotations

import hashlib
import json
import os

from PySide6.QtWidgets import (QCheckBox, QDialog, QDialogButtonBox, QFileDialog, QFormLayout, QGridLayout,
                               QHBoxLayout, QLabel, QLineEdit, QPushButton, QScrollArea, QVBoxLayout, QWidget)

from engine.core.tasks import RefusedError
from engine.desk.export_routes import LOTS, ROUTE_FORMATS, Route, plan
from engine.desk.exporter import FORMATS

FORMAT_LABELS = {"csv": "CSV", "fix": "FIX 4.4", "xlsx": "XLSX (a sheet per custodian)", LOTS: "Lots file",
                 "signoff": "Sign-off (PDF and HTML)"}
SHORT_LABELS = {"csv": "CSV", "fix": "FIX", "xlsx": "XLSX", LOTS: "Lots", "signoff": "Sign-off"}
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


def lots_file(ctx) -> bool:
    """Whether the book's batches carry the lots file (on unless unticked)."""
    return str(ctx.settings.value(_key(ctx, "export/no_lots"), "false")).lower() not in ("true", "1")


def book_formats(ctx) -> tuple[str, ...]:
    """The book's formats as a route has them (:data:`engine.desk.export_routes.ROUTE_FORMATS`)."""
    chosen = set(export_formats(ctx)) | ({LOTS} if lots_file(ctx) else set())
    return tuple(f for f in ROUTE_FORMATS if f in chosen)


def custodian_settings(ctx) -> dict:
    """``{custodian: {"folder": str, "formats": [..]}}`` for the custodians with settings of their own."""
    raw = ctx.settings.value(_key(ctx, "export/custodians"), "") or ""
    try:
        data = json.loads(str(raw)) if raw else {}
    except ValueError:
        return {}
    return {str(c): {"folder": str(v.get("folder") or ""),
                     "formats": [f for f in v.get("formats") or [] if f in ROUTE_FORMATS]}
            for c, v in data.items() if isinstance(v, dict)}


def export_routes(ctx, folder: str | None = None) -> list[Route]:
    """Where a one-click export sends what (the book's folder ``folder`` if given, else its drop folder)."""
    return plan(drop_folder(ctx) if folder is None else folder, book_formats(ctx), custodian_settings(ctx))


def save_export_settings(ctx, folder: str, formats, per_custodian: dict | None = None) -> None:
    """Check and keep the book's drop folder and formats (with or without ``"lots"``) and the
    custodians' own (``{custodian: {"folder", "formats"}}``); ValueError says what is wrong."""
    formats = [f for f in formats if f in ROUTE_FORMATS]
    if not any(f in ("csv", "fix", "xlsx") for f in formats):
        raise ValueError("choose at least one trades format (CSV, FIX or XLSX)")
    folder = str(folder or "").strip()
    if folder and not os.path.isdir(folder):
        raise ValueError(f"the drop folder {folder} does not exist")
    per_custodian = {str(c): {"folder": str(v.get("folder") or "").strip(), "formats": list(v.get("formats") or [])}
                     for c, v in (per_custodian or {}).items()}
    for cust, spec in per_custodian.items():
        if spec["folder"] and not os.path.isdir(spec["folder"]):
            raise ValueError(f"custodian {cust}: the drop folder {spec['folder']} does not exist")
    try:
        plan(folder or "(asked at export)", formats, per_custodian)
    except RefusedError as exc:
        raise ValueError(str(exc)) from None
    ctx.settings.setValue(_key(ctx, "export/folder"), folder)
    ctx.settings.setValue(_key(ctx, "export/formats"), ",".join(f for f in formats if f in FORMATS))
    ctx.settings.setValue(_key(ctx, "export/no_lots"), "false" if LOTS in formats else "true")
    ctx.settings.setValue(_key(ctx, "export/custodians"), json.dumps(per_custodian, sort_keys=True))


class CustodianRow:
    """One custodian's line in the dialog: own settings on/off, folder, formats."""

    def __init__(self, dialog, grid: QGridLayout, row: int, custodian: str, spec: dict | None):
        self.custodian = custodian
        self.own = QCheckBox(custodian)
        self.own.setObjectName(f"own_{custodian}")
        self.own.setToolTip(f"{custodian}'s trades go in a batch of their own, into this folder in these formats")
        self.folder = QLineEdit((spec or {}).get("folder", ""))
        self.folder.setObjectName(f"folder_{custodian}")
        self.folder.setPlaceholderText("empty: the book's drop folder")
        self.browse = QPushButton("Choose…")
        self.browse.clicked.connect(lambda: self._browse(dialog))
        grid.addWidget(self.own, row, 0)
        grid.addWidget(self.folder, row, 1)
        grid.addWidget(self.browse, row, 2)
        chosen = set((spec or {}).get("formats") or dialog.book_defaults())
        self.checks: dict[str, QCheckBox] = {}
        for k, f in enumerate(ROUTE_FORMATS):
            cb = QCheckBox(SHORT_LABELS[f])
            cb.setObjectName(f"format_{custodian}_{f}")
            cb.setChecked(f in chosen)
            grid.addWidget(cb, row, 3 + k)
            self.checks[f] = cb
        self.own.setChecked(spec is not None)
        self.own.toggled.connect(self._enable)
        self._enable(self.own.isChecked())

    def _enable(self, on: bool) -> None:
        for w in (self.folder, self.browse, *self.checks.values()):
            w.setEnabled(on)

    def _browse(self, dialog) -> None:
        folder = QFileDialog.getExistingDirectory(dialog, f"Drop folder for {self.custodian}", self.folder.text())
        if folder:
            self.folder.setText(folder)

    def spec(self) -> dict | None:
        if not self.own.isChecked():
            return None
        return {"folder": self.folder.text().strip(), "formats": [f for f, cb in self.checks.items() if cb.isChecked()]}


class ExportSettingsDialog(QDialog):
    """File → Export settings…: the drop folder and formats of this database's exports."""

    def __init__(self, ctx, parent=None, custodians=None):
        super().__init__(parent)
        self.ctx = ctx
        if custodians is None:
            from engine.desk.views import book_custodians

            custodians = book_custodians(ctx.engine)
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
        chosen = set(book_formats(ctx))
        self.checks: dict[str, QCheckBox] = {}
        box = QVBoxLayout()
        for f in ROUTE_FORMATS:
            cb = QCheckBox(FORMAT_LABELS.get(f, f.upper()))
            cb.setObjectName(f"format_{f}")
            cb.setChecked(f in chosen)
            box.addWidget(cb)
            self.checks[f] = cb
        form.addRow("Formats", box)
        lay.addLayout(form)
        lay.addWidget(QLabel("The manifest (with every file's SHA-256) always goes."))
        own = custodian_settings(ctx)
        self.custodian_rows: dict[str, CustodianRow] = {}
        if custodians:
            lay.addWidget(QLabel("<b>Per custodian</b> — a custodian ticked here gets its trades in a batch of "
                                 "their own, in its folder and formats; the others go with the book's settings."))
            inner = QWidget()
            grid = QGridLayout(inner)
            grid.setContentsMargins(0, 0, 0, 0)
            for k, cust in enumerate(custodians):
                self.custodian_rows[cust] = CustodianRow(self, grid, k, cust, own.get(cust))
            area = QScrollArea()
            area.setObjectName("custodianSettings")
            area.setWidgetResizable(True)
            area.setWidget(inner)
            area.setMinimumHeight(min(len(custodians), 6) * 34 + 8)
            lay.addWidget(area)
        self.error = QLabel()
        self.error.setObjectName("inlineError")
        self.error.hide()
        lay.addWidget(self.error)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Save | QDialogButtonBox.StandardButton.Cancel)
        self.save_button = buttons.button(QDialogButtonBox.StandardButton.Save)
        buttons.accepted.connect(self.save)
        buttons.rejected.connect(self.reject)
        lay.addWidget(buttons)
        self.resize(820 if custodians else 560, self.sizeHint().height())

    def book_defaults(self) -> tuple[str, ...]:
        return book_formats(self.ctx)

    def _browse(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Drop folder", self.folder.text())
        if folder:
            self.folder.setText(folder)

    def save(self) -> bool:
        try:
            per = {c: r.spec() for c, r in self.custodian_rows.items() if r.spec() is not None}
            save_export_settings(self.ctx, self.folder.text(), [f for f, cb in self.checks.items() if cb.isChecked()],
                                 per)
        except ValueError as exc:
            self.error.setText(str(exc))
            self.error.show()
            return False
        self.accept()
        return True
