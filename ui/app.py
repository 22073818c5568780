"""Console entry point: QApplication set-up, the database, the main window."""
from __future__ import annotations

import sys


def run_console(db: str | None = None, demo: bool = False, user: str | None = None) -> int:
    from PySide6.QtWidgets import QApplication

    from engine.tasks import StderrProgress, TaskState, current_user
    from storage.db import make_engine
    from ui.main_window import MainWindow

    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setOrganizationName("RebalanceDesk")
    app.setApplicationName("Rebalance Desk")
    engine = make_engine(db)
    if demo:
        from engine.demo import ensure_demo_book

        bar = StderrProgress()
        ensure_demo_book(engine, state=TaskState(bar), user=user)
        bar.done()
    window = MainWindow(engine, db=db, user=current_user(user))
    window.show()
    return app.exec()
