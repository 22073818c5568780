"""The Lab panel with real widgets (pytest-qt, offscreen) on the small test book, SQLite and
PostgreSQL: a simulation runs on the worker and its table shows the engine's numbers, cancel
stops it and leaves the database unchanged, a policy variant is saved as a new (audited,
version-checked) policy version, and the Policy panel's "see in Lab" links open the Lab with
that setting's sweep selected."""
import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
import qt_fixtures
from qt_fixtures import boxes, close_window, settings, shown, wait_loaded  # noqa: F401
from PySide6.QtCore import Qt
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import QInputDialog

from bookkit import write_book
from dbkit import content_digest, is_postgres
from engine.core.audit import audit_entries
from engine.book.importer import import_book
from engine.lab import build_variants, load_book, simulate
from engine.core.policy_store import policy_versions, save_policy
from engine.desk.views import policy_body
from engine.core.policy_store import current_policy
from ui.charts import inv_symlog
from ui.lab_panel import TABLE, LabPanel
from ui.navigation import FACTORIES

LONG = 180_000


@pytest.fixture
def window(qtbot, engine, db_path, settings, boxes, tmp_path):  # noqa: F811
    import_book(engine, write_book(tmp_path / "book"), user="ops1")
    w = qt_fixtures.make_window(qtbot, engine, db_path, settings)
    yield w
    close_window(w, boxes)


def _lab(window) -> LabPanel:
    window.show_panel("Lab")
    return window.panel("Lab")


def _simulate(qtbot, panel, days=3, seed=4):
    panel.days.setValue(days)
    panel.seed.setValue(seed)
    with qtbot.waitSignal(panel.ctx.tasks.ended, timeout=LONG):
        qtbot.mouseClick(panel.run_button, Qt.MouseButton.LeftButton)
    assert panel.run is not None, panel.error.text()


def test_lab_runs_two_variants_and_shows_the_engines_numbers(qtbot, window, engine, db_path, monkeypatch):
    assert FACTORIES["Lab"] is LabPanel
    panel = _lab(window)
    assert panel.current_check.isChecked() and panel.baseline_checks["band"].isChecked()
    before = content_digest(db_path)
    _simulate(qtbot, panel)
    assert panel.progress.value() == 1000 and panel.status.text().startswith("Done: 2 variants")
    # the table equals the engine runner's summary for the same inputs
    book = load_book(engine)
    want = simulate(book, build_variants(book.policy, baselines=["band"]), 3, seed=4).summary
    m = panel.model
    assert m.rowCount() == 2 and [m.value(r, "variant") for r in range(2)] == ["policy", "band"]
    for r in range(2):
        for col in TABLE:
            got, exp = m.value(r, col.key), want[col.key].iat[r]
            assert got == pytest.approx(exp) if col.numeric else got == exp, (col.key, got, exp)
    assert want["order_lines"].sum() > 0  # something traded: the numbers are not all zero
    # units in the headers
    heads = [m.headerData(c, Qt.Orientation.Horizontal) for c in range(m.columnCount())]
    assert "Tax paid, $" in heads and "Turnover, %" in heads and "Dispersion, bps" in heads
    # frontier: one point per variant at (drift, tax), sized by turnover; per-day lines per variant
    pts = panel.charts.frontier_points.data
    assert list(pts["x"]) == pytest.approx(list(want["drift_mean_pct"]))
    assert list(inv_symlog(pts["y"])) == pytest.approx(list(want["tax_paid"]))  # a log-scaled dollar axis
    t = want["turnover_pct"].to_numpy(float)
    assert (pts["size"][np.argmax(t)] > pts["size"][np.argmin(t)]) == (t.max() > t.min())
    assert [lab.toPlainText().split(" · ")[0] for lab in panel.charts.frontier_labels] == ["policy", "band"]
    qtbot.waitUntil(lambda: panel.charts._lines_of is panel.run.result, timeout=5000)  # drawn next slice
    assert set(panel.charts.line_items) == {"policy", "band"}
    panel.charts.metric_box.setCurrentIndex(panel.charts.metric_box.findData("dispersion_bps"))
    y = panel.charts.line_items["band"].getData()[1]
    assert len(y) == 3 and y[-1] == pytest.approx(want.loc[1, "dispersion_bps"], abs=0.005)  # summary: 2 decimals
    # the status bar followed the task, and nothing was written to the database
    assert content_digest(db_path) == before
    # the report opens from a temporary folder
    opened = []
    monkeypatch.setattr(QDesktopServices, "openUrl", staticmethod(lambda url: opened.append(url) or True))
    qtbot.mouseClick(panel.report_button, Qt.MouseButton.LeftButton)
    report = Path(opened[0].toLocalFile())
    assert report.name == "report.html" and "<svg" in report.read_text(encoding="utf-8")
    assert (report.parent / "summary.csv").exists()
    assert content_digest(db_path) == before


