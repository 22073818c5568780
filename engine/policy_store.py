"""Policy versions: saving a policy makes a new version that the next run uses."""
from __future__ import annotations

import pandas as pd
from sqlalchemy import Engine, insert, select

from engine.policy import Policy
from engine.tasks import current_user
from storage import models as m
from storage import repo
from storage.bulk import read_frame


def save_policy(engine: Engine, policy: Policy, *, user: str | None = None, note: str | None = None) -> int:
    """Store ``policy`` as the newest version (even if equal to an older one); audited."""
    user = current_user(user)
    t = m.Policy.__table__
    with engine.begin() as conn:
        prev = conn.execute(select(t.c.id, t.c.body).order_by(t.c.id.desc()).limit(1)).first()
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
