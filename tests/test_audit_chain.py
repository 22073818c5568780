"""The audit log's hash chain: written by every audit call, checked by `audit --verify`, which
names the first altered, inserted, deleted, reordered or truncated entry on both databases."""
import threading
import time

import pytest
from sqlalchemy import func, select, text

import main
from engine.core.audit_chain import ACK_ACTION, acknowledge_break, acknowledged, audit_head, verify_chain
from storage import audit_chain as ac
from storage import models as m
from storage import repo
from storage.db import make_engine

N = 12


def fill(engine, n=N):
    """n entries in several transactions, one of them many entries at once."""
    with engine.begin() as conn:
        repo.audit(conn, "alice", "HOLD", account_id="A1", detail="client wires cash", after={"until": "2026-12-09"})
    with engine.begin() as conn:
        repo.audit_many(conn, [dict(user="bob", action="APPROVE", account_id=f"A{i}", before={"status": "PROPOSED"},
                                    after={"status": "APPROVED", "note": "ünïcode ✓"}) for i in range(2, n)])
    with engine.begin() as conn:
        repo.audit(conn, "carol", "EXPORT", detail="batch B1")


def verify_cli(db_path, capsys):
    code = main.main(["audit", "--verify", "--db", db_path])
    out = capsys.readouterr()
    return code, out.out + out.err


def sql(engine, *statements, **params):
    with engine.begin() as conn:
        for s in statements:
            conn.execute(text(s), params)


def test_a_clean_chain_verifies_and_names_its_head(engine, db_path, capsys):
    fill(engine)
    rep = verify_chain(engine)
    assert rep.ok and rep.verified == N and rep.entries == N and rep.head == N
    with engine.connect() as conn:
        seqs = [r[0] for r in conn.execute(select(m.AuditEntry.seq).order_by(m.AuditEntry.id))]
        last = conn.execute(select(m.AuditEntry.hash).where(m.AuditEntry.seq == N)).scalar_one()
        assert seqs == list(range(1, N + 1))
        assert audit_head(conn) == {"entry": N, "hash": last}
    code, out = verify_cli(db_path, capsys)
    assert code == 0 and f"verified up to entry {N}" in out


def test_the_hash_is_the_documented_canonical_form(engine):
    """An outside auditor can recompute entry 1 from the documented form alone."""
    import hashlib
    import json

    fill(engine)
    with engine.connect() as conn:
        r = conn.execute(select(m.AuditEntry.__table__).where(m.AuditEntry.seq == 1)).mappings().one()
    body = json.dumps([1, r["at"].strftime("%Y-%m-%dT%H:%M:%S.%f"), r["username"], r["action"], r["account_id"],
                       r["symbol"], r["detail"], r["before"], r["after"], r["session"], r["identity"]],
                      ensure_ascii=False, separators=(",", ":"))
    assert hashlib.sha256(("0" * 64 + "\n" + body).encode()).hexdigest() == r["hash"]


TAMPER = {
    # name: (SQL statements, first bad entry, kind, words in the message)
    "change a field": (["UPDATE audit_log SET detail = 'nothing to see' WHERE seq = 5"], 5, "altered",
                       "entry 5 (id"),
    "change the user": (["UPDATE audit_log SET username = 'mallory' WHERE seq = 1"], 1, "altered", "entry 1 (id"),
    "delete a row": (["DELETE FROM audit_log WHERE seq = 5"], 5, "deleted", "entry 5 deleted"),
    "delete two rows": (["DELETE FROM audit_log WHERE seq IN (4, 5)"], 4, "deleted", "entries 4–5 deleted"),
    "insert a row": (["INSERT INTO audit_log (at, username, action, detail) "
                      "VALUES ('2026-12-01 10:00:00', 'mallory', 'APPROVE', 'slipped in')"], None, "inserted",
                     "inserted outside the desk"),
    "insert a chained-looking row in the middle": (
        ["UPDATE audit_log SET seq = -seq WHERE seq >= 5", "UPDATE audit_log SET seq = 1 - seq WHERE seq < 0",
         "INSERT INTO audit_log (at, username, action, seq, hash) "
         "VALUES ('2026-12-01 10:00:00', 'mallory', 'APPROVE', 5, :fake)"], 5, "inserted", "entry 5 (id"),
    "reorder two rows": (["UPDATE audit_log SET seq = -1 WHERE seq = 6", "UPDATE audit_log SET seq = 6 WHERE seq = 7",
                          "UPDATE audit_log SET seq = 7 WHERE seq = -1"], 6, "reordered", "were reordered"),
    "truncate the tail": (["DELETE FROM audit_log WHERE seq > 9"], 10, "truncated", "entries 10–12 deleted"),
    "rewrite a time": (["UPDATE audit_log SET at = '2020-01-01 00:00:00' WHERE seq = 3"], 3, "altered", "entry 3 (id"),
}


@pytest.mark.parametrize("case", list(TAMPER))
def test_tampering_is_named_at_its_first_bad_entry(engine, db_path, capsys, case):
    fill(engine)
    statements, entry, kind, words = TAMPER[case]
    sql(engine, *statements, fake="f" * 64)
    rep = verify_chain(engine)
    assert not rep.ok
    assert (rep.entry, rep.kind) == (entry, kind), rep.problem
    assert words in rep.problem
    assert rep.verified == (entry - 1 if entry else N)
    code, out = verify_cli(db_path, capsys)
    assert code == 1 and words in out, out


