"""SQLAlchemy 2.x typed declarative models for the whole book and its workflow.

Book data (securities, models, accounts, lots, ...) is scoped to a *book snapshot*: one
per imported book folder. Workflow data (overrides, suspensions, runs, proposals, trades,
batches, audit) lives across snapshots and points at the snapshot it was made on.
"""
from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    Boolean,
    Date,
    DateTime,
    Float,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    CheckConstraint,
    false,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


SNAP_FK = "book_snapshots.id"


def _snap() -> Mapped[int]:
    return mapped_column(ForeignKey(SNAP_FK, ondelete="CASCADE"), primary_key=True)


# --------------------------------------------------------------------------- book data
class BookSnapshot(Base):
    __tablename__ = "book_snapshots"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    as_of: Mapped[date] = mapped_column(Date, index=True)
    imported_at: Mapped[datetime] = mapped_column(DateTime)
    imported_by: Mapped[str] = mapped_column(String(64))
    source: Mapped[str] = mapped_column(Text)
    checksum: Mapped[str] = mapped_column(String(64))  # SHA-256 over the folder's files
    n_accounts: Mapped[int] = mapped_column(Integer)
    n_lots: Mapped[int] = mapped_column(Integer)
    # set aside by an admin (engine/desk/snapshot_retire.py): no longer the current book; NULL before 0011
    retired_at: Mapped[datetime | None] = mapped_column(DateTime)
    retired_by: Mapped[str | None] = mapped_column(String(64))
    retired_reason: Mapped[str | None] = mapped_column(Text)


class Security(Base):
    __tablename__ = "securities"
    snapshot_id: Mapped[int] = _snap()
    symbol: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str | None] = mapped_column(Text)
    asset_class: Mapped[str] = mapped_column(String(64))
    price: Mapped[float | None] = mapped_column(Float)
    price_date: Mapped[date] = mapped_column(Date)
    tags: Mapped[str | None] = mapped_column(Text)
    rating: Mapped[float | None] = mapped_column(Float)
    substitute_group: Mapped[str | None] = mapped_column(String(64))
    identical_group: Mapped[str | None] = mapped_column(String(64))  # wash sales: substantially identical


class Model(Base):
    __tablename__ = "models"
    snapshot_id: Mapped[int] = _snap()
    model_id: Mapped[str] = mapped_column(String(64), primary_key=True)


class ModelWeight(Base):
    __tablename__ = "model_weights"
    snapshot_id: Mapped[int] = mapped_column(primary_key=True)
    model_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    symbol: Mapped[str] = mapped_column(String(32), primary_key=True)
    weight: Mapped[float] = mapped_column(Float)
    __table_args__ = (
        ForeignKeyConstraint(["snapshot_id", "model_id"], ["models.snapshot_id", "models.model_id"],
                             ondelete="CASCADE"),
        CheckConstraint("weight >= 0 AND weight <= 1", name="weight_range"),
    )


class Account(Base):
    __tablename__ = "accounts"
    snapshot_id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str | None] = mapped_column(Text)
    model_id: Mapped[str] = mapped_column(String(64))
    custodian: Mapped[str] = mapped_column(String(64))
    cash: Mapped[float] = mapped_column(Float)
    taxable: Mapped[bool] = mapped_column(Boolean)
    st_rate: Mapped[float | None] = mapped_column(Float)
    lt_rate: Mapped[float | None] = mapped_column(Float)
    last_trade_date: Mapped[date | None] = mapped_column(Date)
    restrictions: Mapped[str | None] = mapped_column(Text)
    group: Mapped[str | None] = mapped_column("group_name", String(64))
    household_id: Mapped[str | None] = mapped_column(String(64))  # one household = one wash-sale group
    gains_budget: Mapped[float | None] = mapped_column(Float)  # net gains allowed this year; None = none
    ytd_realized_st: Mapped[float | None] = mapped_column(Float)  # None = 0
    ytd_realized_lt: Mapped[float | None] = mapped_column(Float)
    trading_mode: Mapped[str | None] = mapped_column(String(16))  # full (None) | cash_flow
    __table_args__ = (
        ForeignKeyConstraint(["snapshot_id"], [SNAP_FK], ondelete="CASCADE"),
        ForeignKeyConstraint(["snapshot_id", "model_id"], ["models.snapshot_id", "models.model_id"]),
        Index("ix_accounts_snapshot_custodian", "snapshot_id", "custodian"),
    )


