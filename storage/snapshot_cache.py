"""A local cache of book snapshots' frames (Arrow IPC files), keyed by the snapshot's checksum.

A snapshot never changes once imported, so its frames can be kept next to the database in
the user's cache folder: a 100,000-account book (millions of lots) loads in a couple of
seconds instead of being read row by row. The key is the SHA-256 of the book folder's files
plus a format version, so a stale or foreign entry can never be used; a damaged entry is
ignored and rebuilt. ``REBALANCE_DESK_CACHE`` moves the folder; ``=off`` disables it.
"""
from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pandas as pd
from platformdirs import user_cache_dir

FORMAT = 1
KEEP = 6  # newest snapshots kept in the cache


def cache_root() -> Path | None:
    env = os.environ.get("REBALANCE_DESK_CACHE")
    if env == "off":
        return None
    return Path(env) if env else Path(user_cache_dir("RebalanceDesk", appauthor=False)) / "snapshots"


def _dir(checksum: str) -> Path | None:
    root = cache_root()
    return None if root is None or not checksum else root / f"{checksum}-v{FORMAT}"


def load(checksum: str, tables) -> dict[str, pd.DataFrame] | None:
    d = _dir(checksum)
    if d is None or not d.is_dir():
        return None
    try:
        out = {t: pd.read_feather(d / f"{t}.arrow") for t in tables}
        os.utime(d)
        return out
    except Exception:  # damaged or partial: rebuild from the database
        shutil.rmtree(d, ignore_errors=True)
        return None


def store(checksum: str, frames: dict[str, pd.DataFrame]) -> None:
    d = _dir(checksum)
    if d is None or d.is_dir():
        return
    try:
        d.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=".tmp-", dir=d.parent))
        for name, df in frames.items():
            df.reset_index(drop=True).to_feather(tmp / f"{name}.arrow")
        os.replace(tmp, d)
    except OSError:
        shutil.rmtree(locals().get("tmp", ""), ignore_errors=True)
        return
    _prune(d.parent)


def _prune(root: Path) -> None:
    entries = sorted((p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")),
                     key=lambda p: p.stat().st_mtime, reverse=True)
    for old in entries[KEEP:]:
        shutil.rmtree(old, ignore_errors=True)
