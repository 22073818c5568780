"""Write a carried book's frames as a book folder of CONTRACT.md §1 (``simulate --write-book``),
so tests and benchmarks can import a realistic day-N book."""
from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd

from engine.book.book import SPECS
from engine.core.files import atomic_write_text


def _cell(v, kind: str) -> str:
    if v is None or (isinstance(v, float) and np.isnan(v)) or v is pd.NA:
        return ""
    if kind == "bool":
        return "true" if bool(v) else "false"
    if kind == "float":
        f = float(v)
        return str(int(f)) if f.is_integer() and abs(f) < 1e15 else repr(f)
    return str(v)


def write_book_folder(frames: dict[str, pd.DataFrame], as_of: date, folder: str | Path) -> Path:
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for spec in SPECS:
        df = frames.get(spec.table)
        if df is None:
            continue
        cols = [c for c in spec.columns if c.name in df.columns]
        lines = [",".join(c.name for c in cols)]
        data = [df[c.name].tolist() for c in cols]
        for row in zip(*data):
            cells = []
            for c, v in zip(cols, row):
                text = _cell(v, c.kind)
                cells.append(f'"{text.replace(chr(34), chr(34) * 2)}"' if any(ch in text for ch in ',"\n') else text)
            lines.append(",".join(cells))
        atomic_write_text(folder / spec.name, "\n".join(lines) + "\n")
    atomic_write_text(folder / "manifest.json", json.dumps({"as_of": as_of.isoformat()}))
    return folder
