"""The Proposals panel's account table: a tab per tier, the filters (text, category, awaiting
review, flagged), the count and "Approve filtered…", and the accounts of the selected tier
(:class:`ui.models.FrameModel`, filtered and sorted in numpy).

The table keeps the run's prepared frame cut into one frame per tier; a decision made in the
panel is mirrored in those frames by :meth:`ProposalsTable.patch` (no re-read of the run)."""
from __future__ import annotations

import numpy as np
import pandas as pd
from PySide6.QtWidgets import (QAbstractItemView, QCheckBox, QComboBox, QHBoxLayout, QPushButton,
                               QTabBar, QVBoxLayout, QWidget)

from engine.desk.review import editors_of
from ui import fmt
from ui.models import Col, FrameModel, key_spans
from ui.widgets import DataTable, count_label, debounce, filter_edit

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
    Col("tax_paid", "Tax", "money", "Tax on the gains the sells realize, at the account's ST/LT rates"),
    Col("tax_saved", "Tax saved", "money", "Tax this year's losses save (losses harvested); the net realized "
                                           "tax is Tax minus Tax saved"),
    Col("te_post_bps", "TE after", "bps", "Tracking error to the model after the trades"),
    Col("flags_text", "Flags", tip="Outliers: high turnover, tax or single trade, tracking error still high"),
    Col("reasons_text", "Reasons", tip="Mandates and other reasons; hover for all", tooltip_key="reasons_tip"),
    Col("decided_by", "Decided by"),
]
ACCOUNT_TEXT_KEYS = ["account_id", "name", "household_id", "category", "review_text", "flags_text", "reasons_text"]
STATUS_TEXT = {"APPROVED": "Approved", "REJECTED": "Rejected", "PROPOSED": "To review"}



def tier_frames(prepared: pd.DataFrame, policy) -> tuple[list[str], dict[str, pd.DataFrame]]:
    """The tiers to show (the policy's first, then the run's others) and each one's frame: the
    contiguous slices of ``prepared`` (ordered by tier). No widget touched: made off the GUI thread."""
    ranges = key_spans(prepared["tier"].astype(object).to_numpy()) if len(prepared) else {}
    tiers = [t.name for t in sorted(policy.tiers, key=lambda t: t.min_value)] if policy is not None else []
    tiers += sorted(set(ranges) - set(tiers))  # tiers of the run the policy no longer has
    return tiers, {t: prepared.iloc[ranges[t][0]:ranges[t][1]].reset_index(drop=True) if t in ranges
                   else prepared.iloc[:0] for t in tiers}

