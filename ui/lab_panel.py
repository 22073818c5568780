"""Lab: simulate the book forward under several policies side by side, on the same prices.

The panel builds an :class:`engine.lab.plan.LabPlan` from its controls (the current policy,
saved versions, quick sweeps, a sweep of one setting, the band and calendar baselines; days,
seed, all accounts or a sample) and runs :func:`engine.lab.plan.run_plan` on the console's task
worker (progress bar and Cancel here and in the status bar; the engine never writes the
database). The result shows as a frontier chart (tax paid vs mean drift, marker size =
turnover) and per-day lines of one metric per variant (:mod:`ui.lab_charts`), and the summary table (one row per variant,
the engine's numbers). "Save as policy…" stores the selected policy variant as a new version
(:func:`engine.lab.plan.save_variant`: audited, refused when someone saved a newer version
since the lab read the book); "Open report" writes report.html (with summary.csv and daily.csv)
into a temporary folder and opens it.

The Policy panel's "see in Lab" links call :meth:`LabPanel.focus` with ``{"sweep": SPEC}``.
"""
from __future__ import annotations

import html
import tempfile
from pathlib import Path

from PySide6.QtCore import Qt, QUrl
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import (QCheckBox, QComboBox, QFormLayout, QGroupBox, QHBoxLayout, QInputDialog, QLabel,
                               QLineEdit, QListWidget, QListWidgetItem, QProgressBar, QPushButton, QScrollArea,
                               QSpinBox, QSplitter, QVBoxLayout, QWidget)

from engine.lab.plan import QUICK_SWEEPS, LabPlan, run_plan, save_variant
from engine.core.policy import Policy
from engine.core.policy_store import PolicyConflict, policy_versions
from engine.core.tasks import RefusedError
from ui import dialogs
from ui.lab_charts import LabCharts
from ui.models import Col, FrameModel
from ui.panel import AppContext, Panel
from ui.widgets import Banner, DataTable, inline_error, section_title, set_error_text

QUICK = [("threshold", "Thresholds × 0.5 and × 2"), ("lambda", "Dispersion-vs-tax weight λ 0.3 and 3"),
         ("bands", "Band widths × 0.5 and × 2")]
BASELINES = [("band", "Band rebalancer (5/25 bands, FIFO)"), ("calendar", "Calendar rebalancer (quarterly, FIFO)")]
TABLE = [Col("variant", "Variant"), Col("tax_paid", "Tax paid, $", "money"),
         Col("drift_mean_pct", "Drift mean, %", "number", "½ Σ|weight − target| over classes, after trading"),
         Col("turnover_pct", "Turnover, %", "number", "One-sided turnover summed over the days, % of book value"),
         Col("dispersion_bps", "Dispersion, bps", "number", "Std. dev. of cumulative returns within a model"),
         Col("order_lines", "Order lines", "count"), Col("accounts_traded", "Accounts traded", "count"),
         Col("after_tax_vs_band_bps", "After-tax vs band, bps", "number", "After-tax wealth minus the band "
             "rebalancer's, bps of the starting value"),
         Col("losses_harvested", "Losses harvested, $", "money"), Col("late_requests", "Late cash requests", "count"),
         Col("account_days_outside_band", "Acct-days out of band", "count"),
         Col("drift_p95_pct", "Drift p95, %", "number"),
         Col("te_mean_pct", "TE mean, %", "number", "Annualized ex-post tracking error"),
         Col("wash_sale_disallowed", "Wash-sale disallowed, $", "money"), Col("costs", "Costs, $", "money"),
         Col("after_tax_wealth", "After-tax wealth, $", "money")]
# settings a sweep of one value can vary (section.key), shown in the "Sweep a setting" list
SETTING_SECTIONS = ("trading", "harvest", "bands", "mandates")


def _setting_keys() -> list[str]:
    keys = []
    for section in SETTING_SECTIONS:
        for name, info in Policy.model_fields[section].annotation.model_fields.items():
            if info.annotation not in (tuple,) and "tuple" not in str(info.annotation):
                keys.append(f"{section}.{name}")
    return keys


