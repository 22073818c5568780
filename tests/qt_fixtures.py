"""Fixtures shared by the console tests: settings in a temp file, message boxes answered
without showing, and the folder picker returning queued folders."""
from types import SimpleNamespace

import pytest
from PySide6.QtCore import QSettings, Qt
from PySide6.QtWidgets import QFileDialog, QMessageBox


@pytest.fixture
def settings(tmp_path):
    return QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)


@pytest.fixture
def boxes(monkeypatch):
    """Every message box shown (title, text, informative text, details); answers Ok unless
    a test queues other answers."""
    seen, answers = [], []

    def fake_exec(box):
        seen.append(SimpleNamespace(title=box.windowTitle(), text=box.text(), info=box.informativeText(),
                                    detail=box.detailedText(), icon=box.icon(),
                                    selectable=bool(box.textInteractionFlags()
                                                    & Qt.TextInteractionFlag.TextSelectableByMouse),
                                    buttons=[b.text() for b in box.buttons()]))
        return answers.pop(0) if answers else QMessageBox.StandardButton.Ok

    monkeypatch.setattr(QMessageBox, "exec", fake_exec)
    return SimpleNamespace(seen=seen, answers=answers)


@pytest.fixture
def folders(monkeypatch):
    """Folders the folder picker returns, in order ('' = the user cancelled)."""
    picks = []
    monkeypatch.setattr(QFileDialog, "getExistingDirectory",
                        staticmethod(lambda *a, **k: picks.pop(0) if picks else ""))
    return picks


LONG = 120_000


def panels_loading(w) -> list[str]:
    """The window's panels with a background read still out."""
    return [name for name, p in w.panels.items() if getattr(p, "loading", False)]


def wait_idle(qtbot, w, timeout=LONG):
    """No task running and every panel's background read in (panels read off the GUI thread)."""
    qtbot.waitUntil(lambda: not w.ctx.tasks.busy and not panels_loading(w), timeout=timeout)


def wait_loaded(qtbot, panel, timeout=LONG):
    """``panel``'s background reads are in and applied."""
    qtbot.waitUntil(lambda: not getattr(panel, "loading", False), timeout=timeout)


def shown(qtbot, w, name, payload=None, timeout=LONG):
    """Show panel ``name`` (with ``payload``) and wait for its background reads; the panel."""
    w.show_panel(name, payload)
    panel = w.panel(name)
    wait_loaded(qtbot, panel, timeout)
    return panel


def close_window(w, boxes) -> None:
    """Teardown of a console window: no worker left running, no crash dialog shown."""
    w.ctx.tasks.cancel()
    assert w.ctx.tasks.wait(60_000), "a worker was left running"
    for p in w.panels.values():
        if hasattr(p, "wait_reads"):
            assert p.wait_reads(60_000), "a panel's read was left running"
    crashes = [b for b in boxes.seen if b.icon == QMessageBox.Icon.Critical]
    assert not crashes, crashes[0].detail


def make_window(qtbot, engine, db_path, settings, *, user="alice"):
    """A console window with every panel, shown at a desk-sized geometry."""
    from ui.main_window import MainWindow

    w = MainWindow(engine, db=db_path, user=user, settings=settings, workers=1)
    qtbot.addWidget(w)
    w.resize(1500, 950)
    w.show()
    qtbot.waitExposed(w)
    qtbot.waitUntil(lambda: not panels_loading(w) and w.header_applied > 0, timeout=LONG)  # first reads in
    return w


@pytest.fixture
def reviewed(engine, tmp_path):
    """The bookkit book imported and run under the eager policy reviewing every account."""
    return review_all_run(engine, tmp_path)


def review_all_run(engine, tmp_path, eager: bool = True):
    """Import the bookkit book and run it under a policy reviewing every account: the eager one
    (bookkit.eager_policy: A1 trades on score under the first release's thresholds) or the default."""
    from bookkit import eager_policy, write_book
    from engine.book.importer import import_book
    from engine.core.policy import default_policy, policy_from_dict
    from engine.core.policy_store import save_policy
    from engine.decide.workflow import run_workflow

    data = (eager_policy() if eager else default_policy()).model_dump()
    data["tiers"] = [{**t, "review": "all"} for t in data["tiers"]]
    import_book(engine, write_book(tmp_path / "book"), user="ops1")
    save_policy(engine, policy_from_dict(data), user="admin")
    return run_workflow(engine, workers=1, user="sched")


@pytest.fixture
def window(qtbot, engine, db_path, settings, boxes):
    """The console on ``engine``, closed (answering its questions) at the end."""
    w = make_window(qtbot, engine, db_path, settings)
    yield w
    close_window(w, boxes)


@pytest.fixture
def plain_window(qtbot, engine, db_path, settings, boxes):
    """The console on ``engine`` at the size it opens with, closed at the end."""
    from ui.main_window import MainWindow

    w = MainWindow(engine, db=db_path, user="alice", settings=settings, workers=1)
    qtbot.addWidget(w)
    w.show()
    qtbot.waitUntil(lambda: not panels_loading(w) and w.header_applied > 0, timeout=LONG)  # first reads in
    yield w
    close_window(w, boxes)


def statuses(engine) -> dict:
    """account -> status of the newest run's proposals."""
    from engine.decide.workflow import proposals_frame

    with engine.connect() as conn:
        p = proposals_frame(conn)
    return dict(zip(p["account_id"], p["status"]))
