"""The Proposals panel's detail of the selected account: a title line (tier, category, review
status, value, score against threshold, flags, editors, the decision's reason, a block at
export) with the decision buttons, then side by side the trade editor
(:mod:`ui.proposals_trade_editor`), the asset-class chart (:mod:`ui.proposals_chart`) and the
score broken down into benefits and costs (:class:`ScoreBreakdown`)."""
from __future__ import annotations

import html
import json

from PySide6.QtCore import Qt
from PySide6.QtGui import QBrush, QColor, QFont
from PySide6.QtWidgets import (QAbstractItemView, QHBoxLayout, QHeaderView, QLabel, QPushButton, QSizePolicy,
                               QSplitter, QTableWidget, QTableWidgetItem, QVBoxLayout, QWidget)

from engine.decide.workflow import proposal_detail
from engine.desk.desk_views import account_group
from engine.desk.review import TRADING, editors_of
from ui import fmt
from ui.proposals_chart import ProposalChart
from ui.proposals_frames import _tier_rule, _who
from ui.proposals_trade_editor import TradeEditor
from ui.read_worker import in_worker
from ui.widgets import inline_error, section_title

STATUS_COLOURS = {"To review": "#8a5a00", "Approved": "#1b7f3b", "Auto-approved": "#1b7f3b", "Rejected": "#b3261e"}


class ScoreBreakdown(QTableWidget):
    """Benefits and costs of the proposed trades in $ and bps, the score, the threshold and
    the margin between them."""

    def __init__(self, parent=None):
        super().__init__(0, 3, parent)
        self.setObjectName("scoreBreakdown")
        self.setHorizontalHeaderLabels(["", "$", "bps"])
        self.verticalHeader().setVisible(False)
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        self.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.setShowGrid(False)
        hh = self.horizontalHeader()
        hh.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        hh.setSectionResizeMode(1, QHeaderView.ResizeMode.ResizeToContents)
        hh.setSectionResizeMode(2, QHeaderView.ResizeMode.ResizeToContents)
        hh.setDefaultAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        self.verticalHeader().setDefaultSectionSize(self.fontMetrics().height() + 8)

    def fill(self, rec: dict) -> None:
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
        self.setRowCount(len(rows))
        bold = QFont(self.font())
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
                self.setItem(i, j, it)
        self.resizeColumnsToContents()
        self.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)


def read_detail(engine, run_id: int, account: str) -> tuple:
    """(account, its proposal's detail, its book group) — the detail's read (a worker's)."""
    with engine.connect() as conn:
        detail = proposal_detail(conn, run_id, account)
    return account, detail, account_group(engine, account)


class ProposalDetail(QWidget):
    """``host`` is the Proposals panel (its ``ctx``, ``run_id``, ``policy``, the run's
    ``_source`` frame and ``_blocked``), which the trade editor needs as well."""

    def __init__(self, host, parent=None):
        super().__init__(parent)
        self.host = host
        self.account: str | None = None  # the account shown
        dl = QVBoxLayout(self)
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
        dl.addLayout(head)
        self.action_msg = inline_error()
        dl.addWidget(self.action_msg)

        self.detail_split = QSplitter(Qt.Orientation.Horizontal)
        self.detail_split.setObjectName("proposalDetailSplit")
        self.editor = TradeEditor(host)
        self.detail_split.addWidget(self.editor)
        self.chart = ProposalChart()
        self.detail_split.addWidget(self.chart)
        score_box = QWidget()
        sl = QVBoxLayout(score_box)
        sl.setContentsMargins(0, 0, 0, 0)
        sl.setSpacing(4)
        sl.addWidget(section_title("Score"))
        self.breakdown = ScoreBreakdown()
        sl.addWidget(self.breakdown, 1)
        self.detail_split.addWidget(score_box)
        self.detail_split.setStretchFactor(0, 5)
        self.detail_split.setStretchFactor(1, 3)
        self.detail_split.setStretchFactor(2, 2)
        self.detail_split.setSizes([620, 380, 300])
        dl.addWidget(self.detail_split, 1)

    def show_none(self, tier: str) -> None:
        self.detail_title.setText("<span style='color:#5f6b7a'>Select an account to see its trades, asset "
                                  f"classes and score{' in ' + html.escape(tier) if tier else ''}.</span>")
        self.account = None
        self.editor.clear()
        self.chart.clear()
        self.breakdown.fill({})

    def show_account(self, account: str, rec: dict) -> None:
        """Account ``rec`` (its row of the table): the title, its trades, chart and score."""
        host = self.host
        self.detail_title.setText(self._title(account, rec))
        self.editor.show_account(account, rec.get("category"), host.run_id, rec)
        self.breakdown.fill(rec)
        self.account = account
        src = rec.get("src")
        if src is not None and "detail" in host._source or "detail" in rec or host.run_id is None:
            try:  # proposals given with their detail (ProposalsPanel.set_proposals of a full frame)
                text = host._source["detail"].iat[int(src)] if src is not None and "detail" in host._source \
                    else rec.get("detail")
                detail = json.loads(text or "{}") if isinstance(text, str) else {}
            except (TypeError, ValueError):
                detail = {}
            self.chart.show_detail(detail, rec, account_group(host.ctx.engine, account))
            return
        # the run was read without the detail JSON: this account's, with its group, in a worker
        self.chart.clear()
        host.load(in_worker(read_detail, host.ctx.engine, host.run_id, account),
                  lambda result: self._apply_detail(result, rec), channel="detail", what="the account")

    def _apply_detail(self, result, rec: dict) -> None:
        account, detail, group = result
        if account == self.account:  # not another account selected meanwhile
            self.chart.show_detail(detail, rec, group)

    def _title(self, account: str, rec: dict) -> str:
        e = html.escape
        policy = self.host.policy
        status = rec.get("review_text") or rec.get("category")
        colour = STATUS_COLOURS.get(status, "#5f6b7a")
        decided = f" by {e(str(rec['decided_by']))}" if rec.get("decided_by") and status != "To review" else ""
        flags = f" · <span style='color:#b3261e'>flags: {e(rec['flags_text'])}</span>" if rec.get("flags_text") else ""
        editors = editors_of(rec.get("edited_by"))
        if editors and policy is not None and rec.get("tier") in policy.four_eyes_tiers():
            flags += (f" · <span style='color:#8a5a00'>edited by {e(', '.join(editors))} — four-eyes: "
                      "another user approves</span>")
        elif editors:
            flags += f" · edited by {e(', '.join(editors))}"
        if rec.get("decision_reason"):
            code = f"{rec['decision_code']}: " if rec.get("decision_code") else ""
            word = "rejected" if rec.get("status") == "REJECTED" else "reason"
            flags += f" · <span style='color:#5f6b7a'>{word}: {e(code + str(rec['decision_reason']))}</span>"
        blocked = self.host._blocked(account) if rec.get("category") in TRADING else ""
        if blocked:
            flags += (f" · <span style='color:#b3261e'><b>blocked at export</b>: {e(blocked)}</span>")
        return (f"<span style='font-size:14px'><b>{e(account)}</b></span>{_who(rec)} · {e(str(rec.get('tier', '')))}"
                f"{_tier_rule(rec)} · "
                f"{e(str(rec.get('category', '')))} · <span style='color:{colour}'><b>{e(str(status))}</b>{decided}"
                f"</span> · value {fmt.money(rec.get('value'))} · score <b>{fmt.bps(rec.get('score_bps'))}</b> vs "
                f"threshold {fmt.bps(rec.get('threshold_bps'))}{flags}")
