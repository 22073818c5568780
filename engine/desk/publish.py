"""Batch files appear in the drop folder only for committed batches.

An export writes its files into the drop folder's ``.staging/`` subfolder (a dot-folder: an order
system polling the drop folder does not look into it), commits the batch record (each file's name
and SHA-256 in its manifest), then moves the staged files into the drop folder, the data files
first and the manifest ``batch_<id>.json`` last. A rename within one folder tree is atomic, so a
file in the drop folder is always whole and always of a committed batch.

An export killed on the way leaves staged files only. :func:`recover` (run by every export under
the export lock, and by the console at start-up through :func:`recover_exports`) finishes the job:
staged files of a committed batch are published (the bytes checked against the recorded SHA-256),
staged files of a batch the database does not know are removed; both are audited. Files of a
committed batch that are missing with no staged copy were published and then moved away (an
order system archiving what it read): they are not written again.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
from pathlib import Path

from sqlalchemy import select

from engine.core.files import atomic_write_bytes, folder_file_mode
from storage import models as m
from storage import repo

STAGING = ".staging"
BATCH_FILE = re.compile(r"^(?:trades|lots|batch|signoff)_(?P<batch>B\d{8}-\d+)\.(?:csv|fix|xlsx|json|pdf|html)$")
TEMP_FILE = re.compile(r"^\.(?:trades|lots|batch|signoff)_.*\.tmp$")  # an atomic write that never finished


def staging_dir(out_dir: str | os.PathLike) -> Path:
    return Path(out_dir) / STAGING


def stage(out_dir: str | os.PathLike, name: str, data: bytes) -> str:
    """Write one file of a batch under its staging name, with the drop folder's permissions
    (:func:`engine.core.files.folder_file_mode`); returns its SHA-256."""
    staging_dir(out_dir).mkdir(parents=True, exist_ok=True)
    return atomic_write_bytes(staging_dir(out_dir) / name, data, mode=folder_file_mode(out_dir))


def manifest_name(batch_id: str) -> str:
    return f"batch_{batch_id}.json"


def manifest_bytes(manifest: dict) -> bytes:
    """The manifest file's bytes: the same from the export's dict and from the database's JSON."""
    return json.dumps(manifest, indent=2).encode()


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _sync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def tidy(out_dir: str | os.PathLike) -> None:
    """Remove the staging folder when nothing is left in it."""
    try:
        staging_dir(out_dir).rmdir()
    except OSError:
        pass


def publish(out_dir: str | os.PathLike, manifest: dict) -> tuple[list[str], list[str]]:
    """Move a committed batch's staged files into the drop folder (data files, then the
    manifest). Returns (names moved, problems). Idempotent: a file already in place is left."""
    out, stage_dir = Path(out_dir), staging_dir(out_dir)
    moved, problems = [], []
    for f in manifest.get("files", []) + manifest.get("signoff", []):  # signoff: the sign-off's PDF and HTML
        staged, final = stage_dir / f["name"], out / f["name"]
        if staged.exists():
            if _sha(staged) != f["sha256"]:
                problems.append(f"{f['name']}: the staged file does not match its recorded SHA-256 "
                                f"(left in {STAGING}/)")
                continue
            os.replace(staged, final)
            moved.append(f["name"])
        elif not final.exists():
            problems.append(f"{f['name']}: neither in the drop folder nor staged (moved away after publishing?)")
    if problems:  # a batch is complete when its manifest is there: not before all its files are
        return moved, problems
    name = manifest_name(manifest["batch_id"])
    staged, final = stage_dir / name, out / name
    want = manifest_bytes(manifest)
    if staged.exists():
        if staged.read_bytes() == want:
            os.replace(staged, final)
        else:
            atomic_write_bytes(final, want, mode=folder_file_mode(out))
            staged.unlink(missing_ok=True)
        moved.append(name)
    _sync_dir(out)
    tidy(out)
    return moved, problems


def _drop_folders(conn, out_dir) -> list[Path]:
    B = m.ExportBatch.__table__
    dirs = {str(Path(d)) for (d,) in conn.execute(select(B.c.out_dir).distinct()) if d}
    if out_dir is not None:
        dirs.add(str(Path(out_dir).resolve()))
    return [Path(d) for d in sorted(dirs)]


def recover(conn, user: str, out_dir: str | os.PathLike | None = None) -> list[str]:
    """Finish or clean up what interrupted exports left in the staging folders of ``out_dir`` and
    of every drop folder a batch was exported to. The caller holds the export lock (no export is
    writing) and owns the transaction (the audit entries). Returns what was done, as messages."""
    B = m.ExportBatch.__table__
    messages: list[str] = []
    for folder in _drop_folders(conn, out_dir):
        stage_dir = staging_dir(folder)
        if not stage_dir.is_dir():
            continue
        by_batch: dict[str, list[Path]] = {}
        temps = []
        for p in sorted(stage_dir.iterdir()):
            hit = BATCH_FILE.match(p.name)
            if hit:
                by_batch.setdefault(hit["batch"], []).append(p)
            elif TEMP_FILE.match(p.name):
                temps.append(p)
        known = {}
        if by_batch:
            known = {bid: (d, man) for bid, d, man in conn.execute(
                select(B.c.id, B.c.out_dir, B.c.manifest).where(B.c.id.in_(list(by_batch))))}
        removed = [p.name for p in temps]
        for p in temps:
            p.unlink(missing_ok=True)
        for batch_id, paths in by_batch.items():
            rec = known.get(batch_id)
            if rec is not None and Path(rec[0]) == folder and rec[1] and rec[1] != "{}":
                moved, problems = publish(folder, json.loads(rec[1]))
                if moved or problems:
                    what = (f"batch {batch_id}: published {', '.join(moved) or 'nothing'} to {folder} "
                            f"after an interrupted export" + (f"; {'; '.join(problems)}" if problems else ""))
                    messages.append(what)
                    repo.audit(conn, user, "EXPORT_REPUBLISH", detail=what,
                               after={"batch_id": batch_id, "files": moved, "problems": problems})
            else:
                removed += [p.name for p in paths]
                for p in paths:
                    p.unlink(missing_ok=True)
        if removed:
            what = (f"removed {len(removed)} staged file(s) of an export that never committed from "
                    f"{stage_dir}: {', '.join(removed)}")
            messages.append(what)
            repo.audit(conn, user, "EXPORT_STAGING_REMOVED", detail=what,
                       after={"out_dir": str(folder), "files": removed})
        tidy(folder)
    return messages


def recover_exports(engine, *, out_dir: str | os.PathLike | None = None, user: str | None = None) -> list[str]:
    """:func:`recover` in its own transaction under the export lock (the console runs it at
    start-up; every export runs it first)."""
    from engine.core.identity import acting_user

    user = acting_user(engine, user, "operator")
    with engine.begin() as conn:
        repo.take_lock(conn, "export", user)
        return recover(conn, user, out_dir)
