"""Proposals: review the latest run's accounts tier by tier — approve, reject, edit trades.

One view per tier (a tab per tier of the policy, plus any tier of the run the policy no longer
has). The table lists the tier's accounts with their category, score against threshold, turnover,
realized tax, post-trade tracking error, outlier flags and review status; it filters (awaiting
review, flagged, category, text) and sorts in numpy (:class:`ui.models.FrameModel`). The selected
account's detail: its trades (quantities edited inline, trades removed with Delete — the engine
checks every edit and its refusal is shown under the table), its asset-class weights before and
after against the model and the bands, and its score broken down into benefits and costs.

The panel composes its rooms: the account table (:mod:`ui.proposals_table`), the detail
(:mod:`ui.proposals_detail`) with the trade editor (:mod:`ui.proposals_trade_editor`) and the
chart (:mod:`ui.proposals_chart`); it keeps what they share: the run loaded, the selected
account, and the decisions.

Decisions go through :mod:`engine.desk.review` with the versions the panel loaded, so a proposal
changed by someone else meanwhile is refused rather than overwritten: the refusal is shown in a
message box and the view reloads what the other user stored. A four-eyes refusal (approving a
proposal one edited, in a tier under four-eyes) is shown in a message box too. Approve (A) and Reject (R)
act on the selected accounts; "Approve filtered…" approves every filtered account awaiting
review after a confirmation that says how many accounts and how many dollars of trades.
"""
from __future__ import annotations

import html

import pandas as pd
from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QLabel, QSplitter, QStackedWidget, QVBoxLayout

from engine.core.tasks import RefusedError
from engine.decide.workflow import current_policy, latest_run_id, proposals_frame
from engine.desk.household_views import account_directory, run_snapshot
from engine.desk.compliance import proposals_blocked
from engine.desk.review import ConflictError, FourEyesError, check_not_stale
from ui import dialogs
from ui.models import gui_ready, text_index
from ui.panel import AppContext, Panel
from ui.proposals_chart import (  # noqa: F401 - re-exported
    ClassAxis as ClassAxis,
    ClassWeightsChart as ClassWeightsChart,
    PercentAxis as PercentAxis,
)
from ui.proposals_decisions import ProposalDecisions
from ui.proposals_detail import ProposalDetail
from ui.proposals_frames import (  # noqa: F401 - re-exported
    FLAG_WORDS as FLAG_WORDS,
    GREY as GREY,
    HEAVY as HEAVY,
    STATUS_WORDS as STATUS_WORDS,
    TRADE_COLUMNS as TRADE_COLUMNS,
    lots_text as lots_text,
    prepare,
    with_names,
)
from ui.proposals_table import (  # noqa: F401 - re-exported
    ACCOUNT_COLUMNS as ACCOUNT_COLUMNS,
    ACCOUNT_TEXT_KEYS,
    ALL_CATEGORIES as ALL_CATEGORIES,
    CATEGORY_ORDER as CATEGORY_ORDER,
    TRADING_ONLY as TRADING_ONLY,
    ProposalsTable,
    tier_frames,
)
from ui.read_worker import Parts, in_worker
from ui.proposals_trades import QuantityDelegate as QuantityDelegate, TradesModel as TradesModel  # noqa: F401
from ui.review_dialogs import ReasonDialog
from ui.widgets import Banner, EmptyState, set_error_text


def _with_cut(read: dict) -> dict:
    """The read's tiers' frames (its Parts' pieces) as ``cut``: (tiers, tier -> frame)."""
    tiers = read["tiers"]
    read["cut"] = (tiers, {t: read.pop(("tier", t)) for t in tiers})
    return read


