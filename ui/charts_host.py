"""Charts: the cost/benefit charts of the latest run (:class:`ui.charts.ChartsPanel`) in the console.

The widget never touches the database; this host feeds it (the latest run's proposals, the
current policy, the days since each account last traded) and acts on its two signals:

* ``saveThreshold(tier, bps)`` → a new policy version with that tier's flat threshold
  (:func:`engine.decide.preview.policy_with_threshold`, start = floor = bps), saved with the acting
  user and a note; the next run uses it (``ctx.notify("policy")``);
* ``accountActivated(account_id)`` → the account opens in Proposals (``ctx.navigate``).
"""
from __future__ import annotations

import html

from PySide6.QtWidgets import QVBoxLayout

from engine.core.policy_store import save_policy
from engine.decide.preview import days_since_trade, policy_with_threshold
from engine.desk.review import check_not_stale
from engine.core.tasks import RefusedError
from engine.decide.workflow import current_policy, latest_run_id, proposals_frame
from ui.charts import ChartsPanel
from ui.panel import AppContext, Panel
from ui.read_worker import in_worker
from ui.widgets import Banner, inline_error, set_error_text


class ChartsPanelHost(Panel):
    title = "Charts"

    def __init__(self, ctx: AppContext, parent=None):
        super().__init__(ctx, parent)
        self.run_id: int | None = None
        self.policy = None
        self.saved: list[int] = []  # policy versions saved from here
        lay = QVBoxLayout(self)
        lay.setContentsMargins(16, 10, 16, 10)
        lay.setSpacing(4)
        self.banner = Banner()
        lay.addWidget(self.banner)
        self.msg = inline_error()
        lay.addWidget(self.msg)
        self.charts = ChartsPanel(self)
        lay.addWidget(self.charts, 1)
        self.charts.saveThreshold.connect(self.save_threshold)
        self.charts.accountActivated.connect(self.open_account)

    def refresh(self) -> None:
        """Read the latest run off the GUI thread (:meth:`read`), then draw it."""
        self.load(in_worker(ChartsPanelHost.read, self.ctx.engine), self._apply, what="the charts")

    @staticmethod
    def read(engine) -> dict:
        """The latest run's proposals (without their detail JSON), the policy and the days since each
        account traded, prepared for the plots (in a worker process, :mod:`ui.read_worker`)."""
        policy = current_policy(engine)
        with engine.connect() as conn:
            run_id = latest_run_id(conn)
            props = proposals_frame(conn, run_id, detail=False) if run_id is not None else None
            days = days_since_trade(conn, run_id) if run_id is not None else None
            stale = ""
            if run_id is not None:
                try:
                    check_not_stale(conn, run_id)
                except RefusedError as exc:
                    stale = str(exc)
        return {"policy": policy, "run_id": run_id, "props": props, "days": days, "stale": stale,
                "prepared": ChartsPanel.prepare(props, policy, days)}

    def _apply(self, d: dict) -> None:
        run_id, policy, stale = d["run_id"], d["policy"], d["stale"]
        self.run_id, self.policy = run_id, policy
        if stale:
            self.banner.show_message(f"Charts of an older run: {html.escape(stale)}. A preview is still exact for "
                                     "that run's book.", "warn")
        else:
            self.banner.show_message(
                "Drag the preview line on the score histogram: the counts are what a run with that flat "
                "threshold trades on this book. “Save to policy…” makes it the tier's threshold from the next "
                "run on." if run_id is not None else "", "info")
        self.charts.set_data(d["props"], policy, d["days"], prepared=d["prepared"], staged=True)

    @property
    def loading(self) -> bool:
        """A read out, or the plots still being built (one per turn of the event loop)."""
        return super().loading or self.charts.staging

    def save_threshold(self, tier: str, bps: float) -> int | None:
        """Store the policy with ``tier``'s flat threshold ``bps`` as a new version."""
        policy = current_policy(self.ctx.engine)  # the newest version, not the one loaded
        try:
            new = policy_with_threshold(policy, tier, bps)
        except (KeyError, ValueError) as exc:
            set_error_text(self.msg, f"Not saved: {tier} — {exc}")
            return None
        p = self.charts.last_preview() or {}
        note = (f"{tier} threshold flat {bps:.1f} bps (from the Charts preview of run {self.run_id}: "
                f"{p.get('accounts', 0):,} score accounts would trade)")
        try:
            version = save_policy(self.ctx.engine, new, user=self.ctx.user, note=note)
        except RefusedError as exc:
            set_error_text(self.msg, f"Not saved: {exc}")
            return None
        self.saved.append(version)
        set_error_text(self.msg, f"Saved policy version {version}: {tier} threshold is a flat {bps:.1f} bps. "
                                 "The next run uses it (Ctrl+R).", ok=True)
        self.ctx.notify("policy")
        return version

    def open_account(self, account_id: str) -> None:
        self.ctx.navigate.emit("Proposals", str(account_id))
