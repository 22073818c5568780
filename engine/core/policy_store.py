"""Policy versions: saving a policy makes a new version that the next run uses.

Saved versions vs. policies a run used: the ``policies`` table also holds the policy of every
run (``runs.policy_id``), including an ad-hoc ``run --policy FILE``. Only a version saved here
is a *saved version*: the current policy (what manual trades, four-eyes, retention and the next
scheduled run read), the versions the Policy panel lists and the version a save is checked
against. A saved version is told apart by its ``POLICY_SAVE`` audit entry (``after =
{"policy_id": N}``, written in the same transaction since the first version of this module), so
no schema change is needed and databases saved before keep working.

Switching four-eyes off for a tier (explicitly, or by removing the tier) writes an extra
``FOUR_EYES_OFF`` audit entry per tier naming the tier and the user.

Saving is optimistic: a caller that edited version N passes ``expected_version=N`` (0 = it
started from the default policy, no version saved yet); if someone else saved a newer version
meanwhile the save is refused with :class:`PolicyConflict`, naming who saved which version
when, and nothing is stored — never a silent overwrite of their change.
"""
from __future__ import annotations

import json

import pandas as pd
from sqlalchemy import Engine, insert, select

from engine.core.policy import Policy, default_policy, policy_from_toml
from engine.core.identity import acting_user
from engine.core.tasks import RefusedError
from storage import models as m
from storage import repo
from storage.bulk import read_frame


class PolicyConflict(RefusedError):
    """A newer policy version was saved since the one the user started from."""

    def __init__(self, message: str, *, expected: int, latest: int, saved_by: str, saved_at):
        super().__init__(message)
        self.expected, self.latest, self.saved_by, self.saved_at = expected, latest, saved_by, saved_at


SAVE_ACTION = "POLICY_SAVE"
FOUR_EYES_OFF = "FOUR_EYES_OFF"


def _with_conn(engine_or_conn, read):
    if isinstance(engine_or_conn, Engine):
        with engine_or_conn.connect() as conn:
            return read(conn)
    return read(engine_or_conn)


def _saved_id(after) -> int | None:
    try:
        pid = json.loads(after).get("policy_id") if after else None
        return int(pid) if pid is not None else None
    except (ValueError, TypeError, AttributeError):
        return None


def saved_version_ids(engine_or_conn) -> list[int]:
    """Ids of the saved policy versions (newest first): those with a POLICY_SAVE audit entry.
    Policies stored only because a run used them (``run --policy FILE``) are not among them."""
    a, t = m.AuditEntry.__table__, m.Policy.__table__

    def read(conn):
        ids = {i for (after,) in conn.execute(select(a.c.after).where(a.c.action == SAVE_ACTION))
               if (i := _saved_id(after)) is not None}
        if not ids:
            return []
        exist = {int(i) for (i,) in conn.execute(select(t.c.id).where(t.c.id.in_(sorted(ids))))}
        return sorted(ids & exist, reverse=True)
    return _with_conn(engine_or_conn, read)


def latest_saved(engine_or_conn):
    """The newest saved version's row (id, created_by, created_at, body), or None when none was
    saved (the default policy is in use). Saves are serialized, so the newest POLICY_SAVE entry
    names it; older entries are looked at only if its row is gone."""
    a, t = m.AuditEntry.__table__, m.Policy.__table__

    def read(conn):
        cols = select(t.c.id, t.c.created_by, t.c.created_at, t.c.body)
        after = conn.execute(select(a.c.after).where(a.c.action == SAVE_ACTION)
                             .order_by(a.c.id.desc()).limit(1)).scalar()
        if after is None:
            return None
        pid = _saved_id(after)
        row = None if pid is None else conn.execute(cols.where(t.c.id == pid)).first()
        if row is not None:
            return row
        ids = saved_version_ids(conn)
        return conn.execute(cols.where(t.c.id == ids[0])).first() if ids else None
    return _with_conn(engine_or_conn, read)


