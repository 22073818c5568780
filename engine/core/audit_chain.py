"""Checking the audit log's hash chain (``main.py audit --verify``, the console's Audit panel).

The chain itself (canonical form, hashes, appends under the head's lock) is in
:mod:`storage.audit_chain`. :func:`verify_chain` recomputes every hash in chain order and names
the first entry that was altered, inserted or deleted, a truncated tail (the head names entries
the log no longer has), and any batch whose manifest recorded a chain head the log no longer
matches. A broken chain is reported, never repaired: :func:`acknowledge_break` records (audited)
that an admin has seen it, which is all the console's red banner waits for.
"""
from __future__ import annotations

import hashlib
import json
import queue
import threading
from operator import methodcaller
from dataclasses import dataclass

from sqlalchemy import Connection, Engine, String, Text, func, literal, select, type_coerce

from storage import audit_chain as ac
from storage import models as m
from storage import repo

ACK_ACTION = "AUDIT_CHAIN_ACK"
CHUNK = 50_000


@dataclass(frozen=True)
class ChainReport:
    ok: bool
    verified: int            # entries 1..verified are intact (chain positions)
    entries: int             # rows in the log
    head: int                # the chain head's recorded position
    problem: str | None = None
    entry: int | None = None  # the first bad chain position (None when intact)
    kind: str | None = None   # altered, inserted, deleted, reordered, truncated, anchor

    def describe(self) -> str:
        if self.ok:
            return f"audit chain intact: verified up to entry {self.verified:,} ({self.entries:,} entries)"
        return f"audit chain broken: {self.problem} (verified up to entry {self.verified:,})"


def audit_head(conn: Connection) -> dict:
    """The chain head for a batch manifest: ``{"entry": N, "hash": "<sha256>"}``."""
    seq, h = ac.head(conn)
    return {"entry": seq, "hash": h}


def _anchors(conn: Connection) -> dict[int, tuple[str, str]]:
    """Chain heads recorded in batch manifests: position -> (batch id, hash)."""
    t = m.ExportBatch.__table__
    out: dict[int, tuple[str, str]] = {}
    for bid, text in conn.execute(select(t.c.id, t.c.manifest)):
        try:
            h = json.loads(text or "{}").get("audit_head")
        except ValueError:
            continue
        if isinstance(h, dict) and isinstance(h.get("entry"), int) and isinstance(h.get("hash"), str):
            out[h["entry"]] = (bid, h["hash"])
    return out


def _label(row) -> str:
    return f"entry {row.seq:,} (id {row.id}, {row.action} by {row.username})"


def _rows(conn: Connection, lo: int, hi: int):
    t = m.AuditEntry.__table__
    # the stored text of the time on SQLite (an outside change may have left no time there)
    at = t.c.at if conn.dialect.name == "postgresql" else type_coerce(t.c.at, String).label("at")
    cols = [t.c.id, t.c.hash] + [at if f == "at" else t.c[f] for f in ac.FIELDS]
    return conn.execute(select(*cols).where(t.c.seq >= lo, t.c.seq <= hi).order_by(t.c.seq)).all()


def _values(row, seq=None) -> list:
    vals = [getattr(row, f) for f in ac.FIELDS]
    if seq is not None:
        vals[0] = seq
    return vals


def _classify(conn: Connection, seq: int, prev: str) -> tuple[str, str]:
    """Why chain position ``seq`` does not follow ``prev`` (the last good hash): kind, words."""
    rows = _rows(conn, seq, seq + 1)
    row = rows[0]
    nxt = rows[1] if len(rows) > 1 and rows[1].seq == seq + 1 and rows[1].hash is not None else None
    if row.hash is None:
        return "inserted", f"{_label(row)} was inserted outside the desk: it has no chain hash"
    if nxt is not None:
        # two positions swapped: the next row was chained right after ``prev``, this one after it
        if ac.entry_hash(nxt.hash, _values(row, seq + 1)) == row.hash:
            return "reordered", f"{_label(row)} and entry {seq + 1:,} were reordered (swapped)"
        # the next row was chained right after ``prev``: this one was slipped in between
        if ac.entry_hash(prev, _values(nxt, seq)) == nxt.hash:
            return "inserted", (f"{_label(row)} was inserted: the entry now at {seq + 1:,} was chained "
                                f"directly after entry {seq - 1:,}")
    return "altered", f"{_label(row)} was altered: its content does not match its hash"


