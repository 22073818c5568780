"""At 1440×900 no column header and no one-line label of any panel is cut off: the test walks
every panel (with a run, approvals and a batch, so the tables have rows) and measures each
visible header's text and each plain one-line label against the space it has."""
from qt_fixtures import boxes, close_window, make_window, settings  # noqa: F401
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QTableView

from bookkit import eager_policy, write_book
from engine.core.policy_store import save_policy
from engine.desk.exporter import export_batch
from engine.book.importer import import_book
from engine.desk.review import approve
from engine.decide.workflow import run_workflow
from ui.navigation import PANELS

SIZE = (1440, 900)


def cut_off(panel) -> list[str]:
    out = []
    for t in panel.findChildren(QTableView):
        if not t.isVisible():
            continue
        h = t.horizontalHeader()
        fm = h.fontMetrics()
        for c in range(h.count()):
            if h.isSectionHidden(c):
                continue
            text = str(t.model().headerData(c, Qt.Orientation.Horizontal) or "")
            need = fm.horizontalAdvance(text) + 12  # the header's margins
            if h.sectionSize(c) < need:
                out.append(f"{t.objectName()}: header {text!r} has {h.sectionSize(c)} px, needs {need}")
    for label in panel.findChildren(QLabel):
        if (label.isVisible() and label.text() and not label.wordWrap()
                and label.textFormat() != Qt.TextFormat.RichText and not label.text().lstrip().startswith("<")
                and label.width() < label.sizeHint().width() - 2):
            out.append(f"label {label.objectName() or label.text()[:30]!r}: {label.width()} px of "
                       f"{label.sizeHint().width()}")
    return out


def test_no_header_or_label_is_cut_off_at_1440_by_900(qtbot, engine, db_path, settings, boxes, tmp_path):
    import_book(engine, write_book(tmp_path / "book"), user="ops1")
    save_policy(engine, eager_policy(), user="admin")  # every account trades (A1 on score)
    run_workflow(engine, workers=1, user="sched")
    approve(engine, ["A1", "A2", "A3"], user="rev")
    export_batch(engine, tmp_path / "out", ("csv", "fix"), user="ops1")
    w = make_window(qtbot, engine, db_path, settings)
    w.resize(*SIZE)
    qtbot.waitUntil(lambda: (w.width(), w.height()) == SIZE, timeout=3000)
    try:
        problems = []
        for name in PANELS:
            w.show_panel(name, "A1" if name in ("Proposals", "History") else None)
            # a panel that reads off the GUI thread is judged with its data, not its loading text
            qtbot.waitUntil(lambda name=name: not getattr(w.panel(name), "loading", False), timeout=10_000)
            qtbot.wait(50)
            problems += [f"{name}: {p}" for p in cut_off(w.panel(name))]
        assert not problems, "\n".join(problems)
    finally:
        close_window(w, boxes)
