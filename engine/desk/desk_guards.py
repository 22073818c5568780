"""What the PostgreSQL database itself enforces once desk roles are set up (``roles setup``).

Table privileges (:mod:`engine.desk.roles`) say which role may write which table. They cannot say
*which change* a role may make, so ``roles setup`` also installs these triggers, owned by the
database owner, that hold for every login including one with a plain SQL client:

* **Every change is audited by its author.** A transaction that inserts, updates or deletes rows
  of ``trades``, ``proposals``, ``policies``, ``export_batches`` or ``desk_roles`` must also
  insert an audit entry; checked at commit (a deferred constraint trigger on the small table
  ``desk_tx``, one row per writing transaction, removed at commit). Every audit entry inserted
  must be under the login's own name (``lower(session_user)``, the engine's normal form of an
  ASCII login): nobody writes a change, or an audit entry, in someone else's name.
* **Trades.** Approving, rejecting, withdrawing or removing (a change of status) needs the
  reviewer role; exporting (status ``EXPORTED`` with a batch, only from ``APPROVED``) needs the
  operator role; a trade's content (quantity, symbol, side, lots, prices, account, ...) changes
  only while it is ``PROPOSED`` and only by a reviewer (an edit); an approved trade is frozen
  until a reviewer takes it back; an exported trade never changes and is never deleted; a manual
  trade awaiting its second approval is approved only by a login other than the one that entered
  it, which is recorded as its approver (four-eyes at the database).
* **Proposals.** A decision (to ``APPROVED`` or ``REJECTED``, or back from one to ``PROPOSED``)
  needs the reviewer role and records the login as ``decided_by``. (A run holding back a
  proposal it has just made, to ``NONE``, is an operator's.)
* **Export batches** are written once: a batch's row is updated only while its manifest is
  still empty (the export's own transaction), never deleted.
* **Policies** are versions: never updated or deleted.

Cost: a trade's status changes are checked by a statement trigger over transition tables (two
scans; old and new rows paired only when something is unusual: an approve updates ~10 trades per
account in a few statements); content, id, approver, a decision on a proposal and the name of an
audit entry by row triggers whose ``WHEN`` lets only the rare case call a function. An approve
of 16,730 accounts spent 3.9 % of its time in them, an export of 236,888 trades 0.5 %
(docs/benchmarks.md, bench/bench_audit.py --roles).
What they cannot tell: the engine's business checks (compliance blocks, a policy's tiers and
four-eyes of edited proposals) are not repeated here; a run's operator inserts the trades of
tiers the policy approves automatically as ``APPROVED`` (an insert is not a decision), and may
delete a trade not yet exported (a run holding an account back does). Whoever does any of that
with SQL is still recorded, under their login, by the entry the commit check demands, an entry
nobody can change or remove afterwards (one written without the chain's hash shows in
``audit --verify`` as inserted outside the desk).
"""
from __future__ import annotations

from sqlalchemy import Connection

GUARDED = ("trades", "proposals", "policies", "export_batches", "desk_roles")

_CONTENT = ("account_id", "symbol", "side", "quantity", "est_price", "est_value", "lots", "category",
            "proposal_id", "snapshot_id", "custodian", "created_by", "created_at", "four_eyes", "reason")


def _row(alias: str) -> str:
    return "(" + ", ".join(f"{alias}.{c}" for c in _CONTENT) + ")"


