"""Console entry point: QApplication set-up, the database, the main window."""
from __future__ import annotations

import sys


def run_console(db: str | None = None, demo: bool = False, user: str | None = None) -> int:
    from PySide6.QtWidgets import QApplication

    from engine import views
    from engine.tasks import current_user
    from storage.db import make_engine
    from ui.main_window import MainWindow

    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setOrganizationName("RebalanceDesk")
    app.setApplicationName("Rebalance Desk")
    engine = make_engine(db)
    window = MainWindow(engine, db=db, user=current_user(user))
    window.show()
    if demo and views.status(engine)["snapshot"] is None:
        window.start_demo()  # generated and imported on the worker, with progress and cancel
    return app.exec()