def test_a_consistently_rewritten_chain_is_caught_by_the_head_a_batch_recorded(engine, book_dir, tmp_path):
    """Rewriting every hash from an entry on (the algorithm is public) still breaks the chain
    head the batch manifest recorded at its export."""
    import json

    from engine.desk.exporter import export_batch
    from engine.book.importer import import_book
    from engine.decide.workflow import run_workflow

    import_book(engine, book_dir, user="ops")
    run_workflow(engine, workers=1, user="ops")
    res = export_batch(engine, tmp_path / "out", user="ops")
    manifest = json.loads((tmp_path / "out" / f"batch_{res.batch_id}.json").read_text())
    with engine.connect() as conn:
        head = manifest["audit_head"]
        assert head == {"entry": head["entry"], "hash": conn.execute(
            select(m.AuditEntry.hash).where(m.AuditEntry.seq == head["entry"])).scalar_one()}
    fill(engine)
    assert verify_chain(engine).ok
    with engine.begin() as conn:  # change entry 2, recompute every hash from there on and the head, as a forger would
        conn.execute(text("UPDATE audit_log SET detail = 'rewritten' WHERE seq = 2"))
        rows = conn.execute(select(m.AuditEntry.__table__).order_by(m.AuditEntry.seq)).mappings().all()
        prev = rows[0]["hash"]
        for r in rows[1:]:
            prev = ac.entry_hash(prev, [r[f] for f in ac.FIELDS])
            conn.execute(text("UPDATE audit_log SET hash = :h WHERE seq = :s"), {"h": prev, "s": r["seq"]})
        conn.execute(text("UPDATE audit_chain SET hash = :h"), {"h": prev})
    rep = verify_chain(engine)
    assert not rep.ok and rep.kind == "anchor" and rep.entry == head["entry"]
    assert f"batch {res.batch_id}" in rep.problem


def test_a_break_stays_reported_after_an_admin_acknowledged_it(engine, db_path, capsys):
    fill(engine)
    sql(engine, "DELETE FROM audit_log WHERE seq = 2")
    rep = verify_chain(engine)
    with engine.connect() as conn:
        assert not acknowledged(conn, rep)
    acknowledge_break(engine, rep, user="admin")
    again = verify_chain(engine)
    assert not again.ok and again.problem == rep.problem  # never repaired
    with engine.connect() as conn:
        assert acknowledged(conn, again)
        ack = conn.execute(select(m.AuditEntry.__table__).where(m.AuditEntry.action == ACK_ACTION)).mappings().one()
    assert ack["username"] == "admin" and ack["detail"] == rep.problem and ack["seq"] == N + 1
    code, out = verify_cli(db_path, capsys)
    assert code == 1 and "acknowledged" in out


def test_the_migration_chains_the_entries_written_before_it(db_path):
    from alembic import command

    from storage.db import alembic_config

    eng = make_engine(db_path, migrate=False)
    try:
        command.upgrade(alembic_config(eng), "0003")
        with eng.begin() as conn:
            for i in range(5):
                conn.execute(text("INSERT INTO audit_log (at, username, action, detail) VALUES "
                                  "(:at, 'old', 'IMPORT', :d)"), {"at": f"2026-11-2{i} 09:00:00.000000", "d": f"#{i}"})
        command.upgrade(alembic_config(eng), "head")
        rep = verify_chain(eng)
        assert rep.ok and rep.verified == 5
        with eng.begin() as conn:
            repo.audit(conn, "new", "RUN")
        rep = verify_chain(eng)
        assert rep.ok and rep.verified == 6
    finally:
        eng.dispose()


def test_concurrent_writers_never_fork_the_chain(engine):
    """Writers in parallel transactions (that stay open a moment after auditing) append one chain."""
    errors = []

    def writer(k):
        try:
            for i in range(5):
                with engine.begin() as conn:
                    repo.audit_many(conn, [dict(user=f"u{k}", action="RUN", detail=f"{k}/{i}/{j}") for j in range(3)])
                    time.sleep(0.005)
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    rep = verify_chain(engine)
    assert rep.ok and rep.verified == 4 * 5 * 3
    with engine.connect() as conn:
        assert conn.execute(select(func.count(func.distinct(m.AuditEntry.seq)))).scalar_one() == 60


def test_a_garbled_time_or_a_nulled_hash_is_reported_not_a_crash(engine, db_path):
    fill(engine)
    if not db_path.startswith("postgresql"):  # SQLite stores any text in a DATETIME column
        sql(engine, "UPDATE audit_log SET at = 'last tuesday' WHERE seq = 3")
        rep = verify_chain(engine)
        assert (rep.entry, rep.kind) == (3, "altered")
    sql(engine, "UPDATE audit_log SET hash = NULL WHERE seq = 2")
    rep = verify_chain(engine)
    assert (rep.entry, rep.kind) == (2, "inserted") and "no chain hash" in rep.problem


@pytest.mark.parametrize("case", ["change a field", "delete two rows", "reorder two rows", "truncate the tail"])
def test_workers_name_the_same_first_bad_entry(engine, monkeypatch, case):
    """The ranges checked in worker processes lead to the same report as one ordered pass."""
    import engine.core.audit_chain as chain_mod

    monkeypatch.setattr(chain_mod, "PARALLEL_FROM", 1)
    fill(engine)
    assert verify_chain(engine, workers=3).ok and verify_chain(engine, workers=3).verified == N
    statements, entry, kind, words = TAMPER[case]
    sql(engine, *statements)
    one, many = verify_chain(engine), verify_chain(engine, workers=3)
    assert one == many and (many.entry, many.kind) == (entry, kind)