class LabPanel(Panel):
    title = "Lab"

    def __init__(self, ctx: AppContext, parent=None):
        super().__init__(ctx, parent)
        self.run: object | None = None     # the last engine.lab.plan.LabRun
        self.task = None
        self.report_dir: Path | None = None
        self.saved: list[int] = []
        outer = QVBoxLayout(self)
        outer.setContentsMargins(16, 10, 16, 10)
        self.banner = Banner()
        outer.addWidget(self.banner)
        self.split = QSplitter(Qt.Orientation.Horizontal)
        self.split.setObjectName("labSplit")
        self.split.addWidget(self._controls())
        self.split.addWidget(self._results())
        self.split.setStretchFactor(0, 0)
        self.split.setStretchFactor(1, 1)
        self.split.setSizes([360, 1080])
        outer.addWidget(self.split, 1)

    # ------------------------------------------------------------------ building
    def _controls(self) -> QWidget:
        box = QWidget()
        lay = QVBoxLayout(box)
        lay.setContentsMargins(0, 0, 8, 0)
        g = QGroupBox("Variants")
        gl = QVBoxLayout(g)
        self.current_check = QCheckBox("Current policy")
        self.current_check.setObjectName("labCurrent")
        self.current_check.setChecked(True)
        gl.addWidget(self.current_check)
        gl.addWidget(QLabel("Saved policy versions:"))
        self.versions = QListWidget()
        self.versions.setObjectName("labVersions")
        self.versions.setMaximumHeight(72)
        gl.addWidget(self.versions)
        gl.addWidget(QLabel("Quick sweeps of the current policy:"))
        self.sweep_checks: dict[str, QCheckBox] = {}
        for key, text in QUICK:
            cb = QCheckBox(text)
            cb.setObjectName(f"labSweep_{key}")
            cb.setToolTip(f"--sweep {QUICK_SWEEPS[key]}")
            self.sweep_checks[key] = cb
            gl.addWidget(cb)
        gl.addWidget(QLabel("Sweep a setting (comma-separated values):"))
        row = QHBoxLayout()
        self.setting_key = QComboBox()
        self.setting_key.setObjectName("labSettingKey")
        self.setting_key.addItem("(none)", "")
        for k in _setting_keys():
            self.setting_key.addItem(k, k)
        self.setting_values = QLineEdit()
        self.setting_values.setObjectName("labSettingValues")
        self.setting_values.setPlaceholderText("0.025, 0.1")
        self.setting_key.setMinimumContentsLength(14)
        row.addWidget(self.setting_key, 3)
        row.addWidget(self.setting_values, 2)
        gl.addLayout(row)
        gl.addWidget(QLabel("Baselines firms use today:"))
        self.baseline_checks: dict[str, QCheckBox] = {}
        for key, text in BASELINES:
            cb = QCheckBox(text)
            cb.setObjectName(f"labBaseline_{key}")
            cb.setChecked(key == "band")
            self.baseline_checks[key] = cb
            gl.addWidget(cb)
        lay.addWidget(g)

        s = QGroupBox("Simulation")
        f = QFormLayout(s)
        self.days = QSpinBox()
        self.days.setObjectName("labDays")
        self.days.setRange(1, 520)
        self.days.setValue(60)
        self.days.setSuffix(" business days")
        self.seed = QSpinBox()
        self.seed.setObjectName("labSeed")
        self.seed.setRange(0, 2_000_000_000)
        self.seed.setValue(1)
        self.seed.setToolTip("Prices and new cash requests are drawn from this seed: the same for every variant")
        self.sample_check = QCheckBox("Sample of")
        self.sample_check.setObjectName("labSampleCheck")
        self.sample_check.setToolTip("Simulate a seeded random sample of the book's accounts (faster)")
        self.sample = QSpinBox()
        self.sample.setObjectName("labSample")
        self.sample.setRange(1, 10_000_000)
        self.sample.setValue(300)
        self.sample.setSuffix(" accounts")
        self.sample.setGroupSeparatorShown(True)
        self.sample_check.toggled.connect(self.sample.setEnabled)
        self.sample.setEnabled(False)
        acc = QHBoxLayout()
        acc.addWidget(self.sample_check)
        acc.addWidget(self.sample, 1)
        f.addRow("Days", self.days)
        f.addRow("Seed", self.seed)
        f.addRow("Accounts", acc)
        lay.addWidget(s)

        b = QHBoxLayout()
        self.run_button = QPushButton("Simulate")
        self.run_button.setObjectName("labRun")
        self.run_button.setProperty("primary", True)
        self.run_button.clicked.connect(self.start)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setObjectName("labCancel")
        self.cancel_button.setEnabled(False)
        self.cancel_button.clicked.connect(self.cancel)
        b.addWidget(self.run_button, 1)
        b.addWidget(self.cancel_button)
        lay.addLayout(b)
        self.progress = QProgressBar()
        self.progress.setObjectName("labProgress")
        self.progress.setRange(0, 1000)
        self.progress.setFormat("%p%")
        lay.addWidget(self.progress)
        self.status = QLabel("The simulation never writes to the book's database.")
        self.status.setObjectName("labStatus")
        self.status.setWordWrap(True)
        lay.addWidget(self.status)
        self.error = inline_error(selectable=True)
        lay.addWidget(self.error)
        lay.addStretch(1)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(box)
        scroll.setFrameShape(QScrollArea.Shape.NoFrame)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        scroll.setMinimumWidth(350)
        return scroll

    def _results(self) -> QWidget:
        right = QSplitter(Qt.Orientation.Vertical)
        right.setObjectName("labResultsSplit")
        self.charts = LabCharts()
        right.addWidget(self.charts)

        table = QWidget()
        tl = QVBoxLayout(table)
        tl.setContentsMargins(0, 4, 0, 0)
        head = QHBoxLayout()
        self.table_title = section_title("Summary: one row per variant")
        head.addWidget(self.table_title)
        head.addStretch(1)
        self.save_button = QPushButton("Save as policy…")
        self.save_button.setObjectName("labSavePolicy")
        self.save_button.setToolTip("Save the selected policy variant as a new policy version (the next run uses it)")
        self.save_button.clicked.connect(lambda: self.save_as_policy())
        self.report_button = QPushButton("Open report")
        self.report_button.setObjectName("labReport")
        self.report_button.setToolTip("Write report.html, summary.csv and daily.csv to a temporary folder and open "
                                      "the report")
        self.report_button.clicked.connect(lambda: self.open_report())
        head.addWidget(self.save_button)
        head.addWidget(self.report_button)
        tl.addLayout(head)
        self.model = FrameModel(TABLE, self)
        self.table = DataTable(self.model, "labSummary")
        self.table.selectionModel().selectionChanged.connect(lambda *_: self._update_buttons())
        tl.addWidget(self.table, 1)
        self.msg = inline_error()
        tl.addWidget(self.msg)
        right.addWidget(table)
        right.setSizes([560, 250])
        self.results_split = right
        self._update_buttons()
        return right

    # ------------------------------------------------------------------ panel API
    def refresh(self) -> None:
        """The saved versions to pick from (checked ones stay checked)."""
        checked = set(self.checked_versions())
        versions = policy_versions(self.ctx.engine)
        self.versions.clear()
        for r in versions.itertuples(index=False):
            note = f" — {r.note}" if isinstance(r.note, str) and r.note else ""
            item = QListWidgetItem(f"Version {int(r.id)} by {r.created_by}{note}")
            item.setData(Qt.ItemDataRole.UserRole, int(r.id))
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            item.setCheckState(Qt.CheckState.Checked if int(r.id) in checked else Qt.CheckState.Unchecked)
            item.setToolTip(item.text())
            self.versions.addItem(item)
        if not len(versions):
            empty = QListWidgetItem("No saved version yet (the Policy panel saves them)")
            empty.setFlags(Qt.ItemFlag.NoItemFlags)
            self.versions.addItem(empty)
        current = int(versions["id"].max()) if len(versions) else 0
        self.current_check.setText(f"Current policy (version {current})" if current else "Current policy (defaults)")
        if self.run is None:
            self.banner.show_message("Pick variants and press Simulate: the lab carries the book forward business "
                                     "day by day under each, on the same prices, with the real engine deciding.",
                                     "info")

    def focus(self, payload) -> None:
        """``{"sweep": "lambda=0.3,3"}`` (or the spec itself): pre-select that sweep, alone."""
        spec = payload.get("sweep") if isinstance(payload, dict) else payload
        if not spec:
            return
        key, _, values = str(spec).partition("=")
        for cb in self.sweep_checks.values():
            cb.setChecked(False)
        self.setting_key.setCurrentIndex(0)
        self.setting_values.clear()
        quick = {v: k for k, v in QUICK_SWEEPS.items()}
        if spec in quick:
            self.sweep_checks[quick[spec]].setChecked(True)
        else:
            i = self.setting_key.findData(key.strip())
            self.setting_key.setCurrentIndex(max(i, 0))
            self.setting_values.setText(values.replace(",", ", "))
        self.banner.show_message(f"Sweep <b>{html.escape(str(spec))}</b> selected from the Policy panel: "
                                 "press Simulate to see its effect against the current policy.", "info")

    def checked_versions(self) -> list[int]:
        items = [self.versions.item(i) for i in range(self.versions.count())]
        return [int(it.data(Qt.ItemDataRole.UserRole)) for it in items
                if it.data(Qt.ItemDataRole.UserRole) is not None and it.checkState() == Qt.CheckState.Checked]

    def selected_sweeps(self) -> list[str]:
        out = [QUICK_SWEEPS[k] for k, cb in self.sweep_checks.items() if cb.isChecked()]
        key = self.setting_key.currentData()
        values = ",".join(v.strip() for v in self.setting_values.text().split(",") if v.strip())
        if key:
            if not values:
                raise RefusedError(f"Sweep of {key}: type the values to try, comma-separated")
            out.append(f"{key}={values}")
        return out

    def plan(self) -> LabPlan:
        return LabPlan(days=self.days.value(), seed=self.seed.value(),
                       sample=self.sample.value() if self.sample_check.isChecked() else None,
                       default=self.current_check.isChecked(), versions=tuple(self.checked_versions()),
                       sweeps=tuple(self.selected_sweeps()),
                       baselines=tuple(k for k, cb in self.baseline_checks.items() if cb.isChecked()))

    # ------------------------------------------------------------------ running
    def start(self):
        """Run the plan on the console's worker; returns the Task (None when refused)."""
        set_error_text(self.error, "")
        try:
            plan = self.plan()
        except RefusedError as exc:
            set_error_text(self.error, str(exc))
            return None
        if self.ctx.tasks.busy:
            set_error_text(self.error, f"{self.ctx.tasks.current.title} is still running: wait for it or cancel it.")
            return None
        engine, workers = self.ctx.engine, 1
        self.progress.setValue(0)
        self.status.setText("Reading the book…")
        self.task = self.ctx.run_task(f"Simulating {plan.days} business days", lambda state: run_plan(
            engine, plan, state=state, workers=workers), on_done=self._done, on_error=self._failed,
            on_cancel=self._cancelled)
        self.task.progress.connect(self._progress)
        self.task.ended.connect(self._ended)
        self.run_button.setEnabled(False)
        self.cancel_button.setEnabled(True)
        return self.task

    def cancel(self) -> None:
        if self.task is not None and not self.task.done:
            self.task.cancel()
            self.cancel_button.setEnabled(False)
            self.status.setText("Cancelling…")

    def _progress(self, fraction: float, message: str) -> None:
        self.progress.setValue(int(fraction * 1000))
        if self.task is not None and not self.task.cancel_requested:
            self.status.setText(message)

    def _ended(self) -> None:
        self.task = None
        self.run_button.setEnabled(True)
        self.cancel_button.setEnabled(False)

    def _cancelled(self) -> None:
        self.progress.setValue(0)
        self.status.setText("Cancelled: nothing was written anywhere.")

    def _failed(self, exc) -> None:
        self.status.setText("The simulation stopped.")
        if isinstance(exc, RefusedError):
            set_error_text(self.error, str(exc))
        else:
            dialogs.show_error(self, "Lab", exc)

    def _done(self, run) -> None:
        self.run = run
        self.report_dir = None
        self.progress.setValue(1000)
        r = run.result
        sample = f"a sample of {run.accounts:,} of {run.book_accounts:,} accounts" \
            if run.accounts < run.book_accounts else f"all {run.accounts:,} accounts"
        first = r.ledgers[r.variants[0].name].dates[0]
        self.status.setText(f"Done: {len(r.variants)} variants × {run.plan.days} business days.")
        self.banner.show_message(f"{len(r.variants)} variants, {run.plan.days} business days from {first} to "
                                 f"{r.last_date}, {sample}, seed {run.plan.seed}. Select a policy variant and "
                                 "“Save as policy…” to make it the next run's policy.", "info")
        self.model.set_frame(r.summary)
        self.table.fit_columns(force=True)
        self.charts.set_result(r)
        self._update_buttons()

    # ------------------------------------------------------------------ actions
    def selected_variant(self) -> str | None:
        row = self.table.selected_row()
        return str(self.model.value(row, "variant")) if row >= 0 else None

    def _update_buttons(self) -> None:
        has = self.run is not None
        self.report_button.setEnabled(has)
        name = self.selected_variant() if has else None
        kind = None
        if name is not None:
            kind = next((v.kind for v in self.run.result.variants if v.name == name), None)
        self.save_button.setEnabled(kind == "engine")
        self.save_button.setToolTip("Save the selected policy variant as a new policy version" if kind == "engine"
                                    else "Select a policy variant (not a baseline) in the table")

    def save_as_policy(self, name: str | None = None, note: str | None = None) -> int | None:
        """Save variant ``name`` (default: the selected row) as a new policy version; asks for
        the note (why) unless given. Returns the version, or None when refused or cancelled."""
        if self.run is None:
            return None
        name = name or self.selected_variant()
        if name is None:
            set_error_text(self.msg, "Select the variant to save in the table first.")
            return None
        if note is None:
            note, ok = QInputDialog.getText(self, "Save as policy",
                                            f"Save variant {name} as a new policy version; the next run uses it.\n"
                                            "Why (kept in the audit log):")
            if not ok:
                return None
        try:
            version = save_variant(self.ctx.engine, self.run, name, user=self.ctx.user, note=note)
        except PolicyConflict as exc:
            dialogs.show_error(self, "Policy not saved: changed by someone else", exc)
            set_error_text(self.msg, f"{exc} Simulate again on the latest version before saving.")
            return None
        except RefusedError as exc:
            set_error_text(self.msg, f"Not saved: {exc}")
            return None
        self.saved.append(version)
        set_error_text(self.msg, f"Saved variant {name} as policy version {version}; the next run uses it.", ok=True)
        self.ctx.notify("policy")
        return version

    def open_report(self) -> Path | None:
        """Write report.html (and the CSVs) into a temporary folder and open it in the browser."""
        if self.run is None:
            return None
        from engine.lab import write_outputs

        folder = Path(tempfile.mkdtemp(prefix="rebalance-lab-"))
        files = write_outputs(self.run.result, folder)
        self.report_dir = folder
        report = next(f for f in files if f.name == "report.html")
        QDesktopServices.openUrl(QUrl.fromLocalFile(str(report)))
        set_error_text(self.msg, f"Report written to {report}", ok=True)
        return report

    # ------------------------------------------------------------------ state
    def save_state(self, settings) -> None:
        settings.setValue("lab/split", self.split.saveState())
        settings.setValue("lab/results", self.results_split.saveState())

    def restore_state(self, settings) -> None:
        for key, w in (("lab/split", self.split), ("lab/results", self.results_split)):
            state = settings.value(key)
            if state is not None:
                w.restoreState(state)
