# Long because reading, typing and every structural check of a book file share one problem collector (file, line, column).
"""The book folder of CONTRACT.md §1: reading, structural validation, typed frames.

Structural problems (unreadable file, missing column, wrong type, duplicate key, unknown
reference, model weights not summing to 1) refuse the whole book with a :class:`BookError`
naming file, line (as a spreadsheet shows it: the header is line 1) and column. Data-quality
problems (blank price, unknown security in a lot, negative quantity, ...) are not errors
here: the workflow's integrity checks turn them into suspensions.
"""
from __future__ import annotations

import csv
import hashlib
import json
import re
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from engine.book.book_keys import repeated_keys
from engine.book.book_scan import scan_csv
from engine.book.book_size import MAX_MANIFEST_BYTES, book_too_big, max_rows
from engine.core.safe_text import CONTROL_CHARS, CONTROL_RE, bad_key_chars, describe_char, printable
from engine.core.text_limits import book_limit, too_long_message

MAX_PROBLEMS_PER_FILE = 25
MAX_PROBLEMS = 50  # a refused book lists at most this many problems (then how many more)
AS_OF_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
TRADING_MODES = ("full", "cash_flow")  # accounts.csv trading_mode (blank: full)
REQUEST_MODES = ("rebalance", "raise_only")  # cash_requests.csv mode (blank: rebalance)


@dataclass(frozen=True)
class Col:
    name: str
    kind: str = "str"  # str | float | date | bool | enum
    required: bool = False  # the column must be present (a * in CONTRACT.md)
    nonblank: bool | None = None  # values must be present (default: same as required)
    choices: tuple[str, ...] = ()
    upper: bool = False  # normalise to upper case (symbols, sides)
    lower: bool = False

    @property
    def must_have_value(self) -> bool:
        return self.required if self.nonblank is None else self.nonblank


@dataclass(frozen=True)
class FileSpec:
    name: str
    table: str
    columns: tuple[Col, ...]
    key: tuple[str, ...] = ()
    required: bool = True


SPECS: tuple[FileSpec, ...] = (
    FileSpec("securities.csv", "securities", (
        Col("symbol", required=True, upper=True), Col("name"), Col("asset_class", required=True),
        Col("price", "float", required=True, nonblank=False), Col("price_date", "date", required=True),
        Col("tags", lower=True), Col("rating", "float"), Col("substitute_group"),
        Col("identical_group"),
    ), key=("symbol",)),
    FileSpec("models.csv", "model_weights", (
        Col("model_id", required=True), Col("symbol", required=True, upper=True),
        Col("weight", "float", required=True),
    ), key=("model_id", "symbol")),
    FileSpec("accounts.csv", "accounts", (
        Col("account_id", required=True), Col("name"), Col("model_id", required=True),
        Col("custodian", required=True), Col("cash", "float", required=True),
        Col("taxable", "bool", required=True), Col("st_rate", "float"), Col("lt_rate", "float"),
        Col("last_trade_date", "date"), Col("restrictions"), Col("group"),
        Col("household_id"),
        Col("gains_budget", "float"), Col("ytd_realized_st", "float"), Col("ytd_realized_lt", "float"),
        Col("trading_mode", "enum", choices=TRADING_MODES, lower=True),
    ), key=("account_id",)),
    FileSpec("lots.csv", "lots", (
        Col("account_id", required=True), Col("lot_id", required=True),
        Col("symbol", required=True, upper=True), Col("quantity", "float", required=True),
        Col("unit_cost", "float", required=True), Col("acquired_date", "date", required=True),
    ), key=("account_id", "lot_id")),
    FileSpec("custodian_positions.csv", "custodian_positions", (
        Col("account_id", required=True), Col("symbol", required=True, upper=True),
        Col("quantity", "float", required=True),
    ), key=("account_id", "symbol"), required=False),
    FileSpec("feeds.csv", "feeds", (
        Col("custodian", required=True), Col("file_date", "date", required=True),
        Col("status", "enum", required=True, choices=("ok", "failed"), lower=True),
    ), key=("custodian",), required=False),
    FileSpec("transactions.csv", "transactions", (
        Col("account_id", required=True), Col("symbol", required=True, upper=True),
        Col("trade_date", "date", required=True),
        Col("side", "enum", required=True, choices=("BUY", "SELL"), upper=True),
        Col("quantity", "float", required=True), Col("price", "float", required=True),
        Col("realized_gain", "float"),
    ), required=False),
    FileSpec("cash_requests.csv", "cash_requests", (
        Col("request_id", required=True), Col("account_id", required=True),
        Col("amount", "float", required=True), Col("due_date", "date", required=True),
        Col("priority", "enum", required=True, choices=("high", "normal"), lower=True),
        Col("note"), Col("mode", "enum", choices=REQUEST_MODES, lower=True),
    ), key=("request_id",), required=False),
    FileSpec("corporate_actions.csv", "corporate_actions", (
        Col("symbol", required=True, upper=True), Col("effective_date", "date", required=True),
        Col("kind", required=True, lower=True), Col("ratio", "float"), Col("new_symbol", upper=True),
        Col("processed", "bool", required=True),
    ), required=False),
)
SPEC_BY_NAME = {s.name: s for s in SPECS}
TRUE = {"true", "t", "yes", "y", "1"}
FALSE = {"false", "f", "no", "n", "0"}


