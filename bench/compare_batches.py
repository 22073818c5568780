"""Compare the batch files of two exports of the same trades (before and after a change).

    .venv/bin/python bench/compare_batches.py DROP_FOLDER_A DROP_FOLDER_B

Each folder holds one exported batch (CONTRACT.md §3) of the same batch id. Compared:
- the trades CSV and the lots CSV: byte for byte;
- the FIX file: message by message, tag by tag, except the times (52 SendingTime, 60
  TransactTime) and the CheckSum (10) that depends on them; BodyLength (9) must match (the times
  have a fixed width);
- the XLSX: sheet titles and every cell's value (the bytes differ with the writer);
- the manifest: every field but created_at, the audit chain head and the SHA-256 of the FIX and
  XLSX files (their bytes carry the time or the writer); the CSV files' SHA-256 must match.
Exit 0 when everything that must be equal is; else 1, naming the first difference of each file.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

VOLATILE_TAGS = {b"52", b"60", b"10"}


def _fix_fields(data: bytes) -> list[list[tuple[bytes, bytes]]]:
    return [[tuple(f.split(b"=", 1)) for f in line.split(b"\x01") if f]
            for line in data.split(b"\n") if line]


def compare_fix(a: bytes, b: bytes) -> str | None:
    ma, mb = _fix_fields(a), _fix_fields(b)
    if len(ma) != len(mb):
        return f"{len(ma)} messages against {len(mb)}"
    for i, (x, y) in enumerate(zip(ma, mb), 1):
        fx = [f for f in x if f[0] not in VOLATILE_TAGS]
        fy = [f for f in y if f[0] not in VOLATILE_TAGS]
        if fx != fy:
            return f"message {i}: {fx} against {fy}"
    return None


def compare_xlsx(a: Path, b: Path) -> str | None:
    from openpyxl import load_workbook

    def cells(p):
        wb = load_workbook(p, read_only=True)
        return {ws.title: list(ws.iter_rows(values_only=True)) for ws in wb.worksheets}

    ca, cb = cells(a), cells(b)
    if list(ca) != list(cb):
        return f"sheets {list(ca)} against {list(cb)}"
    for title in ca:
        if ca[title] != cb[title]:
            diff = next(i for i, (x, y) in enumerate(zip(ca[title] + [None], cb[title] + [None])) if x != y)
            return f"sheet {title!r}, row {diff + 1}"
    return None


def compare_manifest(a: dict, b: dict) -> str | None:
    keep = ("csv", "lots")

    def norm(m):
        m = dict(m)
        for k in ("created_at", "audit_head"):
            m.pop(k, None)
        m["files"] = [{k: v for k, v in f.items() if f["format"] in keep or k not in ("sha256", "bytes")}
                      for f in m.get("files", [])]
        return m

    na, nb = norm(a), norm(b)
    if na != nb:
        keys = sorted(k for k in set(na) | set(nb) if na.get(k) != nb.get(k))
        return f"fields differ: {keys}"
    return None


def main(argv: list[str]) -> int:
    a, b = Path(argv[0]), Path(argv[1])
    names = sorted(p.name for p in a.iterdir() if p.is_file())
    other = sorted(p.name for p in b.iterdir() if p.is_file())
    bad = 0
    if names != other:
        print(f"different files: {names} against {other}")
        return 1
    for name in names:
        pa, pb = a / name, b / name
        if name.endswith(".csv"):
            why = None if pa.read_bytes() == pb.read_bytes() else "bytes differ"
        elif name.endswith(".fix"):
            why = compare_fix(pa.read_bytes(), pb.read_bytes())
        elif name.endswith(".xlsx"):
            why = compare_xlsx(pa, pb)
        elif name.endswith(".json"):
            why = compare_manifest(json.loads(pa.read_text()), json.loads(pb.read_text()))
        else:
            why = None if pa.read_bytes() == pb.read_bytes() else "bytes differ"
        print(f"{name}: {'same' if why is None else why}")
        bad += why is not None
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
