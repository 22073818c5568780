"""The sample book's CSV writer and the small array helpers its steps share.

pandas.to_csv formats ~1 value per microsecond; lots.csv at 100,000 accounts has ~30M values.
This writer renders each column into a zero-padded uint8 matrix with numpy arithmetic, joins the
columns with commas, drops the padding bytes and writes the rest: about ten times faster,
byte-for-byte deterministic."""
from __future__ import annotations

from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd

def _fmt_dates(as_of: date, lo: int, hi: int) -> tuple[np.ndarray, int]:
    """ISO strings for every day offset in [lo, hi] from as_of; returns (strings, lo)."""
    base = np.datetime64(as_of.isoformat(), "D")
    days = base + np.arange(lo, hi + 1)
    return np.datetime_as_string(days, unit="D").astype(object), lo


def _seg_start(counts: np.ndarray) -> np.ndarray:
    return np.cumsum(counts) - counts


def _pick_within(rng, starts: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """One random index in [start, start+count) per segment (count >= 1)."""
    return starts + np.minimum((rng.random(len(starts)) * counts).astype(np.int64), counts - 1)

# ----------------------------------------------------------------------------- csv writer
#
# pandas.to_csv formats ~1 value per microsecond; lots.csv at 100,000 accounts has ~30M
# values. This writer renders each column into a zero-padded uint8 matrix with numpy
# arithmetic, joins the columns with commas, drops the padding bytes and writes the rest:
# about ten times faster, byte-for-byte deterministic. Columns are:
#   Cat(codes, categories)  strings through a small table (code -1 = blank)
#   Int(values)             whole numbers (negative allowed)
#   Fixed(values, d)        d decimals, NaN = blank


class Cat:
    def __init__(self, codes, categories):
        self.codes = np.asarray(codes, dtype=np.int64)
        cats = [_csv_field(str(c)) for c in categories]
        enc = [c.encode("utf-8") for c in cats]
        self.width = max([1] + [len(e) for e in enc])
        table = np.zeros((len(enc) + 1, self.width), dtype=np.uint8)  # last row = blank
        for i, e in enumerate(enc):
            table[i, :len(e)] = np.frombuffer(e, dtype=np.uint8)
        self.table = table

    def __len__(self):
        return len(self.codes)

    def render(self, lo, hi):
        c = self.codes[lo:hi]
        return self.table[np.where(c < 0, len(self.table) - 1, c)]


def Strs(values) -> Cat:
    """A column of arbitrary strings (None/NaN = blank), through a table of its distinct values."""
    codes, uniques = pd.factorize(pd.Series(np.asarray(values, dtype=object)), sort=False)
    return Cat(codes, list(uniques))


class Int:
    def __init__(self, values):
        self.v = np.asarray(values, dtype=np.int64)
        a = np.abs(self.v)
        self.nd = len(str(int(a.max()))) if len(a) else 1
        self.width = self.nd + 1

    def __len__(self):
        return len(self.v)

    def render(self, lo, hi):
        v = self.v[lo:hi]
        return _digits(np.abs(v), v < 0, self.nd)


class Fixed:
    def __init__(self, values, decimals):
        x = np.asarray(values, dtype=np.float64)
        self.blank = np.isnan(x)
        self.d = int(decimals)
        scaled = np.rint(np.abs(np.where(self.blank, 0.0, x)) * 10.0 ** self.d).astype(np.int64)
        self.neg = (x < 0) & (scaled > 0)
        self.ip, self.fp = np.divmod(scaled, 10 ** self.d)
        self.nd = len(str(int(self.ip.max()))) if len(x) else 1
        self.width = self.nd + 2 + self.d

    def __len__(self):
        return len(self.ip)

    def render(self, lo, hi):
        out = np.empty((hi - lo, self.width), dtype=np.uint8)
        out[:, :self.nd + 1] = _digits(self.ip[lo:hi], self.neg[lo:hi], self.nd)
        out[:, self.nd + 1] = ord(".")
        fp = self.fp[lo:hi]
        for j in range(self.d):
            out[:, self.nd + 2 + j] = 48 + (fp // 10 ** (self.d - 1 - j)) % 10
        out[self.blank[lo:hi]] = 0
        return out


def _digits(a: np.ndarray, neg: np.ndarray, nd: int) -> np.ndarray:
    """(n, nd+1) uint8: '-' where neg, then the digits of a >= 0, leading zeros as padding."""
    out = np.zeros((len(a), nd + 1), dtype=np.uint8)
    out[:, 0] = np.where(neg, ord("-"), 0)
    for j in range(nd):
        p = 10 ** (nd - 1 - j)
        d = (48 + (a // p) % 10).astype(np.uint8)
        out[:, 1 + j] = d if j == nd - 1 else np.where(a >= p, d, 0)
    return out


def _csv_field(s: str) -> str:
    if "\0" in s:
        raise ValueError("NUL in CSV field")
    if any(ch in s for ch in ',"\n\r'):
        return '"' + s.replace('"', '""') + '"'
    return s


def _write_table(path: Path, columns: dict, chunk: int = 500_000) -> None:
    """Write a CSV (header + rows, '\\n' line ends) from Cat/Int/Fixed column renderers."""
    cols = list(columns.values())
    n = len(cols[0]) if cols else 0
    if any(len(c) != n for c in cols):
        raise ValueError(f"{path.name}: columns of different lengths")
    widths = [c.width for c in cols]
    total = sum(widths) + len(cols)  # a comma after each column, the last one is '\n'
    with open(path, "wb") as f:
        f.write((",".join(columns) + "\n").encode("utf-8"))
        for lo in range(0, n, chunk):
            hi = min(n, lo + chunk)
            buf = np.empty((hi - lo, total), dtype=np.uint8)
            pos = 0
            for c, w in zip(cols, widths):
                buf[:, pos:pos + w] = c.render(lo, hi)
                buf[:, pos + w] = ord(",")
                pos += w + 1
            buf[:, -1] = ord("\n")
            flat = buf.ravel()
            f.write(flat[flat != 0].tobytes())
