"""Benchmark: consecutive days of a whole book on one database — import, run, approve, export.

    .venv/bin/python bench/bench_days.py --accounts 100000 --days 3 --book steady --db /tmp/bench_days/book.db --fresh
    .venv/bin/python bench/bench_days.py --accounts 100000 --days 1 --book first --db postgresql+psycopg://.../desk --fresh
    .venv/bin/python bench/bench_days.py ... --code /path/to/other/checkout   # time another checkout's engine
    .venv/bin/python bench/bench_days.py --accounts 100000 --days 3 --book steady --fresh --repeat 3   # medians
    .venv/bin/python bench/bench_days.py --accounts 100000 --days 3 --book steady --books-only  # make the books

``--book first``: each day is a new sample book (``main.py sample``, seed 1) as of the next
calendar day: the first day's book, where about a third of the accounts trade. ``--book steady``:
the steady-state book of ``bench/steady_book.py`` (a lab simulation's day 20 with the default
policy, copied up to ``--accounts``), dated the next calendar day each day, where a few percent
trade. The day imports the book (which prunes old snapshots' lots by the policy's retention), runs
the workflow with ``--workers``, approves every proposal awaiting review as a reviewer in one bulk
decision, and exports one CSV+FIX batch.

Prints each step's time, the run's stages, the bench process's peak memory per step (RSS sampled
every 50 ms; the optimizer's forked workers share the parent's pages and are not added), the
trades exported, the database's size after the day and its growth over the day. ``--code DIR``
imports ``engine`` and ``storage`` from another checkout (the "before" of a comparison), with the
same book, bench and database kind. ``--fresh`` starts from an empty database (a SQLite file is
deleted; a PostgreSQL database is dropped and created again through the server's ``postgres``
database).

``--repeat N`` runs the days N times (from an empty database each time with ``--fresh``) and ends
with one ``SUMMARY`` line per day: the median of the N runs of each step's wall and CPU seconds,
the day's total, the growth of the data in use and the peak memory. ``--import-only`` times only
the imports (each day's book on top of the previous days'); ``--books-only`` makes and caches the
books and stops. After each day the tables that grew most are printed (SQLite ``dbstat``,
PostgreSQL ``pg_total_relation_size``, after the checkpoint or ``VACUUM`` of the data in use). On
PostgreSQL the server's CPU seconds for the database (its backends and autovacuum workers, read
from /proc: the server must run on this machine) are printed next to the bench's own.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import threading
import time
from contextlib import contextmanager
from datetime import date, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


class PeakRSS:
    """The peak resident memory of this process while a block runs (sampled)."""

    def __init__(self, every: float = 0.05, on_sample=None) -> None:
        self.every, self.peak, self._stop = every, 0, threading.Event()
        self.on_sample = on_sample  # also called at every sample (the server's CPU)

    @staticmethod
    def now() -> int:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")

    @contextmanager
    def watch(self):
        self.peak = self.now()
        self._stop.clear()

        def loop():
            while not self._stop.wait(self.every):
                self.peak = max(self.peak, self.now())
                if self.on_sample:
                    self.on_sample()

        t = threading.Thread(target=loop, daemon=True)
        t.start()
        try:
            yield self
        finally:
            self._stop.set()
            t.join()
            self.peak = max(self.peak, self.now())


def cpu_seconds() -> float:
    """CPU seconds of this process and its finished children (the run's optimizer workers)."""
    import resource

    a, b = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return a.ru_utime + a.ru_stime + b.ru_utime + b.ru_stime


def db_size(engine) -> int:
    if engine.dialect.name == "sqlite":
        path = Path(engine.url.database)
        return sum(p.stat().st_size for p in (path, Path(f"{path}-wal")) if p.exists())
    with engine.connect() as conn:
        return int(conn.exec_driver_sql("SELECT pg_database_size(current_database())").scalar())


def used_size(engine) -> int:
    """Bytes the data takes: SQLite's pages in use (the file less its free pages, after a checkpoint);
    PostgreSQL's database size after a plain VACUUM (what autovacuum does between two days: deleted
    rows' space becomes reusable). Taken between days, outside the timed steps."""
    if engine.dialect.name == "sqlite":
        with engine.connect() as conn:
            conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
            pages, free, size = (conn.exec_driver_sql(f"PRAGMA {p}").scalar()
                                 for p in ("page_count", "freelist_count", "page_size"))
        return (pages - free) * size
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.exec_driver_sql("VACUUM")
        return int(conn.exec_driver_sql("SELECT pg_database_size(current_database())").scalar())


def fresh_database(url: str) -> None:
    if "://" not in url:
        for suffix in ("", "-wal", "-shm"):
            Path(url + suffix).unlink(missing_ok=True)
        Path(url).parent.mkdir(parents=True, exist_ok=True)
        return
    from sqlalchemy import create_engine
    from sqlalchemy.engine import make_url

    u = make_url(url)
    admin = create_engine(u.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{u.database}" WITH (FORCE)')
        conn.exec_driver_sql(f'CREATE DATABASE "{u.database}"')
    admin.dispose()


def table_sizes(engine) -> dict[str, int]:
    """Bytes each table takes with its indexes: SQLite's ``dbstat`` (pages of the table and its
    indexes), PostgreSQL's ``pg_total_relation_size``. Taken after :func:`used_size`."""
    with engine.connect() as conn:
        if engine.dialect.name == "sqlite":
            rows = conn.exec_driver_sql(
                "SELECT m.tbl_name, SUM(d.pgsize) FROM dbstat d JOIN sqlite_master m ON m.name = d.name "
                "GROUP BY m.tbl_name").all()
        else:
            rows = conn.exec_driver_sql(
                "SELECT c.relname, pg_total_relation_size(c.oid) FROM pg_class c "
                "JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE c.relkind = 'r' AND n.nspname = current_schema()").all()
    return {name: int(size or 0) for name, size in rows}


class ServerCPU:
    """CPU seconds of the PostgreSQL server's processes that serve one database (its backends
    and autovacuum workers, found by their ``ps`` title in /proc), sampled every half second while
    a step runs: a backend that ends between two samples loses at most that much of its time. The server
    must run on this machine; elsewhere (or for SQLite) it reads 0."""

    def __init__(self, dbname: str | None) -> None:
        self.dbname, self.seen, self.first, self.last = dbname, {}, {}, 0.0
        self.tick = os.sysconf("SC_CLK_TCK")

    def _scan(self) -> dict[int, float]:
        out = {}
        if not self.dbname:
            return out
        for d in os.listdir("/proc"):
            if not d.isdigit():
                continue
            try:
                with open(f"/proc/{d}/cmdline", "rb") as f:
                    title = f.read().decode(errors="replace")
                if not title.startswith("postgres: ") or f" {self.dbname} " not in title + " ":
                    continue
                with open(f"/proc/{d}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
                out[int(d)] = (int(fields[11]) + int(fields[12])) / self.tick
            except OSError:  # ended meanwhile, or not ours to read
                continue
        return out

    def start(self) -> None:
        self.first = self._scan()
        self.seen = dict(self.first)

    def sample(self, every: float = 0.5) -> None:
        """Scan at most every ``every`` seconds (a scan reads every process's title)."""
        if self.dbname and time.monotonic() - self.last >= every:
            self.last = time.monotonic()
            self.seen.update(self._scan())

    def seconds(self) -> float:
        self.sample(0.0)
        return sum(v - self.first.get(pid, 0.0) for pid, v in self.seen.items())


STEPS = ("import", "run", "approve", "export")


def median(values):
    v = sorted(x for x in values if x is not None)
    if not v:
        return float("nan")
    k = len(v) // 2
    return v[k] if len(v) % 2 else (v[k - 1] + v[k]) / 2


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--accounts", type=int, default=100_000)
    ap.add_argument("--days", type=int, default=3)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--book", choices=("first", "steady"), default="first")
    ap.add_argument("--db", default="/tmp/bench_days/book.db")
    ap.add_argument("--fresh", action="store_true", help="start from an empty database")
    ap.add_argument("--repeat", type=int, default=1,
                    help="run the days N times (each from an empty database with --fresh) and print "
                         "the median of the N runs of each day")
    ap.add_argument("--import-only", action="store_true", help="each day only imports its book")
    ap.add_argument("--books-only", action="store_true", help="only make (and cache) the days' books")
    ap.add_argument("--tables", type=int, default=8, help="print the N tables that grew most each day")
    ap.add_argument("--work", default="/tmp/bench_days", help="cached book folders")
    ap.add_argument("--code", help="import engine and storage from this checkout instead of this one")
    ap.add_argument("--first", default="2026-11-20", help="as-of date of the first day")
    ap.add_argument("--json", help="append each day's figures to this file (one JSON object a line)")
    args = ap.parse_args()
    if args.repeat < 1 or args.days < 1:
        ap.error("--repeat and --days must be at least 1")
    code = Path(args.code).resolve() if args.code else ROOT
    sys.path.insert(0, str(code))
    sys.path.insert(1, str(ROOT / "bench"))
    from engine.book.sample import generate_sample

    work = Path(args.work)
    first = date.fromisoformat(args.first)
    lab = None
    if args.book == "steady":
        import steady_book
        lab = steady_book.lab_day_book(work / "steady", 2000, 20)

    def book_of(as_of: date) -> Path:
        if args.book == "first":
            book = work / f"book-{args.accounts}-{as_of}"
            if not (book / "manifest.json").exists():
                generate_sample(book, accounts=args.accounts, seed=1, as_of=as_of)
            return book
        return steady_book.copied_book(lab, args.accounts, work / "steady" / f"book-{args.accounts}-{as_of}", as_of)

    if args.books_only:
        for day in range(args.days):
            print(book_of(first + timedelta(days=day)), flush=True)
        return
    from storage.db import describe

    load = os.getloadavg()
    print(f"machine: {platform.machine()} {os.cpu_count()} cores, Python {platform.python_version()}; "
          f"code {code}; database {describe(args.db)}; {args.book} book, "
          f"{args.accounts:,} accounts, {args.workers} workers, {args.repeat} repeat(s)"
          f"{', import only' if args.import_only else ''}; load average {load[0]:.1f} {load[1]:.1f} {load[2]:.1f}")
    if lab is not None:
        print(f"steady-state book: the lab's day 20 of 2,000 accounts ({lab}), copied to {args.accounts:,}")
    records: list[dict] = []
    for rep in range(args.repeat):
        if args.fresh:
            fresh_database(args.db)
        print(f"{'day':>3} {'as of':>10} {'import s':>8} {'run s':>7} {'approve s':>9} {'approved':>8} "
              f"{'export s':>8} {'trades':>7} {'db MiB':>7} {'growth':>7} {'used MiB':>8} {'used +':>7} "
              f"{'lot rows':>10}  run stages; peak RSS; CPU s; server CPU s", flush=True)
        records += run_days(args, code, first, book_of, rep)
    summary(args, records)


def run_days(args, code: Path, first: date, book_of, rep: int) -> list[dict]:
    from sqlalchemy import func, select

    from engine.book.importer import import_book
    from engine.decide.workflow import run_workflow
    from engine.desk.exporter import export_batch
    from engine.desk.review import approve
    from storage import models as m
    from storage.db import make_engine

    engine = make_engine(args.db)
    server = ServerCPU(engine.url.database if engine.dialect.name == "postgresql" else None)
    rss = PeakRSS(on_sample=server.sample)
    work = Path(args.work)
    used0, tables0 = used_size(engine), table_sizes(engine)
    out_records = []
    for day in range(args.days):
        as_of = first + timedelta(days=day)
        book = book_of(as_of)
        size0 = db_size(engine)
        wall, peaks, cpu, scpu = {}, {}, {}, {}
        out = res = None
        waiting: list = []

        def step(name, fn):
            c = cpu_seconds()
            server.start()
            t = time.perf_counter()
            with rss.watch():
                value = fn()
            wall[name], peaks[name] = time.perf_counter() - t, rss.peak
            cpu[name], scpu[name] = cpu_seconds() - c, server.seconds()
            return value

        step("import", lambda: import_book(engine, book, user="bench-ops"))
        if not args.import_only:
            out = step("run", lambda: run_workflow(engine, workers=args.workers, user="bench-ops"))
            with engine.connect() as conn:
                waiting = [a for (a,) in conn.execute(select(m.Proposal.account_id).where(
                    m.Proposal.run_id == out.run_id, m.Proposal.status == "PROPOSED"))]
            step("approve", lambda: approve(engine, waiting, user="bench-reviewer") if waiting else None)
            res = step("export", lambda: export_batch(engine, work / f"out-{engine.dialect.name}" / str(as_of),
                                                      ("csv", "fix"), user="bench-ops"))
        with engine.connect() as conn:
            lots = conn.execute(select(func.count()).select_from(m.Lot)).scalar()
        size = db_size(engine)
        used = used_size(engine)
        tables = table_sizes(engine)
        grew = {k: v - tables0.get(k, 0) for k, v in tables.items()}
        tm = out.summary["timings"] if out else {}
        cats = out.summary["categories"] if out else {}
        trading = cats.get("MANDATE", 0) + cats.get("SCORE", 0)
        stages = " ".join(f"{k}={tm[k]:.1f}" for k in ("load", "checks_overrides_mandates", "prepare", "optimize",
                                                          "solver", "optimizer_work", "score_route",
                                                          "persist_proposals", "persist_trades") if k in tm)
        ratio = (tm["optimizer_work"] - tm["solver"]) / tm["solver"] if tm.get("solver") else float("nan")
        mem = " ".join(f"{k}={v / 2**30:.2f}G" for k, v in peaks.items())
        f = lambda k: f"{wall[k]:.1f}" if k in wall else "-"  # noqa: E731
        print(f"{day + 1:>3} {as_of!s:>10} {f('import'):>8} {f('run'):>7} {f('approve'):>9} {len(waiting):>8,} "
              f"{f('export'):>8} {res.n_trades if res else 0:>7,} {size / 2**20:>7.0f} {(size - size0) / 2**20:>+7.0f} "
              f"{used / 2**20:>8.0f} {(used - used0) / 2**20:>+7.0f} {lots:>10,}  "
              f"trading {trading:,} ({trading / max(1, out.summary['accounts'] if out else 1):.1%}); {stages}; "
              f"outside/solver {ratio:.2f}; peak {mem}; CPU s " + " ".join(f"{k}={v:.1f}" for k, v in cpu.items())
              + ("; server CPU s " + " ".join(f"{k}={v:.1f}" for k, v in scpu.items())
                 if engine.dialect.name == "postgresql" else ""), flush=True)
        top = sorted(grew.items(), key=lambda kv: -abs(kv[1]))[:args.tables]
        print("     table growth MiB: " + " ".join(f"{k}={v / 2**20:+.2f}" for k, v in top if v), flush=True)
        rec = {"code": str(code), "db": engine.dialect.name, "book": args.book, "repeat": rep + 1,
               "accounts": args.accounts, "day": day + 1, "as_of": str(as_of), **wall,
               "approved": len(waiting), "trades": res.n_trades if res else 0, "db_bytes": size,
               "growth_bytes": size - size0, "used_bytes": used, "used_growth_bytes": used - used0,
               "table_growth_bytes": grew, "lots": lots, "categories": cats, "timings": tm, "peaks": peaks,
               "cpu": cpu, "server_cpu": scpu, "load": os.getloadavg()}
        out_records.append(rec)
        if args.json:
            with open(args.json, "a") as fh:
                fh.write(json.dumps(rec) + "\n")
        used0, tables0 = used, tables
    engine.dispose()
    return out_records


def summary(args, records: list[dict]) -> None:
    """One SUMMARY line per day: the median over the repeats of each step's wall and CPU seconds
    (the bench process with its workers, plus the PostgreSQL server's), the day's total, the
    growth of the data in use and the peak memory."""
    for day in range(1, args.days + 1):
        rs = [r for r in records if r["day"] == day]
        steps = [s for s in STEPS if s in rs[0]]
        wall = {s: median(r[s] for r in rs) for s in steps}
        cpu = {s: median(r["cpu"][s] for r in rs) for s in steps}
        scpu = {s: median(r["server_cpu"].get(s, 0.0) for r in rs) for s in steps}
        total_wall = median(sum(r[s] for s in steps) for r in rs)
        total_cpu = median(sum(r["cpu"][s] + r["server_cpu"].get(s, 0.0) for s in steps) for r in rs)
        growth = median(r["used_growth_bytes"] for r in rs) / 2**20
        peak = max(max(r["peaks"].values()) for r in rs) / 2**30
        load = median(r["load"][0] for r in rs)
        print(f"SUMMARY {rs[0]['db']} {args.book} {args.accounts} accounts day {day}, median of {len(rs)}: "
              f"total wall {total_wall:.1f} s, CPU {total_cpu:.1f} s (bench + server); "
              + " ".join(f"{s} {wall[s]:.1f}/{cpu[s]:.1f}" + (f"+{scpu[s]:.1f}" if rs[0]["db"] == "postgresql" else "")
                         for s in steps)
              + f" (wall/CPU{'+server' if rs[0]['db'] == 'postgresql' else ''} s); data in use {growth:+.1f} MiB; "
              f"peak RSS {peak:.2f} GiB; load {load:.1f}", flush=True)


if __name__ == "__main__":
    main()