def _account_fk() -> ForeignKeyConstraint:
    return ForeignKeyConstraint(["snapshot_id", "account_id"],
                                ["accounts.snapshot_id", "accounts.account_id"], ondelete="CASCADE")


class Lot(Base):
    __tablename__ = "lots"
    snapshot_id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    lot_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    symbol: Mapped[str] = mapped_column(String(32))
    quantity: Mapped[float] = mapped_column(Float)
    unit_cost: Mapped[float] = mapped_column(Float)
    acquired_date: Mapped[date] = mapped_column(Date)
    __table_args__ = (_account_fk(),)


class CustodianPosition(Base):
    __tablename__ = "custodian_positions"
    snapshot_id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    symbol: Mapped[str] = mapped_column(String(32), primary_key=True)
    quantity: Mapped[float] = mapped_column(Float)
    __table_args__ = (_account_fk(),)


class Feed(Base):
    __tablename__ = "feeds"
    snapshot_id: Mapped[int] = _snap()
    custodian: Mapped[str] = mapped_column(String(64), primary_key=True)
    file_date: Mapped[date] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(16))
    __table_args__ = (CheckConstraint("status IN ('ok', 'failed')", name="status"),)


class Transaction(Base):
    __tablename__ = "transactions"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    snapshot_id: Mapped[int] = mapped_column(Integer)
    account_id: Mapped[str] = mapped_column(String(64))
    symbol: Mapped[str] = mapped_column(String(32))
    trade_date: Mapped[date] = mapped_column(Date)
    side: Mapped[str] = mapped_column(String(4))
    quantity: Mapped[float] = mapped_column(Float)
    price: Mapped[float] = mapped_column(Float)
    realized_gain: Mapped[float | None] = mapped_column(Float)
    __table_args__ = (
        _account_fk(),
        CheckConstraint("side IN ('BUY', 'SELL')", name="side"),
        Index("ix_transactions_snapshot_account", "snapshot_id", "account_id"),
    )


class CashRequest(Base):
    __tablename__ = "cash_requests"
    snapshot_id: Mapped[int] = mapped_column(primary_key=True)
    request_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    account_id: Mapped[str] = mapped_column(String(64))
    amount: Mapped[float] = mapped_column(Float)
    due_date: Mapped[date] = mapped_column(Date)
    priority: Mapped[str] = mapped_column(String(8))
    note: Mapped[str | None] = mapped_column(Text)
    mode: Mapped[str | None] = mapped_column(String(16))  # rebalance (None) | raise_only
    __table_args__ = (
        _account_fk(),
        CheckConstraint("priority IN ('high', 'normal')", name="priority"),
        Index("ix_cash_requests_snapshot_account", "snapshot_id", "account_id"),
    )


class CorporateAction(Base):
    __tablename__ = "corporate_actions"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    snapshot_id: Mapped[int] = mapped_column(ForeignKey(SNAP_FK, ondelete="CASCADE"), index=True)
    symbol: Mapped[str] = mapped_column(String(32))
    effective_date: Mapped[date] = mapped_column(Date)
    kind: Mapped[str] = mapped_column(String(32))
    ratio: Mapped[float | None] = mapped_column(Float)
    new_symbol: Mapped[str | None] = mapped_column(String(32))
    processed: Mapped[bool] = mapped_column(Boolean)


# --------------------------------------------------------------------------- workflow data
class ModelChange(Base):
    """An account whose model changed at an import: its model's weights changed, or its model_id
    (engine.book.model_changes). The transition's size and tax at detection are kept for the report."""
    __tablename__ = "model_changes"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    snapshot_id: Mapped[int] = mapped_column(ForeignKey(SNAP_FK, ondelete="CASCADE"), index=True)
    account_id: Mapped[str] = mapped_column(String(64), index=True)
    model_id: Mapped[str] = mapped_column(String(64))
    old_model_id: Mapped[str | None] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(16))  # weights | moved
    trade_dollars: Mapped[float] = mapped_column(Float)  # a full transition at detection
    est_gain: Mapped[float] = mapped_column(Float)
    est_tax: Mapped[float] = mapped_column(Float)


