"""Notes and reason codes: free text with one of the policy's ``[notes] codes``, on an account
or on a desk action (an approval, a rejection, a hold), kept in ``notes``, audited, shown in the
account's history and searchable.

The policy can require a note (``[notes] required = [{action = "approve", tiers = ["UHNW"]}]``,
as Tamarac does for non-discretionary accounts): the action is then refused without one
(:func:`require_notes`), in the action's own transaction, and the note is written with it
(:func:`record_note`).
"""
from __future__ import annotations

import pandas as pd
from sqlalchemy import Engine, or_, select

from engine.core.identity import acting_user
from engine.core.tasks import RefusedError
from storage import models as m
from storage import repo
from storage.bulk import read_frame

N = m.Note.__table__
KINDS = ("account", "approval", "rejection", "hold")
ACTION_KIND = {"approve": "approval", "reject": "rejection", "hold": "hold"}


def _clean(policy, text: str | None, code: str | None) -> tuple[str, str | None]:
    text = (text or "").strip()
    if code is not None and str(code).strip():
        code = str(code).strip().upper()
        codes = policy.note_policy().codes
        if code not in codes:
            raise RefusedError(f"note code {code!r} is not one of the policy's codes: {', '.join(codes)}")
    else:
        code = None
    return text, code


def require_notes(policy, action: str, tiers: dict[str, str], text: str | None, code: str | None = None
                  ) -> tuple[str, str | None]:
    """Refuse ``action`` on accounts -> tier ``tiers`` when the policy requires a note for one of
    them and ``text`` is empty; returns the (text, code) cleaned."""
    text, code = _clean(policy, text, code)
    if not text:
        need = sorted({t for t in tiers.values() if policy.note_required(action, t)})
        if need:
            who = sorted(a for a, t in tiers.items() if t in need)
            raise RefusedError(f"a note is required to {action} accounts of tier {', '.join(need)} (policy [notes] "
                               f"required): {', '.join(who[:5])}{' …' if len(who) > 5 else ''}; say why; nothing "
                               "changed")
    return text, code


def record_note(conn, user: str, account_ids, kind: str, text: str, code: str | None = None,
                ref: str | None = None, at=None) -> int:
    """Write one note per account (inside the caller's transaction; the caller's audit entry
    covers the action, this one the note). Returns how many were written."""
    if not text:
        return 0
    at = at or repo.now()
    rows = [{"at": at, "username": user, "account_id": a, "kind": kind, "ref": ref, "code": code, "text": text}
            for a in dict.fromkeys(account_ids)]
    if rows:
        conn.execute(N.insert(), rows)
    return len(rows)


def add_note(engine: Engine, account_id: str, text: str, *, code: str | None = None, user: str | None = None
             ) -> None:
    """A note on an account (the History panel's "Add note…"): text required, code optional."""
    from engine.core.policy_store import current_policy

    user = acting_user(engine, user, "operator")
    with engine.begin() as conn:
        text, code = _clean(current_policy(conn), text, code)
        if not text:
            raise RefusedError("a note needs text: say what happened or why; nothing saved")
        snap = repo.snapshot_info(conn)
        if snap is not None and not conn.execute(select(m.Account.account_id).where(
                m.Account.snapshot_id == snap.id, m.Account.account_id == account_id)).first():
            raise RefusedError(f"account {account_id} is not in the book as of {snap.as_of}; nothing saved")
        record_note(conn, user, [account_id], "account", text, code)
        repo.audit(conn, user, "NOTE", account_id=account_id, detail=f"{code + ' — ' if code else ''}{text}",
                   after={"code": code, "text": text})


def notes_events(conn, account_id: str) -> list[dict]:
    """The account's own notes as history events (engine.desk.desk_views.account_history); the notes
    of actions are in the action's audit entry, which the history shows already."""
    out = []
    for r in conn.execute(select(N).where(N.c.account_id == account_id, N.c.kind == "account")):
        code = f"{r.code} — " if r.code else ""
        ref = f" ({r.ref})" if r.ref else ""
        out.append({"at": r.at, "kind": "NOTE", "summary": f"note on {r.kind}{ref}: {code}{r.text}",
                    "user": r.username, "detail": ""})
    return out


def search_notes(engine: Engine, text: str = "", *, code: str | None = None, account_id: str | None = None
                 ) -> pd.DataFrame:
    """Notes whose text, code or account contains ``text`` (case-insensitive), newest first."""
    stmt = select(N).order_by(N.c.at.desc(), N.c.id.desc())
    if text.strip():
        like = f"%{text.strip().lower()}%"
        from sqlalchemy import func

        stmt = stmt.where(or_(func.lower(N.c.text).like(like), func.lower(N.c.code).like(like),
                              func.lower(N.c.account_id).like(like)))
    if code:
        stmt = stmt.where(N.c.code == code.upper())
    if account_id:
        stmt = stmt.where(N.c.account_id == account_id)
    with engine.connect() as conn:
        return read_frame(conn, stmt).rename(columns={"username": "user"})
