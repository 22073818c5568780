"""Proposal detail in a compact form: columns and shared texts, not one JSON text per account.

A run's proposal detail (the class weights before and after, the model's class targets and
bands, cash figures, restrictions, household and budget notes) used to be one JSON text per
proposal, ~1.3 KB each: ~130 MB a day at 100,000 accounts. Most of it is shared (the model's
targets and bands, the class names, an empty restriction list) or numbers printed as text. Here a
proposal's detail is one row of ``proposal_details``:

* ``weights``: the pre- and post-trade class weights as float64 bytes (exact);
* ``cash_post`` … ``tax_saved``: the scalar figures as float columns (exact);
* ``shape``: the id of a text shared within the run (``detail_texts``) holding the detail's key
  order, the class names of both weight vectors, the class targets and the class bands;
* ``extra``: the id of a shared text holding the rest as JSON (most accounts share one).

:func:`decode` gives back the very dict that was encoded (same keys in the same order, same
values bit for bit), so ``json.dumps`` of it is the text the proposal used to carry. A proposal
whose ``detail`` column holds text (an edited proposal re-scored, or a run written before this
form) is read from that text: the column wins over the compact row.

Old runs' details beyond the policy's ``retention.keep_run_details`` are removed
(:func:`prune`): their proposals keep every summary column (category, score and its parts, flags,
reasons, status, who decided), and trades, batches and the audit log are never touched.
"""
from __future__ import annotations

import json
import math
from collections.abc import Iterable, Sequence

import numpy as np
import pandas as pd
from sqlalchemy import Connection, delete, select

from storage import models as m
from storage.bulk import in_chunks, insert_frame

WEIGHTS = ("class_weights_pre", "class_weights_post")
SHARED = ("class_targets", "class_bands")
SCALARS = ("cash_post", "cash_required", "cash_shortfall", "cash_needed", "harvest_value", "tax_saved")

PD = m.ProposalDetail.__table__
DT = m.DetailText.__table__
P = m.Proposal.__table__


def _plain_float(v) -> bool:
    """A float a float column gives back bit for bit on both databases (SQLite stores NaN as NULL)."""
    return type(v) is float and math.isfinite(v) and not (v == 0.0 and math.copysign(1.0, v) < 0)


def _weights(v) -> bool:
    return isinstance(v, dict) and all(type(k) is str for k in v) and all(type(x) is float for x in v.values())


class Encoder:
    """Encodes one run's details; shared texts are numbered in the order they are first met."""

    def __init__(self) -> None:
        self.texts: dict[str, int] = {}

    def _text(self, text: str) -> int:
        i = self.texts.get(text)
        if i is None:
            i = self.texts[text] = len(self.texts)
        return i

    def encode(self, d: dict) -> tuple:
        """(shape, extra, weights, *scalars) of one detail dict."""
        keys = list(d)
        pre, post = d.get(WEIGHTS[0]), d.get(WEIGHTS[1])
        packed = WEIGHTS[0] in d and WEIGHTS[1] in d and _weights(pre) and _weights(post)
        shape: list = [keys, list(pre) if packed else None, list(post) if packed else None,
                       {k: d[k] for k in SHARED if k in d}]
        scalars = [d[k] if k in d and _plain_float(d[k]) else None for k in SCALARS]
        done = set(SHARED) | {k for k, v in zip(SCALARS, scalars) if v is not None} | (set(WEIGHTS) if packed else set())
        extra = {k: v for k, v in d.items() if k not in done}
        weights = np.fromiter([*pre.values(), *post.values()], float).tobytes() if packed else None
        return (self._text(json.dumps(shape)), self._text(json.dumps(extra)), weights, *scalars)


def decode(shape_text: str, extra_text: str, weights: bytes | None, scalars: Sequence) -> dict:
    keys, pre_keys, post_keys, shared = json.loads(shape_text)
    extra = json.loads(extra_text)
    known: dict = dict(shared)
    if pre_keys is not None:
        w = np.frombuffer(weights, dtype=float).tolist()
        known[WEIGHTS[0]] = dict(zip(pre_keys, w[:len(pre_keys)]))
        known[WEIGHTS[1]] = dict(zip(post_keys, w[len(pre_keys):]))
    for k, v in zip(SCALARS, scalars):
        if v is not None:
            known[k] = float(v)
    return {k: known[k] if k in known else extra[k] for k in keys}


def _num(v: float) -> str:
    """A float as ``json.dumps`` writes it."""
    if v != v:
        return "NaN"
    if v in (math.inf, -math.inf):
        return "Infinity" if v > 0 else "-Infinity"
    return float.__repr__(v)


class _Shape:
    """A shape text parsed once per run, its shared parts already in JSON."""

    def __init__(self, shape_text: str) -> None:
        keys, self.pre, self.post, shared = json.loads(shape_text)
        self.keys = [(k, json.dumps(k)) for k in keys]
        self.qpre = [json.dumps(k) for k in self.pre] if self.pre is not None else None
        self.qpost = [json.dumps(k) for k in self.post] if self.post is not None else None
        self.shared = {k: json.dumps(v) for k, v in shared.items()}


def _extra(extra_text: str) -> dict[str, str]:
    return {k: json.dumps(v) for k, v in json.loads(extra_text).items()}


