"""The audit log's hash chain: the canonical form of an entry, its SHA-256, appends in order.

Every audit entry has a chain position ``seq`` (1, 2, 3, ... with no gaps) and
``hash = SHA-256(prev_hash + "\\n" + canonical(entry))``, where ``prev_hash`` is the hash of
entry ``seq - 1`` (64 zeros before entry 1). The canonical form is fixed (the contract of
``main.py audit --verify``; changing it invalidates every stored chain):

* a JSON array, UTF-8, no whitespace (``separators=(",", ":")``, ``ensure_ascii=False``), of
  the fields in this order: ``seq, at, username, action, account_id, symbol, detail, before,
  after, session, identity`` (``null`` for a missing value);
* ``at`` as ``YYYY-MM-DDTHH:MM:SS.ffffff``, naive UTC to the microsecond (what both SQLite,
  through SQLAlchemy's DateTime, and PostgreSQL's ``timestamp`` store and give back);
* ``before``/``after`` as the stored JSON text (written with sorted keys), not re-parsed.

The database row id is not part of the chain (it is a storage key; the chain order is
``seq``). The one-row table ``audit_chain`` holds the head (last ``seq`` and its hash):
appends lock it first (one UPDATE ... RETURNING that reserves their positions: a second writer
waits for the first one's commit on both databases), so concurrent writers never fork the chain, and a truncated tail shows as entries
the head names but the log no longer has.
"""
from __future__ import annotations

import hashlib
import json
from datetime import datetime, timezone

from sqlalchemy import Connection, insert, select, update

from storage import models as m

GENESIS = "0" * 64
FIELDS = ("seq", "at", "username", "action", "account_id", "symbol", "detail", "before", "after", "session",
          "identity")


def canonical_at(v) -> str | None:
    """A stored time in the chain's form: naive UTC, microseconds (``2026-12-02T07:39:30.123456``)."""
    if v is None:  # no time (only an outside change leaves one): JSON null
        return None
    if isinstance(v, str):
        try:
            v = datetime.fromisoformat(v)
        except ValueError:  # not a time at all (an outside change): compared as stored
            return v
    if v.tzinfo is not None:
        v = v.astimezone(timezone.utc).replace(tzinfo=None)
    return v.isoformat(sep="T", timespec="microseconds")


def stored_at(v: datetime) -> datetime:
    """The time as it is stored (naive UTC, microseconds), so the hash is of what reads back."""
    if v.tzinfo is not None:
        v = v.astimezone(timezone.utc).replace(tzinfo=None)
    return v


quote = getattr(json.encoder, "c_encode_basestring", None) or json.encoder.encode_basestring


def canonical_text(seq: int, at: str, rest) -> str:
    """The canonical form from the chain position, the canonical time and the other fields in
    :data:`FIELDS` order: the same text as ``json.dumps([seq, at, *rest], ensure_ascii=False,
    separators=(",", ":"))`` for these types, built field by field (verifying a million entries
    spends most of its time here)."""
    return f'[{int(seq)},{"null" if at is None else quote(at)},' + ",".join(["null" if v is None else quote(v) for v in rest]) + "]"


def canonical(values) -> bytes:
    """The canonical bytes of an entry, ``values`` in :data:`FIELDS` order."""
    seq, at, *rest = values
    return canonical_text(seq, canonical_at(at), rest).encode("utf-8")


def entry_hash(prev: str, values) -> str:
    return hashlib.sha256(prev.encode("ascii") + b"\n" + canonical(values)).hexdigest()


def reserve(conn: Connection, n: int) -> tuple[int, str]:
    """Lock the chain head (until the caller's transaction ends) and move it ``n`` positions on:
    the last position before them and its hash. One UPDATE ... RETURNING, a write lock on both
    databases: a second writer waits here for the first one's commit and then reads its head."""
    t = m.AuditChain.__table__
    row = conn.execute(update(t).where(t.c.id == 1).values(seq=t.c.seq + n).returning(t.c.seq, t.c.hash)).first()
    if row is None:  # a database whose migration made no head row (not expected): start the chain
        conn.execute(insert(t).values(id=1, seq=n, hash=GENESIS))
        return 0, GENESIS
    return int(row[0]) - n, row[1]


def chain(conn: Connection, rows: list[dict]) -> None:
    """Give ``rows`` (audit_log column dicts, in order) their ``seq`` and ``hash`` after the
    current head and move the head past them; the caller inserts the rows in the same transaction."""
    seq, prev = reserve(conn, len(rows))
    times: dict = {}  # the entries of one call mostly share their time
    sha, rest = hashlib.sha256, FIELDS[2:]
    for r in rows:
        seq += 1
        r["seq"] = seq
        at = r["at"] = stored_at(r["at"])
        at_text = times.get(at) or times.setdefault(at, canonical_at(at))
        text = canonical_text(seq, at_text, [r.get(f) for f in rest])
        r["hash"] = prev = sha(f"{prev}\n{text}".encode("utf-8")).hexdigest()  # = entry_hash(prev, ...)
    t = m.AuditChain.__table__
    conn.execute(update(t).where(t.c.id == 1).values(hash=prev))


def head(conn: Connection) -> tuple[int, str]:
    """The recorded chain head without locking it: ``(last seq, its hash)``."""
    t = m.AuditChain.__table__
    r = conn.execute(select(t.c.seq, t.c.hash).where(t.c.id == 1)).first()
    return (0, GENESIS) if r is None else (int(r[0]), r[1])
