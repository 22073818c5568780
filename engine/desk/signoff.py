"""The printable batch sign-off: one PDF (and the same as HTML) per batch for the desk's file.

What it says (:func:`signoff_facts`): the batch's totals per tier and custodian (buys, sells,
estimated realized gain, estimated tax and tax saved, from the lots the sells relieve), the
overrides in force when it was exported, its manual trades, who approved what (and the run's
automatic approvals), the four-eyes approvals (editor or entrant, then the other user who
approved), the files with their SHA-256 from the manifest, the audit chain head, and signature
lines.

Made at export (format ``signoff``: ``signoff_<batch>.pdf`` and ``.html`` staged and published
with the batch, their SHA-256 in the manifest's ``signoff`` field) and on demand for any batch
(:func:`write_signoff`, audited ``SIGNOFF``). The PDF is drawn with reportlab (pure Python: the
engine and the headless export never import Qt; see docs/benchmarks.md for Qt's QPdfWriter,
measured against it).
"""
from __future__ import annotations

import html
import io
import json
from pathlib import Path

import numpy as np
import pandas as pd
from sqlalchemy import and_, or_, select

from engine.desk.lot_instructions import lot_rows
from storage import models as m
from storage import repo
from storage.bulk import in_chunks, read_frame

T = m.Trade.__table__
P = m.Proposal.__table__
A = m.Account.__table__
B = m.ExportBatch.__table__
SIGNATURES = ("Prepared by (operations)", "Approved by (trading desk)", "Reviewed by (compliance)")
TOTAL_KEYS = ["tier", "custodian", "accounts", "trades", "buys", "sells", "est_gain", "est_tax", "tax_saved"]


def signoff_names(batch_id: str) -> dict[str, str]:
    return {"pdf": f"signoff_{batch_id}.pdf", "html": f"signoff_{batch_id}.html"}


# --------------------------------------------------------------------------- facts
def _tiers(conn, trades: pd.DataFrame) -> list[str]:
    """The tier of each trade: its proposal's; a manual trade takes its account's tier in the
    newest run that has the account ("manual" when none)."""
    pids = [int(p) for p in trades["proposal_id"].dropna().unique()]
    by_pid = {}
    for part in in_chunks(pids):
        by_pid.update(dict(conn.execute(select(P.c.id, P.c.tier).where(P.c.id.in_(part))).all()))
    manual_acc = trades.loc[trades["proposal_id"].isna(), "account_id"].unique().tolist()
    by_acc = {}
    for part in in_chunks(manual_acc):
        for a, tier in conn.execute(select(P.c.account_id, P.c.tier).where(P.c.account_id.in_(part))
                                    .order_by(P.c.run_id)):
            by_acc[a] = tier
    return [by_pid.get(int(p), "") if pd.notna(p) else by_acc.get(a, "manual")
            for p, a in zip(trades["proposal_id"], trades["account_id"])]


def _lot_tax(conn, lots: pd.DataFrame, snapshot_id: int) -> pd.DataFrame:
    """Lots relieved with the estimated tax at their account's rate (0 when not taxable)."""
    if not len(lots):
        return lots.assign(est_tax=[])
    rates = read_frame(conn, select(A.c.account_id, A.c.taxable, A.c.st_rate, A.c.lt_rate).where(
        A.c.snapshot_id == snapshot_id, A.c.account_id.in_(lots["account_id"].unique().tolist())))
    r = lots.merge(rates, on="account_id", how="left")
    rate = np.where(r["term"] == "ST", pd.to_numeric(r["st_rate"]).fillna(0.0), pd.to_numeric(r["lt_rate"]).fillna(0.0))
    taxable = r["taxable"].fillna(False).astype(bool).to_numpy()
    gain = pd.to_numeric(r["est_gain"]).fillna(0.0).to_numpy()
    return lots.assign(est_tax=np.round(np.where(taxable, gain * rate, 0.0), 2))


