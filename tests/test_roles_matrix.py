"""Every desk action tried with every role (operator, reviewer, admin, none), on SQLite and on
PostgreSQL: the engine allows it exactly when the role table says so, and a refusal names the
role needed and leaves the database as it was. The acting login is the test's own (the OS login
on SQLite, the database login on PostgreSQL); its roles are set between the attempts. What the
database itself refuses to each role's login is in tests/test_roles.py."""
from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import delete, func, insert, select

from engine.desk import roles
from engine.core.audit_chain import ChainReport, acknowledge_break
from engine.desk.exporter import export_batch
from engine.core.identity import login
from engine.book.importer import import_book
from engine.desk.manual import ManualTrade, decide_manual_trades, enter_manual_trades
from engine.decide.overrides import add_halt, add_hold, end_override, overrides_frame
from engine.core.policy_store import save_policy
from engine.book.retention import prune_snapshots
from engine.desk.review import decide, edit_trade
from engine.core.tasks import RefusedError
from engine.desk.undo import withdraw
from engine.decide.workflow import run_workflow
from storage import models as m
from storage import repo
from test_four_eyes import review_all_policy, uhnw_book

# the role each action needs (engine/core/identity.py WHAT; README "A shared desk")
NEEDS = {"import": "operator", "run": "operator", "hold": "operator", "halt": "operator",
         "end override": "operator", "manual trade": "operator", "export": "operator",
         "approve": "reviewer", "reject": "reviewer", "edit": "reviewer", "withdraw": "reviewer",
         "manual decision": "reviewer",
         "policy": "admin", "prune": "admin", "grant": "admin", "acknowledge break": "admin"}


def as_only(engine, role: str | None) -> str:
    """The acting login holds exactly ``role`` (None: no role) from now on; an audited change,
    as the guards on PostgreSQL want."""
    t = m.DeskRole.__table__
    with engine.begin() as conn:
        me = login(conn)
        conn.execute(delete(t).where(t.c.username == me))
        if role:
            conn.execute(insert(t).values(username=me, role=role, granted_by=me, granted_at=repo.now()))
        repo.audit(conn, me, "TEST_ROLES", detail=f"{me}: {role or 'no role'}")
    return me


def audit_count(engine) -> int:
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(m.AuditEntry.__table__)).scalar_one()


def test_every_action_is_allowed_exactly_for_its_role(engine, tmp_path, monkeypatch):
    monkeypatch.delenv("REBALANCE_DESK_USER", raising=False)  # the login speaks for itself
    book = uhnw_book(tmp_path / "book")
    roles.setup(engine)  # the login is the first admin
    save_policy(engine, review_all_policy())
    state: dict = {}
    broken = ChainReport(False, 1, 2, 2, "entry 2 was altered (a test's report)", 2, "altered")

    def traded(k):
        """The k-th account (sorted) whose proposal of the latest run has trades waiting for review."""
        with engine.connect() as conn:
            got = sorted(conn.execute(select(m.Proposal.account_id).where(
                m.Proposal.status == "PROPOSED", m.Proposal.category.in_(["MANDATE", "SCORE"]))).scalars())
        return got[k] if len(got) > k else "A9"

    def a_buy_waiting():
        """A proposed BUY of an account waiting for review (removing it never overspends cash)."""
        with engine.connect() as conn:
            return conn.execute(select(m.Trade.id).join(m.Proposal, m.Proposal.id == m.Trade.proposal_id).where(
                m.Proposal.status == "PROPOSED", m.Trade.side == "BUY", m.Trade.status == "PROPOSED")
                .order_by(m.Trade.id.desc()).limit(1)).scalar() or 1

    actions = {
        "import": lambda: import_book(engine, book, allow_same=True),
        "run": lambda: run_workflow(engine, workers=1),
        "hold": lambda: state.setdefault("hold", add_hold(engine, "A3", date(2026, 12, 31), "wire")),
        "halt": lambda: add_halt(engine, "TOB", None, "news"),
        "end override": lambda: end_override(engine, state.get("hold", 1)),
        "manual trade": lambda: state.setdefault("manual", enter_manual_trades(
            engine, "A1", [ManualTrade("AAA", "SELL", 10)])),
        "edit": lambda: edit_trade(engine, a_buy_waiting(), remove=True),
        "approve": lambda: state.setdefault("approved", decide(engine, [traded(0), traded(1)],
                                                                     approve=True).approved),
        "reject": lambda: decide(engine, [traded(0)], approve=False, reason="not now"),
        "withdraw": lambda: withdraw(engine, list(state.get("approved", ["A1"]))[:1], reason="second thoughts"),
        "manual decision": lambda: decide_manual_trades(engine, state.get("manual", [1]), approve=False),
        "export": lambda: export_batch(engine, tmp_path / "out"),
        "policy": lambda: save_policy(engine, review_all_policy(), note="matrix"),
        "prune": lambda: prune_snapshots(engine, 1),
        "grant": lambda: roles.grant(engine, me, "reviewer"),
        "acknowledge break": lambda: acknowledge_break(engine, broken, user=None),
    }
    assert set(actions) == set(NEEDS)
    done = set()
    for role in ("operator", "reviewer", "admin", None):
        me = as_only(engine, role)
        for name, act in actions.items():
            if NEEDS[name] == role:
                try:  # allowed: it acts (here the book's state lets every one of them act)
                    act()
                except RefusedError as exc:
                    raise AssertionError(f"{name} refused to {role}: {exc}") from exc
                done.add(name)
                continue
            n = audit_count(engine)
            with pytest.raises(RefusedError, match=f"needs the {NEEDS[name]} role") as err:
                act()
                pytest.fail(f"{name} was allowed to {role or 'no role'}")
            assert me in str(err.value) and (role or "no desk role") in str(err.value), (name, role)
            assert audit_count(engine) == n, (name, role)  # nothing written
    assert done == set(NEEDS)
    as_only(engine, "operator")  # what the reviewer approved (and did not withdraw) goes out
    batch = export_batch(engine, tmp_path / "out2")
    assert batch is not None and batch.n_trades > 0
    # the allowed actions did act, under the login
    log = repo_log(engine)
    assert {"IMPORT", "RUN", "HOLD_ADD", "APPROVE", "REJECT", "WITHDRAW", "POLICY_SAVE", "ROLE_GRANT",
            "AUDIT_CHAIN_ACK"} <= set(log["action"]), sorted(set(log["action"]))
    assert set(log.loc[log["action"] != "TEST_ROLES", "username"]) == {me}
    assert overrides_frame(engine)["symbol"].fillna("").str.contains("TOB").any()


def repo_log(engine):
    from engine.core.audit import audit_entries

    return audit_entries(engine)
