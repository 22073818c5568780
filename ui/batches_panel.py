"""Batches: the history of export batches — files with their SHA-256, counts, user, time — and
the trades locked to each; plus the dialog shown after a one-click export.

Checksums come from the batch's manifest (recorded in the same transaction that locked the
trades); "Verify files" hashes the files on disk again and says which match, changed or went
missing. "Open folder" opens the batch folder with the desktop's file manager
(``QDesktopServices.openUrl``).
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pandas as pd
from PySide6.QtCore import Qt, QUrl
from PySide6.QtGui import QDesktopServices, QFont
from PySide6.QtWidgets import (QAbstractItemView, QDialog, QDialogButtonBox, QHBoxLayout, QHeaderView, QLabel,
                               QPushButton, QTableWidget, QTableWidgetItem, QVBoxLayout)

from engine.desk.exporter import batch_trades, batches_frame
from ui import fmt
from ui.models import Col, FrameModel, gui_ready
from ui.panel import AppContext, Panel
from ui.proposals_frames import lots_text
from ui.read_worker import in_worker
from ui.widgets import Banner, DataTable, EmptyState, MasterDetail, count_label, section_title

BATCH_COLUMNS = [
    Col("id", "Batch"),
    Col("created_at", "Exported", "datetime", "When the batch was recorded (your local time)"),
    Col("created_by", "By"),
    Col("n_lines", "Order lines", "count", "Lines in the files (one per account, symbol and side, or per lot)"),
    Col("n_trades", "Trades", "count", "Approved trades locked to this batch"),
    Col("n_accounts", "Accounts", "count"),
    Col("buys", "Buy lines", "count"),
    Col("sells", "Sell lines", "count"),
    Col("file_names", "Files", tooltip_key="file_names"),
    Col("out_dir", "Folder", tooltip_key="out_dir"),
]
TRADE_COLUMNS = [
    Col("account_id", "Account"), Col("custodian", "Custodian"), Col("side", "Side"), Col("symbol", "Symbol"),
    Col("quantity", "Shares", "qty"), Col("est_price", "Price", "money2"), Col("est_value", "Value", "money"),
    Col("category", "Category"), Col("reason", "Reason"),
    Col("lots_text", "Lots", tip="Tax lots the sell takes shares from", tooltip_key="lots_text"),
]


def human_size(n) -> str:
    if n is None or (isinstance(n, float) and np.isnan(n)):
        return ""
    n = float(n)
    for unit in ("bytes", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:,.0f} {unit}" if unit == "bytes" else f"{n:,.1f} {unit}"
        n /= 1024
    return ""


def manifest_of(text) -> dict:
    try:
        return json.loads(text or "{}")
    except (TypeError, ValueError):
        return {}


def batches_table(engine) -> pd.DataFrame:
    """:func:`engine.desk.exporter.batches_frame` with the manifest's counts and files as columns."""
    df = batches_frame(engine)
    if not len(df):
        return df.assign(n_lines=[], buys=[], sells=[], file_names=[], files=[])
    mans = [manifest_of(t) for t in df["manifest"]]
    counts = [m.get("counts", {}) for m in mans]
    return df.assign(
        n_lines=[c.get("order_lines") for c in counts], buys=[c.get("buys") for c in counts],
        sells=[c.get("sells") for c in counts],
        file_names=[", ".join(f.get("name", "") for f in m.get("files", [])) for m in mans],
        files=[m.get("files", []) for m in mans])


def read_batch_trades(engine, batch_id: str) -> tuple:
    """A batch's trades for the detail, ready for the GUI thread (module-level: it runs in a worker
    process, :mod:`ui.read_worker`): ``(batch_id, trades, value, sells, n_accounts)``."""
    trades = batch_trades(engine, batch_id)
    trades = gui_ready(trades.assign(lots_text=[lots_text(v) for v in trades["lots"].to_numpy(object)]),
                       categorical=True)  # a batch of 100,000 accounts' trades: cells by code
    value = float(trades["est_value"].fillna(0).sum()) if len(trades) else 0.0
    sells = float(trades.loc[trades["side"] == "SELL", "est_value"].fillna(0).sum()) if len(trades) else 0.0
    n_accounts = int(trades["account_id"].nunique()) if len(trades) else 0
    return batch_id, trades, value, sells, n_accounts


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def open_folder(path: str) -> bool:
    """Open ``path`` in the desktop's file manager (tests monkeypatch QDesktopServices.openUrl)."""
    return bool(QDesktopServices.openUrl(QUrl.fromLocalFile(str(path))))