class ProposalsTable(QWidget):
    """Tier tabs, filters and the tier's accounts."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.frames: dict[str, pd.DataFrame] = {}  # tier -> prepared frame
        self.tier_names: list[str] = []
        self.policy = None
        self.stale = False                          # decisions refused: the bulk button stays off
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setSpacing(6)
        self.tiers = QTabBar()
        self.tiers.setObjectName("proposalsTiers")
        self.tiers.setExpanding(False)
        self.tiers.setDocumentMode(True)
        self.tiers.setDrawBase(False)
        lay.addWidget(self.tiers)
        bar = QHBoxLayout()
        self.filter = filter_edit("proposalsFilter", "Filter: account, client name, household, flag or reason (e.g. A1, Smith, tax)")
        self.category = QComboBox()
        self.category.setObjectName("proposalsCategory")
        self.category.addItems([ALL_CATEGORIES, TRADING_ONLY, *CATEGORY_ORDER])
        self.needs_review = QCheckBox("Needs review")
        self.needs_review.setObjectName("proposalsNeedsReview")
        self.needs_review.setToolTip("Only accounts waiting for a reviewer (status PROPOSED)")
        self.flagged = QCheckBox("Flagged")
        self.flagged.setObjectName("proposalsFlagged")
        self.flagged.setToolTip("Only outlier accounts: high turnover, tax, single trade or tracking error")
        self.count = count_label()
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
        self.model = FrameModel(ACCOUNT_COLUMNS, self, strong="needs_review")
        self.table = DataTable(self.model, "proposalsTable")
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.table.max_column_width = 260
        lay.addWidget(self.table, 1)

        self._debounce = debounce(self, 120, self.apply_filter)
        self.filter.textChanged.connect(lambda _: self._debounce.start())
        for changed in (self.category.currentIndexChanged, self.needs_review.toggled, self.flagged.toggled):
            changed.connect(lambda *_: self.apply_filter())
        self.model.layoutChanged.connect(lambda *_: self.update_count())

    # ------------------------------------------------------------------ tiers
    def set_frames(self, prepared: pd.DataFrame, policy, keep: str, cut: tuple | None = None) -> str:
        """Cut ``prepared`` (ordered by tier) into one frame per tier, the policy's tiers first
        (or take ``cut``, :func:`tier_frames` of the same, made off the GUI thread), and make the
        tabs; returns the tier to show (``keep`` if it still exists, else the first tier with
        accounts waiting, else the first with accounts). The tab is set without signals."""
        self.policy = policy
        tiers, self.frames = cut if cut is not None else tier_frames(prepared, policy)
        self.tier_names = tiers
        self.tiers.blockSignals(True)
        while self.tiers.count():
            self.tiers.removeTab(0)
        for t in tiers:
            self.tiers.addTab(t)
        self.label_tabs()
        if keep not in tiers:
            waiting = [t for t in tiers if self.frames[t]["needs_review"].any()]
            sized = [t for t in tiers if len(self.frames[t])]
            keep = (waiting or sized or tiers or [""])[0]
        self.tiers.setCurrentIndex(max(0, tiers.index(keep)) if keep in tiers else 0)
        self.tiers.blockSignals(False)
        return keep

    def clear(self) -> None:
        self.frames = {}

    def label_tabs(self) -> None:
        for i, t in enumerate(self.tier_names):
            f = self.frames.get(t)
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
        return self.tier_names[i] if 0 <= i < len(self.tier_names) else ""

    def set_tier(self, tier: str) -> None:
        if tier in self.tier_names:
            self.tiers.setCurrentIndex(self.tier_names.index(tier))

    # ------------------------------------------------------------------ filters
    def apply_masks(self) -> None:
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
        self.apply_masks()
        self.update_count()

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

    def describe_filters(self) -> str:
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

    def update_count(self) -> None:
        shown, total = self.model.rowCount(), self.model.total_rows()
        df = self.model.frame()
        waiting = int(df["needs_review"].sum()) if total else 0
        self.count.setText((f"{shown:,} of {total:,} accounts" if shown != total else f"{total:,} accounts")
                           + f" · {waiting:,} to review")
        self.bulk_button.setEnabled(bool(shown) and bool(waiting) and not self.stale)

    def filtered_frame(self) -> pd.DataFrame:
        """The rows the table shows now, in view order."""
        rows = self.model._rows
        return self.model.frame().iloc[rows]

    # ------------------------------------------------------------------ selection
    def selected_accounts(self) -> list[str]:
        sm = self.table.selectionModel()
        rows = sorted({i.row() for i in sm.selectedRows()}) if sm else []
        return [self.model.value(r, "account_id") for r in rows]

    def record(self, account: str | None) -> dict:
        """The account's row of the tier shown, missing values as None ({} when not shown)."""
        if not account:
            return {}
        df = self.model.frame()
        hits = np.flatnonzero(df["account_id"].to_numpy(object) == account) if len(df) else []
        if not len(hits):
            return {}
        return {k: (None if fmt._missing(v) else v) for k, v in df.iloc[int(hits[0])].items()}

    def selection_state(self) -> tuple[bool, set]:
        """Whether a selected account trades, and the statuses of the selected trading accounts."""
        sm = self.table.selectionModel()
        rows = {i.row() for i in sm.selectedRows()} if sm and self.model.rowCount() else set()
        ok = any(bool(self.model.value(r, "trading")) for r in rows)
        return ok, {self.model.value(r, "status") for r in rows if self.model.value(r, "trading")}

    # ------------------------------------------------------------------ after a decision
    def patch(self, accounts, *, status: str, decided_by, bump: set, review: str | None = None,
              editor: str | None = None, fields: dict | None = None) -> None:
        """Mirror a decision in the loaded frames (what the engine just stored: status, decider,
        version), so the next refresh need not read the whole run again. Rows keep their place."""
        accounts = set(accounts)
        text = STATUS_TEXT[status]
        for key, f in list(self.frames.items()):
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
            self.frames[key] = f
        self.label_tabs()
