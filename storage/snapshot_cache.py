"""A local cache of book snapshots' frames (Arrow IPC files): a copy of the client book
(names, holdings, lots, cash) outside the database, kept deliberately and protected.

Why: a snapshot never changes once imported, so a 100,000-account book (millions of lots)
loads in a couple of seconds from the cache instead of being read row by row.

Where (``REBALANCE_DESK_CACHE``):
* unset: ``snapshots/`` in the user's cache folder (platformdirs ``user_cache_dir``);
* ``beside``: a folder ``<database file>.cache`` next to the SQLite database (a PostgreSQL
  database has no folder: nothing is cached);
* ``off``: nothing is cached;
* any other value: that folder.

Protection and lifetime: folders are created readable by the user alone (0700), files 0600.
An entry is written to a temporary folder and renamed into place, so a killed import leaves
no partial entry (stale temporary folders are swept). An entry belongs to one database (its
``owner.json`` names it) and one snapshot (the SHA-256 of its book files plus a format
version, so a stale or foreign entry is never used; a damaged one is ignored and rebuilt).
It is deleted when retention prunes its snapshot, when its database file is gone (swept when
a database is opened), and beyond the newest ``KEEP`` entries of the folder.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import socket
import stat
import tempfile
import time
from pathlib import Path

import pandas as pd
from platformdirs import user_cache_dir

ENV = "REBALANCE_DESK_CACHE"
FORMAT = 4  # 3: accounts.household_id, securities.identical_group; 4: accounts carry budgets and trading mode, cash requests a mode
KEEP = 6  # newest snapshots kept in a cache folder
OWNER = "owner.json"
TMP = ".tmp~"
STALE_SECONDS = 24 * 3600  # a temporary folder of another host (or of an unknown process) this old is stale


def _setting() -> str:
    return os.environ.get(ENV, "").strip()


def db_file(url) -> Path | None:
    """The SQLite database file of ``url`` (a SQLAlchemy URL or string), else None."""
    if url is None:
        return None
    from sqlalchemy.engine import make_url

    url = make_url(url) if isinstance(url, str) else url
    if not url.drivername.startswith("sqlite") or url.database in (None, "", ":memory:") \
            or str(url.database).startswith("file:"):
        return None
    return Path(url.database).expanduser().resolve()


def owner_of(url) -> str | None:
    """Who an entry belongs to: the SQLite file's path, or the URL without its password; None for
    a database that cannot own a cache (in memory)."""
    if url is None:
        return None
    from sqlalchemy.engine import make_url

    url = make_url(url) if isinstance(url, str) else url
    f = db_file(url)
    if f is not None:
        return str(f)
    if url.drivername.startswith("sqlite"):
        return None
    return url.render_as_string(hide_password=True)


def cache_root(url=None) -> Path | None:
    """The cache folder for the database ``url`` under the current setting (None: no cache)."""
    env = _setting()
    if env == "off":
        return None
    if env == "beside":
        f = db_file(url)
        return None if f is None else f.with_name(f.name + ".cache")
    return Path(env).expanduser() if env else Path(user_cache_dir("RebalanceDesk", appauthor=False)) / "snapshots"


def _prefix(owner: str) -> str:
    return hashlib.sha256(owner.encode()).hexdigest()[:16]


def _dir(url, checksum: str) -> Path | None:
    owner = owner_of(url)
    root = cache_root(url)
    if root is None or owner is None or not checksum:
        return None
    return root / f"{_prefix(owner)}-{checksum}-v{FORMAT}"


def _private_root(root: Path) -> None:
    """Create the cache folder readable by the user alone; our own folders (the default and
    ``beside``) are made 0700 even when an older version created them otherwise."""
    created = not root.exists()
    root.mkdir(parents=True, exist_ok=True, mode=0o700)
    if created or not _setting() or _setting() == "beside":
        os.chmod(root, 0o700)


def load(url, checksum: str, tables) -> dict[str, pd.DataFrame] | None:
    d = _dir(url, checksum)
    if d is None or not (d / OWNER).is_file():
        return None
    try:
        out = {t: pd.read_feather(d / f"{t}.arrow") for t in tables}
        os.utime(d)
        return out
    except Exception:  # damaged or partial: rebuild from the database
        shutil.rmtree(d, ignore_errors=True)
        return None


def store(url, checksum: str, snapshot_id: int, frames: dict[str, pd.DataFrame]) -> None:
    """Write the entry of one snapshot (temporary folder, then an atomic rename)."""
    d = _dir(url, checksum)
    if d is None or d.is_dir():
        return
    tmp = None
    try:
        _private_root(d.parent)
        tmp = Path(tempfile.mkdtemp(prefix=f"{TMP}{socket.gethostname()}~{os.getpid()}~", dir=d.parent))
        for name, df in frames.items():
            path = tmp / f"{name}.arrow"
            df.reset_index(drop=True).to_feather(path)
            os.chmod(path, 0o600)
        f = db_file(url)
        (tmp / OWNER).write_text(json.dumps({
            "database": owner_of(url), "file": None if f is None else str(f), "snapshot_id": int(snapshot_id),
            "checksum": checksum, "format": FORMAT, "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }, indent=1), encoding="utf-8")
        os.chmod(tmp / OWNER, 0o600)
        os.replace(tmp, d)
    except Exception:  # noqa: BLE001 - a cache that cannot be written is no cache, never a failed import
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
        return
    _prune(d.parent)


def drop(url, keep: set[str]) -> list[Path]:
    """Delete the entries of the database ``url`` whose snapshot checksum is not in ``keep``
    (retention pruned those snapshots). Returns the folders deleted."""
    owner, root = owner_of(url), cache_root(url)
    if owner is None or root is None or not root.is_dir():
        return []
    head = _prefix(owner) + "-"
    gone = []
    for p in root.iterdir():
        if p.is_dir() and p.name.startswith(head) and p.name.removeprefix(head).split("-v")[0] not in keep:
            shutil.rmtree(p, ignore_errors=True)
            gone.append(p)
    return gone


def _alive(host: str, pid: str) -> bool | None:
    """Whether the process that made a temporary folder still runs (None: cannot tell here)."""
    if host != socket.gethostname() or os.name != "posix" or not pid.isdigit():
        return None
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except OSError:  # another user's process of that id: alive
        return True
    return True


def sweep(url=None) -> list[Path]:
    """Clean the cache folder of ``url``: temporary folders of dead writers (a killed import),
    entries of an older format or without an owner, and entries whose SQLite database file no
    longer exists. Cheap (a listing and a few small files); run when a database is opened."""
    root = cache_root(url)
    if root is None or not root.is_dir():
        return []
    gone = []
    now = time.time()
    try:
        listing = list(root.iterdir())
    except OSError:  # unreadable: nothing to sweep, and no reason to refuse opening the database
        return gone
    for p in listing:
        try:
            if not p.is_dir():
                continue
            old = now - p.stat().st_mtime > STALE_SECONDS
            if p.name.startswith(TMP):
                parts = p.name[len(TMP):].split("~")
                alive = _alive(parts[0], parts[1]) if len(parts) >= 3 else None
                stale = alive is False or (alive is None and old)
            elif p.name.startswith(".tmp-"):  # format 1's temporary folders
                stale = old
            elif p.name.startswith("."):
                continue
            else:
                owner = json.loads((p / OWNER).read_text(encoding="utf-8")) if (p / OWNER).is_file() else None
                stale = owner is None or owner.get("format") != FORMAT or (
                    owner.get("file") is not None and not Path(owner["file"]).exists())
        except (OSError, ValueError):
            stale = True
        if stale:
            shutil.rmtree(p, ignore_errors=True)
            gone.append(p)
    return gone


def _prune(root: Path) -> None:
    """Keep the ``KEEP`` newest entries. Another process may prune the same folder at the same
    time: an entry gone between the listing and its ``stat`` is simply not counted."""
    entries = []
    for p in root.iterdir():
        if p.name.startswith("."):
            continue
        try:
            st = p.stat()
        except FileNotFoundError:
            continue
        if stat.S_ISDIR(st.st_mode):
            entries.append((st.st_mtime, p))
    entries.sort(key=lambda e: e[0], reverse=True)
    for _, old in entries[KEEP:]:
        shutil.rmtree(old, ignore_errors=True)
