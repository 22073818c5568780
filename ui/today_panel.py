"""Today: the latest run's counts per tier and category, and what needs attention first."""
from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (QGridLayout, QHBoxLayout, QLabel, QPushButton, QSplitter, QStackedWidget,
                               QVBoxLayout, QWidget)

from engine.book import model_changes
from engine.desk import views
from engine.desk.desk_views import book_age_warning, mark_due, orders_in_flight
from engine.decide.workflow import CATEGORIES
from ui import fmt
from ui.models import Col, FrameModel
from ui.panel import AppContext, Panel
from ui.widgets import Banner, Card, DataTable, EmptyState, section_title

CATEGORY_TITLES = {"SUSPENDED": "Suspended", "HELD": "Held", "MANDATE": "Mandate", "SCORE": "Score",
                   "NO_TRADE": "No trade", "Total": "Total"}
CATEGORY_TIPS = {
    "SUSPENDED": "Bad data: the account waits until its data is fixed (urgent ones are traded by hand)",
    "HELD": "A manual hold, a halted security or trades already exported on this book",
    "MANDATE": "Must trade for a mandate: cash request, restriction or asset-class band",
    "SCORE": "The optimizer's score is at or above the account's threshold",
    "NO_TRADE": "Nothing worth trading today",
    "Total": "All accounts of the tier",
}


