# Long because every headless command's handler and its argparse lines sit side by side (one small function a command), so each command reads in one place.
"""Rebalance Desk: `python main.py` opens the console; subcommands run the same workflow headless.

Exit codes: 0 done, 2 bad input or refused action (message on stderr), 1 anything else.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path


def _engine(args, create: bool = True):
    from storage.db import make_engine

    return make_engine(args.db, create=create)


def cmd_sample(args) -> int:
    from engine.book.sample import generate_sample
    from engine.core.tasks import StderrProgress

    bar = StderrProgress()
    summary = generate_sample(args.dir, accounts=args.accounts, seed=args.seed, progress=bar,
                              households=args.households)
    bar.done()
    planted = summary.get("planted", {})
    out = {k: v for k, v in summary.items() if k != "planted"}
    out["planted"] = {k: len(v) for k, v in planted.items()}
    print(json.dumps(out, indent=2, default=str))
    return 0


def _positive_mb(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"{text!r} is not a size in MiB above 0")
    return value


def cmd_import(args) -> int:
    from engine.book.importer import import_book
    from engine.core.tasks import StderrProgress, TaskState

    bar = StderrProgress()
    snap = import_book(_engine(args), args.dir, user=args.user, state=TaskState(bar),
                       allow_same=args.force, as_of_ok=args.as_of_ok, max_book_mb=args.max_book_mb)
    bar.done()
    print(f"imported {args.dir} as snapshot {snap}")
    return 0


def cmd_run(args) -> int:
    from engine.core.tasks import StderrProgress, TaskState
    from engine.decide.workflow import run_workflow

    bar = StderrProgress()
    outcome = run_workflow(_engine(args), policy_path=args.policy, workers=args.workers, user=args.user,
                           state=TaskState(bar), executor=args.executor)
    bar.done()
    print(json.dumps(outcome.summary, indent=2))
    return 0


def cmd_report(args) -> int:
    from engine.decide.workflow import write_report

    from engine.core.files import check_out_file

    check_out_file(args.out)  # before the database is opened
    n = write_report(_engine(args, create=False), args.out)
    print(f"wrote {n:,} accounts to {args.out}")
    return 0


def _date(text: str):
    from datetime import date

    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date (YYYY-MM-DD)") from None


def _share(text: str) -> float:
    """A share between 0 and 1 ("0.4"; "40%" is 0.4 too)."""
    raw = text.strip()
    try:
        v = float(raw[:-1]) / 100 if raw.endswith("%") else float(raw)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a share (0 to 1, e.g. 0.4 or 40%)") from None
    if not 0.0 <= v <= 1.0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a share between 0 and 1")
    return v


def cmd_hold(args) -> int:
    from engine.desk.compliance import impact_text, preview_override
    from engine.core.identity import acting_user
    from engine.decide.overrides import add_hold

    engine = _engine(args)
    acting_user(engine, args.user, "operator")  # the role first: the preview reads the book
    impact = preview_override(engine, account_id=args.account)
    oid = add_hold(engine, args.account, args.until, args.reason, user=args.user)
    print(f"hold {oid}: account {args.account} held until {args.until}"
          + (f". {impact_text(impact)}" if impact else ""))
    return 0


def cmd_halt(args) -> int:
    from engine.desk.compliance import impact_text, preview_override
    from engine.core.identity import acting_user
    from engine.decide.overrides import add_halt

    engine = _engine(args)
    acting_user(engine, args.user, "operator")  # the role first: the preview reads the book
    impact = preview_override(engine, symbol=args.symbol, mode=args.mode)
    oid = add_halt(engine, args.symbol, args.until, args.reason, args.mode, user=args.user)
    until = f" until {args.until}" if args.until else ""
    print(f"halt {oid}: {args.symbol.upper()} halted ({args.mode}){until}"
          + (f". {impact_text(impact)}" if impact else ""))
    return 0


def cmd_end(args) -> int:
    from engine.decide.overrides import end_override

    end_override(_engine(args), args.override_id, user=args.user)
    print(f"override {args.override_id} ended")
    return 0


def cmd_overrides(args) -> int:
    from engine.decide.overrides import overrides_frame

    df = overrides_frame(_engine(args, create=False))
    if not args.all and len(df):
        df = df[df["active"]]
    from engine.core.safe_text import printable

    cols = ["id", "kind", "account_id", "symbol", "mode", "until", "reason", "created_by", "ended_by", "active"]
    # a newline or terminal escape in a reason or user name is shown escaped, never forging a line
    print(df[cols].map(printable).to_string(index=False) if len(df) else "no overrides")
    return 0


def cmd_approve(args) -> int:
    from engine.desk.review import decide

    if args.pending:
        from engine.desk.manual import pending_manual_trades

        df = pending_manual_trades(_engine(args), args.accounts or None)
        if not len(df):
            print("no manual trade awaits a second approval")
            return 0
        cols = ["id", "account_id", "side", "quantity", "symbol", "est_value", "created_by", "created_at"]
        print(df[cols].to_string(index=False))
        return 0
    if args.withdraw or args.restore or args.restore_trade:
        return _undo(args)
    verb = "rejected" if args.reject else "approved"
    if args.manual or args.trade:
        from engine.desk.manual import decide_manual_trades

        if args.manual and not args.accounts:
            raise_refused("approve --manual: name the accounts whose pending manual trades to decide")
        ids = decide_manual_trades(_engine(args), args.trade or None,
                                   account_ids=args.accounts if args.manual else None,
                                   approve=not args.reject, user=args.user)
        print(f"{verb} {len(ids):,} manual trade(s): {', '.join(map(str, ids))}"
              + ("; they go into the next export" if not args.reject else ""))
        return 0
    if not args.accounts:
        raise_refused("approve: name the accounts (or --trade ID / --manual ACCOUNT... / --pending)")
    if not args.reject and (args.reason or args.code):
        raise_refused("approve: --reason and --code go with --reject, --withdraw or --restore")
    d = decide(_engine(args), args.accounts, approve=not args.reject, user=args.user, reason=args.reason,
               code=args.code)
    print(f"{verb} {len(d.approved or d.rejected):,} account(s)")
    if d.blocked:  # approved, but not exported while what blocks them is in force
        print(f"{len(d.blocked):,} approved account(s) are blocked now and will not be exported until that ends:",
              file=sys.stderr)
        for a, why in sorted(d.blocked.items()):
            print(f"  {a}: {why}", file=sys.stderr)
    return 0


def _undo(args) -> int:
    """approve --withdraw ACCOUNT... | --restore ACCOUNT... | --restore-trade ID, each --reason TEXT."""
    from engine.desk.undo import restore, restore_trade, withdraw

    if sum(map(bool, (args.withdraw, args.restore, args.restore_trade))) > 1 or args.reject:
        raise_refused("approve: use one of --withdraw, --restore, --restore-trade (not with --reject)")
    if args.restore_trade:
        for tid in args.restore_trade:
            restore_trade(_engine(args), tid, reason=args.reason, user=args.user)
        print(f"restored {len(args.restore_trade):,} trade(s): their proposals await an approval again")
        return 0
    if not args.accounts:
        raise_refused("approve --withdraw/--restore: name the accounts")
    fn, verb = (withdraw, "withdrew the approval of") if args.withdraw else (restore, "restored")
    ids = fn(_engine(args), args.accounts, reason=args.reason, user=args.user)
    print(f"{verb} {len(ids):,} account(s): back to review")
    return 0


def cmd_export(args) -> int:
    from engine.desk.exporter import export_batch
    from engine.core.files import check_out_dir
    from engine.core.tasks import StderrProgress, TaskState

    check_out_dir(args.out)  # before the database is opened
    bar = StderrProgress()
    res = export_batch(_engine(args), args.out, formats=args.format.split(","), user=args.user,
                       state=TaskState(bar))
    bar.done()
    if res is None:
        from engine.desk.exporter import blocked_now, kept_back_message

        engine = _engine(args)
        with engine.connect() as conn:
            blocked = blocked_now(conn)
        kept = kept_back_message(engine)
        print("nothing to export: no approved trade is waiting" + (" that may be sent" if kept else "")
              if not len(blocked) else
              f"nothing to export: every approved trade waiting ({len(blocked):,}) is blocked")
        _print_blocked(blocked)
        if kept:
            print(f"  {kept}", file=sys.stderr)
        return 0
    print(f"batch {res.batch_id}: {res.n_lines:,} order lines, {res.n_trades:,} trades, "
          f"{res.n_accounts:,} accounts")
    for path, digest in res.files:
        print(f"  {path}" + (f"  sha256 {digest}" if digest else ""))
    _print_blocked(res.blocked)
    for account, n, why in res.kept_back:
        print(f"  kept back: {account}: {n:,} trade(s): {why}", file=sys.stderr)
    if res.skipped_stale:
        print(f"  {res.skipped_stale:,} approved trade(s) of a stale run were not exported: run again",
              file=sys.stderr)
    return 0


def _print_blocked(blocked) -> None:
    """Name the approved trades an export kept back, per account, with why (stdout and stderr)."""
    if blocked is None or not len(blocked):
        return
    from engine.desk.compliance import describe_blocked

    head = (f"kept back: {len(blocked):,} approved trade(s) of {blocked['account_id'].nunique():,} account(s), "
            "blocked by what is in force now (they stay approved and go out once it ends):")
    lines = describe_blocked(blocked, limit=200)
    for out in (sys.stdout, sys.stderr):
        print(head, file=out)
        for line in lines:
            print(f"  {line}", file=out)


def cmd_manual(args) -> int:
    from engine.desk.manual import ManualTrade, check_manual_trades, enter_manual_trades, parse_quantity

    trades = []
    for spec in args.trade:
        parts = spec.split(":")
        if len(parts) not in (3, 4):
            raise_refused(f"--trade {spec!r}: expected SIDE:SYMBOL:QUANTITY[:LOT]")
        qty = parse_quantity(parts[2], f"--trade {spec!r}: QUANTITY")  # whole shares, never reinterpreted
        trades.append(ManualTrade(parts[1], parts[0].upper(), qty, parts[3] if len(parts) == 4 else None))
    if not trades and args.raise_amount is None:
        raise_refused("manual: give the trades (--trade SIDE:SYMBOL:QUANTITY[:LOT]) or --raise AMOUNT")
    engine = _engine(args)
    if args.raise_amount is not None:
        from engine.desk.raise_cash import suggest_sells

        plan, facts = suggest_sells(engine, args.account, args.raise_amount)
        print(f"to raise ${plan.amount:,.2f} (+{plan.cushion_pct:g} % cushion: ${plan.target:,.2f}) from "
              f"{args.account}: {len(plan.lines)} sell(s), ${plan.raised:,.2f} at book prices, estimated gain "
              f"${plan.lines['gain'].sum():,.2f}, estimated tax ${facts['tax']:,.2f}")
        for r in plan.lines.itertuples(index=False):
            print(f"  SELL {r.shares:,} {r.symbol} lot {r.lot_id} ({r.term}) ${r.value:,.2f} gain ${r.gain:,.2f}")
        for why in plan.left_out:
            print(f"  left out: {why}")
        if plan.short > 0.005:
            print(f"  ${plan.short:,.2f} short of the target: nothing more can be sold")
        if args.dry_run or not len(plan.lines):
            return 0
        trades = trades + plan.trades()
    chk = check_manual_trades(engine, args.account, trades, args.request)
    ids = enter_manual_trades(engine, args.account, trades, user=args.user, request_id=args.request)
    from engine.desk.manual import pending_manual_trades

    pending = set(pending_manual_trades(engine, [args.account])["id"].astype(int))
    waiting = [i for i in ids if i in pending]
    if waiting:
        print(f"entered {len(ids)} manual trade(s) for {args.account}: four-eyes, they await the approval of "
              f"another user (approve --trade {' --trade '.join(map(str, waiting))}) before they are exported")
    else:
        print(f"entered {len(ids)} manual trade(s) for {args.account}: they go into the next export")
    if chk.cash_requested > 0:  # the cash-out arithmetic the console's dialog shows
        print(f"cash for {'request ' + chk.request if chk.request else 'its listed cash requests'}: "
              f"${chk.cash_total:,.2f} of ${chk.cash_requested:,.2f} (cash above model cash "
              f"${chk.cash_available:,.2f} + trades entered before ${chk.cash_entered:,.2f} + these "
              f"${chk.cash_raised:,.2f}) — " + ("covered" if chk.covered else f"${chk.short:,.2f} short"))
    return 0


def cmd_simulate(args) -> int:
    from engine.lab import build_variants, load_book, simulate, write_outputs
    from engine.lab.bookfiles import write_book_folder
    from engine.core.tasks import StderrProgress, TaskState
    from storage.db import make_engine

    from engine.core.files import check_out_dir

    if args.days < 1:
        raise_refused(f"--days {args.days}: simulate at least one day")
    check_out_dir(args.out)
    bar = StderrProgress()
    # read once, never written: no migration either (a database not at the schema head is refused
    # by the reads themselves)
    engine = make_engine(args.db, migrate=False, create=False)
    try:
        book = load_book(engine)
    finally:
        engine.dispose()
    if args.sample is not None:
        from engine.lab.plan import sample_accounts

        book = sample_accounts(book, args.sample, args.seed)
    baselines = [b for b in (args.baseline or "").split(",") if b.strip()]
    variants = build_variants(book.policy, policy_files=args.policy or [], baselines=baselines,
                              sweeps=args.sweep or [], default=not args.no_default)
    result = simulate(book, variants, args.days, seed=args.seed, prices=args.prices,
                      request_rate=args.request_rate, reject_share=args.reject, workers=args.workers,
                      executor=args.executor, state=TaskState(bar))
    bar.done()
    files = write_outputs(result, args.out)
    if args.write_book:
        name = variants[0].name
        write_book_folder(result.books[name], result.last_date, args.write_book)
        print(f"wrote the book of {name} after {result.last_date} to {args.write_book}")
    cols = ["variant", "order_lines", "turnover_pct", "drift_mean_pct", "dispersion_bps", "tax_paid",
            "losses_harvested", "late_requests", "after_tax_wealth"]
    print(result.summary[cols].to_string(index=False))
    # dispersion over the managed accounts and the last 20 days, and its floor (engine/lab/dispersion.py)
    dcols = ["variant", "dispersion_bps", "dispersion_managed_bps", "dispersion_last20_bps",
             "dispersion_managed_last20_bps", "managed_accounts", "dispersion_floor_bps"]
    print(result.summary[[c for c in dcols if c in result.summary]].to_string(index=False))
    if "household_drift_pct" in result.summary:  # a book with households (engine.lab.metrics)
        hcols = ["variant", "households", "household_drift_pct", "household_tax_paid", "household_turnover_pct",
                 "household_order_lines", "household_after_tax_wealth"]
        print(result.summary[[c for c in hcols if c in result.summary]].to_string(index=False))
    for f in files:
        print(f"  {f}")
    return 0


def raise_refused(msg: str):
    from engine.core.tasks import RefusedError

    raise RefusedError(msg)


def cmd_audit(args) -> int:
    from storage import repo

    if args.verify:
        from engine.core.audit_chain import acknowledged, verify_chain

        engine = _engine(args, create=False)
        rep = verify_chain(engine, workers=args.workers or min(2, os.cpu_count() or 1))
        if rep.ok:
            print(rep.describe())
            return 0
        with engine.connect() as conn:
            seen = acknowledged(conn, rep)
        print(rep.describe() + (" [acknowledged by an admin]" if seen else ""), file=sys.stderr)
        return 1
    with _engine(args, create=False).connect() as conn:
        df = repo.audit_frame(conn, since=args.since)
    if args.account:
        df = df[df["account_id"] == args.account]
    if not len(df):
        print("no audit entries")
        return 0
    from engine.core.safe_text import printable

    # a newline or terminal escape in a user name, reason or value is shown escaped: one entry, one line
    df = df.map(printable)
    for r in df.itertuples(index=False):
        what = " ".join(x for x in (r.account_id, r.symbol) if isinstance(x, str))
        before = r.before if isinstance(r.before, str) else ""
        after = r.after if isinstance(r.after, str) else ""
        change = f"  {before or '{}'} -> {after or '{}'}" if before or after else ""
        detail = r.detail if isinstance(r.detail, str) else ""
        print(f"{r.at:%Y-%m-%d %H:%M:%S}  {r.username:<12} {r.action:<20} {what:<16} {detail}{change}")
    return 0


def cmd_roles(args) -> int:
    from engine.desk import roles

    engine = _engine(args)
    if args.action == "list":
        df = roles.roles_frame(engine)
        print(df.to_string(index=False) if len(df) else "roles are not set up on this database (roles setup)")
        return 0
    if args.action == "setup":
        if args.target:
            raise_refused("roles setup takes no user or role: the login running it becomes the first admin")
        print(roles.setup(engine).message)
        return 0
    if len(args.target) != 2:
        raise_refused(f"roles {args.action} USER ROLE: name the user and the role (operator, reviewer or admin)")
    user, role = args.target
    fn = roles.grant if args.action == "grant" else roles.revoke
    print(fn(engine, user, role, by=args.user).message)
    return 0


def cmd_prune(args) -> int:
    from engine.book.retention import prune_snapshots, retention_keep

    engine = _engine(args)
    keep = args.keep if args.keep is not None else retention_keep(engine)
    print(prune_snapshots(engine, keep, user=args.user).describe())
    return 0


def cmd_retire_snapshot(args) -> int:
    from engine.desk.snapshot_retire import retire_snapshot

    print(retire_snapshot(_engine(args), args.snapshot, reason=args.reason, user=args.user))
    return 0


def cmd_migrate(args) -> int:
    from storage.db import current_revision, describe

    engine = _engine(args)
    print(f"{describe(args.db)}: schema at revision {current_revision(engine)}")
    return 0


def cmd_open(args) -> int:
    from ui.app import run_console

    return run_console(db=args.db, demo=args.demo, user=args.user)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="main.py", description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="command")

    def add(name, func, help_, db=True):
        sp = sub.add_parser(name, help=help_, description=help_)
        if db:
            sp.add_argument("--db", help="database file path or SQLAlchemy URL (default: per-user database)")
            sp.add_argument("--user", help="acting user for the audit log (default: OS login name)")
        sp.set_defaults(func=func)
        return sp

    sp = add("sample", cmd_sample, "write a realistic sample book folder", db=False)
    sp.add_argument("dir")
    sp.add_argument("--accounts", type=int, default=2000)
    sp.add_argument("--seed", type=int, default=1)
    sp.add_argument("--households", type=_share, default=0.0, metavar="SHARE",
                    help="share of accounts in households of 2-6 accounts (e.g. 0.4; default 0: none)")
    sp.add_argument("--sample", type=int, metavar="N", help="simulate a seeded random sample of N accounts "
                    "(as the console's Lab does; default: every account)")

    sp = add("import", cmd_import, "import a book folder (all or nothing)")
    sp.add_argument("dir")
    sp.add_argument("--force", action="store_true", help="import even if the same files were the latest import")
    sp.add_argument("--as-of-ok", action="store_true", help="import a book whose as_of is more than 30 days after "
                    "(or a year before) today: the date is right")
    sp.add_argument("--max-book-mb", type=_positive_mb, metavar="MB",
                    help="the most a book may weigh, all its files (default 512; rows a file scale with it)")

    sp = add("run", cmd_run, "run the workflow on the imported book; prints a JSON summary")
    sp.add_argument("--workers", type=int, help="optimizer processes (default: 2, or 1 on one core)")
    sp.add_argument("--policy", help="policy TOML file (default: the newest saved policy)")
    sp.add_argument("--executor", default="local", metavar="SPEC",
                    help="where the optimizer runs: 'local' (default: a process pool of --workers) or "
                         "'dask://HOST:PORT[?timeout=SECONDS]' (a dask.distributed scheduler; inputs are "
                         "built here, so workers need no database access; --workers is then ignored)")

    sp = add("report", cmd_report, "one CSV row per account of the latest run")
    sp.add_argument("--out", required=True)

    sp = add("approve", cmd_approve, "approve (or reject) the latest run's proposals of these accounts, "
             "or (--manual, --trade) manual trades awaiting a second approval (four-eyes)")
    sp.add_argument("accounts", nargs="*")
    sp.add_argument("--reject", action="store_true", help="reject instead (needs --reason)")
    sp.add_argument("--reason", help="why: required to reject, withdraw or restore")
    sp.add_argument("--code", help="the rejection's reason code (the policy's [review] reject_codes)")
    sp.add_argument("--withdraw", action="store_true",
                    help="withdraw the approval of these accounts' proposals (before export; needs --reason)")
    sp.add_argument("--restore", action="store_true",
                    help="restore these accounts' rejected proposals to review (needs --reason)")
    sp.add_argument("--restore-trade", action="append", type=int, metavar="ID",
                    help="put a removed trade back into its proposal (repeatable; needs --reason)")
    sp.add_argument("--manual", action="store_true",
                    help="decide the manual trades of these accounts that await a second approval")
    sp.add_argument("--trade", action="append", type=int, metavar="ID",
                    help="decide this manual trade awaiting a second approval (repeatable)")
    sp.add_argument("--pending", action="store_true",
                    help="list the manual trades awaiting a second approval (of these accounts); changes nothing")

    sp = add("export", cmd_export, "one batch of every approved, not yet exported trade")
    sp.add_argument("--out", required=True, help="folder for the batch files")
    sp.add_argument("--format", default="csv,fix", help="comma-separated: csv,fix,xlsx (default csv,fix)")

    sp = add("manual", cmd_manual, "enter manual trades for an account (e.g. a suspended cash-out)")
    sp.add_argument("account")
    sp.add_argument("--trade", action="append", default=[], help="SIDE:SYMBOL:QUANTITY[:LOT], repeatable")
    sp.add_argument("--raise", dest="raise_amount", type=float, metavar="AMOUNT",
                    help="enter the sells that raise AMOUNT dollars tax-minimally (plus the policy's "
                         "cash_cushion_pct; halts, wash sales and held shares respected)")
    sp.add_argument("--dry-run", action="store_true", help="with --raise: print the suggested sells, enter nothing")
    sp.add_argument("--request", help="the cash request these trades handle")

    sp = add("audit", cmd_audit, "print the audit log (--verify: check its hash chain)")
    sp.add_argument("--verify", action="store_true",
                    help="recompute the hash chain: exit 0 when intact, 1 naming the first altered, inserted "
                         "or deleted entry")
    sp.add_argument("--workers", type=int, help="processes checking a long log's ranges (default: 2, or 1 on one "
                    "core)")
    sp.add_argument("--since", type=_date)
    sp.add_argument("--account")

    sp = add("hold", cmd_hold, "hold an account (manual override)")
    sp.add_argument("account")
    sp.add_argument("--until", type=_date, required=True, help="last day of the hold (YYYY-MM-DD)")
    sp.add_argument("--reason", required=True)

    sp = add("halt", cmd_halt, "halt a security")
    sp.add_argument("symbol")
    sp.add_argument("--until", type=_date, help="last day of the halt (default: until ended)")
    sp.add_argument("--mode", choices=["freeze", "hold-accounts"], default="freeze")
    sp.add_argument("--reason", required=True)

    sp = add("end-override", cmd_end, "end a hold or halt early")
    sp.add_argument("override_id", type=int)

    sp = add("overrides", cmd_overrides, "list active overrides (--all: with history)")
    sp.add_argument("--all", action="store_true")

    sp = add("open", cmd_open, "open the console (the default without a command)")
    sp.add_argument("--demo", action="store_true",
                    help="on a database with no book, generate and import a demo sample book first")

    sp = add("prune", cmd_prune, "delete the lots, custodian positions and transactions of old book "
             "snapshots (runs, proposals, trades, batches and the audit log are kept); import does this too")
    sp.add_argument("--keep", type=int, help="newest snapshots to keep whole (default: the policy's "
                    "retention.keep_snapshots)")

    sp = add("roles", cmd_roles, "desk roles: setup (the login running it becomes the first admin), "
             "grant USER ROLE, revoke USER ROLE, list; roles are operator, reviewer and admin")
    sp.add_argument("action", choices=["setup", "grant", "revoke", "list"])
    sp.add_argument("target", nargs="*", metavar="USER ROLE")
    sp = add("simulate", cmd_simulate, "the policy lab: carry the imported book forward N business days under "
             "the current policy, policy files, sweeps and the naive baselines on the same prices; writes "
             "summary.csv, daily.csv and report.html; never writes to the database")
    sp.add_argument("--days", type=int, required=True, help="business days, day 1 = the book's as-of date")
    sp.add_argument("--policy", action="extend", nargs="+", metavar="FILE",
                    help="policy TOML files, one variant each (repeatable)")
    sp.add_argument("--baseline", help="comma-separated: band,calendar")
    sp.add_argument("--sweep", action="extend", nargs="+", metavar="KEY=V1,V2",
                    help="threshold=0.5,2 (x start and floor), lambda=0.3,3, bands=0.5,2 (x widths); repeatable")
    sp.add_argument("--prices", metavar="FILE", help="replay a price history CSV date,symbol,close "
                    "(default: a seeded factor model)")
    sp.add_argument("--no-default", action="store_true",
                    help="leave out the current policy's own variant (e.g. a sweep on its own)")
    sp.add_argument("--seed", type=int, default=1)
    sp.add_argument("--sample", type=int, metavar="N", help="simulate a seeded random sample of N accounts "
                    "(as the console's Lab does; default: every account)")
    sp.add_argument("--request-rate", type=float, default=0.0005,
                    help="new cash requests per account per business day (default 0.0005)")
    sp.add_argument("--reject", type=float, default=0.0, metavar="SHARE",
                    help="reject this share of the proposals that need review, at random (default 0)")
    sp.add_argument("--workers", type=int, default=1, help="optimizer processes (default 1)")
    sp.add_argument("--executor", default="local", metavar="SPEC", help="local or dask://HOST:PORT, as for run")
    sp.add_argument("--write-book", metavar="DIR", help="also write the first variant's book after the last "
                    "day as a book folder that `import` accepts")
    sp.add_argument("--out", required=True, help="folder for summary.csv, daily.csv and report.html")

    sp = add("retire-snapshot", cmd_retire_snapshot, "admin: set a wrong current book aside (e.g. an as_of typo) "
             "so the previous one is current again; audited")
    sp.add_argument("snapshot", type=int)
    sp.add_argument("--reason", required=True)

    add("migrate", cmd_migrate, "create or upgrade the database schema")
    return p


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    from storage.db import redact_logs

    redact_logs()  # no database URL's password in any log line, the console's included
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        from ui.app import run_console

        return run_console()
    from engine.book.book import BookError
    from engine.core.tasks import Cancelled, RefusedError
    from storage.busy import DatabaseBusy
    from storage.db import DatabaseUnusable, redact

    try:
        return args.func(args)
    except (BookError, RefusedError, DatabaseUnusable, DatabaseBusy) as exc:
        print(redact(str(exc)), file=sys.stderr)
        return 2
    except Cancelled as exc:
        print(f"cancelled: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted; nothing was committed", file=sys.stderr)
        return 1
    except Exception:  # noqa: BLE001 - the crash report, without any database URL's password
        import traceback

        print(redact(traceback.format_exc()), file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
