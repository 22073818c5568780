"""The console's navigation: its slots in order (:data:`PANELS`) and the panel built for each
(:data:`FACTORIES`, name -> ``factory(ctx)``). :class:`ui.main_window.MainWindow` builds one
panel per slot from here; this module imports the panels, never the main window.

To add a panel: write it (see :mod:`ui.panel`), add its name to :data:`PANELS` where it belongs
in the day's flow and its class to :data:`FACTORIES`. A slot without a factory shows a
placeholder; ``MainWindow.set_panel(name, widget)`` replaces a slot's panel at run time.
"""
from __future__ import annotations

from ui.audit_panel import AuditPanel
from ui.batches_panel import BatchesPanel
from ui.blotter_panel import BlotterPanel
from ui.charts_host import ChartsPanelHost
from ui.households_panel import HouseholdsPanel
from ui.history_panel import HistoryPanel
from ui.lab_panel import LabPanel
from ui.overrides_panel import OverridesPanel
from ui.policy_panel import PolicyPanel
from ui.proposals_panel import ProposalsPanel
from ui.suspended_panel import SuspendedPanel
from ui.today_panel import TodayPanel

PANELS = ("Today", "Suspended", "Overrides", "Proposals", "Blotter", "Households", "Charts", "Batches",
          "History", "Audit", "Policy", "Lab")
FACTORIES = {"Today": TodayPanel, "Suspended": SuspendedPanel, "Overrides": OverridesPanel,
             "Proposals": ProposalsPanel, "Blotter": BlotterPanel, "Households": HouseholdsPanel,
             "Charts": ChartsPanelHost, "Batches": BatchesPanel, "History": HistoryPanel, "Audit": AuditPanel,
             "Policy": PolicyPanel, "Lab": LabPanel}

__all__ = ["PANELS", "FACTORIES"]
