"""Households: the families behind the accounts (accounts.csv ``household_id``).

Lists households with their accounts, combined value, the largest gap between the combined
asset-class weights and the value-weighted blend of the members' models, realized gains this
year and pending trades; the selected household's members and its class weights against the
blend below. Double-click a member (or "Open in Proposals") to open its proposal. The filter
finds households by id, account id or client name. Data: :func:`engine.desk.household_views.households`.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QHBoxLayout, QPushButton, QSplitter, QVBoxLayout

from engine.desk.household_views import households
from ui import fmt
from ui.models import Col, FrameModel, gui_ready, key_spans, text_index
from ui.panel import AppContext, Panel
from ui.read_worker import in_worker
from ui.widgets import DataTable, EmptyState, MasterDetail, count_label, debounce, filter_edit, section_title

HOUSEHOLD_COLUMNS = [
    Col("household_id", "Household"),
    Col("n_accounts", "Accounts", "count"),
    Col("names", "Clients", tooltip_key="accounts"),
    Col("value", "Value", "money", "Combined value of the members (holdings and cash)"),
    Col("taxable_value", "Taxable", "money", "Value in taxable accounts"),
    Col("max_gap", "Largest class gap", "pct", "Largest gap between a combined asset-class weight and the "
                                                "value-weighted blend of the members' models"),
    Col("realized_ytd", "Realized this year", "money", "Net gains realized this year (the book's transactions)"),
    Col("pending_trades", "Pending trades", "count", "Trades proposed or approved, not yet exported"),
    Col("suspended", "Suspended members", tip="Members without good data: the others trade, flagged "
                                              "WASH_COVERAGE_INCOMPLETE"),
]
HOUSEHOLD_TEXT_KEYS = ["household_id", "accounts", "names"]
MEMBER_COLUMNS = [
    Col("account_id", "Account"), Col("name", "Name"), Col("kind", "Tax"), Col("model_id", "Model"),
    Col("value", "Value", "money"), Col("category", "Category"), Col("status", "Review"),
    Col("pending_trades", "Pending trades", "count"), Col("realized_ytd", "Realized this year", "money"),
]
CLASS_COLUMNS = [
    Col("asset_class", "Asset class"), Col("weight", "Combined", "pct"),
    Col("target", "Blend of models", "pct", "The members' model weights, weighted by member value"),
    Col("gap", "Gap", "pct"),
]

MEMBER_CATEGORIES = ("household_id", "model_id", "kind", "category", "status")
CLASS_CATEGORIES = ("household_id", "asset_class")


class HouseholdsPanel(Panel):
    title = "Households"

    def __init__(self, ctx: AppContext, parent=None):
        super().__init__(ctx, parent)
        self.current: str | None = None
        self._pending_focus = None
        self._data: dict = {}
        outer = QVBoxLayout(self)
        outer.setContentsMargins(16, 12, 16, 12)
        bar = QHBoxLayout()
        bar.addWidget(section_title("Households"))
        self.filter = filter_edit("householdsFilter", "Find: household, account or client name (e.g. HH00012, Bennett)")
        bar.addWidget(self.filter, 3)
        self.count = count_label()
        bar.addWidget(self.count)
        outer.addLayout(bar)

        self.split = MasterDetail(self, "householdsSplit", HOUSEHOLD_COLUMNS, "householdsTable", 300)
        self.model, self.table, self.detail_title, dl = self.split.model, self.split.table, self.split.title, self.split.dl
        self.open_button = QPushButton("Open in Proposals")
        self.open_button.setObjectName("openMember")
        self.split.title_row.addWidget(self.open_button)
        inner = QSplitter(Qt.Orientation.Horizontal)
        self.members_model = FrameModel(MEMBER_COLUMNS, self)
        self.members = DataTable(self.members_model, "householdMembers")
        inner.addWidget(self.members)
        self.classes_model = FrameModel(CLASS_COLUMNS, self)
        self.classes = DataTable(self.classes_model, "householdClasses")
        inner.addWidget(self.classes)
        inner.setSizes([700, 360])
        dl.addWidget(inner, 1)
        self.split.setSizes([330, 420])
        self.empty = EmptyState("No households in this book",
                                "Accounts with the same household_id in accounts.csv are one household.")
        outer.addWidget(self.empty, 1)
        outer.addWidget(self.split, 1)

        self._debounce = debounce(self, 150, self.apply_filter)
        self.filter.textChanged.connect(lambda _: self._debounce.start())
        self.table.selectionModel().selectionChanged.connect(lambda *_: self._on_select())
        self.members.doubleClicked.connect(lambda *_: self.open_member())
        self.open_button.clicked.connect(self.open_member)
        self._show(None)

    def refresh(self) -> None:
        """Read the households in a worker process (with each household's rows indexed and the
        filter's text made there), then show them."""
        self.load(in_worker(HouseholdsPanel.read, self.ctx.engine), self._apply, what="the households")

    @staticmethod
    def read(engine) -> dict:
        """The panel's data, ready to show (runs in a read worker: its result is pickled back and
        unpickled in one call holding the console's GIL, so it is kept to few Python objects: the
        repeated texts as categoricals, each household's rows as one ``(start, stop)`` span of
        frames sorted by household)."""
        data = households(engine)
        hh = data.get("households")
        if hh is not None:
            hh = data["households"] = gui_ready(hh)
            data["text"] = {tuple(HOUSEHOLD_TEXT_KEYS): text_index(hh, HOUSEHOLD_TEXT_KEYS)}
        mem, cls = data.get("members"), data.get("classes")
        if mem is not None and len(mem):
            mem = mem.sort_values("household_id", kind="stable").reset_index(drop=True)
            mem["kind"] = np.where(mem["taxable"].fillna(False).astype(bool), "taxable", "tax-deferred")
            data["members"] = gui_ready(mem, categorical=MEMBER_CATEGORIES)
            data["member_rows"] = key_spans(mem["household_id"])
        if cls is not None and len(cls):
            cls = cls.sort_values("household_id", kind="stable").reset_index(drop=True)
            data["classes"] = gui_ready(cls, categorical=CLASS_CATEGORIES)
            data["class_rows"] = key_spans(cls["household_id"])
        return data

    def _apply(self, data: dict) -> None:
        self._data = data
        df = self._data["households"]
        has = bool(len(df))
        self.empty.setVisible(not has)
        self.split.setVisible(has)
        self.model.set_frame(df, data.get("text"))  # the filter's text index made in the read
        self.apply_filter()
        self.table.fit_columns()
        if has and (self.current is None or self.model.find("household_id", self.current) < 0):
            self.table.select_row(0)
        if self._pending_focus is not None:
            payload, self._pending_focus = self._pending_focus, None
            self.focus(payload)

    def apply_filter(self) -> None:
        self.model.set_text_filter(self.filter.text(), HOUSEHOLD_TEXT_KEYS)
        df = self._data.get("households")
        n = 0 if df is None else len(df)
        self.count.setText(f"{self.model.rowCount():,} of {n:,} households" if n else "")

    def focus(self, payload) -> None:
        """Show household ``payload`` (or the household of account ``payload``)."""
        if payload is None:
            return
        if not self._data or self.reading():  # shown once the read is in
            self._pending_focus = payload
            if not self.reading():
                self.refresh()
            return
        hid = str(payload)
        mem = self._data.get("members")
        if mem is not None and len(mem):  # an account: its household
            hit = np.flatnonzero(mem["account_id"].to_numpy() == hid)
            hid = str(mem["household_id"].iat[hit[0]]) if len(hit) else hid
        if self.model.find("household_id", hid) < 0:
            self.filter.clear()
            self.apply_filter()
        row = self.model.find("household_id", hid)
        if row >= 0:
            self.table.select_row(row)

    def _on_select(self) -> None:
        hid = self.split.selected("household_id")
        if hid is not None and hid != self.current:
            self.current = hid
            self._show(hid)

    def _show(self, hid: str | None) -> None:
        mem = self._data.get("members")
        if hid is None or mem is None or not len(mem):
            self.detail_title.setText("Select a household to see its accounts")
            self.members_model.set_frame(pd.DataFrame(columns=[c.key for c in MEMBER_COLUMNS]))
            self.classes_model.set_frame(pd.DataFrame(columns=[c.key for c in CLASS_COLUMNS]))
            self.open_button.setEnabled(False)
            return
        rows = mem.iloc[slice(*self._data["member_rows"].get(hid, (0, 0)))]
        self.members_model.set_frame(rows.sort_values("value", ascending=False).reset_index(drop=True))
        cls = self._data["classes"]
        self.classes_model.set_frame(cls.iloc[slice(*self._data.get("class_rows", {}).get(hid, (0, 0)))]
                                     .reset_index(drop=True))
        value = float(rows["value"].sum())
        self.detail_title.setText(f"Household {hid} · {len(rows)} accounts · {fmt.money(value)} · "
                                  f"{int(rows['pending_trades'].sum()):,} pending trades")
        self.open_button.setEnabled(True)
        self.members.select_row(0)
        self.members.fit_columns(force=True)
        self.classes.fit_columns(force=True)

    def open_member(self) -> None:
        row = self.members.selected_row()
        if row >= 0:
            self.ctx.navigate.emit("Proposals", self.members_model.value(row, "account_id"))