@dataclass(frozen=True)
class Problem:
    file: str
    line: int | None
    column: str | None
    message: str

    def __str__(self) -> str:
        where = self.file
        if self.line is not None:
            where += f", line {self.line}"
        if self.column:
            where += f", column {self.column}"
        return f"{where}: {self.message}"


class BookError(Exception):
    """The book folder is structurally wrong; nothing was imported."""

    def __init__(self, problems: list[Problem], folder: str | Path = ""):
        self.problems = problems
        self.folder = str(folder)
        super().__init__(self.summary())

    def summary(self) -> str:
        head = f"Book folder {self.folder} refused" if self.folder else "Book refused"
        lines = [f"{head}: {len(self.problems)} structural problem(s); nothing was imported."]
        lines += [f"  {p}" for p in self.problems]
        return "\n".join(lines)


@dataclass
class Book:
    """A validated book: typed frames keyed by table name, plus its as-of date."""
    as_of: date
    frames: dict[str, pd.DataFrame]
    folder: str = ""
    checksum: str = ""
    models: pd.DataFrame = field(default_factory=pd.DataFrame)

    def __getitem__(self, table: str) -> pd.DataFrame:
        return self.frames[table]


class _LazyValues:
    """Row values of an arrow column, converted to Python only for the rows reported."""

    def __init__(self, arr):
        self.arr = arr

    def __getitem__(self, i):
        return self.arr[int(i)].as_py()


class _Collector:
    def __init__(self):
        self.problems: list[Problem] = []
        self._per_file: dict[str, int] = {}
        self._dropped: dict[str, int] = {}

    def add(self, file: str, line: int | None, column: str | None, message: str) -> None:
        n = self._per_file.get(file, 0)
        self._per_file[file] = n + 1
        if n < MAX_PROBLEMS_PER_FILE:
            self.problems.append(Problem(file, line, column, message))
        else:
            self._dropped[file] = self._dropped.get(file, 0) + 1

    def add_rows(self, file: str, mask: np.ndarray, column: str, values, message) -> None:
        """One problem per row where ``mask`` is set; ``message(value)`` words it."""
        idx = np.flatnonzero(mask)
        room = max(0, MAX_PROBLEMS_PER_FILE - self._per_file.get(file, 0))
        for i in idx[:room]:
            self.add(file, int(i) + 2, column, message(values[i]))
        extra = len(idx) - min(len(idx), room)
        if extra:
            self._per_file[file] = self._per_file.get(file, 0) + extra
            self._dropped[file] = self._dropped.get(file, 0) + extra

    def finish(self) -> list[Problem]:
        out = list(self.problems[:MAX_PROBLEMS])
        if len(self.problems) > MAX_PROBLEMS:
            out.append(Problem("book", None, None, f"... and {len(self.problems) - MAX_PROBLEMS} more listed "
                               "problem(s) not shown"))
        for file, n in self._dropped.items():
            out.append(Problem(file, None, None, f"... and {n} more problem(s) in this file"))
        return out


