"""Audit: who did what and when — every import, run, override, approval, rejection, edit, manual
trade, policy change and export — newest first, filtered by user, action, account and date range
(:func:`engine.core.audit.audit_entries`). Before/after values are shown as "field: old → new"; the
selected entry's full record is shown below the table.

Whenever the panel refreshes, the audit chain is verified off the GUI thread
(:func:`engine.core.audit_chain.verify_chain`): "Audit chain verified up to entry N", or a red banner
naming the first altered, inserted or deleted entry until an admin acknowledges it (audited).
"""
from __future__ import annotations

import html
import json
from datetime import date, timezone

import numpy as np
import pandas as pd
from PySide6.QtCore import QDate, Qt
from PySide6.QtWidgets import (QComboBox, QDateEdit, QHBoxLayout, QLabel, QPushButton, QScrollArea,
                               QSplitter, QVBoxLayout)

from engine.core.audit import audit_entries, audit_facets
from engine.core.audit_chain import acknowledge_break, acknowledged, verify_chain
from engine.core.tasks import RefusedError
from ui import fmt
from ui.models import Col, FrameModel, gui_ready
from ui.panel import AppContext, Panel
from ui.read_worker import WorkerReader, in_worker
from ui.widgets import Banner, DataTable, count_label, debounce, filter_edit

ALL_USERS = "All users"
ALL_ACTIONS = "All actions"
LIMIT = 20_000
NO_DATE = QDate(2000, 1, 1)  # the date edits' "any" value

COLUMNS = [
    Col("at_text", "Time", tip="When it happened (your local time)"),
    Col("username", "User"),
    Col("action", "Action"),
    Col("account_id", "Account"),
    Col("symbol", "Symbol"),
    Col("detail", "Detail", tooltip_key="detail"),
    Col("change", "Change", tip="Before → after", tooltip_key="change_tip"),
    Col("identity_text", "Identity", tip="How the user is known: the database login, the OS login, or a name "
        "declared with --user (on a workstation database: four-eyes between declared identities is not proven)"),
]


# --------------------------------------------------------------------------- before / after in words
def _value(v, depth: int = 0) -> str:
    if v is None:
        return "none"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, int):
        return f"{v:,}"
    if isinstance(v, float):
        return f"{v:,.2f}" if not v.is_integer() else f"{int(v):,}"
    if isinstance(v, dict):
        if depth:
            return "{…}"
        return ", ".join(f"{k} {_value(x, depth + 1)}" for k, x in v.items())
    if isinstance(v, list):
        names = [x.get("name") for x in v if isinstance(x, dict) and x.get("name")]
        if names:
            return ", ".join(names)
        if depth or len(v) > 6:
            return f"{len(v):,} items"
        return ", ".join(_value(x, depth + 1) for x in v)
    return str(v)


def _load(text):
    if text is None or (isinstance(text, float) and np.isnan(text)) or text == "":
        return None
    try:
        return json.loads(text)
    except (TypeError, ValueError):
        return text


def describe_change(before, after) -> str:
    """A readable one-liner of a before/after pair (JSON texts or objects):
    ``status: PROPOSED → APPROVED; quantity: 100 → 90``."""
    b, a = _load(before), _load(after)
    if b is None and a is None:
        return ""
    if not isinstance(b, dict) or not isinstance(a, dict):
        if b is None:
            return _value(a) if not isinstance(a, dict) else describe_change({}, a)
        if a is None:
            return f"was {_value(b)}" if not isinstance(b, dict) else describe_change(b, {})
        return f"{_value(b)} → {_value(a)}"
    parts = []
    for k in list(dict.fromkeys([*b, *a])):
        if k in b and k in a:
            if b[k] != a[k]:
                parts.append(f"{k}: {_value(b[k])} → {_value(a[k])}")
        elif k in a:
            parts.append(f"{k}: {_value(a[k])}")
        else:
            parts.append(f"{k}: was {_value(b[k])}")
    return "; ".join(parts) if parts else "no change"


def _pretty(text) -> str:
    v = _load(text)
    if v is None:
        return "—"
    return json.dumps(v, indent=2, sort_keys=True, default=str) if isinstance(v, (dict, list)) else str(v)


