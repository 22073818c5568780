"""The main window's header: the book's as-of date, the last run and its status, the policy
version and the acting user."""
from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QVBoxLayout

from ui import fmt


class Header(QFrame):
    """Book as-of date, the last run and its status, and the acting user."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setObjectName("header")
        lay = QHBoxLayout(self)
        lay.setContentsMargins(16, 8, 16, 8)
        lay.setSpacing(28)
        self.values = {}
        for key, caption in (("book", "BOOK AS OF"), ("run", "LAST RUN"), ("policy", "POLICY"), ("user", "USER")):
            box = QVBoxLayout()
            box.setSpacing(0)
            c = QLabel(caption)
            c.setObjectName("headerCaption")
            v = QLabel("–")
            v.setObjectName(f"header_{key}")
            v.setProperty("headerValue", True)
            v.setTextFormat(Qt.TextFormat.RichText)
            box.addWidget(c)
            box.addWidget(v)
            lay.addLayout(box)
            self.values[key] = v
        lay.addStretch(1)

    def set(self, status: dict, user: str) -> None:
        snap, run, pol = status["snapshot"], status["run"], status["policy"]
        self.values["book"].setText(
            f"<b>{fmt.day(snap['as_of'])}</b> · {snap['n_accounts']:,} accounts" if snap else "<b>No book imported</b>")
        if run is None:
            self.values["run"].setText("<b>No run yet</b>")
        else:
            colour = {"done": "#1b7f3b", "failed": "#b3261e"}.get(run["status"], "#8a5a00")
            state = run["status"]
            if run["stale"]:
                colour, state = "#8a5a00", f"{run['status']} · older book: run again"
            secs = ((run.get("summary") or {}).get("timings") or {}).get("total")
            took = f" · {secs:,.1f} s" if secs is not None else ""
            self.values["run"].setText(
                f"<b>Run {run['id']}</b> · <span style='color:{colour}'><b>{state}</b></span> · "
                f"{fmt.local_time(run['finished_at'] or run['started_at'])}{took} · by {run['created_by']}")
        self.values["policy"].setText(f"<b>Version {pol['id']}</b>" if pol else "<b>Default</b>")
        note = getattr(self, "identity_note", None)  # identities not proven (engine.core.identity.identity_note)
        self.values["user"].setText(f"<b>{user}</b>" + (" · <span style='color:#8a5a00'>declared</span>" if note else ""))
        self.values["user"].setToolTip(note or "")