def test_cancel_stops_the_simulation_and_leaves_the_database_unchanged(qtbot, window, engine, db_path):
    panel = _lab(window)
    before = content_digest(db_path)
    raw = hashlib.sha256(Path(db_path).read_bytes()).hexdigest() if not is_postgres(db_path) else None
    panel.days.setValue(200)
    qtbot.mouseClick(panel.run_button, Qt.MouseButton.LeftButton)
    assert panel.task is not None and not panel.run_button.isEnabled()
    qtbot.waitUntil(lambda: "day 2/" in panel.status.text(), timeout=LONG)
    assert window.progress.isVisible() and window.progress.value() > 0  # the status bar shows it too
    with qtbot.waitSignal(window.ctx.tasks.ended, timeout=LONG):
        qtbot.mouseClick(panel.cancel_button, Qt.MouseButton.LeftButton)
    assert panel.status.text() == "Cancelled: nothing was written anywhere."
    assert panel.run is None and panel.model.rowCount() == 0 and panel.run_button.isEnabled()
    assert content_digest(db_path) == before
    if raw is not None:  # the SQLite file itself, byte for byte
        assert hashlib.sha256(Path(db_path).read_bytes()).hexdigest() == raw


def test_save_as_policy_makes_an_audited_version_checked_against_newer_ones(qtbot, window, engine, monkeypatch,
                                                                            boxes):  # noqa: F811
    panel = _lab(window)
    assert panel.checked_versions() == [] and "No saved version yet" in panel.versions.item(0).text()
    panel.current_check.setChecked(False)
    panel.sweep_checks["lambda"].setChecked(True)
    _simulate(qtbot, panel, days=2)
    m = panel.model
    assert [m.value(r, "variant") for r in range(m.rowCount())] == ["lambda=0.3", "lambda=3", "band"]
    panel.table.select_row(2)  # a baseline is not a policy
    assert not panel.save_button.isEnabled()
    panel.table.select_row(1)
    assert panel.save_button.isEnabled()
    monkeypatch.setattr(QInputDialog, "getText", staticmethod(lambda *a, **k: ("less drift over weeks", True)))
    qtbot.mouseClick(panel.save_button, Qt.MouseButton.LeftButton)
    versions = policy_versions(engine)
    assert len(versions) == 1 and panel.saved == [int(versions["id"].iat[0])]
    pid = panel.saved[0]
    assert policy_body(engine, pid).trading.tradeoff_lambda == 3.0
    assert current_policy(engine).trading.tradeoff_lambda == 3.0
    e = audit_entries(engine)
    e = e[e["action"] == "POLICY_SAVE"]
    assert len(e) == 1 and e["username"].iat[0] == "alice"
    assert "less drift over weeks" in e["detail"].iat[0] and "variant lambda=3" in e["detail"].iat[0]
    assert json.loads(e["after"].iat[0]) == {"policy_id": pid}
    assert "policy version" in panel.msg.text() and panel.current_check.text() == f"Current policy (version {pid})"
    # the saved version is offered as a variant of the next simulation
    item = panel.versions.item(0)
    assert item.data(Qt.ItemDataRole.UserRole) == pid and f"Version {pid} by alice" in item.text()
    item.setCheckState(Qt.CheckState.Checked)
    assert panel.plan().versions == (pid,)
    # someone saves a newer version: saving another variant of the same simulation is refused
    save_policy(engine, current_policy(engine), user="bob", note="meanwhile")
    panel.table.select_row(0)
    assert panel.save_as_policy(note="try") is None
    assert len(policy_versions(engine)) == 2
    assert "bob" in boxes.seen[-1].text + boxes.seen[-1].info and "Simulate again" in panel.msg.text()
    boxes.seen.clear()  # the refusal dialog is expected, not a crash


def test_policy_panel_links_open_the_lab_with_the_sweep_selected(qtbot, window):
    shown(qtbot, window, "Policy")
    policy = window.panel("Policy")
    lab = window.panel("Lab")
    qtbot.mouseClick(policy.lab_links["trading.tradeoff_lambda"], Qt.MouseButton.LeftButton)
    assert window.current_panel_name() == "Lab"
    assert [k for k, cb in lab.sweep_checks.items() if cb.isChecked()] == ["lambda"]
    assert lab.plan().sweeps == ("lambda=0.3,3",)
    shown(qtbot, window, "Policy")
    qtbot.mouseClick(policy.lab_links["harvest.discount_rate"], Qt.MouseButton.LeftButton)
    assert window.current_panel_name() == "Lab"
    assert not any(cb.isChecked() for cb in lab.sweep_checks.values())
    assert lab.setting_key.currentData() == "harvest.discount_rate"
    assert lab.plan().sweeps == ("harvest.discount_rate=0.025,0.1",)  # half and twice the default 0.05
    shown(qtbot, window, "Policy")
    policy.fields["harvest.value"].setCurrentIndex(policy.fields["harvest.value"].findData("full"))
    qtbot.mouseClick(policy.lab_links["harvest.value"], Qt.MouseButton.LeftButton)
    assert lab.plan().sweeps == ("harvest.value=deferral",)  # the other choice than the form's
    shown(qtbot, window, "Policy")
    qtbot.mouseClick(policy.lab_links["threshold"], Qt.MouseButton.LeftButton)
    assert [k for k, cb in lab.sweep_checks.items() if cb.isChecked()] == ["threshold"]
    assert lab.setting_key.currentData() == "" and "threshold=0.5,2" in lab.banner.text()
    for key in ("bands.absolute", "bands.trade_to", "harvest.horizon_years", "harvest.st_conversion",
                "harvest.substitute_bps", "trading.harvest_min_loss_pct", "harvest.round_trip",
                "trading.min_drift_trade_dollars", "trading.min_trade_dollars"):
        assert key in policy.lab_links