class TodayPanel(Panel):
    title = "Today"

    def __init__(self, ctx: AppContext, parent=None):
        super().__init__(ctx, parent)
        self.data: dict | None = None
        outer = QVBoxLayout(self)
        outer.setContentsMargins(16, 12, 16, 12)
        self.banner = Banner()
        outer.addWidget(self.banner)
        self.stack = QStackedWidget()
        outer.addWidget(self.stack, 1)

        # ------------------------------------------------ empty state (new database)
        self.empty = EmptyState("Import a book folder or generate a sample",
                                "A book folder holds the day's securities, models, accounts, lots, custodian "
                                "positions, feeds, transactions, cash requests and corporate actions "
                                "(see CONTRACT.md).")
        self.empty.add_button("Import book…", lambda: ctx.request.emit("import"), primary=True)
        self.empty.add_button("Generate sample…", lambda: ctx.request.emit("sample"))
        self.stack.addWidget(self.empty)

        # ------------------------------------------------ content
        content = QWidget()
        lay = QVBoxLayout(content)
        lay.setContentsMargins(0, 0, 0, 0)
        cards = QHBoxLayout()
        self.cards = {"accounts": Card("Accounts")}
        for c in CATEGORIES:
            self.cards[c] = Card(CATEGORY_TITLES[c], alert=c == "SUSPENDED")
            self.cards[c].setToolTip(CATEGORY_TIPS[c])
        self.cards["SUSPENDED"].clicked.connect(lambda: ctx.navigate.emit("Suspended", None))
        self.cards["HELD"].clicked.connect(lambda: ctx.navigate.emit("Overrides", None))
        for card in self.cards.values():
            cards.addWidget(card)
        lay.addLayout(cards)

        self.split = QSplitter(Qt.Orientation.Horizontal)
        self.split.setObjectName("todaySplit")
        left = QWidget()
        ll = QVBoxLayout(left)
        ll.setContentsMargins(0, 8, 8, 0)
        ll.addWidget(section_title("Accounts by tier and category"))
        self.counts_model = FrameModel([Col("tier", "Tier")] + [
            Col(c, CATEGORY_TITLES[c], "count", CATEGORY_TIPS[c]) for c in list(CATEGORIES) + ["Total"]],
            strong="strong")
        self.counts = DataTable(self.counts_model, "todayCounts", stretch_last=False)
        self.counts.setSortingEnabled(False)
        self.counts.setSelectionMode(DataTable.SelectionMode.NoSelection)
        ll.addWidget(self.counts)
        ll.addSpacing(8)
        ll.addWidget(section_title("Last run and batch"))
        self.run_info = QLabel()
        self.run_info.setObjectName("runInfo")
        self.run_info.setWordWrap(True)
        self.run_info.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        ll.addWidget(self.run_info)
        exp = QHBoxLayout()
        self.export_info = QLabel()
        self.export_info.setObjectName("exportInfo")
        self.export_button = QPushButton("Export approved…")
        self.export_button.clicked.connect(lambda: ctx.request.emit("export"))
        exp.addWidget(self.export_info, 1)
        exp.addWidget(self.export_button)
        ll.addLayout(exp)
        ll.addSpacing(8)
        self.changes_title = section_title("Model changes")
        ll.addWidget(self.changes_title)
        self.changes_model = FrameModel([
            Col("model_id", "Model"), Col("change", "Change", tooltip_key="gain_text"),
            Col("accounts", "Accts", "count", "Accounts whose model changed"),
            Col("trade_dollars", "To trade", "money", "Dollars a full transition trades (at detection)"),
            Col("est_tax", "Tax", "money", "Tax of a full transition, netted as the tax code nets it"),
            Col("within_budget_tax", "In budgets", "money",
                "The tax of the gains the accounts' gains budgets allow this year")])
        self.changes = DataTable(self.changes_model, "todayModelChanges")
        self.changes.setMaximumHeight(170)
        ll.addWidget(self.changes)
        ll.addStretch(1)
        self.split.addWidget(left)

        right = QWidget()
        rl = QGridLayout(right)
        rl.setContentsMargins(8, 8, 0, 0)
        self.urgent_title = section_title("Urgent suspended accounts")
        self.urgent_model = FrameModel([
            Col("account_id", "Account"), Col("value", "Value", "money"), Col("tier", "Tier"),
            Col("pending_cash", "Cash requested", "money_nz", "Cash requests whose cash is not raised yet"),
            Col("due", "Due", "date", "The next cash request's due date"),
            Col("due_state", "When", tip="Overdue and due-today requests are marked"),
            Col("reasons", "Reasons")], emphasis="due_alert")  # sorted by due date (engine.desk.desk_views.mark_due)
        self.urgent = DataTable(self.urgent_model, "todayUrgent")
        self.urgent.doubleClicked.connect(
            lambda i: ctx.navigate.emit("Suspended", self.urgent_model.value(i.row(), "account_id")))
        self.urgent.setToolTip("Double-click to open the account in Suspended")
        self.review_title = section_title("Proposals awaiting review")
        self.review_model = FrameModel([
            Col("account_id", "Account"), Col("category", "Category"), Col("tier", "Tier"),
            Col("value", "Value", "money"), Col("score_bps", "Score", "bps"), Col("flags", "Outlier flags")])
        self.review = DataTable(self.review_model, "todayReview")
        self.review.doubleClicked.connect(
            lambda i: ctx.navigate.emit("Proposals", self.review_model.value(i.row(), "account_id")))
        self.expiring_title = section_title("Overrides expiring today")
        self.expiring_model = FrameModel([
            Col("id", "ID", "count"), Col("kind", "Kind"), Col("target", "Account / symbol"), Col("mode", "Mode"),
            Col("until", "Last day", "date"), Col("reason", "Reason", tooltip_key="reason")])
        self.expiring = DataTable(self.expiring_model, "todayExpiring")
        self.expiring.doubleClicked.connect(
            lambda i: ctx.navigate.emit("Overrides", self.expiring_model.value(i.row(), "id")))
        for t in (self.urgent, self.review, self.expiring):
            t.double_click_history = False  # a double-click opens the row's panel; H opens the history
        for r, w in enumerate((self.urgent_title, self.urgent, self.review_title, self.review,
                               self.expiring_title, self.expiring)):
            rl.addWidget(w, r, 0)
        rl.setRowStretch(1, 3)
        rl.setRowStretch(3, 3)
        rl.setRowStretch(5, 1)
        self.split.addWidget(right)
        self.split.setStretchFactor(0, 1)
        self.split.setStretchFactor(1, 1)
        self.split.setSizes([640, 700])
        lay.addWidget(self.split, 1)
        self.stack.addWidget(content)

    # ------------------------------------------------------------------ data
    def refresh(self) -> None:
        """Read the day off the GUI thread (:meth:`read`), then show it (:meth:`_apply`)."""
        engine = self.ctx.engine
        self.load(lambda: self.read(engine), self._apply)

    @staticmethod
    def read(engine) -> dict:
        """Everything the panel shows, prepared (no per-row work left for the GUI thread)."""
        d = dict(views.today(engine))
        st = d["status"]
        if st["snapshot"] is None:
            return d
        d["flight"] = orders_in_flight(engine)
        d["urgent_due"] = mark_due(d["urgent"], st["snapshot"]["as_of"])
        exp = d["expiring"].copy()
        exp["target"] = exp["account_id"].where(exp["kind"] == "HOLD", exp["symbol"]) if len(exp) else []
        d["expiring_target"] = exp
        changes = model_changes.today_frame(engine)
        if len(changes):
            changes["change"] = [f"{k.replace('weights changed', 'reweighted')} · {int(n):,} moving" for k, n in
                                 zip(changes["kind"], changes["in_transition"])]
            changes["gain_text"] = [f"detected in the book of {fmt.day(d)}; {int(n):,} account(s) still trading toward "
                                    f"it; est. gain of a full transition {fmt.money(g)}, within budgets {fmt.money(b)}"
                                    for d, n, g, b in zip(changes["since"], changes["in_transition"], changes["est_gain"],
                                                          changes["within_budget_gain"])]
        d["changes"] = changes
        return d

    def _apply(self, d: dict) -> None:
        self.data = self.ctx.overview = {k: v for k, v in d.items()
                                         if k not in ("flight", "urgent_due", "expiring_target", "changes")}
        st = d["status"]
        if st["snapshot"] is None:
            self.banner.show_message("")
            self.stack.setCurrentIndex(0)
            return
        self.stack.setCurrentIndex(1)
        snap, run = st["snapshot"], st["run"]
        if run is None:
            self.banner.show_message(f"Book as of {fmt.day(snap['as_of'])} is imported "
                                     f"({snap['n_accounts']:,} accounts). <b>Run</b> the workflow (Ctrl+R) "
                                     "to check it and propose today's trades.", "info")
        elif run["stale"]:
            self.banner.show_message(f"A newer book (as of {fmt.day(snap['as_of'])}) was imported after run "
                                     f"{run['id']}: the numbers below are from the older book. <b>Run</b> again "
                                     "(Ctrl+R).", "warn")
        else:  # the book older than today's business date: say so
            stale_book = book_age_warning(snap["as_of"])
            self.banner.show_message(stale_book, "warn" if stale_book else "info")
        counts = d["counts"]
        total = counts.loc["Total"] if "Total" in counts.index else None
        self.cards["accounts"].set(fmt.count(total["Total"]) if total is not None else "–",
                                   f"as of {fmt.day(snap['as_of'])}")
        for c in CATEGORIES:
            note = ""
            if c == "SUSPENDED":
                note = f"{d['n_urgent']:,} urgent" if d["n_urgent"] else "none urgent"
            elif c in ("MANDATE", "SCORE") and total is not None:
                note = "trade now"
            elif c == "HELD" and total is not None:  # orders in flight are not client holds: said apart
                flight = d["flight"]
                note = f"{flight:,} with orders in flight" if flight else ""
            self.cards[c].set(fmt.count(total[c]) if total is not None else "–", note)
        frame = counts.reset_index().rename(columns={"index": "tier"})
        frame["strong"] = frame["tier"] == "Total"
        self.counts_model.set_frame(frame)
        self.counts.fit_columns()
        self.counts.setFixedHeight(self.counts.horizontalHeader().sizeHint().height()
                                   + self.counts.verticalHeader().defaultSectionSize() * len(frame) + 4)

        self.urgent_title.setText(f"Urgent suspended accounts — {d['n_urgent']:,}"
                                  + (f" (largest {len(d['urgent'])} shown)" if d["n_urgent"] > len(d["urgent"]) else ""))
        self.urgent_model.set_frame(d["urgent_due"])
        self.review_title.setText(f"Proposals awaiting review — {d['n_review']:,}"
                                  + (f" (largest {len(d['review'])} shown)" if d["n_review"] > len(d["review"]) else ""))
        self.review_model.set_frame(d["review"])
        exp = d["expiring_target"]
        self.expiring_title.setText(f"Overrides expiring today — {len(exp):,}")
        self.expiring_model.set_frame(exp)
        for t in (self.urgent, self.review, self.expiring):
            t.fit_columns()

        lines = []
        if run is not None:
            timings = (run.get("summary") or {}).get("timings") or {}
            took = f" in {timings['total']:,.1f} s" if "total" in timings else ""
            lines.append(f"<b>Run {run['id']}</b> {run['status']} · {fmt.local_time(run['finished_at'] or run['started_at'])}"
                         f" · by {run['created_by']}{took} · {run.get('policy_label') or 'policy unknown'}")
        else:
            lines.append("<b>No run yet</b> on this database.")
        b = d["last_batch"]
        if b:
            lines.append(f"<b>Last batch {b['id']}</b> · {fmt.local_time(b['created_at'])} · by {b['created_by']} · "
                         f"{b['n_trades']:,} trades for {b['n_accounts']:,} accounts · {b['out_dir']}")
        else:
            lines.append("<b>No batch exported yet.</b>")
        self.run_info.setText("<br>".join(lines))
        w = d["waiting_export"]
        blocked = int(w.get("blocked", 0) or 0)
        note = (f" · <span style='color:#b3261e'>{blocked:,} blocked</span> by an override, suspension or "
                "restriction in force (kept back until it ends)" if blocked else "")
        self.export_info.setText((f"Approved and not yet exported: <b>{w['trades']:,}</b> "
                                  f"trade{'s' if w['trades'] != 1 else ''}" if w["trades"] else
                                  "No approved trade is waiting for export.") + note)
        self.export_button.setEnabled(bool(w["trades"]))
        changes = d["changes"]
        self.changes_title.setText(f"Model changes — {len(changes):,}" if len(changes) else
                                   "Model changes — none detected in the last year of books")
        self.changes_model.set_frame(changes)
        self.changes.fit_columns()

    def save_state(self, settings) -> None:
        settings.setValue("today/split", self.split.saveState())

    def restore_state(self, settings) -> None:
        state = settings.value("today/split")
        if state is not None:
            self.split.restoreState(state)