SQL = f"""
CREATE TABLE IF NOT EXISTS desk_tx (xid xid8 PRIMARY KEY, changed text, audited boolean NOT NULL DEFAULT false);
REVOKE ALL ON desk_tx FROM PUBLIC;

CREATE OR REPLACE FUNCTION desk_login() RETURNS text LANGUAGE sql STABLE AS $$ SELECT lower(session_user::text) $$;

CREATE OR REPLACE FUNCTION desk_is(role text) RETURNS boolean LANGUAGE sql STABLE AS
$$ SELECT pg_has_role(session_user, 'desk_' || role, 'MEMBER') $$;

CREATE OR REPLACE FUNCTION desk_refuse(why text) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
  IF why IS NOT NULL THEN
    RAISE EXCEPTION USING MESSAGE = 'refused by the database: ' || why, ERRCODE = 'insufficient_privilege';
  END IF;
END $$;

-- a writing transaction is marked; the deferred check below wants an audit entry by the same login
CREATE OR REPLACE FUNCTION desk_mark_changed() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER
SET search_path = public, pg_temp AS $$
BEGIN
  IF EXISTS (SELECT 1 FROM desk_tx WHERE xid = pg_current_xact_id() AND changed IS NOT NULL) THEN
    RETURN NULL;  -- marked by an earlier statement of this transaction
  END IF;
  -- the row is written once per transaction and per flag: not a new row version (and a deferred
  -- check) for each of an approve's thousands of statements
  INSERT INTO desk_tx (xid, changed) VALUES (pg_current_xact_id(), TG_TABLE_NAME)
  ON CONFLICT (xid) DO UPDATE SET changed = EXCLUDED.changed WHERE desk_tx.changed IS NULL;
  RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION desk_mark_audited() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER
SET search_path = public, pg_temp AS $$
BEGIN
  IF EXISTS (SELECT 1 FROM desk_tx WHERE xid = pg_current_xact_id() AND audited) THEN
    RETURN NULL;  -- marked by an earlier entry of this transaction
  END IF;
  IF EXISTS (SELECT 1 FROM new_entries) THEN  -- an INSERT of no row audits nothing
    INSERT INTO desk_tx (xid, audited) VALUES (pg_current_xact_id(), true)
    ON CONFLICT (xid) DO UPDATE SET audited = true WHERE NOT desk_tx.audited;
  END IF;
  RETURN NULL;
END $$;

-- a row trigger whose WHEN lets through only an entry in another name (checked in C for the rest)
CREATE OR REPLACE FUNCTION desk_audit_in_own_name() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM desk_refuse(format('an audit entry under the name %L by the login %s: every entry is in the name '
                             'of the login that writes it', NEW.username, session_user));
  RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION desk_check_audited() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER
SET search_path = public, pg_temp AS $$
DECLARE r desk_tx;
BEGIN
  SELECT * INTO r FROM desk_tx WHERE xid = NEW.xid;
  IF NOT FOUND THEN
    RETURN NULL;
  END IF;
  IF r.changed IS NOT NULL AND NOT r.audited THEN
    PERFORM desk_refuse(format('%s changed by %s without an audit entry in the same transaction: desk changes '
                               'go through the desk (python main.py, the console), which audits them',
                               r.changed, session_user));
  END IF;
  DELETE FROM desk_tx WHERE xid = NEW.xid;
  RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION desk_trades_updated() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE who text := desk_login(); reviewer boolean := desk_is('reviewer'); operator boolean := desk_is('operator');
        why text; sent boolean; pending boolean; unapproved boolean; exporting boolean; not_exported boolean;
BEGIN
  BEGIN
    -- a trade's content, id and approver are checked row by row (desk_trades_content, fired only
    -- for a change of them); the usual status changes (approve, reject, withdraw, export:
    -- 100,000s of rows) are then decided by two scans without pairing old and new rows
    SELECT bool_or(o.batch_id IS NOT NULL), bool_or(o.status = 'PENDING_APPROVAL'),
           bool_or(o.status <> 'APPROVED') INTO sent, pending, unapproved FROM old_trades o;
    SELECT bool_or(n.batch_id IS NOT NULL OR n.status = 'EXPORTED'), bool_or(n.batch_id IS NULL OR n.status <> 'EXPORTED')
      INTO exporting, not_exported FROM new_trades n;
    IF NOT coalesce(sent, false) THEN
      IF coalesce(exporting, false) AND operator AND NOT unapproved AND NOT not_exported THEN
        RETURN NULL;  -- approved, unsent trades into a batch, by an operator
      END IF;
      IF NOT coalesce(exporting, false) AND reviewer AND NOT pending THEN
        RETURN NULL;  -- decisions by a reviewer (a manual trade's second approval: below)
      END IF;
    END IF;
  END;
  SELECT s.why INTO why FROM (SELECT CASE
    WHEN n.id IS NULL OR o.id IS NULL THEN 'a trade''s id never changes'
    WHEN o.batch_id IS NOT NULL THEN format('trade %s was exported in batch %s: it never changes', o.id, o.batch_id)
    WHEN {_row('n')} IS DISTINCT FROM {_row('o')} AND o.status <> 'PROPOSED' THEN
      format('trade %s is %s: only a proposed trade is edited (a reviewer takes it back first)', o.id, o.status)
    WHEN {_row('n')} IS DISTINCT FROM {_row('o')} AND NOT reviewer THEN
      format('editing trade %s needs the reviewer role; %s does not have it', o.id, session_user)
    WHEN n.batch_id IS NOT NULL OR n.status = 'EXPORTED' THEN CASE
      WHEN NOT operator THEN format('exporting trade %s needs the operator role; %s does not have it', o.id, session_user)
      WHEN o.status <> 'APPROVED' OR n.status <> 'EXPORTED' OR n.batch_id IS NULL THEN
        format('trade %s is %s: only an approved trade is exported, into a batch', o.id, o.status)
      END
    WHEN n.status IS DISTINCT FROM o.status AND NOT reviewer THEN
      format('changing trade %s from %s to %s needs the reviewer role; %s does not have it', o.id, o.status,
             n.status, session_user)
    WHEN o.status = 'PENDING_APPROVAL' AND n.status = 'APPROVED' AND lower(o.created_by) = who THEN
      format('four-eyes: trade %s was entered by %s; another login must approve it', o.id, o.created_by)
    WHEN o.status = 'PENDING_APPROVAL' AND n.status = 'APPROVED' AND n.approved_by IS DISTINCT FROM who THEN
      format('trade %s: the approver recorded must be the login that approves (%s)', o.id, who)
    WHEN n.status = o.status AND (n.approved_by, n.approved_at) IS DISTINCT FROM (o.approved_by, o.approved_at) THEN
      format('trade %s: its approver changes only with its approval', o.id)
    END AS why
  FROM old_trades o FULL JOIN new_trades n ON n.id = o.id
  WHERE n.id IS NULL OR o.id IS NULL OR o.batch_id IS NOT NULL OR n.status IS DISTINCT FROM o.status
     OR n.batch_id IS NOT NULL OR {_row('n')} IS DISTINCT FROM {_row('o')}
     OR (n.approved_by, n.approved_at) IS DISTINCT FROM (o.approved_by, o.approved_at)) s
  WHERE s.why IS NOT NULL LIMIT 1;
  PERFORM desk_refuse(why);
  RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION desk_trades_content() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NEW.id IS DISTINCT FROM OLD.id THEN
    PERFORM desk_refuse('a trade''s id never changes');
  END IF;
  IF OLD.batch_id IS NOT NULL THEN
    PERFORM desk_refuse(format('trade %s was exported in batch %s: it never changes', OLD.id, OLD.batch_id));
  END IF;
  IF {_row('NEW')} IS DISTINCT FROM {_row('OLD')} THEN
    IF OLD.status <> 'PROPOSED' THEN
      PERFORM desk_refuse(format('trade %s is %s: only a proposed trade is edited (a reviewer takes it back first)',
                                 OLD.id, OLD.status));
    END IF;
    IF NOT desk_is('reviewer') THEN
      PERFORM desk_refuse(format('editing trade %s needs the reviewer role; %s does not have it', OLD.id, session_user));
    END IF;
  END IF;
  IF (NEW.approved_by, NEW.approved_at) IS DISTINCT FROM (OLD.approved_by, OLD.approved_at)
     AND NOT (OLD.status = 'PENDING_APPROVAL' AND NEW.status IN ('APPROVED', 'REJECTED')) THEN
    PERFORM desk_refuse(format('trade %s: its approver changes only with its approval', OLD.id));
  END IF;
  RETURN NEW;
END $$;

CREATE OR REPLACE FUNCTION desk_trades_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE why text;
BEGIN
  SELECT format('trade %s was exported in batch %s: it is never deleted', o.id, o.batch_id) INTO why
  FROM old_trades o WHERE o.batch_id IS NOT NULL OR o.status = 'EXPORTED' LIMIT 1;
  PERFORM desk_refuse(why);
  RETURN NULL;
END $$;

-- row-level, fired (by the WHEN of its trigger) only for a decision: an approve updates each
-- proposal in a statement of its own (its version checked), thousands per action
CREATE OR REPLACE FUNCTION desk_proposals_updated() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NEW.id IS DISTINCT FROM OLD.id THEN
    PERFORM desk_refuse('a proposal''s id never changes');
  END IF;
  IF NOT desk_is('reviewer') THEN
    PERFORM desk_refuse(format('deciding the proposal for %s (%s to %s) needs the reviewer role; %s does not have it',
                               OLD.account_id, OLD.status, NEW.status, session_user));
  END IF;
  IF NEW.status IN ('APPROVED', 'REJECTED') AND NEW.decided_by IS DISTINCT FROM desk_login() THEN
    PERFORM desk_refuse(format('the proposal for %s: the decision is recorded under the login that makes it (%s)',
                               OLD.account_id, desk_login()));
  END IF;
  RETURN NEW;
END $$;

CREATE OR REPLACE FUNCTION desk_batches_changed() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE why text;
BEGIN
  IF TG_OP = 'DELETE' THEN
    PERFORM desk_refuse('an export batch''s record is never deleted');
  END IF;
  SELECT format('export batch %s is recorded: it never changes', o.id) INTO why
  FROM old_batches o WHERE o.manifest IS DISTINCT FROM '{{}}' LIMIT 1;
  PERFORM desk_refuse(why);
  RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION desk_policies_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM desk_refuse('a policy version is never ' || lower(TG_OP) || 'd: save a new version');
  RETURN NULL;
END $$;
"""

