"""Retention: old snapshots lose their lots, positions and transactions; decisions are kept."""
import pytest
from qt_fixtures import shown
from sqlalchemy import func, select

import main
from bookkit import write_book
from engine.desk.exporter import export_batch
from engine.book.importer import import_book
from engine.core.policy import default_policy, policy_from_dict
from engine.core.policy_store import save_policy
from engine.book.retention import prune_snapshots
from engine.core.tasks import RefusedError
from engine.decide.workflow import proposals_frame, run_workflow
from storage import models as m


def count(conn, model, **where):
    stmt = select(func.count()).select_from(model)
    for k, v in where.items():
        stmt = stmt.where(getattr(model, k) == v)
    return conn.execute(stmt).scalar()


def keep_policy(keep: int):
    data = default_policy().model_dump()
    data["retention"]["keep_snapshots"] = keep
    return policy_from_dict(data)


def snapshot_ids(conn):
    return [r[0] for r in conn.execute(select(m.BookSnapshot.id).order_by(m.BookSnapshot.id))]


def test_import_prunes_snapshots_beyond_the_policy_and_keeps_every_decision(engine, tmp_path):
    save_policy(engine, keep_policy(2), user="admin")
    days = ["2026-11-20", "2026-11-21", "2026-11-22"]
    runs = []
    for i, day in enumerate(days):
        import_book(engine, write_book(tmp_path / day, as_of=day), user="ops")
        runs.append(run_workflow(engine, workers=1, user="ops").run_id)
        if i == 0:
            first_batch = export_batch(engine, tmp_path / "out", user="ops")
    with engine.connect() as conn:
        s1, s2, s3 = snapshot_ids(conn)
        # the oldest snapshot lost its position rows, the two newest kept theirs
        assert count(conn, m.Lot, snapshot_id=s1) == 0
        assert count(conn, m.CustodianPosition, snapshot_id=s1) == 0
        assert count(conn, m.Transaction, snapshot_id=s1) == 0
        assert count(conn, m.Lot, snapshot_id=s2) == 7 and count(conn, m.Lot, snapshot_id=s3) == 7
        # what was decided on it is all still there
        assert count(conn, m.Account, snapshot_id=s1) == 3
        assert count(conn, m.Run) == 3
        assert first_batch.n_trades > 0
        assert count(conn, m.Trade, batch_id=first_batch.batch_id) == first_batch.n_trades
        assert count(conn, m.ExportBatch) == 1
        pruned = conn.execute(select(m.AuditEntry.detail).where(m.AuditEntry.action == "PRUNE_SNAPSHOT")).all()
        assert [d for (d,) in pruned] == [f"snapshot {s1}: 7 lots, 6 custodian_positions, 1 transactions"]
    assert len(proposals_frame(engine.connect(), runs[0])) == 3  # the first day's run still reads


def test_prune_cli_keeps_the_newest_and_refuses_zero(engine, db_path, tmp_path, capsys):
    for day in ("2026-11-20", "2026-11-21"):
        import_book(engine, write_book(tmp_path / day, as_of=day))
    with engine.connect() as conn:
        s1, s2 = snapshot_ids(conn)
        assert count(conn, m.Lot, snapshot_id=s1) == 7  # default policy keeps 2
    assert main.main(["prune", "--keep", "0", "--db", db_path]) == 2
    assert "at least 1" in capsys.readouterr().err
    assert main.main(["prune", "--keep", "1", "--db", db_path, "--user", "dba"]) == 0
    assert f"pruned snapshot(s) {s1}: 7 lots" in capsys.readouterr().out
    with engine.connect() as conn:
        assert count(conn, m.Lot, snapshot_id=s1) == 0 and count(conn, m.Lot, snapshot_id=s2) == 7
        who = conn.execute(select(m.AuditEntry.user).where(m.AuditEntry.action == "PRUNE_SNAPSHOT")).scalar()
        assert who == "dba"
    assert main.main(["prune", "--keep", "1", "--db", db_path]) == 0
    assert "nothing to prune" in capsys.readouterr().out
    with pytest.raises(RefusedError):
        prune_snapshots(engine, 0)


def test_a_failed_prune_does_not_fail_the_committed_import(engine, tmp_path, monkeypatch):
    from engine.book import retention
    from engine.core.tasks import TaskState

    def broken(*a, **k):
        raise RuntimeError("database is locked")

    monkeypatch.setattr(retention, "prune_snapshots", broken)
    messages = []
    snap = import_book(engine, write_book(tmp_path / "d1"), state=TaskState(lambda f, msg: messages.append(msg)))
    with engine.connect() as conn:
        assert snapshot_ids(conn) == [snap] and count(conn, m.Lot, snapshot_id=snap) == 7
    assert messages[-1] == (f"imported snapshot {snap} (pruning old snapshots failed: database is locked; "
                            "`prune` retries it)")


def test_the_policy_panel_edits_the_retention(qtbot, engine, db_path, tmp_path):
    from PySide6.QtCore import QSettings

    from engine.core.policy_store import current_policy
    from qt_fixtures import make_window

    settings = QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat)
    w = make_window(qtbot, engine, db_path, settings)
    try:
        shown(qtbot, w, "Policy")
        panel = w.panel("Policy")
        assert panel.fields["retention.keep_snapshots"].value() == 2
        panel.fields["retention.keep_snapshots"].setValue(5)
        panel.save_button.click()
        assert current_policy(engine).retention.keep_snapshots == 5
    finally:
        w.ctx.tasks.wait(10_000)
        w.close()