def _canonical_sql(conn: Connection):
    """The canonical text (storage.audit_chain.canonical_text) built by the database: JSON
    quoting by SQLite's ``json_quote`` / PostgreSQL's ``to_json``, which quote as Python's
    encoder does. Only a fast path: a hash that does not match is recomputed in Python from the
    row's fields before anything is reported."""
    t = m.AuditEntry.__table__
    pg = conn.dialect.name == "postgresql"
    if pg:
        at = func.to_char(t.c.at, literal('YYYY-MM-DD"T"HH24:MI:SS.US'))
        quote = lambda c: func.coalesce(func.cast(func.to_json(c), Text), literal("null"))  # noqa: E731
    else:  # SQLAlchemy stores "YYYY-MM-DD HH:MM:SS.ffffff" on SQLite
        at = func.replace(t.c.at, literal(" "), literal("T"))
        quote = func.json_quote
    parts = [literal("["), func.cast(t.c.seq, Text), literal(","), quote(at)]
    for f in ac.FIELDS[2:]:
        parts += [literal(","), quote(func.cast(t.c[f], Text) if pg else t.c[f])]
    parts.append(literal("]"))
    out = parts[0]
    for p_ in parts[1:]:
        out = out.op("||")(p_)
    return out


def _stream(conn: Connection, lo: int = 1, hi: int | None = None):
    """The chained entries in chain order, in chunks of raw rows ``(seq, hash, canonical text)``
    on PostgreSQL, ``(seq, hash, at, *fields)`` on SQLite, read through the DBAPI cursor."""
    t = m.AuditEntry.__table__
    if conn.dialect.name == "postgresql":  # the server builds the text, in its own process
        cols = [_canonical_sql(conn)]
    else:  # SQLite's json_array quotes as Python's encoder does (control characters included) and
        # one text column per row costs half of eleven: "YYYY-MM-DD HH:MM:SS.ffffff" time, T between
        cols = [func.json_array(t.c.seq, func.replace(t.c.at, literal(" "), literal("T")),
                                *[t.c[f] for f in ac.FIELDS[2:]])]
    stmt = select(t.c.seq, t.c.hash, *cols).where(t.c.seq >= lo).order_by(t.c.seq)
    if hi is not None:
        stmt = stmt.where(t.c.seq <= hi)
    sql = str(stmt.compile(dialect=conn.dialect, compile_kwargs={"literal_binds": True}))
    raw = conn.connection.dbapi_connection  # the DBAPI cursor: no per-row processing
    cur = raw.cursor(name="audit_verify") if conn.dialect.name == "postgresql" else raw.cursor()
    try:
        cur.execute(sql)
        while rows := cur.fetchmany(CHUNK):
            yield rows
    finally:
        cur.close()


def _python_hash(conn: Connection, seq: int, prev: str) -> str | None:
    """Entry ``seq``'s hash after ``prev`` computed in Python from its fields (the definition)."""
    rows = _rows(conn, seq, seq)
    return ac.entry_hash(prev, _values(rows[0])) if rows else None


def verify_chain(engine: Engine | Connection, state=None, *, workers: int = 1) -> ChainReport:
    """Recompute the whole chain in order; the first problem found is the report's.

    ``workers`` > 1 checks ranges of a long log in that many processes first (each entry's hash
    only needs the stored hash before it); the first bad range is then read again in order, so
    the report is the same. Not from a process with threads of its own (the console)."""
    if isinstance(engine, Connection):  # its own transaction's view: no second connection
        return _verify(engine, state, workers)
    with engine.connect() as conn:
        return _verify(conn, state, workers, _reader(engine))


