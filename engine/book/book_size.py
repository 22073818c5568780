"""How much of a book the desk reads: a cap, so no input can exhaust the workstation.

Reading a book costs memory in proportion to its rows and bytes (arrow's strings, then the typed
frames: ~330 bytes a row at worst, measured in docs/reliability.md). A 1 GB lots file used to peak
at 7.6 GB and a device like /dev/zero grew without end, so before anything is parsed:

* the book's files together may be at most ``max_mb`` MiB (:data:`MAX_BOOK_MB`, ``import
  --max-book-mb`` raises it), checked with ``stat`` before a byte is read;
* a file may have at most :func:`max_rows` data rows (:data:`MAX_ROWS` at the default size,
  scaled with ``max_mb``), checked right after arrow's read, before the typed conversion;
* ``manifest.json`` at most :data:`MAX_MANIFEST_BYTES`, a header line at most 64 KiB, and the
  line-by-line scan of a refused file reads at most :data:`MAX_LINE_BYTES` of a line.

The defaults hold the largest book the desk is sized for (100,000 accounts: ~265 MiB, 5.5 M lots)
with room to spare.
"""
from __future__ import annotations

from pathlib import Path

MAX_BOOK_MB = 512
MAX_ROWS = 6_000_000  # rows a file, at MAX_BOOK_MB
MAX_MANIFEST_BYTES = 64 * 1024
MAX_LINE_BYTES = 1 << 20


def max_rows(max_mb: float | None = None) -> int:
    """Rows a file may have when the book may be ``max_mb`` MiB."""
    return int(MAX_ROWS * (max_mb or MAX_BOOK_MB) / MAX_BOOK_MB)


def book_too_big(folder: Path, names: list[str], max_mb: float | None = None) -> str | None:
    """Why the book folder is over the size cap (``None``: within it). Only regular files count
    (pipes and devices are refused by name elsewhere, never opened)."""
    limit = (max_mb or MAX_BOOK_MB) * 2**20
    sizes = {}
    for name in names:
        p = folder / name
        try:
            if p.is_file():
                sizes[name] = p.stat().st_size
        except OSError:
            continue
    total = sum(sizes.values())
    if total <= limit:
        return None
    biggest = max(sizes, key=sizes.get)
    return (f"the book is {_mib(total)} MiB ({biggest}: {_mib(sizes[biggest])} MiB), over the limit "
            f"of {_mib(limit)} MiB; nothing was read. If the book is right, raise the limit "
            "(import --max-book-mb)")


def _mib(n_bytes: float) -> str:
    mib = n_bytes / 2**20
    return f"{mib:,.0f}" if mib >= 10 else f"{mib:.2g}"
