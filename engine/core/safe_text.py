"""Text that leaves the desk stays what it says: values that become orders, spreadsheet cells,
sheet titles and terminal lines.

- Import (engine.book.book) refuses control characters in every text value, and ``|`` and ``=`` in the
  key fields that ride in a FIX message (:data:`FIX_KEY_COLUMNS`): a value carrying SOH and
  ``54=1`` would otherwise add tags to an order.
- :func:`fix_value` is the FIX writer's last guard: a value with SOH (or any control character)
  never reaches a message.
- :func:`cell_safe` / :func:`frame_cells_safe`: a text cell starting with ``=``, ``+``, ``-``,
  ``@`` gets a leading ``'`` so a spreadsheet shows it instead of running it, and its control
  characters are escaped (one cell, one line); numbers are never touched.
- :func:`sheet_titles`: a legal, unique XLSX sheet title for any custodian name.
- :func:`printable`: control characters and terminal escapes shown as ``\\xNN`` escapes, so a
  user name or reason cannot forge a line on screen.
"""
from __future__ import annotations

import re

import pandas as pd

# C0 controls (SOH, tab, CR, LF, ESC ...), DEL and the C1 controls
CONTROL_CHARS = r"\x00-\x1f\x7f-\x9f"  # escapes both Python re and RE2 (pyarrow) read
CONTROL_RE = re.compile(f"[{CONTROL_CHARS}]")
# the book's columns that become FIX tags or identify an order line
FIX_KEY_COLUMNS = frozenset({"account_id", "symbol", "custodian", "lot_id", "request_id", "model_id",
                             "new_symbol"})
KEY_DELIMITERS = "|="
# lot ids also ride in the lots instruction (LOT:shares;LOT:shares)
LOT_DELIMITERS = ";:"
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
SHEET_BAD_RE = re.compile(r"[/\\?*\[\]:]")
SHEET_MAX = 31


def bad_key_chars(column: str) -> str:
    """The characters (besides control characters) a value of ``column`` may not carry."""
    extra = KEY_DELIMITERS if column in FIX_KEY_COLUMNS else ""
    return extra + (LOT_DELIMITERS if column == "lot_id" else "")


def describe_char(ch: str) -> str:
    names = {"\x01": "SOH", "\t": "tab", "\r": "CR", "\n": "LF", "\x1b": "ESC", "\x00": "NUL"}
    return names.get(ch, f"{ch!r}" if ch.isprintable() else f"\\x{ord(ch):02x}")


def fix_value(tag: int, value) -> str:
    """``value`` as a FIX field value; refuses one that would break the message's framing."""
    text = str(value)
    bad = CONTROL_RE.search(text)
    if bad or text == "":
        what = f"carries {describe_char(bad.group())}" if bad else "is empty"
        raise ValueError(f"FIX tag {tag}: value {printable(text)!r} {what}; not written")
    return text


def cell_safe(value):
    """A text cell a spreadsheet shows rather than evaluates, on one line (control characters
    escaped: a CR would end the CSV row, XLSX refuses them); anything else unchanged."""
    if not isinstance(value, str):
        return value
    value = printable(value)
    return "'" + value if value.startswith(FORMULA_START) else value


def frame_cells_safe(df: pd.DataFrame, columns) -> pd.DataFrame:
    """``df`` with its text ``columns`` made spreadsheet-safe (numbers untouched). Only the cells
    that need it go through :func:`cell_safe` (found in one vectorized pass: a batch has
    hundreds of thousands of cells and almost none starts with a formula character)."""
    out = df.copy()
    for c in columns:
        if c in out and (out[c].dtype == object or pd.api.types.is_string_dtype(out[c].dtype)):
            col = out[c]
            hit = _unsafe_cells(col)
            if hit is None:
                out[c] = col.map(cell_safe)
            elif hit.any():
                fixed = col.astype(object).copy()
                fixed[hit] = fixed[hit].map(cell_safe)
                out[c] = fixed.astype(col.dtype) if col.dtype != object else fixed
    return out


_UNSAFE_PATTERN = f"[{CONTROL_CHARS}]"  # what cell_safe changes besides a formula start: a control character
# the same characters in UTF-8 (C1 controls are C2 80..C2 9F): a scan of the column's bytes finds
# whether any cell has one before a per-cell regex runs
_CONTROL_BYTES = re.compile(rb"[\x00-\x1f\x7f]|\xc2[\x80-\x9f]")


def _unsafe_cells(col: pd.Series):
    """Mask of the cells :func:`cell_safe` would change (``None``: not all text, check each):
    a formula start (first character), or a control character (looked for in the column's bytes
    first, then cell by cell only when there is one)."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    try:
        if isinstance(col.dtype, pd.StringDtype) and col.dtype.storage == "pyarrow":
            arr = pa.array(col.array)  # no copy
        else:
            arr = pa.array(col.to_numpy(dtype=object), type=pa.string(), from_pandas=True)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        return None
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    if not len(arr):
        return np.zeros(0, dtype=bool)
    first = pc.utf8_slice_codeunits(arr, 0, 1)
    hit = pc.is_in(first, value_set=pa.array(["=", "+", "-", "@"], type=arr.type))
    offsets = np.frombuffer(arr.buffers()[1], dtype=np.int64 if pa.types.is_large_string(arr.type) else np.int32)
    data = arr.buffers()[2]
    if data is not None and _CONTROL_BYTES.search(
            memoryview(data)[offsets[arr.offset]:offsets[arr.offset + len(arr)]]):
        hit = pc.or_(hit, pc.match_substring_regex(arr, _UNSAFE_PATTERN))
    return pc.fill_null(hit, False).to_numpy(zero_copy_only=False)


def sheet_titles(names) -> dict:
    """A legal (no ``/ \\ ? * [ ] :``, at most 31 characters, not blank, no leading or trailing
    ``'``), unique (case-insensitively, as Excel compares) sheet title for each name."""
    out, used = {}, set()
    for name in names:
        base = SHEET_BAD_RE.sub("_", CONTROL_RE.sub("_", str(name))).strip("'").strip() or "Sheet"
        title, n = base[:SHEET_MAX], 1
        while title.lower() in used:
            n += 1
            tail = f" ({n})"
            title = base[:SHEET_MAX - len(tail)] + tail
        used.add(title.lower())
        out[name] = title
    return out


def printable(value) -> str:
    """``value`` with control characters (newlines, terminal escapes) shown as escapes."""
    if not isinstance(value, str):
        return value
    return CONTROL_RE.sub(lambda m: m.group().encode("unicode_escape").decode("ascii"), value)
