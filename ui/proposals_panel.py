# Kept whole for now, long because the table, the detail and the trade editor share one selection and the versions loaded; its frames, trades model and chart live in ui/proposals_frames.py, ui/proposals_trades.py and ui/proposals_chart.py, and splitting the class itself is issue #14's open part.
"""Proposals: review the latest run's accounts tier by tier — approve, reject, edit trades.

One view per tier (a tab per tier of the policy, plus any tier of the run the policy no longer
has). The table lists the tier's accounts with their category, score against threshold, turnover,
realized tax, post-trade tracking error, outlier flags and review status; it filters (awaiting
review, flagged, category, text) and sorts in numpy (:class:`ui.models.FrameModel`). The selected
account's detail: its trades (quantities edited inline, trades removed with Delete — the engine
checks every edit and its refusal is shown under the table), its asset-class weights before and
after against the model and the bands, and its score broken down into benefits and costs.

Decisions go through :mod:`engine.desk.review` with the versions the panel loaded, so a proposal
changed by someone else meanwhile is refused rather than overwritten: the refusal is shown in a
message box and the view reloads what the other user stored. A four-eyes refusal (approving a
proposal one edited, in a tier under four-eyes) is shown in a message box too. Approve (A) and Reject (R)
act on the selected accounts; "Approve filtered…" approves every filtered account awaiting
review after a confirmation that says how many accounts and how many dollars of trades.
"""
from __future__ import annotations

import html
import json

import numpy as np
import pandas as pd
from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QAction, QBrush, QColor, QFont, QKeySequence
from PySide6.QtWidgets import (QAbstractItemView, QCheckBox, QComboBox, QHBoxLayout, QHeaderView, QLabel,
                               QLineEdit, QPushButton, QSizePolicy, QSplitter, QStackedWidget,
                               QTabBar, QTableWidget, QTableWidgetItem, QVBoxLayout, QWidget)

from engine.desk.desk_views import account_group
from engine.desk.review import (TRADING, ConflictError, FourEyesError, check_not_stale, decide, edit_trade, editors_of,
                           proposal_trades, trade_value)
from engine.core.tasks import RefusedError
from engine.decide.workflow import current_policy, latest_run_id, proposals_frame
from engine.desk.household_views import account_directory, run_snapshot
from ui import dialogs, fmt
from ui.budget_text import budget_html
from ui.models import Col, FrameModel
from ui.panel import AppContext, Panel
from engine.desk.household_views import account_directory, run_snapshot
from ui.lot_detail import LotDetail, with_line_detail
from ui.review_dialogs import ReasonDialog
from ui.widgets import Banner, DataTable, EmptyState, section_title, set_error_text
from ui.proposals_frames import (  # noqa: F401 - re-exported
    FLAG_WORDS as FLAG_WORDS,
    GREY as GREY,
    HEAVY as HEAVY,
    STATUS_WORDS as STATUS_WORDS,
    TRADE_COLUMNS as TRADE_COLUMNS,
    _Coded as _Coded,
    _flags_words as _flags_words,
    _rank as _rank,
    _reason_words as _reason_words,
    _tier_rule as _tier_rule,
    _who as _who,
    household_note as household_note,
    lots_text as lots_text,
    prepare as prepare,
    with_names as with_names,
)
from ui.proposals_trades import (  # noqa: F401 - re-exported
    QuantityDelegate as QuantityDelegate,
    TradesModel as TradesModel,
)
from ui.proposals_chart import (  # noqa: F401 - re-exported
    ClassAxis as ClassAxis,
    ClassWeightsChart as ClassWeightsChart,
    PercentAxis as PercentAxis,
)

ALL_CATEGORIES = "All categories"
TRADING_ONLY = "Trading (mandate + score)"
CATEGORY_ORDER = ("MANDATE", "SCORE", "NO_TRADE", "HELD", "SUSPENDED")

ACCOUNT_COLUMNS = [
    Col("account_id", "Account"),
    Col("name", "Name", tip="Client name; the household (accounts.csv household_id) in the tooltip",
        tooltip_key="household_id"),
    Col("category", "Category", tip="SUSPENDED (bad data), HELD (override), MANDATE, SCORE (score at or above "
                                    "the threshold) or NO_TRADE; hover for the reasons", tooltip_key="reasons_tip"),
    Col("review_text", "Review", tip="To review: waits for a reviewer (A approves, R rejects)"),
    Col("value", "Value", "money", "Account value"),
    Col("score_bps", "Score", "bps", "Benefit minus cost of the proposed trades, bps of account value"),
    Col("threshold_bps", "Threshold", "bps", "The score the account needed to trade (tier start/floor and "
                                             "days since its last trade)"),
    Col("turnover", "Turnover", "pct", "Two-sided: buys plus sells, % of account value (a desk's one-sided "
                                       "turnover is the larger of buys and sells, about half of this)"),
    Col("realized_tax", "Realized tax", "money", "Net realized tax of the trades (negative: losses harvested)"),
    Col("te_post_bps", "TE after", "bps", "Tracking error to the model after the trades"),
    Col("flags_text", "Flags", tip="Outliers: high turnover, tax or single trade, tracking error still high"),
    Col("reasons_text", "Reasons", tip="Mandates and other reasons; hover for all", tooltip_key="reasons_tip"),
    Col("decided_by", "Decided by"),
]
ACCOUNT_TEXT_KEYS = ["account_id", "name", "household_id", "category", "review_text", "flags_text", "reasons_text"]