def _chunk_sql(conn: Connection) -> str:
    """One query per range of positions (bound ``:lo``, ``:hi``) giving four texts built by the
    database: the row count, the positions joined by commas, the stored hashes joined, and the
    stream ``canonical_1 \x01 hash_1 \n canonical_2 \x01 hash_2 ...`` in chain order. With the
    hash before the range and a newline in front, split at ``\x01``, the stream gives every
    entry's hash input (``prev + "\n" + canonical``): one text per range instead of a row per
    entry. ``\x01`` never occurs in either part (JSON escapes control characters; hashes are hex)."""
    t = m.AuditEntry.__table__
    if conn.dialect.name == "postgresql":
        canon = str(_canonical_sql(conn).compile(dialect=conn.dialect, compile_kwargs={"literal_binds": True}))
        # rows from the ranged subquery in its order (the seq index): no sort per aggregate
        return (f"SELECT count(*), string_agg(seq::text, ','), string_agg(hash, ''), string_agg(c || chr(1) || hash, "
                f"chr(10)) FROM (SELECT seq, hash, {canon} AS c FROM {t.name} "
                f"WHERE seq BETWEEN %(lo)s AND %(hi)s ORDER BY seq) AS r")
    canon = str(func.json_array(t.c.seq, func.replace(t.c.at, literal(" "), literal("T")),
                                *[t.c[f] for f in ac.FIELDS[2:]])
                .compile(dialect=conn.dialect, compile_kwargs={"literal_binds": True}))
    canon = canon.replace(f"{t.name}.", "")
    # the aggregates take the rows in the order the ranged subquery gives them (its seq index); a
    # different order would show in the positions' text and send the range to the row-by-row check
    return (f"SELECT count(*), group_concat(seq, ','), group_concat(hash, ''), "
            f"group_concat(c || char(1) || hash, char(10)) FROM (SELECT seq, hash, {canon} AS c "
            f"FROM {t.name} WHERE seq BETWEEN :lo AND :hi ORDER BY seq)")


def _chunk_ok(row, lo: int, hi: int, prev: str | None) -> str | None:
    """The last hash of positions ``lo``..``hi`` when the range is whole and every hash follows
    (``prev``: the hash before ``lo``; None: the first entry's hash is not checked), else None."""
    n, seqs, hashes, stream = row
    if n != hi - lo + 1 or not stream or seqs != ",".join(map(str, range(lo, hi + 1))) \
            or len(hashes) != 64 * n:
        return None
    pieces = f"{prev or ''}\n{stream}".encode("utf-8").split(b"\x01")
    last = pieces.pop()
    if len(pieces) != n:
        return None
    try:
        want = bytes.fromhex(hashes)  # a hash that is not hex (an outside change): read row by row
    except ValueError:
        return None
    got = b"".join(map(_DIGEST, map(hashlib.sha256, pieces)))
    if got != want if prev is not None else got[32:] != want[32:]:
        return None
    return last.decode("ascii")


_DIGEST = methodcaller("digest")
PREFETCH_FROM = 2 * CHUNK  # positions: from this many, the next range is read while one is hashed


def _ranges(conn: Connection, lo: int, top: int, engine: Engine | None):
    """``(a, b, row)`` of each range of positions ``lo``..``top`` (rows of :func:`_chunk_sql`).

    Given ``engine`` and a long range, a thread reads the next range on a connection of its own
    while this one hashes: the database builds a range's text in one call that releases the GIL
    (sqlite3's step, psycopg's wait for the server), so reading and hashing overlap."""
    bounds = [(a, min(a + CHUNK - 1, top)) for a in range(lo, top + 1, CHUNK)]
    sql = _chunk_sql(conn)
    if engine is None or top - lo + 1 < PREFETCH_FROM:
        cur = conn.connection.dbapi_connection.cursor()  # the DBAPI cursor: no per-row processing
        try:
            for a, b in bounds:
                cur.execute(sql, {"lo": a, "hi": b})
                yield a, b, cur.fetchone()
        finally:
            cur.close()
        return
    out: queue.Queue = queue.Queue(maxsize=1)
    stop = threading.Event()

    def read():
        try:
            with engine.connect() as own:
                cur = own.connection.dbapi_connection.cursor()
                try:
                    for a, b in bounds:
                        cur.execute(sql, {"lo": a, "hi": b})
                        item = (a, b, cur.fetchone())
                        while not stop.is_set():
                            try:
                                out.put(item, timeout=0.1)
                                break
                            except queue.Full:
                                continue
                        if stop.is_set():
                            return
                finally:
                    cur.close()
        except BaseException as e:  # noqa: BLE001 - handed to the reading thread
            out.put(e)

    th = threading.Thread(target=read, name="audit-verify-reader", daemon=True)
    th.start()
    try:
        for _ in bounds:
            item = out.get()
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        th.join()


