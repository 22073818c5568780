"""Benchmark: the audit hash chain — verifying a long log, and what hashing costs the actions.

    .venv/bin/python bench/bench_audit.py [--entries 1000000] [--db URL_OR_PATH ...]
        [--accounts 10000] [--threshold-bps 0] [--writers 4] [--roles] [--skip verify writers actions]
    .venv/bin/python bench/bench_audit.py --existing PATH_OR_URL ...   # time verify on logs as they are

1. Writes ``--entries`` audit entries through ``repo.audit_many`` (the real chained path, in
   transactions of 50,000) and times ``verify_chain`` on the whole log, per database given.
2. Concurrent writers: ``--writers`` threads append 1-entry transactions for 5 s, chained
   (head row locked until commit) against a plain insert with no chain: appends per second.
3. Approve and export: imports a sample book of ``--accounts`` accounts with every tier
   reviewed, runs it, approves every account waiting in one decision and exports the batch;
   the time spent in ``storage.audit_chain.chain`` (hashing + head lock) is measured inside
   each action and given as a share of it (``--threshold-bps 0``: every tier proposes whatever
   trades score above 0, so most accounts wait for approval). ``--roles``: with roles set up first (the login
   acts and is checked before each action; on PostgreSQL the database's guards of
   ``engine.desk.desk_guards`` run too, their time taken from ``pg_stat_user_functions``).
"""
from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))


def fresh_db(spec: str, work: Path) -> str:
    if spec == "sqlite":
        return str(work / f"audit_{time.monotonic_ns()}.db")
    import dbkit

    return dbkit.create_pg_database(spec)


def label(db: str) -> str:
    return "PostgreSQL" if db.startswith("postgresql") else "SQLite"


def bench_verify(db: str, n: int, write: bool = True) -> None:
    from engine.core.audit_chain import verify_chain
    from storage import repo
    from storage.db import make_engine

    engine = make_engine(db)
    t = time.perf_counter()
    chunk = 50_000
    for start in range(0, n if write else 0, chunk):
        with engine.begin() as conn:
            repo.audit_many(conn, [dict(user=f"user{i % 7}", action=("APPROVE", "HOLD", "EXPORT")[i % 3],
                                        account_id=f"A{i:07d}", detail=f"run {i // 1000}",
                                        before={"status": "PROPOSED"}, after={"status": "APPROVED"})
                                   for i in range(start, min(n, start + chunk))])
    if write:
        print(f"{label(db)}: wrote {n:,} chained entries in {time.perf_counter() - t:.1f} s")
    import resource

    for workers in (1, 2):
        kids = resource.getrusage(resource.RUSAGE_CHILDREN)
        t, cpu = time.perf_counter(), time.process_time()
        rep = verify_chain(engine, workers=workers)
        dt, dcpu = time.perf_counter() - t, time.process_time() - cpu
        now = resource.getrusage(resource.RUSAGE_CHILDREN)
        dkids = now.ru_utime + now.ru_stime - kids.ru_utime - kids.ru_stime
        assert rep.ok and (rep.verified == n or not write), rep
        load = os.getloadavg()[0]
        print(f"{label(db)}: verify_chain, {workers} process(es): {dt:.2f} s wall ({dcpu:.2f} s CPU in the main "
              f"process, {dkids:.2f} s in workers), load average {load:.1f} "
              f"({rep.verified / dt:,.0f} entries/s) -> {rep.describe()}", flush=True)
    engine.dispose()


def bench_writers(db: str, writers: int, seconds: float = 5.0) -> None:
    from sqlalchemy import insert

    from storage import models as m
    from storage import repo
    from storage.db import make_engine

    engine = make_engine(db)
    for chained in (False, True):
        stop = time.monotonic() + seconds
        counts = [0] * writers

        def work(k):
            while time.monotonic() < stop:
                with engine.begin() as conn:
                    if chained:
                        repo.audit(conn, f"w{k}", "RUN", detail="bench")
                    else:
                        conn.execute(insert(m.AuditEntry.__table__).values(
                            at=repo.now(), username=f"w{k}", action="RUN", detail="bench"))
                counts[k] += 1

        threads = [threading.Thread(target=work, args=(k,)) for k in range(writers)]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        print(f"{label(db)}: {writers} writers, {'chained (head locked)' if chained else 'plain insert, no chain'}: "
              f"{sum(counts) / seconds:,.0f} audited transactions/s")
    engine.dispose()


def guard_ms(engine) -> float:
    """Milliseconds spent so far in the PostgreSQL guards' functions (desk_*, engine.desk.desk_guards),
    from pg_stat_user_functions (track_functions = 'pl' on the bench database)."""
    from sqlalchemy import text

    time.sleep(1.5)  # a backend's function statistics reach the shared view within a second
    engine.dispose()  # closed connections flush theirs
    with engine.connect() as conn:
        conn.execute(text("SELECT pg_stat_clear_snapshot()"))
        return float(conn.execute(text("SELECT coalesce(sum(self_time), 0) FROM pg_stat_user_functions "
                                       "WHERE funcname LIKE 'desk\\_%'")).scalar_one())