def text(shape: _Shape, extra: dict[str, str], weights: bytes | None, scalars: Sequence) -> str:
    """``json.dumps(decode(...))`` without building the dict: the shared parts come as text."""
    w = np.frombuffer(weights, dtype=float).tolist() if shape.pre is not None else None
    sc = {k: v for k, v in zip(SCALARS, scalars) if v is not None}
    parts = []
    for k, q in shape.keys:
        if k in shape.shared:
            v = shape.shared[k]
        elif w is not None and k == WEIGHTS[0]:
            v = "{" + ", ".join(f"{n}: {_num(x)}" for n, x in zip(shape.qpre, w)) + "}"
        elif w is not None and k == WEIGHTS[1]:
            v = "{" + ", ".join(f"{n}: {_num(x)}" for n, x in zip(shape.qpost, w[len(shape.qpre):])) + "}"
        elif k in sc:
            v = _num(float(sc[k]))
        else:
            v = extra[k]
        parts.append(f"{q}: {v}")
    return "{" + ", ".join(parts) + "}"


def write(conn: Connection, run_id: int, proposal_ids: Sequence[int], details: Sequence[dict | None]) -> int:
    """Store the details of one run's proposals (None: no detail); returns the rows written."""
    enc = Encoder()
    rows = [(pid, *enc.encode(d)) for pid, d in zip(proposal_ids, details) if d is not None]
    if not rows:
        return 0
    insert_frame(conn, DT, pd.DataFrame({"run_id": run_id, "id": list(enc.texts.values()),
                                         "text": list(enc.texts)}))
    df = pd.DataFrame.from_records(rows, columns=["proposal_id", "shape", "extra", "weights", *SCALARS])
    for c in SCALARS:
        df[c] = df[c].astype(object)
    df.insert(1, "run_id", run_id)
    return insert_frame(conn, PD, df)


def _texts(conn: Connection, run_ids: Iterable[int]) -> dict[tuple[int, int], str]:
    out = {}
    for chunk in in_chunks(set(run_ids)):
        for r, i, text in conn.execute(select(DT.c.run_id, DT.c.id, DT.c.text).where(DT.c.run_id.in_(chunk))):
            out[(r, i)] = text
    return out


def _decode_rows(conn: Connection, rows) -> dict[int, str]:
    rows = list(rows)
    texts = _texts(conn, {r[1] for r in rows})
    shapes: dict[tuple[int, int], _Shape] = {}
    extras: dict[tuple[int, int], dict] = {}
    out = {}
    for pid, run, shape, extra, weights, *scalars in rows:
        sk, ek = (run, shape), (run, extra)
        sh = shapes.get(sk) or shapes.setdefault(sk, _Shape(texts[sk]))
        ex = extras.get(ek) or extras.setdefault(ek, _extra(texts[ek]))
        out[pid] = text(sh, ex, weights, scalars)
    return out


_COLS = (PD.c.proposal_id, PD.c.run_id, PD.c.shape, PD.c.extra, PD.c.weights, *(PD.c[c] for c in SCALARS))


def texts_of(conn: Connection, proposal_ids: Iterable[int]) -> dict[int, str]:
    """The detail JSON text of each proposal that has one (the ``detail`` column, else the compact row)."""
    ids = list(proposal_ids)
    out: dict[int, str] = {}
    for chunk in in_chunks(ids):
        out.update((pid, d) for pid, d in conn.execute(select(P.c.id, P.c.detail).where(
            P.c.id.in_(chunk), P.c.detail.is_not(None))))
    rest = [i for i in ids if i not in out]
    for chunk in in_chunks(rest):
        out.update(_decode_rows(conn, conn.execute(select(*_COLS).where(PD.c.proposal_id.in_(chunk)))))
    return out


def text_of(conn: Connection, proposal: dict) -> str | None:
    """The detail JSON text of one proposal row (a mapping with ``id`` and ``detail``)."""
    if proposal.get("detail") is not None:
        return proposal["detail"]
    return texts_of(conn, [proposal["id"]]).get(proposal["id"])


def fill_frame(conn: Connection, df: pd.DataFrame, run_id: int) -> pd.DataFrame:
    """``df`` (one run's proposals with ``id`` and ``detail``) with ``detail`` read from the compact
    rows where the column is empty."""
    if not len(df) or "detail" not in df or "id" not in df:
        return df
    missing = df["detail"].isna().to_numpy()
    if not missing.any():
        return df
    texts = _decode_rows(conn, conn.execute(select(*_COLS).where(PD.c.run_id == run_id)))
    detail = df["detail"].to_numpy(object).copy()
    ids = df["id"].to_numpy()
    for i in np.flatnonzero(missing):
        detail[i] = texts.get(int(ids[i]))
    df = df.copy()
    df["detail"] = detail
    return df


def prune(conn: Connection, keep: int) -> dict[str, int]:
    """Reduce the runs older than the newest ``keep`` to their summary: their proposals' compact
    detail rows and shared texts are removed; the proposals (category, score and its parts, flags,
    reasons, status, who decided), trades, batches and the audit log stay. A detail kept as text in
    the proposal's own column (an edited proposal, a run written before the compact form) is left
    as it is: the proposals table is the desk's record and its guards see every change to it.
    Returns the rows removed per table."""
    old = [r for (r,) in conn.execute(select(m.Run.id).order_by(m.Run.id.desc()).offset(keep))]
    if not old:
        return {}
    out = {"proposal_details": 0, "detail_texts": 0}
    for chunk in in_chunks(old):
        out["proposal_details"] += conn.execute(delete(PD).where(PD.c.run_id.in_(chunk))).rowcount or 0
        out["detail_texts"] += conn.execute(delete(DT).where(DT.c.run_id.in_(chunk))).rowcount or 0
    return {k: v for k, v in out.items() if v}