def _scan(conn: Connection, lo: int, prev: str, hi: int | None = None, anchors=None, state=None, total: int = 0,
          engine: Engine | None = None):
    """Check positions ``lo``..``hi`` (the end) in order after ``prev`` (the hash of ``lo - 1``):
    ``(kind, entry, words, verified)`` of the first problem, else ``(None, last, prev, None)``.

    A range of :data:`CHUNK` positions at a time, checked from one text per range
    (:func:`_chunk_sql`, read ahead on a second connection of ``engine`` when given); a range that
    is not whole and intact is read again row by row (:func:`_scan_rows`), which names the
    problem (or finds none: the database's canonical text differs from Python's for some value,
    and the row-by-row check is the definition)."""
    anchors = anchors or {}
    t = m.AuditEntry.__table__
    top = conn.execute(select(func.max(t.c.seq)).where(t.c.seq >= lo)).scalar()
    top = lo - 1 if top is None else int(top) if hi is None else min(int(top), hi)
    chunks = _ranges(conn, lo, top, engine)
    try:
        for a, b, row in chunks:
            if state is not None:
                state.check()
                state.progress(a / max(total, 1), "verifying the audit chain")
            last = _chunk_ok(row, a, b, prev) if row and row[0] else None
            if last is not None:
                hashes = row[2]
                if not any(a <= e <= b and hashes[64 * (e - a):64 * (e - a + 1)] != h
                           for e, (_, h) in anchors.items()):
                    prev = last
                    continue
            kind, entry, words, verified = _scan_rows(conn, a, prev, b, anchors, None, total)
            if kind:
                return kind, entry, words, verified
            prev = words
    finally:
        chunks.close()
    if hi is None:  # anything past the last position seen at the start (a concurrent append)
        return _scan_rows(conn, top + 1, prev, None, anchors, state, total)
    if top < hi:  # a range whose tail is missing
        return "deleted", top + 1, f"entry {top + 1:,} deleted", top
    return None, top, prev, None


def _scan_rows(conn: Connection, lo: int, prev: str, hi: int | None = None, anchors=None, state=None,
               total: int = 0):
    """Row by row (the reference, and what names a problem): check positions ``lo``..``hi`` (the end) in order after ``prev`` (the hash of ``lo - 1``):
    ``(kind, entry, words, verified)`` of the first problem, else ``(None, last, prev, None)``."""
    sha, anchors = hashlib.sha256, anchors or {}
    expect = lo
    for part in _stream(conn, lo, hi):
        if state is not None:
            state.check()
            state.progress(expect / max(total, 1), "verifying the audit chain")
        for seq, h, text in part:  # text: the canonical form as the database built it
            if seq != expect:
                gone = f"entry {expect:,}" if seq == expect + 1 else f"entries {expect:,}–{seq - 1:,}"
                return ("deleted", expect, f"{gone} deleted: the log goes from entry {expect - 1:,} to entry {seq:,}",
                        expect - 1)
            if prev is not None and sha(f"{prev}\n{text}".encode("utf-8")).hexdigest() != h \
                    and _python_hash(conn, seq, prev) != h:
                kind, words = _classify(conn, seq, prev)
                return kind, seq, words, expect - 1
            anchor = anchors.get(seq)
            if anchor is not None and anchor[1] != h:
                return ("anchor", seq, f"entry {seq:,} is not the chain head batch {anchor[0]} recorded at its "
                        "export: the log was rewritten from there on", expect - 1)
            prev, expect = h, expect + 1
    if hi is not None and expect <= hi:  # a range whose tail is missing
        return "deleted", expect, f"entry {expect:,} deleted", expect - 1
    return None, expect - 1, prev, None


def _first_bad(url: str, lo: int, hi: int) -> int | None:
    """A worker's range check: the first bad position in ``lo``..``hi``, or None."""
    from sqlalchemy import create_engine

    eng = create_engine(url)
    try:
        with eng.connect() as conn:
            t = m.AuditEntry.__table__
            prev = ac.GENESIS if lo == 1 else conn.execute(select(t.c.hash).where(t.c.seq == lo - 1)).scalar()
            kind, entry, _, _ = _scan(conn, lo, prev, hi, engine=_reader(eng))  # prev None: the range before reports its tail
            return entry if kind else None
    finally:
        eng.dispose()