def latest_version(engine_or_conn) -> int:
    """The newest saved policy version (0 when none was saved: the default policy is in use).
    A policy stored only because a run used it is not a saved version."""
    row = latest_saved(engine_or_conn)
    return int(row[0]) if row is not None else 0


def four_eyes_switched_off(before: Policy, after: Policy) -> list[tuple[str, str]]:
    """(tier, how) for every tier with four-eyes on in ``before`` and off in ``after``: set off,
    or the tier removed (its accounts fall into tiers of the new policy)."""
    now = {t.name: t.four_eyes_on for t in after.tiers}
    return [(name, "switched off" if name in now else "tier removed")
            for name in sorted(before.four_eyes_tiers()) if not now.get(name, False)]


def save_policy(engine: Engine, policy: Policy, *, user: str | None = None, note: str | None = None,
                expected_version: int | None = None) -> int:
    """Store ``policy`` as the newest version (even if equal to an older one); audited.

    ``expected_version``: the version the user started from (0 = the default policy, none
    saved); a newer version saved since refuses with :class:`PolicyConflict`. ``None`` skips
    the check (tools that store a policy they just read themselves)."""
    user = acting_user(engine, user, "admin")
    t = m.Policy.__table__
    with engine.begin() as conn:
        repo.take_lock(conn, "policy", user)  # one save at a time: the check below stays true until commit
        prev = latest_saved(conn)  # a policy only a run used is not a version one can conflict with
        latest = int(prev[0]) if prev else 0
        if expected_version is not None and latest != int(expected_version):
            started = f"version {expected_version}" if expected_version else "the default policy"
            newer_ids = [i for i in saved_version_ids(conn) if i > int(expected_version)]
            newer = conn.execute(select(t.c.id, t.c.created_by, t.c.created_at).where(
                t.c.id.in_(newer_ids)).order_by(t.c.id)).all() if newer_ids else []
            who = "; ".join(f"version {i} by {by} at {at:%Y-%m-%d %H:%M:%S} UTC" for i, by, at in newer)
            raise PolicyConflict(
                f"policy not saved: you started from {started}, but {who or f'version {latest}'} "
                f"{'was' if len(newer) <= 1 else 'were'} saved since. Reload the latest version, "
                "redo your change and save again.",
                expected=int(expected_version), latest=latest, saved_by=str(prev[1]), saved_at=prev[2])
        pid = conn.execute(insert(t).values(created_at=repo.now(), created_by=user, checksum=policy.checksum,
                                            body=policy.to_toml(), note=note).returning(t.c.id)).scalar_one()
        repo.audit(conn, user, SAVE_ACTION, detail=note or f"policy version {pid}",
                   before={"policy_id": prev[0]} if prev else None, after={"policy_id": pid})
        try:
            before = policy_from_toml(prev[3], f"policy version {prev[0]}") if prev else default_policy()
        except RefusedError:  # a version the model no longer reads: compare with the defaults
            before = default_policy()
        for tier, how in four_eyes_switched_off(before, policy):
            was = f"version {prev[0]}" if prev else "the default policy"
            repo.audit(conn, user, FOUR_EYES_OFF,
                       detail=f"four-eyes {how} for tier {tier} by {user} in policy version {pid} "
                              f"(on in {was}): its manual trades and edited proposals no longer need "
                              "a second user's approval",
                       before={"policy_id": prev[0] if prev else None, "tier": tier, "four_eyes": True},
                       after={"policy_id": pid, "tier": tier, "four_eyes": False,
                              **({"removed": True} if how == "tier removed" else {})})
    return pid


def policy_versions(engine: Engine) -> pd.DataFrame:
    """The saved versions, newest first (not the policies only a run used)."""
    t = m.Policy.__table__
    with engine.connect() as conn:
        ids = saved_version_ids(conn)
        return read_frame(conn, select(t.c.id, t.c.created_at, t.c.created_by, t.c.note, t.c.checksum)
                          .where(t.c.id.in_(ids or [-1])).order_by(t.c.id.desc()))
