"""The main window: navigation, header, panels and the status bar."""
from __future__ import annotations

from PySide6.QtCore import QSettings, Qt
from PySide6.QtWidgets import (QHBoxLayout, QLabel, QListWidget, QListWidgetItem, QMainWindow,
                               QStackedWidget, QVBoxLayout, QWidget)

from storage import repo
from storage.db import describe

PANELS = ("Today", "Suspended", "Overrides", "Proposals", "Charts", "Batches", "Audit", "Policy")


class MainWindow(QMainWindow):
    def __init__(self, engine, db: str | None = None, user: str = ""):
        super().__init__()
        self.engine = engine
        self.user = user
        self.setWindowTitle("Rebalance Desk")
        self.resize(1280, 800)

        self.nav = QListWidget()
        self.nav.setObjectName("nav")
        self.nav.setFixedWidth(180)
        for name in PANELS:
            QListWidgetItem(name, self.nav)
        self.stack = QStackedWidget()
        self.header = QLabel()
        self.header.setObjectName("header")
        self.header.setTextFormat(Qt.TextFormat.RichText)
        for name in PANELS:
            self.stack.addWidget(self._placeholder(name))
        self.nav.currentRowChanged.connect(self.stack.setCurrentIndex)
        self.nav.setCurrentRow(0)

        right = QVBoxLayout()
        right.addWidget(self.header)
        right.addWidget(self.stack, 1)
        body = QHBoxLayout()
        body.addWidget(self.nav)
        body.addLayout(right, 1)
        central = QWidget()
        central.setLayout(body)
        self.setCentralWidget(central)

        self.db_label = QLabel(f"Database: {describe(db)}")
        self.asof_label = QLabel()
        self.statusBar().addWidget(self.db_label, 1)
        self.statusBar().addPermanentWidget(self.asof_label)
        self.refresh()
        geometry = QSettings().value("main/geometry")
        if geometry is not None:
            self.restoreGeometry(geometry)

    def _placeholder(self, name: str) -> QWidget:
        w = QWidget()
        lay = QVBoxLayout(w)
        label = QLabel()
        label.setObjectName(f"empty_{name.lower()}")
        label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        label.setWordWrap(True)
        lay.addWidget(label)
        return w

    def refresh(self) -> None:
        with self.engine.connect() as conn:
            snap = repo.snapshot_info(conn)
        if snap is None:
            self.asof_label.setText("No book imported")
            self.header.setText("<h2>Rebalance Desk</h2>"
                                "<p>Import a book folder or generate a sample to begin.</p>")
        else:
            self.asof_label.setText(f"Book as of {snap.as_of:%Y-%m-%d} · {snap.n_accounts:,} accounts")
            self.header.setText(f"<h2>Book as of {snap.as_of:%Y-%m-%d}</h2>"
                                f"<p>{snap.n_accounts:,} accounts · {snap.n_lots:,} lots · "
                                f"user {self.user}</p>")
        empty = "Import a book folder or generate a sample." if snap is None else "Coming soon."
        for i, name in enumerate(PANELS):
            label = self.stack.widget(i).findChild(QLabel, f"empty_{name.lower()}")
            label.setText(f"<h3>{name}</h3><p>{empty}</p>")

    def closeEvent(self, event) -> None:
        QSettings().setValue("main/geometry", self.saveGeometry())
        super().closeEvent(event)