def bench_actions(db: str, accounts: int, work: Path, roles: bool = False, threshold_bps: float | None = None) -> None:
    from engine.desk.exporter import export_batch
    from engine.book.importer import import_book
    from engine.core.policy import default_policy, policy_from_dict
    from engine.core.policy_store import save_policy
    from engine.desk.review import decide
    from engine.book.sample import generate_sample
    from engine.decide.workflow import proposals_frame, run_workflow
    from storage import audit_chain
    from storage.db import make_engine

    spent = [0.0]
    real = audit_chain.chain

    def timed(conn, rows):
        t = time.perf_counter()
        real(conn, rows)
        spent[0] += time.perf_counter() - t

    audit_chain.chain = timed
    engine = make_engine(db)
    pg = db.startswith("postgresql")
    users = dict(bench="bench", reviewer="reviewer", ops="ops")
    if roles:  # identities and roles set up: the login acts, checked before each action (and on
        # PostgreSQL by the database's guards, timed through pg_stat_user_functions)
        from sqlalchemy import text

        from engine.core.identity import acting_user
        from engine.desk.roles import grant, setup

        os.environ.pop("REBALANCE_DESK_USER", None)
        users = dict.fromkeys(users)
        setup(engine)  # the login: admin, then operator and reviewer too
        for role in ("operator", "reviewer"):
            grant(engine, acting_user(engine), role)
        if pg:
            with engine.begin() as conn:
                conn.execute(text(f'ALTER DATABASE "{engine.url.database}" SET track_functions = \'pl\''))
            engine.dispose()
    book = work / f"book_{accounts}"
    if not book.exists():
        generate_sample(book, accounts=accounts, seed=1)
    import_book(engine, book, user=users["bench"])
    data = default_policy().model_dump()
    for tier in data["tiers"]:
        tier["review"] = "all"
        tier["four_eyes"] = False  # one login approves what it ran (roles: the bench has one login)
        if threshold_bps is not None:  # every account whose trades score above it is proposed
            tier["threshold_start_bps"] = tier["threshold_floor_bps"] = threshold_bps
    save_policy(engine, policy_from_dict(data), user=users["bench"])
    run = run_workflow(engine, workers=2, user=users["bench"])
    with engine.connect() as conn:
        props = proposals_frame(conn, run.run_id)
    waiting = sorted(props.loc[props["status"] == "PROPOSED", "account_id"].unique())
    for name, action in (("approve", lambda: decide(engine, waiting, approve=True, user=users["reviewer"])),
                         ("export", lambda: export_batch(engine, work / f"out_{time.monotonic_ns()}",
                                                         user=users["ops"]))):
        spent[0] = 0.0
        guarded = guard_ms(engine) if roles and pg else 0.0
        t = time.perf_counter()
        res = action()
        dt = time.perf_counter() - t
        guarded = guard_ms(engine) - guarded if roles and pg else 0.0
        what = f"{len(waiting):,} accounts" if name == "approve" else f"{res.n_trades:,} trades"
        extra = f", database guards {guarded:.1f} ms ({guarded / 10 / dt:.2f} %)" if roles and pg else ""
        print(f"{label(db)}{' with roles' if roles else ''}: {name} of {what}: {dt:.2f} s, audit chain "
              f"{spent[0] * 1000:.1f} ms ({100 * spent[0] / dt:.2f} %){extra}, load average {os.getloadavg()[0]:.1f}",
              flush=True)
    audit_chain.chain = real
    engine.dispose()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--entries", type=int, default=1_000_000)
    ap.add_argument("--db", nargs="*", default=["sqlite"],
                    help="'sqlite' and/or a PostgreSQL admin URL (a fresh database is created on it)")
    ap.add_argument("--accounts", type=int, default=10_000)
    ap.add_argument("--writers", type=int, default=4)
    ap.add_argument("--skip", nargs="*", default=[], choices=["verify", "writers", "actions"])
    ap.add_argument("--threshold-bps", type=float, default=None,
                    help="every tier's score threshold (start and floor), e.g. 0: most accounts are proposed")
    ap.add_argument("--roles", action="store_true", help="actions with roles set up (identity checks, "
                    "and on PostgreSQL the database's guards)")
    ap.add_argument("--existing", nargs="*", default=[],
                    help="verify these logs as they are (a SQLite path or a database URL) instead of writing one")
    args = ap.parse_args()
    print(f"machine: {platform.machine()} {os.cpu_count()} cores, Python {platform.python_version()}")
    for db in args.existing:
        bench_verify(db, 0, write=False)
    if args.existing:
        return
    work = Path(tempfile.mkdtemp(prefix="bench_audit_"))
    for spec in args.db:
        for name, run in (("verify", lambda db: bench_verify(db, args.entries)),
                          ("writers", lambda db: bench_writers(db, args.writers)),
                          ("actions", lambda db: bench_actions(db, args.accounts, work, args.roles, args.threshold_bps))):
            if name in args.skip:
                continue
            db = fresh_db(spec, work)
            try:
                run(db)
            finally:
                if db.startswith("postgresql"):
                    import dbkit

                    dbkit.drop_pg_database(spec, db)


if __name__ == "__main__":
    main()