class ProposalsPanel(ProposalDecisions, Panel):
    title = "Proposals"

    def __init__(self, ctx: AppContext, parent=None):
        super().__init__(ctx, parent)
        self.run_id: int | None = None
        self.policy = None
        self.current: str | None = None     # the account shown in the detail
        self._source = pd.DataFrame()       # the run's proposals as loaded (detail JSON by ``src``)
        self._tier_of: pd.Series | None = None
        self._local_change = False           # the next refresh may patch instead of reloading
        self._first_pending = False          # the first account's selection is queued (_select_first)
        self._stale = False
        self._read_once = False              # a background read of the run has been applied
        self._text: dict = {}                # per tier: the text filter's index, made in the read
        self._blocked_map: dict | None = None  # account -> why its trades are kept back now, made in the read
        self._quiet = False
        self.reload_pending = False          # an accepted inline edit reloads once its editor closed
        self.reason_dialog: ReasonDialog | None = None

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

        # ---- the rooms: the account table above, the selected account's detail below
        self.split = QSplitter(Qt.Orientation.Vertical)
        self.split.setObjectName("proposalsSplit")
        self.accounts = ProposalsTable()
        self.split.addWidget(self.accounts)
        self.detail = ProposalDetail(self)
        self.split.addWidget(self.detail)
        self.split.setStretchFactor(0, 1)
        self.split.setStretchFactor(1, 1)
        self.split.setSizes([400, 400])
        self.stack.addWidget(self.split)

        # their widgets, by the names the console's tests, benches and screenshots use
        a, d, t = self.accounts, self.detail, self.detail.editor
        self.tiers, self.filter, self.category = a.tiers, a.filter, a.category
        self.needs_review, self.flagged, self.count, self.bulk_button = a.needs_review, a.flagged, a.count, a.bulk_button
        self.model, self.table = a.model, a.table
        self.detail_title, self.action_msg, self.detail_split = d.detail_title, d.action_msg, d.detail_split
        self.approve_button, self.reject_button = d.approve_button, d.reject_button
        self.withdraw_button, self.restore_button = d.withdraw_button, d.restore_button
        self.weights, self.band_note, self.breakdown = d.chart.weights, d.chart.band_note, d.breakdown
        self.trades_title, self.trades_model, self.trades = t.trades_title, t.trades_model, t.trades
        self.remove_button, self.restore_trade_button = t.remove_button, t.restore_trade_button
        self.lot_detail, self.edit_msg, self.remove_action = t.lot_detail, t.edit_msg, t.remove_action
        self.edit_quantity = t.edit_quantity
        self.remove_selected_trade = t.remove_selected_trade
        self.restore_selected_trade = t.restore_selected_trade

        # ---- actions (A, R) — letters do not fire while a text field or editor has focus
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
        self.approve_button.clicked.connect(self.approve_selected)
        self.reject_button.clicked.connect(self.reject_selected)
        self.withdraw_button.clicked.connect(self.withdraw_selected)
        self.restore_button.clicked.connect(self.restore_selected)
        self.bulk_button.clicked.connect(self.approve_filtered)

        self.tiers.currentChanged.connect(self._on_tier)
        self.table.selectionModel().selectionChanged.connect(lambda *_: self._on_select())
        self.model.modelReset.connect(self._reselect)
        self.filter.textEdited.connect(lambda _: set_error_text(self.action_msg, ""))
        self._show_detail(None)
        self.stack.setCurrentIndex(0)

    @property
    def _tiers(self) -> list[str]:
        return self.accounts.tier_names

    @property
    def _all(self) -> pd.DataFrame:
        """Every account of the run, the tiers' frames one after the other (tests, focus)."""
        frames = [f for f in self._frames.values() if len(f)]
        return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()

    def _n_accounts(self) -> int:
        return sum(len(f) for f in self._frames.values())

    @property
    def _frames(self) -> dict[str, pd.DataFrame]:
        return self.accounts.frames

    @property
    def _trades(self) -> pd.DataFrame:
        return self.detail.editor.frame

    # ------------------------------------------------------------------ loading
    def refresh(self) -> None:
        """Reload the latest run. After this panel's own decision or edit only that account's
        fields are patched in memory (a 100,000-account run is not read again per keystroke)."""
        if self._local_change:
            self._local_change = False
            self._show_tier(self.current_tier(), keep=True)
            self._show_detail(self.current)
            return
        self.load(in_worker(ProposalsPanel.read, self.ctx.engine), self._apply_read, what="the proposals")

    @staticmethod
    def read(engine) -> dict:
        """The latest run's proposals with names, prepared and cut per tier (in a worker process,
        :mod:`ui.read_worker`). Without the per-account detail JSON: the selected account's is
        read when it is shown (:meth:`ui.proposals_detail.ProposalDetail.show_account`)."""
        policy = current_policy(engine)
        with engine.connect() as conn:
            run_id = latest_run_id(conn)
            frame = proposals_frame(conn, run_id, detail=False) if run_id is not None else None
            if frame is not None:  # names and households for the Name column and the filter
                frame = with_names(frame, account_directory(conn, run_snapshot(conn, run_id)))
            stale = ""
            if run_id is not None:
                try:
                    check_not_stale(conn, run_id)
                except RefusedError as exc:
                    stale = str(exc)
            # what keeps each account's trades out of an export now, for the detail's title: one
            # query here instead of one per selected account on the GUI thread
            blocked = proposals_blocked(conn, run_id) if run_id is not None else {}
        # sent back as Parts (ui.read_worker): each tier's frame its own pickle, loaded in the GUI
        # thread one tier per turn of the event loop (the whole run's frame at once: ~45 ms)
        out = {"frame": frame, "policy": policy, "stale": stale, "blocked": blocked}
        if frame is None:
            return out
        source = frame.reset_index(drop=True)
        prepared = gui_ready(prepare(source, by_tier=True))  # one reorder; tiers are contiguous slices
        tiers, cut = tier_frames(prepared, policy)
        text = {t: {tuple(ACCOUNT_TEXT_KEYS): text_index(f, ACCOUNT_TEXT_KEYS)} for t, f in cut.items()}
        out.update(frame=source.iloc[:1], tiers=tiers, text=text,
                   tier_of=pd.Series(prepared["tier"].to_numpy(object), index=prepared["account_id"].to_numpy(object)))
        return Parts(out, {("tier", t): cut[t] for t in tiers}, finish=_with_cut)

    def _apply_read(self, d: dict) -> None:
        self._read_once = True
        self._blocked_map = d.get("blocked")
        stale = d["stale"]
        self._stale = bool(stale)
        self.accounts.stale = self._stale
        self.banner.show_message(f"Decisions and edits are refused: {html.escape(stale)}." if stale else "", "warn")
        self.set_proposals(d["frame"], d["policy"], read=d)

    def set_proposals(self, frame: pd.DataFrame | None, policy, read: dict | None = None) -> None:
        """Show a run's proposals (``engine.decide.workflow.proposals_frame``) under ``policy``'s tiers
        (``read``: :meth:`read`'s result for them, prepared off the GUI thread)."""
        self.policy = policy
        if frame is None:
            self.run_id = None
            self._source = pd.DataFrame()
            self.accounts.clear()
            self.stack.setCurrentIndex(0)
            return
        self.stack.setCurrentIndex(1)
        self.run_id = int(frame["run_id"].iat[0]) if len(frame) and "run_id" in frame else None
        if read is None:
            self._source = frame.reset_index(drop=True)
            prepared = prepare(self._source, by_tier=True)  # one reorder; tiers are contiguous slices
            cut, self._tier_of = None, None
        else:
            self._source, self._tier_of, cut = read.get("source", pd.DataFrame()), read["tier_of"], read["cut"]
            prepared = None
        self._text = read.get("text", {}) if read is not None else {}  # the text filter's index per tier
        keep = self.current_tier() or getattr(self, "_saved_tier", "")  # the tab the user left, restored
        self._saved_tier = ""
        keep = self.accounts.set_frames(prepared, policy, keep, cut)
        self._show_tier(keep, keep=True)

    def _label_tabs(self) -> None:
        self.accounts.label_tabs()

    def current_tier(self) -> str:
        return self.accounts.current_tier()

    def set_tier(self, tier: str) -> None:
        self.accounts.set_tier(tier)

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
            self.model.set_frame(frame, self._text.get(tier))
            self.accounts.apply_masks()
        finally:
            self._quiet = False
        self._reselect()
        self.table.fit_columns()
        self.accounts.update_count()
        if self.current is None or self.model.find("account_id", self.current) < 0:
            if self.model.rowCount():
                # the first account's detail in the next turn of the event loop: the table paints
                # first, and neither piece of work holds the GUI thread 100 ms on a big run
                self._first_pending = True
                QTimer.singleShot(1, self._select_first)
            else:
                self._show_detail(None)

    @property
    def loading(self) -> bool:  # the queued first selection is part of showing the run
        return self._first_pending or super().loading

    def _select_first(self) -> None:
        self._first_pending = False
        if self.current is None and self.model.rowCount():
            self.table.select_row(0)

    # ------------------------------------------------------------------ filters
    def apply_filter(self) -> None:
        self.accounts.apply_filter()

    def clear_filters(self) -> None:
        self.accounts.clear_filters()

    def filtered_frame(self) -> pd.DataFrame:
        """The rows the table shows now, in view order."""
        return self.accounts.filtered_frame()

    # ------------------------------------------------------------------ selection
    def selected_accounts(self) -> list[str]:
        return self.accounts.selected_accounts()

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
        if self.reading() or (self.run_id is None and not self._n_accounts() and not self._read_once):
            self._deferred_focus = payload  # shown once the run is read (Panel.load)
            if not self.reading():
                self.refresh()
            return
        if not self._n_accounts():
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

    # ------------------------------------------------------------------ detail
    def _show_detail(self, account: str | None) -> None:
        rec = self.accounts.record(account)
        if rec:
            self.detail.show_account(account, rec)
        else:
            self.current = None
            self.detail.show_none(self.current_tier())
        self._update_decision_buttons()
        self.detail.editor.update_buttons()

    def _update_decision_buttons(self) -> None:
        ok, status = self.accounts.selection_state()
        for b in (self.approve_button, self.reject_button):
            b.setEnabled(ok and not self._stale)
        self.withdraw_button.setEnabled("APPROVED" in status and not self._stale)
        self.restore_button.setEnabled("REJECTED" in status and not self._stale)
        self.approve_action.setEnabled(ok and not self._stale)
        self.reject_action.setEnabled(ok and not self._stale)

    def _update_trade_buttons(self) -> None:
        self.detail.editor.update_buttons()

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
            self.focus_when_loaded(account)
        if message and label is not None:
            set_error_text(label, f"{message} The view was reloaded.")

    # ------------------------------------------------------------------ after a change
    def _patch(self, accounts: list[str], *, status: str, decided_by, bump: set, review: str | None = None,
               editor: str | None = None, fields: dict | None = None) -> None:
        """Mirror a decision in the loaded frames (:meth:`ui.proposals_table.ProposalsTable.patch`)."""
        self.accounts.patch(accounts, status=status, decided_by=decided_by, bump=bump, review=review,
                            editor=editor, fields=fields)
        self._text = {}  # the patched rows' text changed: the filter's index is made again when needed
        self._blocked_map = None  # decided accounts: their "kept back by" is asked again (ui.proposals_decisions)

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