DECISION = ("NEW.id IS DISTINCT FROM OLD.id OR (NEW.status IS DISTINCT FROM OLD.status AND "
            "(NEW.status IN ('APPROVED', 'REJECTED') OR OLD.status IN ('APPROVED', 'REJECTED') AND NEW.status <> 'NONE')) "
            "OR (NEW.status IN ('APPROVED', 'REJECTED') AND "
            "(NEW.decided_by, NEW.decided_at) IS DISTINCT FROM (OLD.decided_by, OLD.decided_at))")

TRIGGERS = [
    ("trades", "desk_trades_updated", "AFTER UPDATE", "REFERENCING OLD TABLE AS old_trades NEW TABLE AS new_trades"),
    ("trades", "desk_trades_content", "BEFORE UPDATE", "FOR EACH ROW WHEN (NEW.id IS DISTINCT FROM OLD.id OR "
     f"{_row('NEW')} IS DISTINCT FROM {_row('OLD')} OR "
     "(NEW.approved_by, NEW.approved_at) IS DISTINCT FROM (OLD.approved_by, OLD.approved_at))"),
    ("trades", "desk_trades_deleted", "AFTER DELETE", "REFERENCING OLD TABLE AS old_trades"),
    ("proposals", "desk_proposals_updated", "BEFORE UPDATE", "FOR EACH ROW WHEN (" + DECISION + ")"),
    ("export_batches", "desk_batches_changed", "AFTER UPDATE", "REFERENCING OLD TABLE AS old_batches"),
    ("export_batches", "desk_batches_deleted", "BEFORE DELETE", ""),
    ("policies", "desk_policies_changed", "BEFORE UPDATE OR DELETE", ""),
    ("audit_log", "desk_mark_audited", "AFTER INSERT", "REFERENCING NEW TABLE AS new_entries"),
    ("audit_log", "desk_audit_in_own_name", "BEFORE INSERT",
     "FOR EACH ROW WHEN (NEW.username IS DISTINCT FROM lower(session_user::text))"),
] + [(t, "desk_mark_changed", "AFTER INSERT OR UPDATE OR DELETE", "") for t in GUARDED]

FUNCTION_OF = {"desk_batches_deleted": "desk_batches_changed()"}


def install(conn: Connection) -> None:
    """Create (or refresh) the guards on this PostgreSQL database; the caller's transaction."""
    cur = conn.connection.dbapi_connection.cursor()  # the same transaction; no parameters, so '%' stays as written
    try:
        cur.execute(SQL)
    finally:
        cur.close()
    for table, name, when, referencing in TRIGGERS:
        trigger = name if name != "desk_mark_changed" else f"desk_mark_changed_{table}"
        conn.exec_driver_sql(f"DROP TRIGGER IF EXISTS {trigger} ON {table}")
        level = referencing if referencing.startswith("FOR EACH ROW") else f"{referencing} FOR EACH STATEMENT"
        conn.exec_driver_sql(f"CREATE TRIGGER {trigger} {when} ON {table} {level} "
                             f"EXECUTE FUNCTION {FUNCTION_OF.get(name, name + '()')}")
    conn.exec_driver_sql("DROP TRIGGER IF EXISTS desk_tx_audited ON desk_tx")
    conn.exec_driver_sql("CREATE CONSTRAINT TRIGGER desk_tx_audited AFTER INSERT OR UPDATE ON desk_tx "
                         "DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION desk_check_audited()")