# --------------------------------------------------------------------------- the panel
class ProposalsPanel(Panel):
    title = "Proposals"

    def __init__(self, ctx: AppContext, parent=None):
        super().__init__(ctx, parent)
        self.run_id: int | None = None
        self.policy = None
        self.current: str | None = None     # the account shown in the detail
        self._frames: dict[str, pd.DataFrame] = {}  # tier -> prepared frame
        self._all = pd.DataFrame()
        self._source = pd.DataFrame()       # the run's proposals as loaded (detail JSON by ``src``)
        self._tier_of: pd.Series | None = None
        self._tiers: list[str] = []
        self._trades = pd.DataFrame()
        self._local_change = False           # the next refresh may patch instead of reloading
        self._stale = False
        self._quiet = False
        self.reload_pending = False          # an accepted inline edit reloads once its editor closed

        outer = QVBoxLayout(self)
        outer.setContentsMargins(16, 10, 16, 10)
        outer.setSpacing(6)
        self.banner = Banner()
        outer.addWidget(self.banner)
        self.stack = QStackedWidget()
        outer.addWidget(self.stack, 1)
        self.empty = EmptyState("No run yet", "Run the workflow (Ctrl+R) to see its proposals here.")
        self.empty.add_button("Run", lambda: self.ctx.request.emit("run"), primary=True)
        self.stack.addWidget(self.empty)
        body = QWidget()
        lay = QVBoxLayout(body)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setSpacing(6)
        self.stack.addWidget(body)

        # ---- tiers and filters
        self.tiers = QTabBar()
        self.tiers.setObjectName("proposalsTiers")
        self.tiers.setExpanding(False)
        self.tiers.setDocumentMode(True)
        self.tiers.setDrawBase(False)
        lay.addWidget(self.tiers)
        bar = QHBoxLayout()
        self.filter = QLineEdit()
        self.filter.setObjectName("proposalsFilter")
        self.filter.setPlaceholderText("Filter: account, client name, household, flag or reason (e.g. A1, Smith, tax)")
        self.filter.setClearButtonEnabled(True)
        self.category = QComboBox()
        self.category.setObjectName("proposalsCategory")
        self.category.addItems([ALL_CATEGORIES, TRADING_ONLY, *CATEGORY_ORDER])
        self.needs_review = QCheckBox("Needs review")
        self.needs_review.setObjectName("proposalsNeedsReview")
        self.needs_review.setToolTip("Only accounts waiting for a reviewer (status PROPOSED)")
        self.flagged = QCheckBox("Flagged")
        self.flagged.setObjectName("proposalsFlagged")
        self.flagged.setToolTip("Only outlier accounts: high turnover, tax, single trade or tracking error")
        self.count = QLabel()
        self.count.setObjectName("countLabel")
        self.bulk_button = QPushButton("Approve filtered…")
        self.bulk_button.setObjectName("approveFiltered")
        self.bulk_button.setToolTip("Approve every account of this tier that the filters show and that awaits "
                                    "review (asks first)")
        bar.addWidget(self.filter, 3)
        bar.addWidget(self.category, 1)
        bar.addWidget(self.needs_review)
        bar.addWidget(self.flagged)
        bar.addStretch(0)
        bar.addWidget(self.count)
        bar.addWidget(self.bulk_button)
        lay.addLayout(bar)

        # ---- accounts
        self.split = QSplitter(Qt.Orientation.Vertical)
        self.split.setObjectName("proposalsSplit")
        self.model = FrameModel(ACCOUNT_COLUMNS, self, strong="needs_review")
        self.table = DataTable(self.model, "proposalsTable")
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.table.max_column_width = 260
        self.split.addWidget(self.table)

        # ---- detail
        detail = QWidget()
        dl = QVBoxLayout(detail)
        dl.setContentsMargins(0, 6, 0, 0)
        dl.setSpacing(4)
        head = QHBoxLayout()
        self.detail_title = QLabel()
        self.detail_title.setObjectName("proposalTitle")
        self.detail_title.setTextFormat(Qt.TextFormat.RichText)
        self.detail_title.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.detail_title.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        head.addWidget(self.detail_title, 1)
        self.approve_button = QPushButton("Approve (A)")
        self.approve_button.setObjectName("approveButton")
        self.approve_button.setProperty("primary", True)
        self.reject_button = QPushButton("Reject (R)")
        self.reject_button.setObjectName("rejectButton")
        head.addWidget(self.approve_button)
        head.addWidget(self.reject_button)
        # undo before export: an approval withdrawn, a rejection restored (each asks why)
        self.withdraw_button = QPushButton("Withdraw approval…")
        self.withdraw_button.setObjectName("withdrawButton")
        self.restore_button = QPushButton("Restore…")
        self.restore_button.setObjectName("restoreButton")
        head.addWidget(self.withdraw_button)
        head.addWidget(self.restore_button)
        self.reason_dialog: ReasonDialog | None = None
        dl.addLayout(head)
        self.action_msg = QLabel()
        self.action_msg.setObjectName("inlineError")
        self.action_msg.setWordWrap(True)
        self.action_msg.hide()
        dl.addWidget(self.action_msg)

        self.detail_split = QSplitter(Qt.Orientation.Horizontal)
        self.detail_split.setObjectName("proposalDetailSplit")
        left = QWidget()
        ll = QVBoxLayout(left)
        ll.setContentsMargins(0, 0, 0, 0)
        ll.setSpacing(4)
        trades_head = QHBoxLayout()
        self.trades_title = section_title("Trades")
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
        ll.addWidget(self.trades, 3)
        self.lot_detail = LotDetail()  # per sell: its lots, term, gain, tax, wash status
        ll.addWidget(self.lot_detail, 2)
        self.edit_msg = QLabel()
        self.edit_msg.setObjectName("inlineError")
        self.edit_msg.setWordWrap(True)
        self.edit_msg.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.edit_msg.hide()
        ll.addWidget(self.edit_msg)
        self.detail_split.addWidget(left)

        chart_box = QWidget()
        cl = QVBoxLayout(chart_box)
        cl.setContentsMargins(0, 0, 0, 0)
        cl.setSpacing(2)
        self.weights = ClassWeightsChart()
        cl.addWidget(self.weights, 1)
        self.band_note = QLabel()
        self.band_note.setObjectName("countLabel")
        self.band_note.setWordWrap(True)
        cl.addWidget(self.band_note)
        self.detail_split.addWidget(chart_box)

        score_box = QWidget()
        sl = QVBoxLayout(score_box)
        sl.setContentsMargins(0, 0, 0, 0)
        sl.setSpacing(4)
        sl.addWidget(section_title("Score"))
        self.breakdown = QTableWidget(0, 3)
        self.breakdown.setObjectName("scoreBreakdown")
        self.breakdown.setHorizontalHeaderLabels(["", "$", "bps"])
        self.breakdown.verticalHeader().setVisible(False)
        self.breakdown.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.breakdown.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        self.breakdown.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.breakdown.setShowGrid(False)
        hh = self.breakdown.horizontalHeader()
        hh.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        hh.setSectionResizeMode(1, QHeaderView.ResizeMode.ResizeToContents)
        hh.setSectionResizeMode(2, QHeaderView.ResizeMode.ResizeToContents)
        hh.setDefaultAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        self.breakdown.verticalHeader().setDefaultSectionSize(self.fontMetrics().height() + 8)
        sl.addWidget(self.breakdown, 1)
        self.detail_split.addWidget(score_box)
        self.detail_split.setStretchFactor(0, 5)
        self.detail_split.setStretchFactor(1, 3)
        self.detail_split.setStretchFactor(2, 2)
        self.detail_split.setSizes([620, 380, 300])
        dl.addWidget(self.detail_split, 1)
        self.split.addWidget(detail)
        self.split.setStretchFactor(0, 1)
        self.split.setStretchFactor(1, 1)
        self.split.setSizes([330, 400])
        lay.addWidget(self.split, 1)

        # ---- actions (A, R, Delete) — letters do not fire while a text field or editor has focus
        self.approve_action = QAction("Approve", self)
        self.approve_action.setShortcut(QKeySequence("A"))
        self.approve_action.setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
        self.approve_action.triggered.connect(self.approve_selected)
        self.reject_action = QAction("Reject", self)
        self.reject_action.setShortcut(QKeySequence("R"))
        self.reject_action.setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
        self.reject_action.triggered.connect(self.reject_selected)
        self.addAction(self.approve_action)
        self.addAction(self.reject_action)
        self.remove_action = QAction("Remove trade", self.trades)
        self.remove_action.setShortcuts([QKeySequence(QKeySequence.StandardKey.Delete), QKeySequence("Backspace")])
        self.remove_action.setShortcutContext(Qt.ShortcutContext.WidgetShortcut)
        self.remove_action.triggered.connect(self.remove_selected_trade)
        self.trades.addAction(self.remove_action)
        self.approve_button.clicked.connect(self.approve_selected)
        self.reject_button.clicked.connect(self.reject_selected)
        self.remove_button.clicked.connect(self.remove_selected_trade)
        self.withdraw_button.clicked.connect(self.withdraw_selected)
        self.restore_button.clicked.connect(self.restore_selected)
        self.restore_trade_button.clicked.connect(self.restore_selected_trade)
        self.bulk_button.clicked.connect(self.approve_filtered)

        self._debounce = QTimer(self)
        self._debounce.setSingleShot(True)
        self._debounce.setInterval(120)
        self._debounce.timeout.connect(self.apply_filter)
        self.filter.textChanged.connect(lambda _: self._debounce.start())
        self.category.currentIndexChanged.connect(lambda _: self.apply_filter())
        self.needs_review.toggled.connect(lambda _: self.apply_filter())
        self.flagged.toggled.connect(lambda _: self.apply_filter())
        self.tiers.currentChanged.connect(self._on_tier)
        self.table.selectionModel().selectionChanged.connect(lambda *_: self._on_select())
        self.trades.selectionModel().selectionChanged.connect(lambda *_: self._update_trade_buttons())
        self.model.modelReset.connect(self._reselect)
        self.model.layoutChanged.connect(lambda *_: self._update_count())
        self.filter.textEdited.connect(lambda _: set_error_text(self.action_msg, ""))
        self._show_detail(None)
        self.stack.setCurrentIndex(0)

    # ------------------------------------------------------------------ loading
    def refresh(self) -> None:
        """Reload the latest run. After this panel's own decision or edit only that account's
        fields are patched in memory (a 100,000-account run is not read again per keystroke)."""
        if self._local_change:
            self._local_change = False
            self._show_tier(self.current_tier(), keep=True)
            self._show_detail(self.current)
            return
        policy = current_policy(self.ctx.engine)
        with self.ctx.engine.connect() as conn:
            run_id = latest_run_id(conn)
            frame = proposals_frame(conn, run_id) if run_id is not None else None
            if frame is not None:  # names and households for the Name column and the filter
                frame = with_names(frame, account_directory(conn, run_snapshot(conn, run_id)))
            stale = ""
            if run_id is not None:
                try:
                    check_not_stale(conn, run_id)
                except RefusedError as exc:
                    stale = str(exc)
        self._stale = bool(stale)
        self.banner.show_message(f"Decisions and edits are refused: {html.escape(stale)}." if stale else "", "warn")
        self.set_proposals(frame, policy)

    def set_proposals(self, frame: pd.DataFrame | None, policy) -> None:
        """Show a run's proposals (``engine.decide.workflow.proposals_frame``) under ``policy``'s tiers."""
        self.policy = policy
        if frame is None:
            self.run_id = None
            self._all = pd.DataFrame()
            self._source = pd.DataFrame()
            self._frames = {}
            self.stack.setCurrentIndex(0)
            return
        self.stack.setCurrentIndex(1)
        self.run_id = int(frame["run_id"].iat[0]) if len(frame) and "run_id" in frame else None
        self._source = frame.reset_index(drop=True)
        prepared = prepare(self._source, by_tier=True)  # one reorder; tiers are contiguous slices
        self._all = prepared
        self._tier_of = None
        tier_col = prepared["tier"].astype(object).to_numpy() if len(prepared) else np.empty(0, object)
        cuts = np.flatnonzero(tier_col[1:] != tier_col[:-1]) + 1
        ranges = {str(tier_col[a]): (int(a), int(b)) for a, b in zip(np.r_[0, cuts], np.r_[cuts, len(tier_col)])} \
            if len(tier_col) else {}
        tiers = [t.name for t in sorted(policy.tiers, key=lambda t: t.min_value)] if policy is not None else []
        tiers += sorted(set(ranges) - set(tiers))  # tiers of the run the policy no longer has
        self._frames = {t: prepared.iloc[ranges[t][0]:ranges[t][1]].reset_index(drop=True) if t in ranges
                        else prepared.iloc[:0] for t in tiers}
        keep = self.current_tier() or getattr(self, "_saved_tier", "")  # the tab the user left, restored
        self._saved_tier = ""
        self._tiers = tiers
        self.tiers.blockSignals(True)
        while self.tiers.count():
            self.tiers.removeTab(0)
        for t in tiers:
            self.tiers.addTab(t)
        self._label_tabs()
        if keep not in tiers:
            waiting = [t for t in tiers if self._frames[t]["needs_review"].any()]
            sized = [t for t in tiers if len(self._frames[t])]
            keep = (waiting or sized or tiers or [""])[0]
        self.tiers.setCurrentIndex(max(0, tiers.index(keep)) if keep in tiers else 0)
        self.tiers.blockSignals(False)
        self._show_tier(keep, keep=True)

    def _label_tabs(self) -> None:
        for i, t in enumerate(self._tiers):
            f = self._frames.get(t)
            n = len(f) if f is not None else 0
            waiting = int(f["needs_review"].sum()) if n else 0
            self.tiers.setTabText(i, f"{t}  ·  {waiting:,} to review" if waiting
                                  else f"{t}  ·  {n:,} account{'s' if n != 1 else ''}")
            mode = ""
            if self.policy is not None:
                try:
                    mode = {"none": "no review (automatic)", "outliers": "outliers reviewed",
                            "all": "every account reviewed"}[self.policy.tier(t).review]
                except KeyError:
                    mode = "not in the current policy"
            self.tiers.setTabToolTip(i, f"{t}: {n:,} accounts, {waiting:,} awaiting review · {mode}")

    def current_tier(self) -> str:
        i = self.tiers.currentIndex()
        return self._tiers[i] if 0 <= i < len(self._tiers) else ""

    def set_tier(self, tier: str) -> None:
        if tier in self._tiers:
            self.tiers.setCurrentIndex(self._tiers.index(tier))

    def _on_tier(self, i: int) -> None:
        set_error_text(self.action_msg, "")
        self._show_tier(self.current_tier(), keep=False)

    def _show_tier(self, tier: str, keep: bool) -> None:
        frame = self._frames.get(tier)
        if frame is None:
            frame = prepare(pd.DataFrame(columns=["account_id", "category", "status", "tier"]))
        if not keep:
            self.current = None
        self._quiet = True  # one reselection after the frame and its masks, not one per model reset
        try:
            self.model.set_frame(frame)
            self._apply_masks()
        finally:
            self._quiet = False
        self._reselect()
        self.table.fit_columns()
        self._update_count()
        if self.current is None or self.model.find("account_id", self.current) < 0:
            if self.model.rowCount():
                self.table.select_row(0)
            else:
                self._show_detail(None)

    # ------------------------------------------------------------------ filters
    def _apply_masks(self) -> None:
        df = self.model.frame()
        n = len(df)
        cat = self.category.currentText()
        mask = None
        if n and cat == TRADING_ONLY:
            mask = df["trading"].to_numpy(bool)
        elif n and cat != ALL_CATEGORIES:
            mask = (df["category"] == cat).to_numpy(bool, na_value=False)
        if n and self.needs_review.isChecked():
            m = df["needs_review"].to_numpy(bool)
            mask = m if mask is None else mask & m
        if n and self.flagged.isChecked():
            m = df["flagged"].to_numpy(bool)
            mask = m if mask is None else mask & m
        self.model.set_mask("filters", mask)
        self.model.set_mask("text", self.model.text_mask(self.filter.text(), ACCOUNT_TEXT_KEYS) if n else None)

    def apply_filter(self) -> None:
        self._apply_masks()
        self._update_count()

    def clear_filters(self) -> None:
        for w in (self.filter, self.category, self.needs_review, self.flagged):
            w.blockSignals(True)
        self.filter.clear()
        self.category.setCurrentIndex(0)
        self.needs_review.setChecked(False)
        self.flagged.setChecked(False)
        for w in (self.filter, self.category, self.needs_review, self.flagged):
            w.blockSignals(False)
        self.apply_filter()

    def _update_count(self) -> None:
        shown, total = self.model.rowCount(), self.model.total_rows()
        df = self.model.frame()
        waiting = int(df["needs_review"].sum()) if total else 0
        self.count.setText((f"{shown:,} of {total:,} accounts" if shown != total else f"{total:,} accounts")
                           + f" · {waiting:,} to review")
        self.bulk_button.setEnabled(bool(shown) and bool(waiting) and not self._stale)

    def filtered_frame(self) -> pd.DataFrame:
        """The rows the table shows now, in view order."""
        rows = self.model._rows
        return self.model.frame().iloc[rows]

    # ------------------------------------------------------------------ selection
    def selected_accounts(self) -> list[str]:
        sm = self.table.selectionModel()
        rows = sorted({i.row() for i in sm.selectedRows()}) if sm else []
        return [self.model.value(r, "account_id") for r in rows]

    def _reselect(self) -> None:
        if self._quiet:
            return
        row = self.model.find("account_id", self.current) if self.current else -1
        if row >= 0:
            self.table.select_row(row)

    def _on_select(self) -> None:
        row = self.table.currentIndex().row() if self.table.currentIndex().isValid() else self.table.selected_row()
        sel = self.selected_accounts()
        if not sel:
            return
        account = self.model.value(row, "account_id") if row >= 0 and self.model.value(row, "account_id") in sel \
            else sel[0]
        if account != self.current:
            set_error_text(self.edit_msg, "")
            self.current = account
            self._show_detail(account)
        self._update_decision_buttons()

    def focus(self, payload) -> None:
        """Show account ``payload`` (switching tier and clearing filters that hide it)."""
        if not payload:
            return
        account = str(payload)
        if self.run_id is None and not len(self._all):
            self.refresh()
        if not len(self._all):
            return
        if self._tier_of is None:
            self._tier_of = pd.Series(self._all["tier"].to_numpy(object), index=self._all["account_id"].to_numpy(object))
        tier = self._tier_of.get(account)
        if tier is None:
            set_error_text(self.action_msg, f"{account} is not in the latest run.")
            return
        self.current = account
        if tier != self.current_tier():
            self.tiers.blockSignals(True)
            self.set_tier(str(tier))
            self.tiers.blockSignals(False)
            self._show_tier(str(tier), keep=True)
        row = self.model.find("account_id", account)
        if row < 0:
            self.clear_filters()
            row = self.model.find("account_id", account)
        if row >= 0:
            self.table.clearSelection()
            self.table.select_row(row)
            self.table.setCurrentIndex(self.model.index(row, 0))
        self._show_detail(account)

    def _record(self, account: str | None) -> dict:
        if not account:
            return {}
        df = self.model.frame()
        hits = np.flatnonzero(df["account_id"].to_numpy(object) == account) if len(df) else []
        if not len(hits):
            return {}
        return {k: (None if fmt._missing(v) else v) for k, v in df.iloc[int(hits[0])].items()}

    # ------------------------------------------------------------------ detail
    def _show_detail(self, account: str | None) -> None:
        rec = self._record(account)
        if not rec:
            self.current = None
            tier = self.current_tier()
            self.detail_title.setText("<span style='color:#5f6b7a'>Select an account to see its trades, asset "
                                      f"classes and score{' in ' + html.escape(tier) if tier else ''}.</span>")
            self.trades_model.set_frame(pd.DataFrame(columns=[c.key for c in TRADE_COLUMNS] + ["id", "lots"]))
            self.trades_title.setText("Trades")
            self.lot_detail.show_account(self.ctx.engine, None, None)
            self.weights.clear_weights()
            self.band_note.setText("")
            self._fill_breakdown({})
            self._update_decision_buttons()
            self._update_trade_buttons()
            return
        e = html.escape
        status = rec.get("review_text") or rec.get("category")
        colour = {"To review": "#8a5a00", "Approved": "#1b7f3b", "Auto-approved": "#1b7f3b",
                  "Rejected": "#b3261e"}.get(status, "#5f6b7a")
        decided = f" by {e(str(rec['decided_by']))}" if rec.get("decided_by") and status != "To review" else ""
        flags = f" · <span style='color:#b3261e'>flags: {e(rec['flags_text'])}</span>" if rec.get("flags_text") else ""
        editors = editors_of(rec.get("edited_by"))
        if editors and self.policy is not None and rec.get("tier") in self.policy.four_eyes_tiers():
            flags += (f" · <span style='color:#8a5a00'>edited by {e(', '.join(editors))} — four-eyes: "
                      "another user approves</span>")
        elif editors:
            flags += f" · edited by {e(', '.join(editors))}"
        if rec.get("decision_reason"):
            code = f"{rec['decision_code']}: " if rec.get("decision_code") else ""
            word = "rejected" if rec.get("status") == "REJECTED" else "reason"
            flags += f" · <span style='color:#5f6b7a'>{word}: {e(code + str(rec['decision_reason']))}</span>"
        blocked = self._blocked(account) if rec.get("category") in TRADING else ""
        if blocked:
            flags += (f" · <span style='color:#b3261e'><b>blocked at export</b>: {e(blocked)}</span>")
        self.detail_title.setText(
            f"<span style='font-size:14px'><b>{e(account)}</b></span>{_who(rec)} · {e(str(rec.get('tier', '')))}"
            f"{_tier_rule(rec)} · "
            f"{e(str(rec.get('category', '')))} · <span style='color:{colour}'><b>{e(str(status))}</b>{decided}"
            f"</span> · value {fmt.money(rec.get('value'))} · score <b>{fmt.bps(rec.get('score_bps'))}</b> vs "
            f"threshold {fmt.bps(rec.get('threshold_bps'))}{flags}")
        if rec.get("category") in TRADING:
            try:
                trades = proposal_trades(self.ctx.engine, account, self.run_id)
            except RefusedError as exc:
                trades = pd.DataFrame()
                set_error_text(self.edit_msg, str(exc))
        else:
            trades = pd.DataFrame()
        trades = with_line_detail(self.ctx.engine, account, self.run_id, trades)  # asset class, weights
        self._trades = trades
        if len(trades):
            self.trades_model.set_frame(trades)
            live = trades[trades["status"] != "REMOVED"]
            buys = float(live.loc[live["side"] == "BUY", "est_value"].sum())
            sells = float(live.loc[live["side"] == "SELL", "est_value"].sum())
            self.trades_title.setText(f"Trades — {len(live):,} · sells {fmt.money(sells)} · buys {fmt.money(buys)}")
        else:
            self.trades_model.set_frame(pd.DataFrame(columns=[c.key for c in TRADE_COLUMNS] + ["id", "lots"]))
            self.trades_title.setText("Trades — none proposed" if rec.get("category") not in TRADING
                                      else "Trades — none")
        self.trades.fit_columns(force=True)
        self.lot_detail.show_account(self.ctx.engine, account if len(trades) else None, self.run_id)
        try:
            src = rec.get("src")
            text = self._source["detail"].iat[int(src)] if src is not None and "detail" in self._source \
                else rec.get("detail")
            detail = json.loads(text or "{}") if isinstance(text, str) else {}
        except (TypeError, ValueError):
            detail = {}
        self.weights.set_weights(detail.get("class_weights_pre") or {}, detail.get("class_weights_post") or {},
                                 detail.get("class_targets") or {}, detail.get("class_bands") or {})
        if not detail:
            self.band_note.setText("No optimization for this account (nothing to compare).")
        elif detail.get("band_statement"):  # re-scored after an edit: the engine's statement
            statement = detail["band_statement"]
            self.band_note.setText(e(statement) if statement.startswith("Every") else
                                   f"<span style='color:#b3261e'>{e(statement)}</span>")
        elif self.weights.out_of_band:
            self.band_note.setText("<span style='color:#b3261e'>Outside its band after the trades: "
                                   + e(", ".join(self.weights.out_of_band)) + "</span>")
        else:
            self.band_note.setText("Every asset class is inside its band after the trades.")
        if detail.get("household"):  # household wash sales: what another member's trade blocks here
            self.band_note.setText(self.band_note.text() + household_note(detail["household"]))
        if detail.get("cash_needed"):  # cash owed to clients: kept, never bought with
            self.band_note.setText(self.band_note.text() + "<br>Cash after the trades "
                                   f"{fmt.money2(detail.get('cash_post'))} · reserved for cash requests: "
                                   f"{fmt.money2(detail['cash_needed'])}")
        group = account_group(self.ctx.engine, account)
        if group:  # the tier named by the book, not by the account's value
            self.band_note.setText(self.band_note.text() + f"<br>Tier {e(str(rec.get('tier', '')))} comes from the "
                                   f"book's group column ({e(group)}), not from the account's value.")
        if rec.get("tier_basis"):
            self.band_note.setText(self.band_note.text() + f"<br><span style='color:#8a5a00'>Tier set by a value of "
                                   f"{fmt.money(rec.get('value'))}: {e(str(rec['tier_basis']))}</span>")
        self.band_note.setText(self.band_note.text() + budget_html(detail))  # budget, mode, model change
        self._fill_breakdown(rec)
        self._update_decision_buttons()
        self._update_trade_buttons()

    def _fill_breakdown(self, rec: dict) -> None:
        value = float(rec.get("value") or 0.0)

        def bps(d):
            return None if d is None or not value else d / value * 1e4

        def num(k):
            v = rec.get(k)
            return None if v is None else float(v)

        rows = []
        if rec and rec.get("score") is not None:
            rows = [("Drift benefit", num("drift_benefit")), ("Harvest value", num("harvest_benefit")),
                    ("Rating benefit", num("rating_benefit")),
                    ("Trading cost", None if num("trading_cost") is None else -num("trading_cost")),
                    ("Tax cost", None if num("tax_cost") is None else -num("tax_cost"))]
            score = num("score")
            thr_bps = num("threshold_bps")
            thr = None if thr_bps is None else thr_bps * value / 1e4
            rows += [("= Score", score), ("Threshold", thr),
                     ("Score − threshold", None if score is None or thr is None else score - thr)]
        self.breakdown.setRowCount(len(rows))
        bold = QFont(self.breakdown.font())
        bold.setBold(True)
        right = Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter
        for i, (name, d) in enumerate(rows):
            signed = name not in ("Threshold",)
            money = fmt.money(d) if d is not None else ""
            if signed and d is not None and round(d) > 0:
                money = "+" + money
            items = [QTableWidgetItem(name), QTableWidgetItem(money), QTableWidgetItem(fmt.bps(bps(d)))]
            if name == "Drift benefit":  # not cash: what the drop in tracking error is worth
                items[0].setToolTip("A risk-adjusted dollar equivalent: the drop in tracking error to the model, "
                                    "valued in dollars with the policy's dispersion-vs-tax weight (λ); not cash")
            for j, it in enumerate(items):
                if j:
                    it.setTextAlignment(right)
                if name in ("= Score", "Score − threshold"):
                    it.setFont(bold)
                if name == "Score − threshold" and d is not None:
                    it.setForeground(QBrush(QColor("#1b7f3b" if d >= 0 else "#b3261e")))
                elif j and d is not None and d < 0 and name != "Threshold":
                    it.setForeground(QBrush(QColor("#8c1d18")))
                self.breakdown.setItem(i, j, it)
        self.breakdown.resizeColumnsToContents()
        self.breakdown.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)

    def _update_decision_buttons(self) -> None:
        sm = self.table.selectionModel()
        rows = {i.row() for i in sm.selectedRows()} if sm and self.model.rowCount() else set()
        ok = any(bool(self.model.value(r, "trading")) for r in rows)
        for b in (self.approve_button, self.reject_button):
            b.setEnabled(ok and not self._stale)
        status = {self.model.value(r, "status") for r in rows if self.model.value(r, "trading")}
        self.withdraw_button.setEnabled("APPROVED" in status and not self._stale)
        self.restore_button.setEnabled("REJECTED" in status and not self._stale)
        self.approve_action.setEnabled(ok and not self._stale)
        self.reject_action.setEnabled(ok and not self._stale)

    def _update_trade_buttons(self) -> None:
        row = self.trades.selected_row()
        self.remove_button.setEnabled(row >= 0 and self.trades_model.is_editable(row) and not self._stale)
        removed = row >= 0 and self.trades_model.row_dict(row).get("status") == "REMOVED"
        self.restore_trade_button.setEnabled(removed and not self._stale)

    # ------------------------------------------------------------------ decisions
    def approve_selected(self) -> bool:
        accounts = self.selected_accounts()
        df = self.model.frame()
        tiers = set(df.loc[df["account_id"].isin(accounts), "tier"]) if len(df) else set()
        need = sorted(t for t in tiers if self.policy is not None and self.policy.note_required("approve", t))
        if not need:
            return self._decide(accounts, True)
        # the policy requires a note to approve these tiers (engine.core.notes): ask for it first
        who = accounts[0] if len(accounts) == 1 else f"{len(accounts):,} accounts"
        dlg = self._ask("Approve", f"Approve the proposal of {who}?", f"Approve {who}",
                        codes=self.policy.note_policy().codes,
                        informative=f"The policy requires a note to approve {', '.join(need)} accounts.")
        dlg.accepted.connect(lambda: self._decide(accounts, True, note=dlg.values()[1], note_code=dlg.values()[0]))
        return True

    def reject_selected(self) -> bool:
        """Ask for a reason code and text (and so a confirmation), then reject."""
        accounts = self._trading(self.selected_accounts(), "reject")
        if not accounts:
            return False
        who = accounts[0] if len(accounts) == 1 else f"{len(accounts):,} accounts"
        codes = self.policy.reject_codes() if self.policy is not None else ()
        dlg = self._ask("Reject", f"Reject the proposal of {who}?", f"Reject {who}", codes=codes,
                        informative="The reason is kept on the proposal and in the audit log; a rejection can "
                                    "be restored before export.")
        dlg.accepted.connect(lambda: self._decide(accounts, False, reason=dlg.values()[1], code=dlg.values()[0]))
        return True

    def withdraw_selected(self) -> bool:
        """Withdraw the approval of the selected approved accounts (asks why)."""
        from engine.desk.undo import withdraw

        return self._undo(withdraw, "APPROVED", "Withdraw approval", "Withdraw the approval of {who}?",
                          "It goes back to review and is not exported until approved again.")

    def restore_selected(self) -> bool:
        """Restore the selected rejected accounts to review (asks why)."""
        from engine.desk.undo import restore

        return self._undo(restore, "REJECTED", "Restore", "Restore the rejected proposal of {who} to review?",
                          "It goes back to review and needs an approval.")

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
        dlg = self._ask("Restore trade", f"Restore {r['side']} {fmt.qty(r['quantity'])} {r['symbol']} to "
                        f"{r['account_id']}'s proposal?", "Restore trade",
                        informative="The proposal is checked and scored again and needs an approval.")

        def done():
            try:
                restore_trade(self.ctx.engine, int(r["id"]), reason=dlg.values()[1], user=self.ctx.user)
            except RefusedError as exc:
                set_error_text(self.edit_msg, f"Refused: {exc}")
                return
            self.reload()
            set_error_text(self.edit_msg, f"{r['side']} {r['symbol']} restored; {r['account_id']} awaits "
                                          "approval again.", ok=True)
        dlg.accepted.connect(done)
        return True

    def _ask(self, title: str, text: str, ok: str, *, codes=(), informative: str = "") -> ReasonDialog:
        if self.reason_dialog is not None:
            self.reason_dialog.close()
        self.reason_dialog = ReasonDialog(self, title, text, ok, codes=tuple(codes), informative=informative)
        self.reason_dialog.open()
        return self.reason_dialog

    def _trading(self, accounts: list[str], word: str, status: str | None = None) -> list[str]:
        df = self.model.frame()
        sub = df[df["account_id"].isin(accounts)] if len(df) and accounts else df.iloc[:0]
        todo = sub[sub["trading"].astype(bool)] if len(sub) else sub
        if status is not None and len(todo):
            todo = todo[todo["status"] == status]
        if not len(todo):
            set_error_text(self.action_msg, f"Select an account to {word}.")
            return []
        return todo["account_id"].tolist()

    def _undo(self, fn, status: str, title: str, text: str, informative: str) -> bool:
        accounts = self._trading(self.selected_accounts(), title.lower(), status)
        if not accounts:
            return False
        df = self.model.frame()
        versions = dict(zip(df["account_id"], (int(v) for v in df["version"])))
        who = accounts[0] if len(accounts) == 1 else f"{len(accounts):,} accounts"
        dlg = self._ask(title, text.format(who=who), title, informative=informative)

        def done():
            try:
                fn(self.ctx.engine, accounts, reason=dlg.values()[1], user=self.ctx.user, run_id=self.run_id,
                   expected_versions={a: versions[a] for a in accounts})
            except RefusedError as exc:
                self._refused(title, exc, self.action_msg)
                return
            self.reload()
            set_error_text(self.action_msg, f"{title}: {who} back to review.", ok=True)
        dlg.accepted.connect(done)
        return True

    def _blocked(self, account: str) -> str:
        """Why the account's approved or proposed trades would be kept back at export now."""
        from engine.desk.compliance import proposals_blocked

        if self.run_id is None:
            return ""
        with self.ctx.engine.connect() as conn:
            return proposals_blocked(conn, self.run_id, [account]).get(account, "")

    def _decide(self, accounts: list[str], approve: bool, *, advance: bool = True, reason: str | None = None,
                code: str | None = None, note: str | None = None, note_code: str | None = None) -> bool:
        word = "approve" if approve else "reject"
        df = self.model.frame()
        if not accounts or not len(df):
            set_error_text(self.action_msg, f"Select an account to {word}.")
            return False
        sub = df[df["account_id"].isin(accounts)]
        todo = sub[sub["trading"]]
        skipped = len(sub) - len(todo)
        if not len(todo):
            set_error_text(self.action_msg, f"Nothing to {word}: {', '.join(accounts[:5])} "
                                            f"{'has' if len(accounts) == 1 else 'have'} no trades proposed.")
            return False
        ids = todo["account_id"].tolist()
        versions = dict(zip(ids, (int(v) for v in todo["version"])))
        row_before = self.table.selected_row()
        try:
            d = decide(self.ctx.engine, ids, approve=approve, user=self.ctx.user, run_id=self.run_id,
                       expected_versions=versions, reason=reason, code=code, note=note, note_code=note_code)
        except RefusedError as exc:
            self._refused("Approve" if approve else "Reject", exc, self.action_msg)
            return False
        status = "APPROVED" if approve else "REJECTED"
        self._patch(ids, status=status, decided_by=self.ctx.user,
                    bump=set(todo.loc[todo["status"] != status, "account_id"]),
                    fields={"decision_code": code, "decision_reason": reason})
        who = ids[0] if len(ids) == 1 else f"{len(ids):,} accounts"
        blocked = (f" Blocked now, not exported until it ends: "
                   + "; ".join(f"{a}: {why}" for a, why in sorted(d.blocked.items())[:5])
                   + (" …" if len(d.blocked) > 5 else "")) if d.blocked else ""
        set_error_text(self.action_msg, f"{'Approved' if approve else 'Rejected'} {who}."
                       + (f" {skipped:,} selected account(s) without trades left as they are." if skipped else "")
                       + blocked, ok=not blocked)
        if advance and len(accounts) == 1 and row_before >= 0:
            self._advance_after = row_before
        self._changed()
        return True

    def approve_filtered(self) -> bool:
        """Approve every filtered account of the tier that awaits review, after a confirmation."""
        shown = self.filtered_frame()
        todo = shown[shown["needs_review"]] if len(shown) else shown
        if not len(todo):
            set_error_text(self.action_msg, "No filtered account awaits review.")
            return False
        ids = todo["account_id"].tolist()
        dollars = trade_value(self.ctx.engine, ids, run_id=self.run_id)
        others = len(shown) - len(todo)
        tier = self.current_tier()
        n = len(ids)
        text = (f"Approve {n:,} {tier} account{'s' if n != 1 else ''} with {fmt.money(dollars)} of trades?")
        informative = ("Every account the filters show that awaits review"
                       + (f" ({self._describe_filters()})" if self._describe_filters() else "") + "."
                       + (f" {others:,} filtered account{'s are' if others != 1 else ' is'} already decided or "
                          "without trades and left as "
                          f"{'they are' if others != 1 else 'it is'}." if others else ""))
        if not dialogs.confirm(self, "Approve filtered accounts", text, informative, ok=f"Approve {n:,}"):
            return False
        versions = dict(zip(ids, (int(v) for v in todo["version"])))
        try:
            d = decide(self.ctx.engine, ids, approve=True, user=self.ctx.user, run_id=self.run_id,
                       expected_versions=versions)
        except RefusedError as exc:
            self._refused("Approve filtered accounts", exc, self.action_msg)
            return False
        self._patch(ids, status="APPROVED", decided_by=self.ctx.user, bump=set(ids),
                    fields={"decision_code": None, "decision_reason": None})
        blocked = (f" {len(d.blocked):,} of them are blocked now and not exported until that ends: "
                   + "; ".join(f"{a}: {why}" for a, why in sorted(d.blocked.items())[:5])
                   + (" …" if len(d.blocked) > 5 else "")) if d.blocked else ""
        set_error_text(self.action_msg, f"Approved {n:,} {tier} accounts ({fmt.money(dollars)} of trades)." + blocked,
                       ok=not blocked)
        self._changed()
        return True

    def _describe_filters(self) -> str:
        parts = []
        if self.category.currentText() != ALL_CATEGORIES:
            parts.append(self.category.currentText())
        if self.needs_review.isChecked():
            parts.append("needs review")
        if self.flagged.isChecked():
            parts.append("flagged")
        if self.filter.text().strip():
            parts.append(f"text “{self.filter.text().strip()}”")
        return ", ".join(parts)

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
        if not dialogs.confirm(self, "Remove trade",
                               f"Remove {r['side']} {fmt.qty(r['quantity'])} {r['symbol']} "
                               f"({fmt.money(r.get('est_value'))}) from {r['account_id']}?",
                               "The proposal goes back to review and needs an approval.", ok="Remove trade"):
            return False
        return self._edit(int(r["id"]), remove=True)

    def _edit(self, trade_id: int, *, quantity: int | None = None, remove: bool = False,
              deferred: bool = False) -> bool:
        account = self.current
        before = self._trades[self._trades["id"] == trade_id] if len(self._trades) else pd.DataFrame()
        try:
            edit_trade(self.ctx.engine, trade_id, quantity=quantity, remove=remove, user=self.ctx.user)
        except ConflictError as exc:
            self._refused("Edit trade", exc, self.edit_msg, deferred=deferred)
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
            self._patch([account], status="PROPOSED", decided_by=None, bump={account}, review="review",
                        editor=self.ctx.user)
        if deferred:
            self.reload_pending = True
            QTimer.singleShot(0, self._deferred_changed)
        else:
            self._changed()
        return True

    # ------------------------------------------------------------------ refusals
    def _refused(self, title: str, exc: RefusedError, label: QLabel, *, deferred: bool = False) -> None:
        """Show a refusal inline; a four-eyes refusal or a conflict with another user's change
        also in a message box, and a conflict reloads the view from the database (what the
        other user stored, with its new version) so the retry acts on it."""
        text = str(exc).replace("\n  ", " · ").replace("\n", " ")
        if isinstance(exc, ConflictError):
            title = f"{title}: changed by someone else"
            dialogs.show_error(self, title, exc)
            if deferred:  # an open quantity editor must close before the model resets
                QTimer.singleShot(0, lambda: self.reload(text, label))
            else:
                self.reload(text, label)
            return
        if isinstance(exc, FourEyesError):
            dialogs.show_error(self, f"{title}: four-eyes", exc)
        set_error_text(label, text)

    def reload(self, message: str = "", label: QLabel | None = None) -> None:
        """Read the latest run again (not a patch of this panel's own change), keeping the
        tier and the selected account; ``message`` is shown in ``label`` afterwards."""
        self._local_change = False
        account = self.current
        self.refresh()
        if account:
            self.focus(account)
        if message and label is not None:
            set_error_text(label, f"{message} The view was reloaded.")

    # ------------------------------------------------------------------ after a change
    def _patch(self, accounts: list[str], *, status: str, decided_by, bump: set, review: str | None = None,
               editor: str | None = None, fields: dict | None = None) -> None:
        """Mirror a decision in the loaded frames (what the engine just stored: status, decider,
        version), so the next refresh need not read the whole run again. Rows keep their place."""
        accounts = set(accounts)
        text = {"APPROVED": "Approved", "REJECTED": "Rejected", "PROPOSED": "To review"}[status]
        for key, f in list(self._frames.items()):
            if not len(f):
                continue
            hit = f["account_id"].isin(accounts).to_numpy(bool) & f["trading"].to_numpy(bool)
            if not hit.any():
                continue
            bumped = hit & f["account_id"].isin(bump).to_numpy(bool)
            f.loc[hit, "status"] = status
            f.loc[hit, "decided_by"] = decided_by
            f.loc[hit, "review_text"] = text
            f.loc[hit, "needs_review"] = status == "PROPOSED"
            if review:
                f.loc[hit, "review"] = review
            for k, v in (fields or {}).items():
                if k in f:
                    f.loc[hit, k] = v
            if editor and "edited_by" in f:
                for i in np.flatnonzero(hit):
                    users = editors_of(f.at[i, "edited_by"])
                    f.at[i, "edited_by"] = ";".join(users + ([editor] if editor not in users else []))
            f.loc[bumped, "version"] = f.loc[bumped, "version"].astype(int) + 1
            self._frames[key] = f
        self._label_tabs()

    def _deferred_changed(self) -> None:
        self.reload_pending = False
        self._changed()

    def _changed(self) -> None:
        self._local_change = True
        advance = getattr(self, "_advance_after", None)
        self._advance_after = None
        self.ctx.notify("review")
        if self._local_change:  # not refreshed by the window (e.g. the panel is used alone)
            self.refresh()
        if advance is not None:
            self._select_after(advance)

    def _select_after(self, row: int) -> None:
        """After a single decision move on: the next row (or the one that took its place)."""
        n = self.model.rowCount()
        if not n:
            return
        here = self.model.find("account_id", self.current) if self.current else -1
        target = min(row + 1, n - 1) if here == row else min(row, n - 1)
        self.table.clearSelection()
        self.table.select_row(target)
        self.table.setCurrentIndex(self.model.index(target, 0))

    # ------------------------------------------------------------------ state
    def save_state(self, settings) -> None:
        settings.setValue("proposals/split", self.split.saveState())
        settings.setValue("proposals/detail_split", self.detail_split.saveState())
        self.table.save_state(settings)
        self.trades.save_state(settings)
        settings.setValue("proposals/tier", self.current_tier())

    def restore_state(self, settings) -> None:
        for key, split in (("proposals/split", self.split), ("proposals/detail_split", self.detail_split)):
            state = settings.value(key)
            if state is not None:
                split.restoreState(state)
        self.table.restore_state(settings)
        self.trades.restore_state(settings)
        self._saved_tier = str(settings.value("proposals/tier", "") or "")