def _files_table(name: str) -> QTableWidget:
    t = QTableWidget(0, 4)
    t.setObjectName(name)
    t.setHorizontalHeaderLabels(["File", "SHA-256", "Size", "On disk"])
    t.verticalHeader().setVisible(False)
    t.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    t.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    t.setWordWrap(False)
    t.setAlternatingRowColors(True)
    h = t.horizontalHeader()
    h.setDefaultAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)
    h.setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
    h.setSectionResizeMode(1, QHeaderView.ResizeMode.ResizeToContents)
    h.setSectionResizeMode(2, QHeaderView.ResizeMode.ResizeToContents)
    h.setStretchLastSection(True)
    t.verticalHeader().setDefaultSectionSize(t.fontMetrics().height() + 8)
    return t


def _fill_files(table: QTableWidget, rows: list[tuple[str, str | None, int | None, str]]) -> None:
    """rows: (name, sha256 or None, bytes or None, on-disk state)."""
    mono = QFont("monospace")
    mono.setStyleHint(QFont.StyleHint.Monospace)
    mono.setPointSizeF(max(7.5, table.font().pointSizeF() - 0.5))
    table.setRowCount(len(rows))
    for i, (name, digest, size, state) in enumerate(rows):
        items = [QTableWidgetItem(name), QTableWidgetItem(digest or "— (manifest: lists the checksums)"),
                 QTableWidgetItem(human_size(size)), QTableWidgetItem(state)]
        if digest:
            items[1].setFont(mono)
        items[1].setToolTip(digest or "")
        items[2].setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        if state.startswith(("changed", "missing")):
            items[3].setForeground(Qt.GlobalColor.red)
        for j, it in enumerate(items):
            table.setItem(i, j, it)