def folder_checksum(folder: Path) -> str:
    h = hashlib.sha256()
    for name in ["manifest.json"] + [s.name for s in SPECS]:
        p = folder / name
        if p.exists():
            h.update(name.encode())
            with open(p, "rb") as f:
                for chunk in iter(lambda: f.read(1 << 20), b""):
                    h.update(chunk)
    return h.hexdigest()


def _read_manifest(folder: Path, errs: _Collector) -> date | None:
    path = folder / "manifest.json"
    if not path.exists():
        errs.add("manifest.json", None, None, "file is missing (expected {\"as_of\": \"YYYY-MM-DD\"})")
        return None
    if not path.is_file() or (path.is_symlink() and folder.resolve() not in path.resolve().parents):
        errs.add("manifest.json", None, None, "is not a regular file in the book folder")
        return None
    if path.stat().st_size > MAX_MANIFEST_BYTES:
        errs.add("manifest.json", None, None, f"is {path.stat().st_size:,} bytes; a manifest is a few "
                 f"(at most {MAX_MANIFEST_BYTES:,})")
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8-sig"))  # a BOM before the JSON is fine
        value = data["as_of"]
    except (ValueError, KeyError, TypeError) as exc:
        errs.add("manifest.json", None, "as_of", f"cannot read the as-of date ({exc})")
        return None
    if not isinstance(value, str) or not AS_OF_RE.match(value):
        errs.add("manifest.json", None, "as_of", f"{value!r} is not a date (YYYY-MM-DD)")
        return None
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        errs.add("manifest.json", None, "as_of", f"{value!r} is not a date ({exc})")
        return None


def _read_csv(folder: Path, spec: FileSpec, errs: _Collector, rows_cap: int) -> pa.Table | None:
    path = folder / spec.name
    if not path.exists():
        if spec.required:
            errs.add(spec.name, None, None, "file is missing")
            return None
        return pa.table({c.name: pa.array([], pa.string()) for c in spec.columns})
    if path.is_symlink() and folder.resolve() not in path.resolve().parents:
        errs.add(spec.name, None, None, "is a link to a file outside the book folder")
        return None
    if not path.is_file():
        errs.add(spec.name, None, None, "is not a regular file (a folder, pipe or device)")
        return None
    try:
        names = _header(path, spec, errs)
        if names is None:
            return None
        table = pacsv.read_csv(
            path, read_options=pacsv.ReadOptions(use_threads=True, block_size=1 << 24, column_names=names,
                                                  skip_rows=1),
            parse_options=pacsv.ParseOptions(newlines_in_values=False),
            convert_options=pacsv.ConvertOptions(
                column_types={n: pa.string() for n in names}, strings_can_be_null=False,
                include_columns=[c.name for c in spec.columns if c.name in names]))
    except (pa.ArrowInvalid, OSError, UnicodeDecodeError) as exc:
        found = scan_csv(path, len(names)) if isinstance(exc, pa.ArrowInvalid) and names else []
        for line, column, message in found:
            errs.add(spec.name, line, column, message)
        if not found:
            msg = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            errs.add(spec.name, None, None, f"cannot be read as CSV: {printable(msg)}")
        return None
    if table.num_rows > rows_cap:
        errs.add(spec.name, None, None, f"has {table.num_rows:,} rows, over the limit of {rows_cap:,} a file; "
                 "nothing was converted. If the book is right, raise the limit (import --max-book-mb)")
        return None
    return table


def _header(path: Path, spec: FileSpec, errs: _Collector) -> list[str] | None:
    """The header's column names (trimmed); ``None`` after naming what is wrong with it."""
    with open(path, "rb") as f:
        raw = f.readline(1 << 16)
    try:
        text = raw.decode("utf-8-sig").rstrip("\r\n")
    except UnicodeDecodeError as exc:
        errs.add(spec.name, 1, None, f"not UTF-8 text (byte {exc.start + 1} of the header: {exc.reason})")
        return None
    try:
        names = [h.strip() for h in next(csv.reader([text], strict=True))] if text.strip() else []
    except csv.Error as exc:
        errs.add(spec.name, 1, None, f"the header cannot be read ({exc})")
        return None
    ok = True
    seen: dict[str, int] = {}
    for i, name in enumerate(names, 1):
        if CONTROL_RE.search(name):
            errs.add(spec.name, 1, printable(name), f"header field {i} carries a control character")
            ok = False
        elif name in seen and name:
            errs.add(spec.name, 1, name, f"column appears twice in the header (fields {seen[name]} and {i})")
            ok = False
        seen.setdefault(name, i)
    for name in [c.name for c in spec.columns if c.required and c.name not in names]:
        errs.add(spec.name, 1, name, "required column is missing from the header")
        ok = False
    return names if ok else None


