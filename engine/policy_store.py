"""Policy versions: saving a policy makes a new version that the next run uses.

Saving is optimistic: a caller that edited version N passes ``expected_version=N`` (0 = it
started from the default policy, no version saved yet); if someone else saved a newer version
meanwhile the save is refused with :class:`PolicyConflict`, naming who saved which version
when, and nothing is stored — never a silent overwrite of their change.
"""
from __future__ import annotations

import pandas as pd
from sqlalchemy import Engine, insert, select

from engine.policy import Policy
from engine.tasks import RefusedError, current_user
from storage import models as m
from storage import repo
from storage.bulk import read_frame


class PolicyConflict(RefusedError):
    """A newer policy version was saved since the one the user started from."""

    def __init__(self, message: str, *, expected: int, latest: int, saved_by: str, saved_at):
        super().__init__(message)
        self.expected, self.latest, self.saved_by, self.saved_at = expected, latest, saved_by, saved_at


def latest_version(engine_or_conn) -> int:
    """The newest saved policy version (0 when none was saved: the default policy is in use)."""
    t = m.Policy.__table__

    def read(conn):
        return int(conn.execute(select(t.c.id).order_by(t.c.id.desc()).limit(1)).scalar() or 0)
    if isinstance(engine_or_conn, Engine):
        with engine_or_conn.connect() as conn:
            return read(conn)
    return read(engine_or_conn)


def save_policy(engine: Engine, policy: Policy, *, user: str | None = None, note: str | None = None,
                expected_version: int | None = None) -> int:
    """Store ``policy`` as the newest version (even if equal to an older one); audited.

    ``expected_version``: the version the user started from (0 = the default policy, none
    saved); a newer version saved since refuses with :class:`PolicyConflict`. ``None`` skips
    the check (tools that store a policy they just read themselves)."""
    user = current_user(user)
    t = m.Policy.__table__
    with engine.begin() as conn:
        repo.take_lock(conn, "policy", user)  # one save at a time: the check below stays true until commit
        prev = conn.execute(select(t.c.id, t.c.created_by, t.c.created_at)
                            .order_by(t.c.id.desc()).limit(1)).first()
        latest = int(prev[0]) if prev else 0
        if expected_version is not None and latest != int(expected_version):
            started = f"version {expected_version}" if expected_version else "the default policy"
            newer = conn.execute(select(t.c.id, t.c.created_by, t.c.created_at).where(
                t.c.id > int(expected_version)).order_by(t.c.id)).all()
            who = "; ".join(f"version {i} by {by} at {at:%Y-%m-%d %H:%M:%S} UTC" for i, by, at in newer)
            raise PolicyConflict(
                f"policy not saved: you started from {started}, but {who or f'version {latest}'} "
                f"{'was' if len(newer) <= 1 else 'were'} saved since. Reload the latest version, "
                "redo your change and save again.",
                expected=int(expected_version), latest=latest, saved_by=str(prev[1]), saved_at=prev[2])
        pid = conn.execute(insert(t).values(created_at=repo.now(), created_by=user, checksum=policy.checksum,
                                            body=policy.to_toml(), note=note).returning(t.c.id)).scalar_one()
        repo.audit(conn, user, "POLICY_SAVE", detail=note or f"policy version {pid}",
                   before={"policy_id": prev[0]} if prev else None, after={"policy_id": pid})
    return pid


def policy_versions(engine: Engine) -> pd.DataFrame:
    t = m.Policy.__table__
    with engine.connect() as conn:
        return read_frame(conn, select(t.c.id, t.c.created_at, t.c.created_by, t.c.note, t.c.checksum)
                          .order_by(t.c.id.desc()))