class CashRequestState(Base):
    """Lifecycle of a cash request across snapshots (keyed by request_id)."""
    __tablename__ = "cash_request_states"
    request_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    account_id: Mapped[str] = mapped_column(String(64), index=True)
    status: Mapped[str] = mapped_column(String(16))  # open | handling | sent | paid
    batch_id: Mapped[str | None] = mapped_column(ForeignKey("export_batches.id"))
    updated_at: Mapped[datetime] = mapped_column(DateTime)
    updated_by: Mapped[str] = mapped_column(String(64))


class Policy(Base):
    __tablename__ = "policies"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    created_at: Mapped[datetime] = mapped_column(DateTime)
    created_by: Mapped[str] = mapped_column(String(64))
    checksum: Mapped[str] = mapped_column(String(64), index=True)
    body: Mapped[str] = mapped_column(Text)  # TOML text
    note: Mapped[str | None] = mapped_column(Text)


class Override(Base):
    __tablename__ = "overrides"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(8))  # HOLD | HALT
    account_id: Mapped[str | None] = mapped_column(String(64), index=True)
    symbol: Mapped[str | None] = mapped_column(String(32), index=True)
    mode: Mapped[str | None] = mapped_column(String(16))  # halts: freeze | hold-accounts
    reason: Mapped[str] = mapped_column(Text)
    until: Mapped[date | None] = mapped_column(Date)  # inclusive last day; None = open-ended
    created_at: Mapped[datetime] = mapped_column(DateTime)
    created_by: Mapped[str] = mapped_column(String(64))
    ended_at: Mapped[datetime | None] = mapped_column(DateTime)
    ended_by: Mapped[str | None] = mapped_column(String(64))
    version: Mapped[int] = mapped_column(Integer, default=1)
    __table_args__ = (
        CheckConstraint("kind IN ('HOLD', 'HALT')", name="kind"),
        CheckConstraint("(kind = 'HOLD' AND account_id IS NOT NULL) OR "
                        "(kind = 'HALT' AND symbol IS NOT NULL)", name="target"),
    )
    __mapper_args__ = {"version_id_col": version}


class Suspension(Base):
    __tablename__ = "suspensions"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_id: Mapped[str] = mapped_column(String(64))
    code: Mapped[str] = mapped_column(String(32))
    detail: Mapped[str] = mapped_column(Text)
    first_snapshot_id: Mapped[int] = mapped_column(ForeignKey(SNAP_FK))
    last_snapshot_id: Mapped[int] = mapped_column(ForeignKey(SNAP_FK))
    since: Mapped[datetime] = mapped_column(DateTime)
    resolved_at: Mapped[datetime | None] = mapped_column(DateTime)
    resolved_snapshot_id: Mapped[int | None] = mapped_column(ForeignKey(SNAP_FK))
    __table_args__ = (Index("ix_suspensions_open", "account_id", "code", "resolved_at"),)


class Run(Base):
    __tablename__ = "runs"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    snapshot_id: Mapped[int] = mapped_column(ForeignKey(SNAP_FK), index=True)
    policy_id: Mapped[int] = mapped_column(ForeignKey("policies.id"))
    as_of: Mapped[date] = mapped_column(Date)
    started_at: Mapped[datetime] = mapped_column(DateTime)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime)
    created_by: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16))  # done | failed
    workers: Mapped[int] = mapped_column(Integer, default=1)
    timings: Mapped[str | None] = mapped_column(Text)  # JSON: stage -> seconds
    summary: Mapped[str | None] = mapped_column(Text)  # JSON: counts per category and tier


