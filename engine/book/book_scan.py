"""Where a CSV file that the fast reader refused is wrong: line and column of each problem.

Only called once pyarrow has refused a file (so it costs nothing on good books): the file is
read again line by line (streamed, never whole) to name every line that is not UTF-8, has an
unterminated or stray quote, or has more or fewer fields than the header.
"""
from __future__ import annotations

import csv
from pathlib import Path

MAX_LINES = 50


def scan_csv(path: Path, n_columns: int, limit: int = MAX_LINES) -> list[tuple[int, str | None, str]]:
    """(line, column, message) for each malformed line of ``path`` (the header is line 1)."""
    out: list[tuple[int, str | None, str]] = []
    with open(path, "rb") as f:
        for lineno, raw in enumerate(f, 1):
            if len(out) >= limit:
                break
            body = raw.rstrip(b"\r\n")
            if lineno == 1 and body.startswith(b"\xef\xbb\xbf"):
                body = body[3:]
            try:
                text = body.decode("utf-8")
            except UnicodeDecodeError as exc:
                col = len(body[:exc.start].decode("utf-8", errors="replace")) + 1
                out.append((lineno, f"character {col}", f"not UTF-8 text (byte 0x{body[exc.start]:02x} at "
                                                         f"character {col}: {exc.reason})"))
                continue
            if lineno == 1 or not text.strip():
                continue
            try:
                fields = next(csv.reader([text], strict=True))
            except csv.Error as exc:
                quote = text.count('"') % 2 == 1
                out.append((lineno, None, "unterminated quote (a quoted value must end on its own line)"
                            if quote else f"malformed quoting ({exc})"))
                continue
            if len(fields) != n_columns:
                out.append((lineno, None, f"has {len(fields)} field(s), the header has {n_columns}"))
    return out