def local_seconds(v) -> str:
    """A stored UTC time in local time, to the second (entries of one minute keep their order)."""
    if fmt._missing(v):
        return ""
    dt = pd.Timestamp(v).to_pydatetime()
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    return f"{dt.astimezone():%Y-%m-%d %H:%M:%S}"


def identity_text(kind, session) -> str:
    """How an entry's user is known, in words: declared names show the OS login next to them."""
    if kind == "login":
        return "database login"
    if kind == "os":
        return "OS login"
    if kind == "declared":
        parts = session.split("/") if isinstance(session, str) else []
        return f"declared (OS login {parts[-2]})" if len(parts) >= 3 else "declared"
    return ""


def _pydate(q: QDate) -> date:
    return date(q.year(), q.month(), q.day())


def check_chain(engine):
    """The chain's report and whether an admin has acknowledged its break (a worker's read)."""
    rep = verify_chain(engine)
    with engine.connect() as conn:
        return rep, acknowledged(conn, rep)


class AuditPanel(Panel):
    title = "Audit"

    def __init__(self, ctx: AppContext, parent=None):
        super().__init__(ctx, parent)
        outer = QVBoxLayout(self)
        outer.setContentsMargins(16, 12, 16, 12)
        self.banner = Banner()
        outer.addWidget(self.banner)
        chain_row = QHBoxLayout()
        self.chain = QLabel("Verifying the audit chain…")
        self.chain.setObjectName("auditChain")
        self.chain.setToolTip("Every entry carries a SHA-256 hash over the previous entry's hash and its own "
                              "content: an entry altered, inserted or deleted outside the desk breaks the chain")
        self.ack_button = QPushButton("Acknowledge")
        self.ack_button.setObjectName("auditAck")
        self.ack_button.setToolTip("Record (in the audit log) that you have seen the break; the log is left as it is")
        self.ack_button.hide()
        self.ack_button.clicked.connect(self.acknowledge)
        chain_row.addWidget(self.chain, 1)
        chain_row.addWidget(self.ack_button)
        outer.addLayout(chain_row)
        self.report = None  # the last chain report
        self._verify_gen = 0
        self._verify_reader = WorkerReader(self)  # not a panel channel: the panel shows its log meanwhile

        bar = QHBoxLayout()
        self.user = QComboBox()
        self.user.setObjectName("auditUser")
        self.user.setMinimumContentsLength(12)
        self.action = QComboBox()
        self.action.setObjectName("auditAction")
        self.action.setMinimumContentsLength(16)
        self.account = filter_edit("auditAccount", "Account id")
        self.since = self._date_edit("auditSince")
        self.until = self._date_edit("auditUntil")
        self.clear_button = QPushButton("Clear filters")
        self.clear_button.setObjectName("auditClear")
        self.count = count_label()
        bar.addWidget(self.user)
        bar.addWidget(self.action)
        bar.addWidget(self.account, 1)
        bar.addWidget(QLabel("From"))
        bar.addWidget(self.since)
        bar.addWidget(QLabel("to"))
        bar.addWidget(self.until)
        bar.addWidget(self.clear_button)
        bar.addStretch(0)
        bar.addWidget(self.count)
        outer.addLayout(bar)

        self.split = QSplitter(Qt.Orientation.Vertical)
        self.split.setObjectName("auditSplit")
        self.model = FrameModel(COLUMNS, self)
        self.table = DataTable(self.model, "auditTable")
        self.table.setSortingEnabled(False)  # newest first, as the log reads
        self.table.max_column_width = 380
        self.split.addWidget(self.table)
        self.detail = QLabel()
        self.detail.setObjectName("suspendedDetail")
        self.detail.setTextFormat(Qt.TextFormat.RichText)
        self.detail.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        self.detail.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.detail.setWordWrap(True)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(self.detail)
        scroll.setFrameShape(QScrollArea.Shape.NoFrame)
        self.split.addWidget(scroll)
        self.split.setSizes([560, 200])
        outer.addWidget(self.split, 1)

        self._debounce = debounce(self, 250, self.reload)
        self.account.textChanged.connect(lambda _: self._debounce.start())
        self.user.currentIndexChanged.connect(lambda _: self.reload())
        self.action.currentIndexChanged.connect(lambda _: self.reload())
        self.since.dateChanged.connect(lambda _: self.reload())
        self.until.dateChanged.connect(lambda _: self.reload())
        self.clear_button.clicked.connect(self.clear_filters)
        self.table.selectionModel().selectionChanged.connect(lambda *_: self._on_select())
        self._show(None)

    @staticmethod
    def _date_edit(name: str) -> QDateEdit:
        d = QDateEdit()
        d.setObjectName(name)
        d.setCalendarPopup(True)
        d.setDisplayFormat("yyyy-MM-dd")
        d.setMinimumDate(NO_DATE)
        d.setSpecialValueText("any")  # shown at the minimum date: no bound
        d.setDate(NO_DATE)
        d.setToolTip("Dates of the log (UTC); “any” = no bound. Both ends are included.")
        return d

    # ------------------------------------------------------------------ data
    def refresh(self) -> None:
        """The filter lists, the entries and the chain check, each read off the GUI thread."""
        self.load(in_worker(audit_facets, self.ctx.engine), self._apply_facets, channel="facets")
        self.reload()
        self.verify()

    def _apply_facets(self, facets: dict) -> None:
        for combo, everyone, values in ((self.user, ALL_USERS, facets["users"]),
                                        (self.action, ALL_ACTIONS, facets["actions"])):
            keep = combo.currentText()
            combo.blockSignals(True)
            combo.clear()
            combo.addItem(everyone)
            combo.addItems(values)
            combo.setCurrentIndex(max(0, combo.findText(keep)))
            combo.blockSignals(False)

    # ------------------------------------------------------------------ the chain
    def verify(self) -> None:
        """Check the chain in a worker process (ui.read_worker; its hashing would hold this
        process's GIL); the newest check's result is shown."""
        self._verify_gen += 1
        gen = self._verify_gen
        if self.report is None:
            self.chain.setText("Verifying the audit chain…")
        self._verify_reader.start(in_worker(check_chain, self.ctx.engine), lambda r: self._show_chain(gen, r),
                                  lambda exc: self._chain_failed(gen, exc))

    def wait_verified(self, msecs: int = -1) -> bool:
        return self._verify_reader.wait(msecs if msecs >= 0 else 600_000)

    def _chain_failed(self, gen: int, exc) -> None:
        if gen == self._verify_gen:
            self.chain.setText(f"Could not verify the audit chain: {html.escape(str(exc))}")

    def _show_chain(self, gen: int, result) -> None:
        if gen != self._verify_gen:
            return
        rep, seen = result
        self.report = rep
        if rep.ok:
            self.chain.setText(f"✓ Audit chain verified up to entry {rep.verified:,}")
            self.banner.show_message("")
            self.ack_button.hide()
            return
        self.chain.setText(f"Audit chain verified up to entry {rep.verified:,} only")
        problem = html.escape(rep.problem or "")
        if seen:
            self.banner.show_message(f"<b>The audit trail was changed outside the desk</b>: {problem}. "
                                     "An admin has acknowledged it; the log is left as it is.", "warn")
            self.ack_button.hide()
        else:
            self.banner.show_message(f"<b>The audit trail was changed outside the desk</b>: {problem}. "
                                     "It is reported, never repaired; an admin must acknowledge it.", "error")
            self.ack_button.show()

    def acknowledge(self) -> None:
        if self.report is None or self.report.ok:
            return
        try:
            acknowledge_break(self.ctx.engine, self.report, user=self.ctx.user)
        except RefusedError as exc:
            self.banner.show_message(f"{html.escape(str(exc))}", "error")
            return
        self.ctx.notify("review")
        self.reload()
        self.verify()

    def filters(self) -> dict:
        user = self.user.currentText()
        action = self.action.currentText()
        since, until = self.since.date(), self.until.date()
        return {"user": None if user in ("", ALL_USERS) else user,
                "action": None if action in ("", ALL_ACTIONS) else action,
                "account_id": self.account.text().strip() or None,
                "since": None if since == NO_DATE else _pydate(since),
                "until": None if until == NO_DATE else _pydate(until)}

    def reload(self) -> None:
        """The entries matching the filters, read and described off the GUI thread."""
        self.load(in_worker(AuditPanel.read_filtered, self.ctx.engine, self.filters()), self._apply_entries,
                  what="the log")

    @staticmethod
    def read_filtered(engine, f: dict) -> tuple:
        """(the filters, their entries) — the log's read, in a worker process (ui.read_worker)."""
        return f, AuditPanel.read_entries(engine, f)

    @staticmethod
    def read_entries(engine, f: dict):
        df = audit_entries(engine, limit=LIMIT, **f)
        change = [describe_change(b, a) for b, a in zip(df["before"].to_numpy(object), df["after"].to_numpy(object))] \
            if len(df) else []
        return gui_ready(df).assign(change=change, change_tip=[c.replace("; ", "\n") for c in change],
                         identity_text=[identity_text(k, v) for k, v in zip(df["identity"].to_numpy(object),
                                                                             df["session"].to_numpy(object))],
                         at_text=[local_seconds(v) for v in df["at"].to_numpy(object)] if len(df) else [])

    def _apply_entries(self, result) -> None:
        f, df = result
        self.model.set_frame(df)
        self.table.fit_columns()
        active = any(v is not None for v in f.values())
        n = len(df)
        self.count.setText(f"newest {n:,} shown — narrow the filters" if n >= LIMIT else
                           f"{n:,} entr{'ies' if n != 1 else 'y'}" + (" match the filters" if active else ""))
        if n:
            self.table.select_row(0)
        else:
            self._show(None)

    def clear_filters(self) -> None:
        for w in (self.user, self.action, self.account, self.since, self.until):
            w.blockSignals(True)
        self.user.setCurrentIndex(0)
        self.action.setCurrentIndex(0)
        self.account.clear()
        self.since.setDate(NO_DATE)
        self.until.setDate(NO_DATE)
        for w in (self.user, self.action, self.account, self.since, self.until):
            w.blockSignals(False)
        self.reload()

    def focus(self, payload) -> None:
        """Show the log of one account."""
        if payload:
            self.account.setText(str(payload))
            self.reload()

    # ------------------------------------------------------------------ detail
    def _on_select(self) -> None:
        row = self.table.selected_row()
        self._show(self.model.row_dict(row) if row >= 0 else None)

    def _show(self, rec: dict | None) -> None:
        if not rec:
            self.detail.setText("<p style='color:#5f6b7a'>No entry selected.</p>")
            return
        e = html.escape
        what = " · ".join(e(str(rec[k])) for k in ("account_id", "symbol") if rec.get(k))
        self.detail.setText(
            f"<p><b>{e(str(rec.get('action')))}</b> by <b>{e(str(rec.get('username')))}</b>"
            + (f" ({e(rec['identity_text'])})" if rec.get("identity_text") else "") + " at "
            f"{fmt.local_time(rec.get('at'))}{' · ' + what if what else ''}</p>"
            + (f"<p>{e(str(rec.get('detail')))}</p>" if rec.get("detail") else "")
            + (f"<p><b>Change:</b> {e(rec.get('change') or '')}</p>" if rec.get("change") else "")
            + "<table width='100%' cellspacing='0' cellpadding='4'><tr><th align='left' width='50%'>Before</th>"
            "<th align='left' width='50%'>After</th></tr>"
            f"<tr><td valign='top'><pre>{e(_pretty(rec.get('before')))}</pre></td>"
            f"<td valign='top'><pre>{e(_pretty(rec.get('after')))}</pre></td></tr></table>")

    def save_state(self, settings) -> None:
        settings.setValue("audit/split", self.split.saveState())
        self.table.save_state(settings)

    def restore_state(self, settings) -> None:
        state = settings.value("audit/split")
        if state is not None:
            self.split.restoreState(state)
        self.table.restore_state(settings)