class Proposal(Base):
    __tablename__ = "proposals"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"))
    account_id: Mapped[str] = mapped_column(String(64))
    category: Mapped[str] = mapped_column(String(16))
    urgent: Mapped[bool] = mapped_column(Boolean, default=False)
    tier: Mapped[str] = mapped_column(String(32))
    review: Mapped[str] = mapped_column(String(8))  # auto | review | none
    status: Mapped[str] = mapped_column(String(16))  # PROPOSED | APPROVED | REJECTED | NONE
    value: Mapped[float] = mapped_column(Float)
    # how holdings the book could not price were valued for the tier (None: all at book prices)
    tier_basis: Mapped[str | None] = mapped_column(Text)
    score: Mapped[float | None] = mapped_column(Float)
    score_bps: Mapped[float | None] = mapped_column(Float)
    threshold_bps: Mapped[float | None] = mapped_column(Float)
    drift_benefit: Mapped[float | None] = mapped_column(Float)
    harvest_benefit: Mapped[float | None] = mapped_column(Float)
    rating_benefit: Mapped[float | None] = mapped_column(Float)
    trading_cost: Mapped[float | None] = mapped_column(Float)
    tax_cost: Mapped[float | None] = mapped_column(Float)
    te_pre: Mapped[float | None] = mapped_column(Float)
    te_post: Mapped[float | None] = mapped_column(Float)
    turnover: Mapped[float | None] = mapped_column(Float)
    realized_tax: Mapped[float | None] = mapped_column(Float)
    mandates: Mapped[str | None] = mapped_column(Text)  # ;-separated mandate kinds
    flags: Mapped[str | None] = mapped_column(Text)  # ;-separated outlier flags
    reasons: Mapped[str | None] = mapped_column(Text)  # ;-separated reason codes / text
    detail: Mapped[str | None] = mapped_column(Text)  # JSON: class weights etc.
    decided_by: Mapped[str | None] = mapped_column(String(64))
    decided_at: Mapped[datetime | None] = mapped_column(DateTime)
    edited_by: Mapped[str | None] = mapped_column(Text)  # ;-separated users who edited its trades (four-eyes)
    decision_code: Mapped[str | None] = mapped_column(String(32))  # a rejection's reason code
    decision_reason: Mapped[str | None] = mapped_column(Text)  # why rejected / withdrawn / restored
    version: Mapped[int] = mapped_column(Integer, default=1)
    __table_args__ = (
        UniqueConstraint("run_id", "account_id"),
        Index("ix_proposals_run_category", "run_id", "category"),
        Index("ix_proposals_run_status", "run_id", "status"),
        Index("ix_proposals_account", "account_id"),
    )
    __mapper_args__ = {"version_id_col": version}


class ProposalDetail(Base):
    """A proposal's detail in compact form (storage/compact_detail.py): class weights as float64
    bytes, the cash and benefit figures as columns, the shared parts as ids of the run's texts."""
    __tablename__ = "proposal_details"
    proposal_id: Mapped[int] = mapped_column(ForeignKey("proposals.id", ondelete="CASCADE"), primary_key=True)
    run_id: Mapped[int] = mapped_column(Integer, index=True)
    shape: Mapped[int] = mapped_column(Integer)  # detail_texts.id: key order, class names, targets, bands
    extra: Mapped[int] = mapped_column(Integer)  # detail_texts.id: the rest as JSON
    weights: Mapped[bytes | None] = mapped_column(LargeBinary)  # class weights pre then post, float64
    cash_post: Mapped[float | None] = mapped_column(Float)
    cash_required: Mapped[float | None] = mapped_column(Float)
    cash_shortfall: Mapped[float | None] = mapped_column(Float)
    cash_needed: Mapped[float | None] = mapped_column(Float)
    harvest_value: Mapped[float | None] = mapped_column(Float)
    tax_saved: Mapped[float | None] = mapped_column(Float)


class DetailText(Base):
    """A text shared by proposal details of one run (a model's targets and bands, a common note)."""
    __tablename__ = "detail_texts"
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    text: Mapped[str] = mapped_column(Text)


class Trade(Base):
    """A proposed (or manual) order line; locked to at most one export batch."""
    __tablename__ = "trades"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    proposal_id: Mapped[int | None] = mapped_column(ForeignKey("proposals.id", ondelete="CASCADE"),
                                                     index=True)
    snapshot_id: Mapped[int] = mapped_column(ForeignKey(SNAP_FK))
    account_id: Mapped[str] = mapped_column(String(64), index=True)
    custodian: Mapped[str] = mapped_column(String(64))
    symbol: Mapped[str] = mapped_column(String(32))
    side: Mapped[str] = mapped_column(String(4))
    quantity: Mapped[int] = mapped_column(Integer)
    est_price: Mapped[float | None] = mapped_column(Float)
    est_value: Mapped[float | None] = mapped_column(Float)
    lots: Mapped[str | None] = mapped_column(Text)  # "lot_id:shares;lot_id:shares"
    category: Mapped[str] = mapped_column(String(8))  # MANDATE | SCORE | MANUAL
    reason: Mapped[str | None] = mapped_column(Text)
    # PROPOSED | APPROVED | REJECTED | REMOVED | EXPORTED; PENDING_APPROVAL = a four-eyes manual
    # trade awaiting its second approval (never exported in that state)
    status: Mapped[str] = mapped_column(String(16))
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime)
    four_eyes: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    approved_by: Mapped[str | None] = mapped_column(String(64))  # manual trades: who approved them
    approved_at: Mapped[datetime | None] = mapped_column(DateTime)
    batch_id: Mapped[str | None] = mapped_column(ForeignKey("export_batches.id"), index=True)
    __table_args__ = (
        CheckConstraint("side IN ('BUY', 'SELL')", name="side"),
        CheckConstraint("quantity > 0", name="quantity_positive"),
        Index("ix_trades_status_batch", "status", "batch_id"),
        # the exported trades by account and book: "is this account already in a batch of this
        # book?" (engine.decide.batch_guard), without reading every run's trades of the account
        Index("ix_trades_sent_account_snapshot", "account_id", "snapshot_id",
              sqlite_where=text("batch_id IS NOT NULL"), postgresql_where=text("batch_id IS NOT NULL")),
    )