class BatchesPanel(Panel):
    title = "Batches"

    def __init__(self, ctx: AppContext, parent=None):
        super().__init__(ctx, parent)
        self.current: str | None = None
        self.verified: dict[str, str] = {}
        outer = QVBoxLayout(self)
        outer.setContentsMargins(16, 12, 16, 12)
        self.banner = Banner()
        outer.addWidget(self.banner)
        head = QHBoxLayout()
        self.count = count_label()
        head.addWidget(section_title("Export batches, newest first"))
        head.addStretch(1)
        head.addWidget(self.count)
        outer.addLayout(head)

        self.split = MasterDetail(self, "batchesSplit", BATCH_COLUMNS, "batchesTable", 360)
        self.model, self.table, self.detail_title, dl = self.split.model, self.split.table, self.split.title, self.split.dl
        row = self.split.title_row
        self.detail_title.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.detail_title.setWordWrap(True)  # a long drop-folder path wraps instead of being cut off
        self.verify_button = QPushButton("Verify files")
        self.verify_button.setObjectName("verifyFiles")
        self.verify_button.setToolTip("Hash the batch's files on disk again and compare with the recorded SHA-256")
        self.open_button = QPushButton("Open folder")
        self.open_button.setObjectName("openFolder")
        self.signoff_button = QPushButton("Sign-off…")
        self.signoff_button.setObjectName("batchSignoff")
        self.signoff_button.setToolTip("Write the batch's printable sign-off (PDF and HTML) into a folder")
        row.addWidget(self.verify_button)
        row.addWidget(self.signoff_button)
        row.addWidget(self.open_button)
        self.files = _files_table("batchFiles")
        self.files.setMaximumHeight(self.files.fontMetrics().height() * 7 + 20)
        dl.addWidget(self.files)
        self.trades_title = section_title("Trades")
        dl.addWidget(self.trades_title)
        self.trades_model = FrameModel(TRADE_COLUMNS, self)
        self.trades = DataTable(self.trades_model, "batchTrades")
        self.trades.max_column_width = 240
        dl.addWidget(self.trades, 1)
        self.split.setSizes([220, 580])
        self.stack_empty = EmptyState("No batch exported yet",
                                      "Approved trades are exported in one batch with “Export approved…” (Ctrl+E).")
        self.stack_empty.add_button("Export approved…", lambda: self.ctx.request.emit("export"), primary=True)
        outer.addWidget(self.stack_empty, 1)
        outer.addWidget(self.split, 1)

        self.table.selectionModel().selectionChanged.connect(lambda *_: self._on_select())
        self.model.modelReset.connect(self._reselect)
        self.open_button.clicked.connect(self.open_current_folder)
        self.verify_button.clicked.connect(self.verify)
        self.signoff_button.clicked.connect(self.write_signoff)
        self._show(None)

    def refresh(self) -> None:
        """Read the batches in a worker process (:mod:`ui.read_worker`), then show them."""
        self.load(in_worker(batches_table, self.ctx.engine), self._apply, what="the batches")

    def _apply(self, df) -> None:
        has = bool(len(df))
        self.stack_empty.setVisible(not has)
        self.split.setVisible(has)
        self.count.setText(f"{len(df):,} batch{'es' if len(df) != 1 else ''} · "
                           f"{int(df['n_trades'].sum()) if has else 0:,} trades" if has else "")
        self.model.set_frame(df)
        self.table.fit_columns(sample=40)
        if has and (self.current is None or self.model.find("id", self.current) < 0):
            self.table.select_row(0)

    def focus(self, payload) -> None:
        if payload is None:
            return
        row = self.model.find("id", str(payload))
        if row >= 0:
            self.table.select_row(row)

    def _reselect(self) -> None:
        row = self.model.find("id", self.current) if self.current else -1
        if row >= 0:
            self.table.select_row(row)

    def _on_select(self) -> None:
        bid = self.split.selected("id")
        if bid is not None and bid != self.current:
            self.current = bid
            self._show(bid)

    def _record(self) -> dict:
        row = self.model.find("id", self.current) if self.current else -1
        return self.model.row_dict(row) if row >= 0 else {}

    def _show(self, batch_id: str | None) -> None:
        rec = self._record() if batch_id else {}
        for b in (self.open_button, self.verify_button, self.signoff_button):
            b.setEnabled(bool(rec))
        if not rec:
            self.detail_title.setText("Select a batch to see its files and trades")
            _fill_files(self.files, [])
            self.trades_model.set_frame(pd.DataFrame(columns=[c.key for c in TRADE_COLUMNS]))
            return
        self.detail_title.setText(f"Batch {batch_id} · {fmt.local_time(rec.get('created_at'))} · by "
                                  f"{rec.get('created_by')} · {rec.get('out_dir')}")
        self._fill_files(rec)
        self.trades_title.setText("Trades — loading…")
        self.load(in_worker(read_batch_trades, self.ctx.engine, batch_id), self._apply_trades, channel="trades",
                  what="the trades")

    def _apply_trades(self, result) -> None:
        batch_id, trades, value, sells, n_accounts = result
        if batch_id != self.current:
            return
        self.trades_model.set_frame(trades)
        self.trades_title.setText(f"Trades — {len(trades):,} · {n_accounts:,}"
                                  f" accounts · sells {fmt.money(sells)} · buys {fmt.money(value - sells)}")
        self.trades.fit_columns(sample=40)

    def write_signoff(self) -> list[dict]:
        """The selected batch's sign-off (PDF and HTML) into a folder the user picks (engine.desk.signoff)."""
        from engine.desk.signoff import write_signoff
        from engine.core.tasks import RefusedError
        from ui import dialogs

        if not self.current:
            return []
        start = str(self.ctx.settings.value("paths/signoff", self._record().get("out_dir") or ""))
        folder = dialogs.choose_folder(self, f"Write the sign-off of batch {self.current} into", start)
        if not folder:
            return []
        try:
            written = write_signoff(self.ctx.engine, self.current, folder, user=self.ctx.user)
        except RefusedError as exc:
            dialogs.show_error(self, "Sign-off", exc)
            return []
        self.ctx.settings.setValue("paths/signoff", folder)
        dialogs.info(self, "Sign-off", f"Sign-off of batch {self.current} written.",
                     "\n".join(f"{w['name']}  SHA-256 {w['sha256']}" for w in written))
        self.ctx.notify("export")
        return written

    def _fill_files(self, rec: dict) -> None:
        files = rec.get("files") or []
        folder = Path(str(rec.get("out_dir") or ""))
        rows = [(f.get("name", ""), f.get("sha256"), f.get("bytes"), self.verified.get(f"{rec['id']}/{f.get('name')}", ""))
                for f in files]
        manifest = folder / f"batch_{rec['id']}.json"
        rows.append((manifest.name, None, manifest.stat().st_size if manifest.exists() else None,
                     self.verified.get(f"{rec['id']}/{manifest.name}", "")))
        _fill_files(self.files, rows)

    def verify(self) -> dict[str, str]:
        """Hash the current batch's files on disk: name -> "matches" | "changed …" | "missing"."""
        rec = self._record()
        if not rec:
            return {}
        folder = Path(str(rec.get("out_dir") or ""))
        out = {}
        for f in rec.get("files") or []:
            path = folder / f.get("name", "")
            if not path.exists():
                state = "missing"
            else:
                state = "matches ✓" if sha256_file(path) == f.get("sha256") else "changed since export ✗"
            out[f.get("name", "")] = state
            self.verified[f"{rec['id']}/{f.get('name')}"] = state
        manifest = folder / f"batch_{rec['id']}.json"
        self.verified[f"{rec['id']}/{manifest.name}"] = "present" if manifest.exists() else "missing"
        self._fill_files(rec)
        return out

    def open_current_folder(self) -> bool:
        rec = self._record()
        return open_folder(rec["out_dir"]) if rec else False

    def save_state(self, settings) -> None:
        settings.setValue("batches/split", self.split.saveState())
        self.table.save_state(settings)
        self.trades.save_state(settings)

    def restore_state(self, settings) -> None:
        state = settings.value("batches/split")
        if state is not None:
            self.split.restoreState(state)
        self.table.restore_state(settings)
        self.trades.restore_state(settings)


