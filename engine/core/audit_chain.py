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
    if isinstance(engine, Connection):
        return _verify(engine, state, workers)
    with engine.connect() as conn:
        return _verify(conn, state, workers)


def _scan(conn: Connection, lo: int, prev: str, hi: int | None = None, anchors=None, state=None, total: int = 0):
    """Check positions ``lo``..``hi`` (the end) in order after ``prev`` (the hash of ``lo - 1``):
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
            kind, entry, _, _ = _scan(conn, lo, prev, hi)  # prev None: the range before reports its tail
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


def _verify(conn: Connection, state=None, workers: int = 1) -> ChainReport:
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
    kind, entry, words, verified = _scan(conn, start, prev, None, anchors, state, n_chained)
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