class ExportBatch(Base):
    __tablename__ = "export_batches"
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(DateTime)
    created_by: Mapped[str] = mapped_column(String(64))
    snapshot_id: Mapped[int] = mapped_column(ForeignKey(SNAP_FK))
    out_dir: Mapped[str] = mapped_column(Text)
    n_trades: Mapped[int] = mapped_column(Integer)
    n_accounts: Mapped[int] = mapped_column(Integer)
    manifest: Mapped[str] = mapped_column(Text)  # JSON of batch_<id>.json


class AuditEntry(Base):
    __tablename__ = "audit_log"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(DateTime, index=True)
    user: Mapped[str] = mapped_column("username", String(64), index=True)
    action: Mapped[str] = mapped_column(String(32), index=True)
    account_id: Mapped[str | None] = mapped_column(String(64), index=True)
    symbol: Mapped[str | None] = mapped_column(String(32))
    detail: Mapped[str | None] = mapped_column(Text)
    before: Mapped[str | None] = mapped_column(Text)  # JSON
    after: Mapped[str | None] = mapped_column(Text)  # JSON
    session: Mapped[str | None] = mapped_column(String(128))  # host/login/pid of the writer
    # how ``user`` is known: "login" (the PostgreSQL login), "os" (the OS login), "declared"
    # (--user / $REBALANCE_DESK_USER on SQLite: the OS login is in ``session``); NULL before 0007
    identity: Mapped[str | None] = mapped_column(String(16))
    # the hash chain (storage.audit_chain): position 1, 2, ... and SHA-256 over the previous hash
    seq: Mapped[int | None] = mapped_column(Integer, index=True, unique=True)
    hash: Mapped[str | None] = mapped_column(String(64))


class AuditChain(Base):
    """The audit chain's head: one row (id 1), the last ``seq`` and its hash. Appends lock it."""
    __tablename__ = "audit_chain"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    seq: Mapped[int] = mapped_column(Integer)
    hash: Mapped[str] = mapped_column(String(64))


class DeskRole(Base):
    """Desk roles granted to users (``roles grant``): operator, reviewer, admin. Roles are
    enforced on a database once it has any row here (``roles setup`` makes the first admin)."""
    __tablename__ = "desk_roles"
    username: Mapped[str] = mapped_column(String(64), primary_key=True)
    role: Mapped[str] = mapped_column(String(16), primary_key=True)
    granted_by: Mapped[str] = mapped_column(String(64))
    granted_at: Mapped[datetime] = mapped_column(DateTime)


class AppLock(Base):
    """Named application locks: updating a row serializes the holders until commit (the
    export lock makes two clicks on two workstations produce one batch)."""
    __tablename__ = "app_locks"
    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    held_by: Mapped[str | None] = mapped_column(String(64))
    held_at: Mapped[datetime | None] = mapped_column(DateTime)


class Note(Base):
    """A note with an optional reason code, on an account or on a desk action (``kind``)."""
    __tablename__ = "notes"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(DateTime, index=True)
    user: Mapped[str] = mapped_column("username", String(64))
    account_id: Mapped[str | None] = mapped_column(String(64), index=True)
    kind: Mapped[str] = mapped_column(String(16))  # account | approval | rejection | hold
    ref: Mapped[str | None] = mapped_column(String(64))  # what it refers to: "run 3", "override 7"
    code: Mapped[str | None] = mapped_column(String(32))
    text: Mapped[str] = mapped_column(Text)
