"""One set of length limits for text that reaches the database, the same on SQLite and PostgreSQL.

SQLite stores a 200-character account id in a ``VARCHAR(64)`` without a word; PostgreSQL refuses
it with a truncation error in the middle of the write. So lengths are checked before any write,
against these limits: the book's key and name columns at import (engine/book/book.py, a structural
problem naming file, line and column), user names wherever one is taken (engine/core/usernames.py).

The numbers are the ``String(n)`` lengths of storage/models.py (characters on both databases);
tests/test_hardening_limits.py fails if a model and this table part ways. Text columns (names,
tags, notes, reasons) have no limit here: they are ``TEXT`` on both databases.
"""
from __future__ import annotations

USER_NAME = 64

# book column name -> most characters (after trimming and the column's case folding)
BOOK_COLUMNS: dict[str, int] = {
    "account_id": 64, "model_id": 64, "custodian": 64, "lot_id": 64, "request_id": 64,
    "asset_class": 64, "substitute_group": 64, "group": 64, "identical_group": 64, "household_id": 64,
    "symbol": 32, "new_symbol": 32, "kind": 32,
    "status": 16, "trading_mode": 16, "mode": 16, "priority": 8, "side": 4,
}


def book_limit(column: str) -> int | None:
    """The most characters a value of the book's ``column`` may have (``None``: no limit)."""
    return BOOK_COLUMNS.get(column)


def too_long_message(value: str, limit: int, what: str) -> str:
    """The refusal of a too long value, worded the same for every database."""
    shown = value if len(value) <= 40 else value[:40] + "…"
    return f"{shown!r} is {len(value)} characters long; {what} takes at most {limit} (on every database)"