def _float(arr: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """(values with NaN for blanks, mask of non-numbers); arrow's cast first, pandas on failure."""
    nulled = pc.if_else(pc.equal(arr, ""), pa.scalar(None, pa.string()), arr)
    try:
        vals = pc.cast(nulled, pa.float64()).to_numpy(zero_copy_only=False)
        return vals, ~np.isfinite(vals) & ~pc.is_null(nulled).to_numpy(zero_copy_only=False)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        num = pd.to_numeric(pd.Series(nulled.to_pandas(), dtype=object), errors="coerce").to_numpy(float)
        return num, ~np.isfinite(num) & ~pc.equal(arr, "").to_numpy(zero_copy_only=False)


def _dates_bad(arr: pa.Array, blank: np.ndarray) -> np.ndarray:
    nulled = pc.if_else(pc.equal(arr, ""), pa.scalar(None, pa.string()), arr)
    shape = pc.match_substring_regex(nulled, r"^\d{4}-\d{2}-\d{2}$").to_numpy(zero_copy_only=False)
    try:
        pc.cast(nulled, pa.date32())
        return ~blank & ~np.where(pd.isna(shape), False, shape).astype(bool)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        d = pd.to_datetime(pd.Series(nulled.to_pandas(), dtype=object), format="%Y-%m-%d", errors="coerce")
        return ~blank & (d.isna().to_numpy() | ~np.where(pd.isna(shape), False, shape).astype(bool))


def _convert(spec: FileSpec, raw: pa.Table | None, errs: _Collector) -> pd.DataFrame | None:
    """Typed frame of ``raw`` (``None`` for ``None``). Each raw column is let go once converted
    (the caller passes the table without keeping it): the peak holds one copy of the file, not two."""
    if raw is None:
        return None
    out: dict[str, pd.Series | np.ndarray] = {}
    n = raw.num_rows
    pending = {name: raw.column(name) for name in raw.column_names}
    del raw
    for col in spec.columns:
        if col.name in pending and n:
            arr = pc.utf8_trim_whitespace(pending.pop(col.name).combine_chunks().cast(pa.string()))
        else:
            arr = pa.array([""] * n, pa.string())
        if col.upper:
            arr = pc.utf8_upper(arr)
        if col.lower:
            arr = pc.utf8_lower(arr)
        blank = pc.equal(arr, "").to_numpy(zero_copy_only=False)
        vals = _LazyValues(arr)
        if col.kind in ("str", "enum") and n:
            _check_characters(spec, col, arr, vals, errs)
            _check_length(spec, col, arr, vals, errs)
        if col.must_have_value and blank.any():
            errs.add_rows(spec.name, blank, col.name, vals, lambda v: "a value is required")
        if col.kind == "float":
            num, bad = _float(arr)
            errs.add_rows(spec.name, bad, col.name, vals, lambda v: f"{v!r} is not a number")
            out[col.name] = np.where(blank, np.nan, num)
        elif col.kind == "date":
            bad = _dates_bad(arr, blank)
            errs.add_rows(spec.name, bad, col.name, vals, lambda v: f"{v!r} is not a date (YYYY-MM-DD)")
            out[col.name] = pd.Series(pd.array(pc.if_else(pa.array(blank | bad), pa.scalar(None, pa.string()),
                                                          arr), dtype="str"))
        elif col.kind == "bool":
            low = pc.utf8_lower(arr)
            is_t = pc.is_in(low, value_set=pa.array(sorted(TRUE))).to_numpy(zero_copy_only=False)
            is_f = pc.is_in(low, value_set=pa.array(sorted(FALSE))).to_numpy(zero_copy_only=False)
            bad = ~blank & ~is_t & ~is_f
            errs.add_rows(spec.name, bad, col.name, vals, lambda v: f"{v!r} is not true or false")
            out[col.name] = is_t
        else:
            if col.kind == "enum":
                ok = pc.is_in(arr, value_set=pa.array(list(col.choices))).to_numpy(zero_copy_only=False)
                bad = ~blank & ~ok
                errs.add_rows(spec.name, bad, col.name, vals,
                              lambda v: f"{v!r} is not one of {', '.join(col.choices)}")
            if blank.any():
                arr = pc.if_else(pa.array(blank), pa.scalar(None, pa.string()), arr)
            out[col.name] = pd.Series(pd.array(arr, dtype="str"))
    df = pd.DataFrame(out)
    suspects = repeated_keys(df, spec.key) if spec.key and n else None
    if suspects is not None:
        # pandas only on the rows whose key repeats (its duplicated() on millions of rows of
        # strings costs ~1.5 GB and half a minute; engine/book/book_keys.py finds them in a fraction)
        sub = df.loc[suspects, list(spec.key)]
        dup_sub = sub.duplicated(list(spec.key), keep="first").to_numpy()
        first = sub.drop_duplicates(list(spec.key)).reset_index().set_index(list(spec.key))["index"]
        keys = sub.loc[dup_sub]
        firsts = first.reindex(pd.MultiIndex.from_frame(keys) if len(spec.key) > 1
                               else keys[spec.key[0]]).to_numpy()
        lines = sub.index.to_numpy()[dup_sub]
        if len(lines):
            for k, (i, f) in enumerate(zip(lines, firsts)):
                if k >= MAX_PROBLEMS_PER_FILE:
                    errs.add(spec.name, None, None, f"... and {len(lines) - k} more duplicate key(s)")
                    break
                keytxt = ", ".join(f"{c}={df.at[i, c]}" for c in spec.key)
                errs.add(spec.name, int(i) + 2, spec.key[-1],
                         f"duplicate key ({keytxt}) first seen on line {int(f) + 2}")
    return df


def _check_characters(spec: FileSpec, col: Col, arr: pa.Array, vals, errs: _Collector) -> None:
    """Control characters (SOH, tab, CR, LF, ESC ...) anywhere, and the delimiters of the FIX and
    lots formats in key fields, are structural: such a value would forge tags of an order."""
    extra = bad_key_chars(col.name)
    pattern = f"[{CONTROL_CHARS}{re.escape(extra)}]"
    hit = pc.match_substring_regex(arr, pattern).to_numpy(zero_copy_only=False)
    if not hit.any():
        return
    bad_re = re.compile(pattern)

    def message(v):
        ch = bad_re.search(v).group()
        kind = "a control character" if CONTROL_RE.match(ch) else "a delimiter of the FIX and lots formats"
        return f"{v!r} carries {describe_char(ch)} ({kind}); not allowed in {col.name}"

    errs.add_rows(spec.name, hit, col.name, vals, message)


def _check_length(spec: FileSpec, col: Col, arr: pa.Array, vals, errs: _Collector) -> None:
    """A value longer than its database column is structural, on SQLite as on PostgreSQL."""
    limit = book_limit(col.name)
    if limit is None:
        return
    long = pc.greater(pc.utf8_length(arr), limit).to_numpy(zero_copy_only=False)
    if long.any():
        errs.add_rows(spec.name, long, col.name, vals, lambda v: too_long_message(printable(v), limit, col.name))


GROUP_KEY_RE = r"^[A-Za-z0-9][A-Za-z0-9_.:/-]{0,63}$"
HOUSEHOLD_RE = r"^.{1,64}$"
GROUP_KEYS = (("securities.csv", "securities", "identical_group", GROUP_KEY_RE,
               "is not a group key (one word of letters, digits and _ . : / -, at most 64 characters)"),
              ("accounts.csv", "accounts", "household_id", HOUSEHOLD_RE, "is longer than 64 characters"))
def _check_group_keys(frames: dict[str, pd.DataFrame], errs: _Collector) -> None:
    """``identical_group`` is a key: one word of letters, digits and ``_ . : / -`` (at most 64
    characters); ``household_id`` any text of at most 64 characters (control characters are
    refused for every text column). Blank means none: a security is identical only to itself,
    an account is its own household."""
    for file, table, column, pattern, what in GROUP_KEYS:
        df = frames.get(table)
        if df is None or not len(df) or column not in df:
            continue
        col = pa.array(df[column].array)
        ok = pc.match_substring_regex(col, pattern).to_numpy(zero_copy_only=False)
        bad = ~pc.is_null(col).to_numpy(zero_copy_only=False) & ~np.where(pd.isna(ok), True, ok).astype(bool)
        errs.add_rows(file, bad, column, _LazyValues(col), lambda v, what=what: f"{v!r} {what}")
def _check_references(frames: dict[str, pd.DataFrame], errs: _Collector) -> None:
    def ref(file: str, table: str, column: str, known: np.ndarray, what: str, allow=()):
        df = frames.get(table)
        if df is None or not len(df):
            return
        col = pa.array(df[column].array)
        # a blank key is reported where it is (a value is required), not compared here
        value_set = pa.array(sorted({k for k in known if isinstance(k, str)} | set(allow)), pa.string())
        ok = pc.is_in(col, value_set=value_set).to_numpy(zero_copy_only=False)
        bad = ~ok & ~pc.is_null(col).to_numpy(zero_copy_only=False)
        errs.add_rows(file, bad, column, _LazyValues(col), lambda v: f"{v!r} is not {what}")

    if frames.get("model_weights") is not None and frames.get("securities") is not None:
        ref("models.csv", "model_weights", "symbol", frames["securities"]["symbol"].to_numpy(),
            "a symbol of securities.csv (or CASH)", allow=("CASH",))
        mw = frames["model_weights"]
        if len(mw):
            bad_w = (mw["weight"] < 0) | (mw["weight"] > 1)
            errs.add_rows("models.csv", bad_w.to_numpy(), "weight", mw["weight"].to_numpy(),
                          lambda v: f"{v} is outside 0..1")
            sums = mw.groupby("model_id", sort=True)["weight"].sum()
            last_line = mw.reset_index().groupby("model_id")["index"].max() + 2
            for model_id, total in sums.items():
                if abs(total - 1.0) > 1e-6:
                    errs.add("models.csv", int(last_line[model_id]), "weight",
                             f"weights of model {model_id} sum to {total:.6f}, not 1")
    if frames.get("accounts") is not None and len(frames["accounts"]):
        budget = frames["accounts"]["gains_budget"].to_numpy(float)
        errs.add_rows("accounts.csv", budget < 0, "gains_budget", budget,
                      lambda v: f"{v} is negative (a budget is the net gains allowed this year, >= 0)")
    if frames.get("accounts") is not None:
        if frames.get("model_weights") is not None:
            ref("accounts.csv", "accounts", "model_id",
                frames["model_weights"]["model_id"].unique(), "a model_id of models.csv")
        known = frames["accounts"]["account_id"].to_numpy()
        for spec in SPECS:
            if spec.table in ("lots", "custodian_positions", "transactions", "cash_requests"):
                ref(spec.name, spec.table, "account_id", known, "an account_id of accounts.csv")


def read_book(folder: str | Path, max_mb: float | None = None) -> Book:
    """Read and validate a book folder; raise :class:`BookError` listing every structural problem.
    ``max_mb``: the size cap of engine/book/book_size.py (default :data:`~engine.book.book_size.MAX_BOOK_MB`)."""
    folder = Path(folder)
    errs = _Collector()
    if not folder.is_dir():
        raise BookError([Problem(str(folder), None, None, "is not a folder")], folder)
    too_big = book_too_big(folder, ["manifest.json"] + [s.name for s in SPECS], max_mb)
    if too_big:
        raise BookError([Problem("book", None, None, too_big)], folder)
    as_of = _read_manifest(folder, errs)
    frames: dict[str, pd.DataFrame] = {}
    for spec in SPECS:
        df = _convert(spec, _read_csv(folder, spec, errs, max_rows(max_mb)), errs)
        if df is not None:
            frames[spec.table] = df
    _check_references(frames, errs)
    _check_group_keys(frames, errs)
    problems = errs.finish()
    if problems:
        raise BookError(problems, folder)
    mw = frames["model_weights"]
    models = pd.DataFrame({"model_id": pd.unique(mw["model_id"])})
    return Book(as_of=as_of, frames=frames, folder=str(folder), checksum=folder_checksum(folder),
                models=models)