def signoff_facts(conn, batch: dict, manifest: dict, trades: pd.DataFrame) -> dict:
    """Everything the sign-off prints, as plain values. ``batch``: id, created_at, created_by,
    snapshot_id; ``manifest``: the batch's manifest (files, audit head, counts); ``trades``: the
    rows of the trades table that are (or, at export, are being) locked to the batch."""
    bid = batch["id"]
    snap = repo.snapshot_info(conn, int(batch["snapshot_id"]))
    t = trades.reset_index(drop=True).copy()
    t["tier"] = _tiers(conn, t)
    value = pd.to_numeric(t["est_value"]).fillna(0.0)
    t["buy"] = np.where(t["side"] == "BUY", value, 0.0)
    t["sell"] = np.where(t["side"] == "SELL", value, 0.0)
    lots = _lot_tax(conn, lot_rows(conn, t, bid), int(batch["snapshot_id"]))
    by_acc = t[["account_id", "tier", "custodian"]].drop_duplicates("account_id")
    lots = lots.drop(columns=["custodian"]).merge(by_acc, on="account_id", how="left") if len(lots) else \
        pd.DataFrame(columns=["account_id", "tier", "custodian", "est_gain", "est_tax"])
    g = t.groupby(["tier", "custodian"], sort=True)
    totals = pd.DataFrame({"accounts": g["account_id"].nunique(), "trades": g["id"].count(),
                           "buys": g["buy"].sum(), "sells": g["sell"].sum()}).reset_index()
    gl = lots.assign(est_gain=pd.to_numeric(lots["est_gain"]).fillna(0.0),
                     est_tax=pd.to_numeric(lots["est_tax"]).fillna(0.0))
    gl = gl.assign(tax_pos=gl["est_tax"].clip(lower=0), tax_neg=-gl["est_tax"].clip(upper=0))
    lg = gl.groupby(["tier", "custodian"]).agg(est_gain=("est_gain", "sum"), est_tax=("tax_pos", "sum"),
                                               tax_saved=("tax_neg", "sum")).reset_index()
    totals = totals.merge(lg, on=["tier", "custodian"], how="left").fillna(
        {"est_gain": 0.0, "est_tax": 0.0, "tax_saved": 0.0})
    rows = [{k: (r[k] if k in ("tier", "custodian") else (int(r[k]) if k in ("accounts", "trades")
                                                          else round(float(r[k]), 2))) for k in TOTAL_KEYS}
            for r in totals.to_dict("records")]
    grand = {"tier": "All", "custodian": "All", "accounts": int(t["account_id"].nunique()), "trades": int(len(t)),
             **{k: round(sum(r[k] for r in rows), 2) for k in ("buys", "sells", "est_gain", "est_tax", "tax_saved")}}

    when = batch["created_at"]
    ov = m.Override.__table__
    active = and_(ov.c.created_at <= when, or_(ov.c.ended_at.is_(None), ov.c.ended_at > when),
                  or_(ov.c.until.is_(None), ov.c.until >= snap.as_of))
    overrides = [{"kind": r.kind, "target": r.account_id or r.symbol, "mode": r.mode or "",
                  "until": str(r.until) if r.until else "until ended", "reason": r.reason, "by": r.created_by}
                 for r in conn.execute(select(ov).where(active).order_by(ov.c.id))]
    man = t[t["proposal_id"].isna()]
    manual = [{"account_id": r.account_id, "side": r.side, "quantity": int(r.quantity), "symbol": r.symbol,
               "value": round(float(r.est_value or 0), 2), "entered_by": r.created_by,
               "approved_by": r.approved_by or "", "reason": r.reason or ""}
              for r in man.sort_values(["account_id", "id"]).itertuples()]
    pids = [int(p) for p in t["proposal_id"].dropna().unique()]
    props = pd.concat([read_frame(conn, select(P.c.account_id, P.c.run_id, P.c.tier, P.c.review, P.c.decided_by,
                                               P.c.decided_at, P.c.edited_by).where(P.c.id.in_(part)))
                       for part in in_chunks(pids)], ignore_index=True) if pids else pd.DataFrame(
        columns=["account_id", "run_id", "tier", "review", "decided_by", "decided_at", "edited_by"])
    auto = "automatic (run " + props["run_id"].astype(str) + ", tier without review)"
    who = props["decided_by"].where(props["decided_by"].notna() & (props["decided_by"] != "auto"), auto)
    approvals = [{"approved_by": k, "accounts": int(len(v)), "tiers": ", ".join(sorted(set(v["tier"])))}
                 for k, v in props.assign(who=who).groupby("who", sort=True)]
    four_eyes = [{"what": f"proposal {r.account_id} ({r.tier})", "entered_or_edited_by": r.edited_by.replace(";", ", "),
                  "approved_by": r.decided_by or ""}
                 for r in props[props["edited_by"].fillna("") != ""].sort_values("account_id").itertuples()]
    four_eyes += [{"what": f"manual {m_['side']} {m_['quantity']:,} {m_['symbol']} ({m_['account_id']})",
                   "entered_or_edited_by": m_["entered_by"], "approved_by": m_["approved_by"]}
                  for m_, fe in zip(manual, man.sort_values(["account_id", "id"])["four_eyes"]) if bool(fe)]
    files = [{"name": f["name"], "sha256": f["sha256"], "bytes": f.get("bytes")} for f in manifest.get("files", [])]
    return {"batch_id": bid, "created_at": str(when)[:19], "created_by": batch["created_by"], "as_of": str(snap.as_of),
            "run_id": manifest.get("run_id"), "policy_version": manifest.get("policy_version"),
            "order_lines": (manifest.get("counts") or {}).get("order_lines"),
            "totals": rows, "grand_total": grand, "overrides": overrides, "manual_trades": manual,
            "approvals": approvals, "four_eyes": four_eyes, "files": files,
            "audit_head": manifest.get("audit_head"), "signatures": list(SIGNATURES)}