def _parallel_start(conn: Connection, workers: int, last: int) -> tuple[int, str]:
    """Check ranges in ``workers`` processes: where the ordered scan must start, and the hash before."""
    from engine.core.orphans import process_pool

    url = conn.engine.url.render_as_string(hide_password=False)
    step = -(-last // workers)
    ranges = [(lo, min(last, lo + step - 1)) for lo in range(1, last + 1, step)]
    with process_pool(len(ranges), "fork") as pool:
        bad = [b for b in pool.map(_first_bad, [url] * len(ranges), *zip(*ranges)) if b is not None]
    start = min(bad) if bad else last + 1
    if start == 1:
        return 1, ac.GENESIS
    t = m.AuditEntry.__table__
    return start, conn.execute(select(t.c.hash).where(t.c.seq == start - 1)).scalar_one()


PARALLEL_FROM = 200_000  # entries: below this, one process is quicker than starting others


def _reader(engine: Engine) -> Engine | None:
    """The engine a read-ahead thread may open a second connection of (not an in-memory database)."""
    return None if engine.url.database in (None, "", ":memory:") and engine.dialect.name == "sqlite" else engine


def _verify(conn: Connection, state=None, workers: int = 1, engine: Engine | None = None) -> ChainReport:
    t = m.AuditEntry.__table__
    head_seq, head_hash = ac.head(conn)
    n_rows = conn.execute(select(func.count()).select_from(t)).scalar_one()
    n_chained = conn.execute(select(func.count()).select_from(t).where(t.c.seq.is_not(None))).scalar_one()
    anchors = _anchors(conn)

    def report(kind, entry, problem, verified):
        return ChainReport(False, verified, n_rows, head_seq, problem, entry, kind)

    start, prev = 1, ac.GENESIS
    top = conn.execute(select(func.max(t.c.seq))).scalar() or 0
    if workers > 1 and top >= PARALLEL_FROM and conn.engine.url.database not in (None, "", ":memory:"):
        start, prev = _parallel_start(conn, workers, top)
        bad = [e for e, (_, h) in anchors.items() if e < start and  # anchors before the ordered scan
               conn.execute(select(t.c.hash).where(t.c.seq == e)).scalar() != h]
        if bad:
            start = min(bad)
            prev = ac.GENESIS if start == 1 else \
                conn.execute(select(t.c.hash).where(t.c.seq == start - 1)).scalar_one()
    kind, entry, words, verified = _scan(conn, start, prev, None, anchors, state, n_chained, engine)
    if kind:
        return report(kind, entry, words, verified)
    last, prev = entry, words
    if last < head_seq:
        gone = f"entry {head_seq:,}" if head_seq == last + 1 else f"entries {last + 1:,}–{head_seq:,}"
        return report("truncated", last + 1, f"{gone} deleted: the log ends at entry {last:,} but the chain "
                      f"head records entry {head_seq:,} (the tail was truncated)", last)
    if last > head_seq:
        return report("inserted", head_seq + 1, f"entry {head_seq + 1:,} was inserted after the chain head "
                      f"(entry {head_seq:,})", head_seq)
    if last and prev != head_hash:
        return report("altered", last, f"entry {last:,} does not match the chain head's hash", last - 1)
    beyond = [e for e in anchors if e > last]
    if beyond:
        e = min(beyond)
        return report("truncated", last + 1, f"entries after {last:,} deleted: batch {anchors[e][0]} recorded "
                      f"the chain head at entry {e:,}", last)
    if n_chained < n_rows:
        first = conn.execute(select(func.min(t.c.id)).where(t.c.seq.is_(None))).scalar_one()
        return report("inserted", None, f"the entry with id {first} was inserted outside the desk: it has no "
                      f"chain position ({n_rows - n_chained:,} such entr{'ies' if n_rows - n_chained > 1 else 'y'})",
                      last)
    return ChainReport(True, last, n_rows, head_seq)


def acknowledged(conn: Connection, rep: ChainReport) -> bool:
    """Whether an admin has acknowledged this break (the same problem) in the log."""
    if rep.ok:
        return True
    t = m.AuditEntry.__table__
    return conn.execute(select(t.c.id).where(t.c.action == ACK_ACTION, t.c.detail == rep.problem)
                        .limit(1)).first() is not None


def acknowledge_break(engine: Engine, rep: ChainReport, *, user: str) -> None:
    """Record that ``user`` has seen the break (audited); the chain is left as it is."""
    if rep.ok:
        return
    from engine.core.identity import acting_user

    user = acting_user(engine, user, "admin")
    with engine.begin() as conn:
        repo.audit(conn, user, ACK_ACTION, detail=rep.problem,
                   after={"entry": rep.entry, "kind": rep.kind, "verified": rep.verified})