# --------------------------------------------------------------------------- after an export
class BatchResultDialog(QDialog):
    """What a one-click export wrote: batch id, files with checksums and sizes, counts."""

    def __init__(self, parent, result):
        super().__init__(parent)
        self.setObjectName("batchResult")
        self.result = result
        self.setWindowTitle("Export approved")
        lay = QVBoxLayout(self)
        lay.setContentsMargins(18, 16, 18, 12)
        self.heading = QLabel()
        self.heading.setObjectName("emptyTitle")
        self.heading.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.text = QLabel()
        self.text.setWordWrap(True)
        self.text.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        lay.addWidget(self.heading)
        lay.addWidget(self.text)
        self.files = _files_table("batchResultFiles")
        self.folder = ""
        buttons = QDialogButtonBox()
        self.open_button = buttons.addButton("Open folder", QDialogButtonBox.ButtonRole.ActionRole)
        self.open_button.setObjectName("openFolder")
        self.close_button = buttons.addButton(QDialogButtonBox.StandardButton.Close)
        self.close_button.setDefault(True)
        buttons.rejected.connect(self.reject)
        self.close_button.clicked.connect(self.accept)
        self.open_button.clicked.connect(lambda: open_folder(self.folder))
        if result is None:
            self.heading.setText("Nothing approved to export")
            self.text.setText("No approved trade is waiting: approve proposals (or enter manual trades) first. "
                              "Nothing was written.")
            self.open_button.hide()
            self.files.hide()
            lay.addStretch(1)
            self.resize(460, 160)
        else:
            paths = [Path(p) for p, _ in result.files]
            self.folder = str(paths[0].parent) if paths else ""
            lines = getattr(result, "n_lines", None)
            skipped = int(getattr(result, "skipped_stale", 0) or 0)
            self.heading.setText(f"Batch {result.batch_id} exported")
            self.text.setText(
                (f"{lines:,} order lines · " if lines is not None else "") + f"{result.n_trades:,} trades · "
                f"{result.n_accounts:,} accounts, into {self.folder}. Each trade is locked to this batch and is "
                "never sent again."
                + (f" {skipped:,} approved trade(s) of an older run were not sent: run again to propose them on "
                   "the current book." if skipped else "")
                + "".join(f" Kept back: {acc} ({n:,} trade(s)), {why}." for acc, n, why in
                          tuple(getattr(result, "kept_back", ()) or ())[:10]))
            blocked = getattr(result, "blocked", None)
            if blocked is not None and len(blocked):  # kept back by what is in force now: named
                from engine.desk.compliance import describe_blocked

                self.blocked_text = QLabel(
                    f"Kept back — {len(blocked):,} approved trade(s) of {blocked['account_id'].nunique():,} "
                    "account(s), blocked by what is in force now (they stay approved and go out once it "
                    "ends):\n" + "\n".join(describe_blocked(blocked, 10)))
                self.blocked_text.setObjectName("blockedTrades")
                self.blocked_text.setWordWrap(True)
                self.blocked_text.setStyleSheet("color:#b3261e")
                self.blocked_text.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
                lay.addWidget(self.blocked_text)
            rows = []
            for p, digest in result.files:
                path = Path(p)
                size = path.stat().st_size if path.exists() else None
                rows.append((path.name, digest, size, "written" if path.exists() else "missing"))
            _fill_files(self.files, rows)
            header = self.files.horizontalHeader()
            widths = [max(self.files.sizeHintForColumn(c), header.sectionSizeHint(c)) + 12
                      for c in range(self.files.columnCount())]
            row_h = self.files.fontMetrics().height() + 10  # rows and the styled header (padding 4 px)
            self.files.setMinimumHeight(row_h * (len(rows) + 1) + 2 * self.files.frameWidth() + 6)
            self.files.setMaximumHeight(self.files.minimumHeight() + 4)
            self.files.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAsNeeded)
            self.files.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
            lay.addWidget(self.files, 1)
            self.setMinimumWidth(min(1300, sum(widths) + 2 * self.files.frameWidth() + 40))
            self.resize(self.minimumWidth(), self.sizeHint().height())
        lay.addWidget(buttons)


def show_batch_result(parent, result) -> BatchResultDialog:
    """Show what a one-click export wrote (``engine.desk.exporter.export_batch``'s BatchResult), or
    "Nothing approved to export" for None. Window-modal, not blocking; returns the dialog."""
    dlg = BatchResultDialog(parent, result)
    dlg.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose, False)
    dlg.open()
    return dlg