def batch_signoff_facts(engine, batch_id: str) -> dict:
    """:func:`signoff_facts` of a recorded batch."""
    from engine.core.tasks import RefusedError

    with engine.connect() as conn:
        row = conn.execute(select(B).where(B.c.id == batch_id)).mappings().first()
        if row is None:
            raise RefusedError(f"batch {batch_id} does not exist")
        trades = read_frame(conn, select(T).where(T.c.batch_id == batch_id).order_by(T.c.account_id, T.c.id))
        return signoff_facts(conn, dict(row), json.loads(row["manifest"] or "{}"), trades)


# --------------------------------------------------------------------------- rendering
def _money(v) -> str:
    v = float(v or 0.0)
    return f"-${abs(v):,.2f}" if v < 0 else f"${v:,.2f}"


def _sections(f: dict) -> list[tuple[str, list[str], list[list[str]]]]:
    """(title, header, rows) of every table the sign-off prints, the same for PDF and HTML."""
    tot = [[r["tier"], r["custodian"], f"{r['accounts']:,}", f"{r['trades']:,}", _money(r["buys"]),
            _money(r["sells"]), _money(r["est_gain"]), _money(r["est_tax"]), _money(r["tax_saved"])]
           for r in f["totals"] + [f["grand_total"]]]
    return [
        ("Totals per tier and custodian",
         ["Tier", "Custodian", "Accounts", "Trades", "Buys", "Sells", "Est. realized gain", "Est. tax", "Tax saved"],
         tot),
        ("Overrides in force at export", ["Kind", "Account / symbol", "Mode", "Until", "Reason", "By"],
         [[o["kind"], o["target"], o["mode"], o["until"], o["reason"], o["by"]] for o in f["overrides"]]),
        ("Manual trades", ["Account", "Side", "Shares", "Symbol", "Value", "Entered by", "Approved by", "Reason"],
         [[t["account_id"], t["side"], f"{t['quantity']:,}", t["symbol"], _money(t["value"]), t["entered_by"],
           t["approved_by"], t["reason"]] for t in f["manual_trades"]]),
        ("Approvals", ["Approved by", "Accounts", "Tiers"],
         [[a["approved_by"], f"{a['accounts']:,}", a["tiers"]] for a in f["approvals"]]),
        ("Four-eyes approvals", ["What", "Entered or edited by", "Approved by"],
         [[x["what"], x["entered_or_edited_by"], x["approved_by"]] for x in f["four_eyes"]]),
        ("Files and checksums (SHA-256, from the manifest)", ["File", "SHA-256", "Bytes"],
         [[x["name"], x["sha256"], f"{x['bytes']:,}" if x.get("bytes") is not None else ""] for x in f["files"]]),
    ]


def _numeric(v: str) -> bool:
    return bool(v) and (v[0] == "$" or v.startswith("-$") or v.replace(",", "").isdigit())


def _heading(f: dict) -> tuple[str, str]:
    title = f"Batch sign-off — {f['batch_id']}"
    head = f["audit_head"]
    if isinstance(head, dict):
        head = f"entry {head.get('entry')}, hash {head.get('hash')}"
    sub = (f"Exported {f['created_at']} UTC by {f['created_by']} · book as of {f['as_of']} · run {f['run_id']} · "
           f"policy version {f['policy_version']} · {f['order_lines'] or 0:,} order lines · audit chain head "
           f"{head or '—'}")
    return title, sub


