"""The console, part 2: importing this module plugs the Proposals, Charts, Batches, Audit and Lab
panels into the main window's navigation (``ui.main_window.FACTORIES``). Import it before a
:class:`ui.main_window.MainWindow` is built::

    import ui.part2  # noqa: F401  (registers the part-2 panels)
"""
from __future__ import annotations

from ui import main_window
from ui.audit_panel import AuditPanel
from ui.batches_panel import BatchesPanel, show_batch_result
from ui.charts_host import ChartsPanelHost
from ui.lab_panel import LabPanel
from ui.proposals_panel import ProposalsPanel

PANELS = {"Proposals": ProposalsPanel, "Charts": ChartsPanelHost, "Batches": BatchesPanel, "Audit": AuditPanel,
          "Lab": LabPanel}


def register(factories: dict | None = None) -> dict:
    """Put the part-2 panel factories into ``factories`` (the main window's by default)."""
    target = main_window.FACTORIES if factories is None else factories
    missing = [name for name in PANELS if name not in main_window.PANELS]
    if missing:  # a navigation slot was renamed: say so rather than silently showing a placeholder
        raise RuntimeError(f"ui.main_window.PANELS has no slot for {', '.join(missing)}")
    target.update(PANELS)
    return target


register()

__all__ = ["PANELS", "register", "show_batch_result", "ProposalsPanel", "ChartsPanelHost", "BatchesPanel",
           "AuditPanel", "LabPanel"]
