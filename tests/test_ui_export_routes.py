"""Export settings per custodian (issue 20, item 7) through the real settings dialog and the
one-click export, on both databases: a custodian with its own drop folder and formats gets its
trades in a batch of their own there; the rest go with the book's settings; files carry their
folder's permissions."""
import csv
import os

import pytest
from qt_fixtures import boxes, close_window, folders, make_window, reviewed, settings, wait_idle, window  # noqa: F401
from sqlalchemy import select

from storage import models as m


def _batch_of(folder):
    names = sorted(p.name for p in folder.iterdir() if p.is_file())
    batches = {n.rsplit("_", 1)[1].rsplit(".", 1)[0] for n in names}
    assert len(batches) == 1, names
    return batches.pop(), names


def test_export_settings_per_custodian_route_the_one_click_export(qtbot, engine, reviewed, window, boxes, tmp_path):
    from engine.desk.review import approve
    from ui import export_settings as es

    approve(engine, ["A1", "A2", "A3"], user="rev")
    T = m.Trade.__table__
    with engine.connect() as conn:
        approved = {(r.id, r.account_id, r.custodian) for r in conn.execute(
            select(T.c.id, T.c.account_id, T.c.custodian).where(T.c.status == "APPROVED"))}
    assert {c for _, _, c in approved} == {"SCHWAB", "FIDELITY"}
    book, fid = tmp_path / "book-drop", tmp_path / "fidelity-drop"
    book.mkdir()
    fid.mkdir()
    os.chmod(book, 0o775)   # a shared drop folder: group-writable files, whatever the umask
    os.chmod(fid, 0o750)

    w = window
    w.export_settings()
    dlg = w.export_settings_dialog
    assert set(dlg.custodian_rows) == {"FIDELITY", "SCHWAB"}         # the book's custodians
    dlg.folder.setText(str(book))
    for f, cb in dlg.checks.items():
        cb.setChecked(f in ("csv", "lots"))
    row = dlg.custodian_rows["FIDELITY"]
    assert not row.folder.isEnabled()                                 # off until ticked
    row.own.setChecked(True)
    assert row.folder.isEnabled()
    row.folder.setText(str(tmp_path / "missing"))
    assert not dlg.save() and "custodian FIDELITY: the drop folder" in dlg.error.text()
    row.folder.setText(str(fid))
    for f, cb in row.checks.items():
        cb.setChecked(f == "lots")
    assert not dlg.save() and "FIDELITY: choose at least one trades format" in dlg.error.text()
    for f, cb in row.checks.items():
        cb.setChecked(f in ("fix", "signoff"))
    assert dlg.save()
    assert es.custodian_settings(w.ctx) == {"FIDELITY": {"folder": str(fid), "formats": ["fix", "signoff"]}}
    assert es.book_formats(w.ctx) == ("csv", "lots")
    # the dialog opens again with what was saved
    w.export_settings()
    again = w.export_settings_dialog
    assert again.custodian_rows["FIDELITY"].own.isChecked() and not again.custodian_rows["SCHWAB"].own.isChecked()
    assert again.custodian_rows["FIDELITY"].folder.text() == str(fid)
    again.reject()

    w.export_approved()
    wait_idle(qtbot, w)
    confirm = [b for b in boxes.seen if b.title == "Export approved"][-1]
    assert f"custodian FIDELITY → {fid} (FIX, sign-off PDF/HTML)" in confirm.info
    assert f"every other custodian → {book} (CSV, lots file)" in confirm.info

    fb, fnames = _batch_of(fid)
    assert fnames == sorted([f"batch_{fb}.json", f"trades_{fb}.fix", f"signoff_{fb}.pdf", f"signoff_{fb}.html"])
    bb, bnames = _batch_of(book)
    assert bnames == sorted([f"batch_{bb}.json", f"trades_{bb}.csv", f"lots_{bb}.csv"])
    assert fb != bb
    with open(book / f"trades_{bb}.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert {r["custodian"] for r in rows} == {"SCHWAB"} and {r["account_id"] for r in rows} == {"A1", "A3"}
    fix = (fid / f"trades_{fb}.fix").read_bytes().decode()
    assert "\x011=A2\x01" in fix and "\x011=A1\x01" not in fix and "\x011=A3\x01" not in fix
    # every approved trade went out once, in its custodian's batch
    with engine.connect() as conn:
        sent = {(r.id, r.batch_id) for r in conn.execute(select(T.c.id, T.c.batch_id).where(T.c.status == "EXPORTED"))}
    want = {(i, fb if c == "FIDELITY" else bb) for i, _, c in approved}
    assert sent == want
    # files written with their folder's permissions, not the umask's or a temp file's
    for p in fid.iterdir():
        if p.is_file():
            assert p.stat().st_mode & 0o777 == 0o640, p.name
    for p in book.iterdir():
        if p.is_file():
            assert p.stat().st_mode & 0o777 == 0o664, p.name
    assert [d.result.batch_id for d in w.batch_dialogs] == [fb, bb]  # one result per batch


def test_routes_plan_and_refusals():
    from engine.core.tasks import RefusedError
    from engine.desk.export_routes import Route, plan

    routes = plan("/drop", ["csv", "lots"], {"B": {"folder": "", "formats": []}, "A": {"folder": "/a", "formats": ["xlsx"]}})
    assert routes == [Route("/a", ("xlsx",), ("A",)), Route("/drop", ("csv", "lots"), ("B",)),
                      Route("/drop", ("csv", "lots"), None, ("A", "B"))]
    with pytest.raises(RefusedError, match="unknown export format"):
        plan("/drop", ["csv", "pdf"])
    with pytest.raises(RefusedError, match="custodian A: no drop folder"):
        plan("", ["csv"], {"A": {"formats": ["csv"]}})