def signoff_html(f: dict) -> str:
    e = html.escape
    title, sub = _heading(f)
    out = ["<!DOCTYPE html>", "<html><head><meta charset='utf-8'>", f"<title>{e(title)}</title>",
           "<style>body{font-family:sans-serif;font-size:11pt;margin:2em}table{border-collapse:collapse;"
           "margin-bottom:1.2em}th,td{border:1px solid #999;padding:3px 6px;text-align:left}"
           "td.n{text-align:right}h2{font-size:13pt;margin-top:1.4em}.sig{margin-top:2.5em}"
           ".sig div{margin:1.6em 0}code{font-size:8pt}</style></head><body>",
           f"<h1>{e(title)}</h1>", f"<p>{e(sub)}</p>"]
    for head, cols, rows in _sections(f):
        out.append(f"<h2>{e(head)}</h2>")
        if not rows:
            out.append("<p>None.</p>")
            continue
        out.append("<table><tr>" + "".join(f"<th>{e(c)}</th>" for c in cols) + "</tr>")
        for r in rows:
            cells = []
            for v in r:
                num = _numeric(v)
                inner = f"<code>{e(v)}</code>" if len(v) == 64 and all(ch in "0123456789abcdef" for ch in v) else e(v)
                cells.append(f"<td class='n'>{inner}</td>" if num else f"<td>{inner}</td>")
            out.append("<tr>" + "".join(cells) + "</tr>")
        out.append("</table>")
    out.append("<div class='sig'>" + "".join(f"<div>{e(s)}: ______________________________ "
                                             "Date: ______________</div>" for s in f["signatures"]) + "</div>")
    out.append("</body></html>")
    return "\n".join(out)


def signoff_pdf(f: dict) -> bytes:
    """The sign-off as a PDF (A4 landscape), with reportlab's platypus."""
    from reportlab.lib import colors
    from reportlab.lib.pagesizes import A4, landscape
    from reportlab.lib.styles import getSampleStyleSheet
    from reportlab.lib.units import mm
    from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

    styles = getSampleStyleSheet()
    small = styles["BodyText"].clone("small", fontSize=8, leading=10)
    mono = styles["BodyText"].clone("mono", fontName="Courier", fontSize=6.5, leading=8)
    right = small.clone("right", alignment=2)  # TA_RIGHT: amounts and counts line up
    buf = io.BytesIO()
    title, sub = _heading(f)
    doc = SimpleDocTemplate(buf, pagesize=landscape(A4), leftMargin=14 * mm, rightMargin=14 * mm,
                            topMargin=12 * mm, bottomMargin=12 * mm, title=title, author=str(f["created_by"]),
                            subject=f"batch {f['batch_id']}", invariant=1)
    e = html.escape
    story = [Paragraph(e(title), styles["Title"]), Paragraph(e(sub), small), Spacer(1, 4 * mm)]
    for head, cols, rows in _sections(f):
        story.append(Paragraph(e(head), styles["Heading3"]))
        if not rows:
            story.append(Paragraph("None.", small))
            continue
        body = [[Paragraph(f"<b>{e(c)}</b>", small) for c in cols]]
        for r in rows:
            body.append([Paragraph(e(v), mono if len(v) == 64 else right if _numeric(v) else small) for v in r])
        table = Table(body, repeatRows=1, hAlign="LEFT")
        table.setStyle(TableStyle([("GRID", (0, 0), (-1, -1), 0.4, colors.grey),
                                   ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#e8edf3")),
                                   ("VALIGN", (0, 0), (-1, -1), "TOP")]))
        story.append(table)
    story.append(Spacer(1, 10 * mm))
    for s in f["signatures"]:
        story.append(Paragraph(f"{e(s)}: ______________________________&nbsp;&nbsp;&nbsp;Date: ______________",
                               styles["BodyText"]))
        story.append(Spacer(1, 8 * mm))
    doc.build(story)
    return buf.getvalue()


def signoff_files(f: dict) -> dict[str, bytes]:
    """name -> bytes of the two sign-off files of a batch."""
    names = signoff_names(f["batch_id"])
    return {names["pdf"]: signoff_pdf(f), names["html"]: signoff_html(f).encode("utf-8")}


def write_signoff(engine, batch_id: str, out_dir, *, user: str | None = None) -> list[dict]:
    """The sign-off of a recorded batch, on demand, written atomically into ``out_dir``; audited
    (``SIGNOFF``, with each file's SHA-256). Returns [{name, path, sha256, bytes}]."""
    from engine.core.files import atomic_write_bytes, check_out_dir
    from engine.core.identity import acting_user

    user = acting_user(engine, user, "operator")
    out = check_out_dir(out_dir)
    facts = batch_signoff_facts(engine, batch_id)
    written = []
    for name, data in signoff_files(facts).items():
        digest = atomic_write_bytes(Path(out) / name, data)
        written.append({"name": name, "path": str(Path(out) / name), "sha256": digest, "bytes": len(data)})
    with engine.begin() as conn:
        repo.audit(conn, user, "SIGNOFF", detail=f"batch {batch_id}: sign-off written to {out}",
                   after={"batch_id": batch_id, "files": [{k: w[k] for k in ("name", "sha256", "bytes")}
                                                          for w in written]})
    return written
