"""Console entry point: QApplication set-up, the database, the main window."""
from __future__ import annotations

import sys


def run_console(db: str | None = None, demo: bool = False, user: str | None = None) -> int:
    from PySide6.QtWidgets import QApplication

    from engine.desk import views
    from engine.core.identity import acting_user
    from engine.core.tasks import RefusedError
    from storage.db import make_engine
    from ui.main_window import MainWindow

    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setOrganizationName("RebalanceDesk")
    app.setApplicationName("Rebalance Desk")
    engine = make_engine(db)
    try:
        user = acting_user(engine, user)  # the database login once roles are set up on PostgreSQL
    except RefusedError as exc:
        from PySide6.QtWidgets import QMessageBox

        print(str(exc), file=sys.stderr)
        QMessageBox.critical(None, "Rebalance Desk", str(exc))
        return 2
    window = MainWindow(engine, db=db, user=user)
    window.show()
    if demo and views.status(engine)["snapshot"] is None:
        window.start_demo()  # generated and imported on the worker, with progress and cancel
    return app.exec()
