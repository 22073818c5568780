"""Atomic file writes: temp file in the target folder, fsync, rename. The file gets the mode a
plain ``open()`` would give it (0666 less the umask), not the temp file's 0600 — or the mode
asked for (:func:`folder_file_mode`: a drop folder's own read/write bits)."""
from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path


def _umask() -> int:
    """The process umask, read without changing it where the system allows (Linux)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def check_out_dir(path: str | os.PathLike | None) -> Path:
    """``path`` as a folder files may be written into (made when missing); refuses (RefusedError,
    one line) an empty path, a file, a path under a file and a folder that is not writable."""
    from engine.core.tasks import RefusedError

    if path is None or not str(path).strip():
        raise RefusedError("--out is empty: name the folder to write into")
    p = Path(path).expanduser()
    for parent in [p, *p.parents]:
        if parent.exists():
            if not parent.is_dir():
                what = "is a file, not a folder" if parent == p else f"is under {parent}, which is a file"
                raise RefusedError(f"--out {p}: {what}")
            if not os.access(parent, os.W_OK | os.X_OK):
                raise RefusedError(f"--out {p}: {parent} is not writable")
            break
    return p


def check_out_file(path: str | os.PathLike | None) -> Path:
    """``path`` as a file to write; refuses an empty path, a folder, a path under a file and a
    folder that is not writable."""
    from engine.core.tasks import RefusedError

    if path is None or not str(path).strip():
        raise RefusedError("--out is empty: name the file to write")
    p = Path(path).expanduser()
    if p.is_dir():
        raise RefusedError(f"--out {p}: is a folder, not a file")
    check_out_dir(p.parent)
    return p


def folder_file_mode(folder: str | os.PathLike) -> int:
    """The mode of a file written "with the folder's permissions": the folder's read and write
    bits (a shared 0775 drop folder gets 0664 files whatever the process umask; a private 0700
    folder 0600 ones)."""
    return os.stat(folder).st_mode & 0o666


def atomic_write_bytes(path: str | os.PathLike, data: bytes, mode: int | None = None) -> str:
    """Write ``data`` to ``path`` atomically; returns its SHA-256. ``mode``: the file's
    permission bits (default 0666 less the umask)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fchmod(f.fileno(), (0o666 & ~_umask()) if mode is None else mode)
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    return hashlib.sha256(data).hexdigest()


def atomic_write_text(path: str | os.PathLike, text: str) -> str:
    return atomic_write_bytes(path, text.encode("utf-8"))
