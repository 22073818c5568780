"""Import a book folder as a new snapshot: all or nothing."""
from __future__ import annotations

import logging
from datetime import date
from pathlib import Path

from sqlalchemy import Engine

from engine.core import clock
from engine.book.book import Book, read_book
from engine.book import model_changes
from engine.book.cash_owed import mark_paid
from engine.core.identity import acting_user
from engine.core.tasks import RefusedError, TaskState, ensure_state
from storage import repo

log = logging.getLogger(__name__)

# A book dated further than this from today's date is refused unless confirmed (``import
# --as-of-ok``, the console's dialog): once imported, every real book after it would be refused as
# older, so a typo like 2062-11-20 would lock the desk. Behind: a year, for re-imports of old books.
AS_OF_AHEAD_DAYS = 30
AS_OF_BEHIND_DAYS = 366


class AsOfRefused(RefusedError):
    """The book's as-of date is far from today's; import again with ``as_of_ok=True`` to confirm."""


def as_of_distance(as_of: date, today: date | None = None) -> str | None:
    """Why ``as_of`` needs a confirmation (``None`` when it is within the window of today)."""
    today = today or clock.today()
    days = (as_of - today).days
    if days > AS_OF_AHEAD_DAYS:
        return f"as of {as_of} is {days:,} days after today ({today}; more than {AS_OF_AHEAD_DAYS} ahead)"
    if -days > AS_OF_BEHIND_DAYS:
        return f"as of {as_of} is {-days:,} days before today ({today}; more than {AS_OF_BEHIND_DAYS} behind)"
    return None


def import_book(engine: Engine, folder: str | Path, *, user: str | None = None,
                state: TaskState | None = None, allow_same: bool = False, as_of_ok: bool = False,
                max_book_mb: float | None = None) -> int:
    """Validate ``folder`` and write it as a new book snapshot in one transaction.

    Raises :class:`engine.book.book.BookError` (structural problems; nothing written),
    :class:`RefusedError` (the same files were already imported as the latest snapshot),
    :class:`AsOfRefused` (the as-of date is far from today's and ``as_of_ok`` is not set),
    or :class:`Cancelled` (rolled back). ``max_book_mb``: the book size cap (engine/book/book_size.py).
    Returns the new snapshot id.
    """
    state = ensure_state(state)
    user = acting_user(engine, user, "operator")
    state.progress(0.0, "reading book files")
    book: Book = read_book(folder, max_book_mb)
    state.check()
    far = as_of_distance(book.as_of)
    if far and not as_of_ok:
        raise AsOfRefused(f"{folder}: {far}; a typo here would lock the desk (every later book is refused as "
                          "older); nothing imported. Confirm with --as-of-ok if the date is right")
    with engine.connect() as conn:
        latest = repo.snapshot_info(conn)
    if latest is not None and latest.checksum == book.checksum and not allow_same:
        raise RefusedError(f"{folder}: the same files were already imported as snapshot {latest.id} "
                           f"(as of {latest.as_of}); nothing imported")
    if latest is not None and book.as_of < latest.as_of:
        raise RefusedError(f"{folder}: as of {book.as_of} is older than the current book "
                           f"(as of {latest.as_of}); nothing imported")
    state.progress(0.15, "writing snapshot")
    frames = dict(book.frames)
    frames["models"] = book.models
    with engine.begin() as conn:
        snap_id = repo.write_snapshot(
            conn, as_of=book.as_of, frames=frames, source=str(Path(folder).resolve()),
            checksum=book.checksum, user=user,
            progress=lambda f, msg: state.progress(0.15 + 0.8 * f, msg), check=state.check)
        changed = model_changes.record(conn, snap_id, latest.id if latest is not None else None, frames, book.as_of)
        repo.audit(conn, user, "IMPORT", detail=f"snapshot {snap_id} as of {book.as_of} from {folder}"
                   + (f" ({far}; confirmed)" if far else "")
                   + (f"; {changed:,} account(s) changed model" if changed else ""),
                   after={"snapshot_id": snap_id, "accounts": len(book["accounts"]),
                          "lots": len(book["lots"]), "checksum": book.checksum, "model_changes": changed})
        # cash requests the new book no longer lists were paid by the custodian: their cash is free
        mark_paid(conn, snap_id, user)
    from storage import snapshot_cache

    state.progress(0.97, "caching the snapshot")
    snapshot_cache.store(engine.url, book.checksum, snap_id,
                         {t: repo.normalize_frame(f, t) for t, f in frames.items()})
    from engine.book.retention import prune_snapshots, retention_keep

    state.progress(0.98, "pruning old snapshots' lots")
    note = ""
    try:
        prune_snapshots(engine, retention_keep(engine), user=user, role="operator")
    except Exception as exc:  # noqa: BLE001 - the import itself is committed; pruning can wait
        note = f" (pruning old snapshots failed: {exc}; `prune` retries it)"
        log.warning("snapshot %s imported; pruning old snapshots failed: %s", snap_id, exc)
    state.progress(1.0, f"imported snapshot {snap_id}{note}")
    return snap_id
