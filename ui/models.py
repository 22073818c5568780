"""Table models over DataFrames: cells built lazily, sorted and filtered in numpy.

Like Orange's ``AbstractSortTableModel``: the model keeps the frame's columns as numpy arrays
and a row permutation. Sorting computes one ``argsort`` over a cached numeric key per column
(strings are factorized once), never a ``lessThan`` per pair; filtering is a boolean mask over
source rows. Only the cells a view asks for are ever formatted, so a 100,000-row frame costs
what its visible rows cost.

Text columns may come as pandas categoricals (:func:`gui_ready` with ``categorical=True``, in a
panel's read): the model keeps their codes and categories, so a cell is one lookup and a sort
key is the categories' rank gathered by code (no pass over the strings). A read can also
compute the sorted order itself (:func:`frame_order`) and hand it to :meth:`FrameModel.set_frame`
(``order=``), so the GUI thread applies a permutation instead of sorting.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from PySide6.QtCore import QAbstractTableModel, QModelIndex, Qt
from PySide6.QtGui import QBrush, QColor, QFont

from ui import fmt

RIGHT = Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter
LEFT = Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter
CENTER = Qt.AlignmentFlag.AlignCenter
RawRole = Qt.ItemDataRole.UserRole  # the unformatted value of a cell


@dataclass(frozen=True)
class Col:
    """One displayed column: frame column ``key`` shown as ``title`` in format ``kind``
    (see :data:`ui.fmt.FORMATS`), with a header tooltip."""
    key: str
    title: str
    kind: str = "text"
    tip: str = ""
    tooltip_key: str | None = None  # frame column whose text is the cell tooltip

    @property
    def numeric(self) -> bool:
        return self.kind in fmt.NUMERIC


def _as_python(v):
    if isinstance(v, np.generic):
        return v.item()
    if isinstance(v, float) and np.isnan(v):
        return None
    return v


def gui_ready(df: pd.DataFrame, categorical: bool | tuple = False) -> pd.DataFrame:
    """``df`` with a 0..n-1 index and its text columns as Python objects, so a model takes its
    columns without converting them (pandas' string arrays cost a pass per column to become
    numpy): made off the GUI thread, in a panel's read.

    ``categorical=True`` (or a tuple of column names): text columns as pandas categoricals
    instead (codes + categories: a big frame's cells, sorts and filters without touching its
    strings; what a 100,000-account blotter's half a million lines need)."""
    if df is None:
        return df
    ix = df.index
    if not (isinstance(ix, pd.RangeIndex) and ix.start == 0 and ix.step == 1):
        df = df.reset_index(drop=True)
    keys = set(categorical) if isinstance(categorical, (tuple, list, set, frozenset)) else None
    text = {}
    for c, t in df.dtypes.items():
        if categorical and (keys is None or c in keys):
            if not isinstance(t, pd.CategoricalDtype) and (
                    isinstance(t, pd.StringDtype) or (t == object and _texty(df[c]))):
                text[c] = "category"
        elif isinstance(t, (pd.StringDtype, pd.CategoricalDtype)):
            text[c] = object
    return df.astype(text) if text else df


def key_spans(keys) -> dict:
    """``{str(key): (start, stop)}`` of a column sorted (grouped) by key: each key's rows as one
    slice. Made off the GUI thread: a slice travels as two ints, not an array of row numbers."""
    col = np.asarray(keys, dtype=object)
    if not len(col):
        return {}
    starts = np.r_[0, np.flatnonzero(col[1:] != col[:-1]) + 1]
    stops = np.r_[starts[1:], len(col)]
    return {str(col[a]): (int(a), int(b)) for a, b in zip(starts, stops)}


def _texty(s: pd.Series) -> bool:
    """An object column holding only strings (and missing values): safe as a categorical."""
    kind = pd.api.types.infer_dtype(s, skipna=True)
    return kind in ("string", "empty")


def _cat_rank(cats: pd.Index) -> np.ndarray:
    """The sort rank of each category (by value; mixed types by their text)."""
    try:
        order = np.argsort(cats.to_numpy(), kind="stable")
    except TypeError:
        order = np.argsort(cats.astype(str).to_numpy(), kind="stable")
    rank = np.empty(len(cats), dtype=float)
    rank[order] = np.arange(len(cats), dtype=float)
    return rank


def sort_key(values) -> np.ndarray:
    """A float key per row of ``values`` (a Series or array; NaN = missing, sorted last either way)."""
    if isinstance(values, pd.Series) and isinstance(values.dtype, pd.CategoricalDtype):
        codes = values.cat.codes.to_numpy()
        key = _cat_rank(values.cat.categories)[codes]
        key[codes < 0] = np.nan
        return key
    arr = values.to_numpy() if isinstance(values, pd.Series) else np.asarray(values)
    kind = arr.dtype.kind
    if kind in "fiub":
        return arr.astype(float)
    if kind in "mM":
        key = arr.view("i8").astype(float)
        key[np.isnat(arr)] = np.nan
        return key
    try:
        codes, _ = pd.factorize(arr, sort=True)
    except TypeError:  # mixed types: compare their text
        codes, _ = pd.factorize(np.array([None if fmt._missing(v) else str(v) for v in arr], object), sort=True)
    key = codes.astype(float)
    key[codes < 0] = np.nan
    return key


def order_by(key: np.ndarray, descending: bool = False) -> np.ndarray:
    """The stable row order of a :func:`sort_key` (missing last in both orders)."""
    return np.argsort(-key if descending else key, kind="stable")


def frame_order(df: pd.DataFrame, key: str, descending: bool = False) -> np.ndarray:
    """The rows of ``df`` sorted by column ``key`` as :meth:`FrameModel.sort` sorts them: made
    in a panel's read, handed to :meth:`FrameModel.set_frame` (``order=``)."""
    return order_by(sort_key(df[key]), descending)


def text_index(df: pd.DataFrame, keys) -> pd.Series:
    """The lower-cased text of ``df``'s columns ``keys`` joined per row: what a text filter
    searches (:meth:`FrameModel.text_mask`). Touches no widget: a panel makes it off the GUI thread."""
    parts = [df[k].astype("string").fillna("").str.lower() for k in keys if k in df]
    hay = parts[0] if parts else pd.Series([""] * len(df), dtype="string")
    for p in parts[1:]:
        hay = hay + "\x1f" + p
    return hay.reset_index(drop=True)


class _CatArray:
    """A categorical column as the model reads it: ``a[i]`` is row i's value (None if missing)."""
    __slots__ = ("codes", "values")

    def __init__(self, codes: np.ndarray, values: np.ndarray):
        self.codes, self.values = codes, values

    def __getitem__(self, i):
        return self.values[self.codes[i]]

    def __len__(self) -> int:
        return len(self.codes)


class FrameModel(QAbstractTableModel):
    """A read-only table over a DataFrame with numpy sorting and mask filtering.

    ``emphasis``: a boolean frame column; its true rows are drawn bold in the alert colour.
    """

    ALERT = QColor("#b3261e")

    def __init__(self, columns: list[Col], parent=None, *, emphasis: str | None = None,
                 strong: str | None = None):
        super().__init__(parent)
        self.columns = list(columns)
        self._emphasis_key = emphasis
        self._strong_key = strong
        self._bold = QFont()
        self._bold.setBold(True)
        self._alert = QBrush(self.ALERT)
        self._set_arrays(pd.DataFrame({c.key: [] for c in self.columns}))
        self._sort_column = -1
        self._sort_order = Qt.SortOrder.AscendingOrder

    # ------------------------------------------------------------------ data in
    def _set_arrays(self, df: pd.DataFrame) -> None:
        self._frame = df
        self._n = len(df)
        self._arrays = {}
        self._cats: dict[str, tuple[np.ndarray, np.ndarray]] = {}  # key -> (codes, categories + a None)
        for c in self.columns:
            for key in (c.key, c.tooltip_key):
                if key and key not in self._arrays:
                    if key not in df:
                        self._arrays[key] = np.full(self._n, None, object)
                    elif isinstance(df[key].dtype, pd.CategoricalDtype):
                        col = df[key]  # code -1 (missing) picks the None appended last
                        self._cats[key] = (col.cat.codes.to_numpy(),
                                           np.append(col.cat.categories.to_numpy(object), None))
                        self._arrays[key] = _CatArray(*self._cats[key])
                    else:
                        self._arrays[key] = df[key].to_numpy()
        self._emph = self._flags(df, self._emphasis_key)
        self._strong = self._flags(df, self._strong_key)
        self._keys: dict[int, np.ndarray] = {}
        self._haystacks: dict[tuple, pd.Series] = {}
        self._masks: dict[str, np.ndarray] = {}
        self._perm = np.arange(self._n)
        self._rows = self._perm

    @staticmethod
    def _flags(df: pd.DataFrame, key: str | None) -> np.ndarray | None:
        if not key:
            return None
        return df[key].fillna(False).to_numpy(bool) if key in df else np.zeros(len(df), bool)

    def set_frame(self, df: pd.DataFrame, haystacks: dict | None = None, order: tuple | None = None) -> None:
        """Replace the data; the current sort order and named masks are dropped, sort kept.
        ``haystacks``: ``{tuple(keys): text_index(df, keys)}`` made elsewhere (off the GUI thread),
        so the first keystroke of a text filter does not build it here. ``order``: ``(key,
        descending, rows)`` with ``rows = frame_order(df, key, descending)`` made in the read; used
        when the model is still sorted that way (else the model sorts here)."""
        self.beginResetModel()
        ix = df.index
        plain = isinstance(ix, pd.RangeIndex) and ix.start == 0 and ix.step == 1
        self._set_arrays(df if plain else df.reset_index(drop=True))  # no copy of a frame already 0..n-1
        if haystacks:
            self._haystacks.update({tuple(k): v for k, v in haystacks.items()})
        if self._sort_column >= 0:
            if order is not None and order[:2] == self.sort_spec() and len(order[2]) == self._n:
                self._perm = np.asarray(order[2])
            else:
                self._perm = self._sorted_perm(self._sort_column, self._sort_order)
        self._rows = self._perm
        self.endResetModel()

    def frame(self) -> pd.DataFrame:
        return self._frame

    # ------------------------------------------------------------------ Qt API
    def rowCount(self, parent=QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent=QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self.columns)

    _ROLES = frozenset({Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.TextAlignmentRole, Qt.ItemDataRole.ToolTipRole,
                        RawRole, Qt.ItemDataRole.ForegroundRole, Qt.ItemDataRole.FontRole})

    def data(self, index, role=Qt.ItemDataRole.DisplayRole):
        if role not in self._ROLES or not index.isValid():  # views ask for ~14 roles per cell
            return None
        r, c = index.row(), index.column()
        if not (0 <= r < len(self._rows) and 0 <= c < len(self.columns)):
            return None
        col = self.columns[c]
        src = self._rows[r]
        if role == Qt.ItemDataRole.DisplayRole:
            return fmt.FORMATS[col.kind](self._arrays[col.key][src])
        if role == Qt.ItemDataRole.TextAlignmentRole:
            return RIGHT if col.numeric else (CENTER if col.kind == "bool" else LEFT)
        if role == Qt.ItemDataRole.ToolTipRole:
            if col.tooltip_key:
                v = self._arrays[col.tooltip_key][src]
                return None if fmt._missing(v) else str(v).replace(" | ", "\n")
            return None
        if role == RawRole:
            return _as_python(self._arrays[col.key][src])
        if self._emph is not None and self._emph[src]:
            if role == Qt.ItemDataRole.ForegroundRole:
                return self._alert
            if role == Qt.ItemDataRole.FontRole:
                return self._bold
        if self._strong is not None and self._strong[src] and role == Qt.ItemDataRole.FontRole:
            return self._bold
        return None

    def headerData(self, section, orientation, role=Qt.ItemDataRole.DisplayRole):
        if orientation == Qt.Orientation.Horizontal and 0 <= section < len(self.columns):
            col = self.columns[section]
            if role == Qt.ItemDataRole.DisplayRole:
                return col.title
            if role == Qt.ItemDataRole.ToolTipRole:
                return col.tip or col.title
            if role == Qt.ItemDataRole.TextAlignmentRole:
                return RIGHT if col.numeric else LEFT
        elif orientation == Qt.Orientation.Vertical and role == Qt.ItemDataRole.DisplayRole \
                and 0 <= section < len(self._rows):
            return str(section + 1)
        return None

    def flags(self, index):
        if not index.isValid():
            return Qt.ItemFlag.NoItemFlags
        return Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable

    # ------------------------------------------------------------------ sorting
    def _sort_key(self, column: int) -> np.ndarray:
        """A float key per source row (NaN = missing, sorted last either way)."""
        key = self._keys.get(column)
        if key is None:
            name = self.columns[column].key
            key = self._keys[column] = sort_key(self._frame[name] if name in self._frame else self._arrays[name])
        return key

    def _sorted_perm(self, column: int, order: Qt.SortOrder) -> np.ndarray:
        if column < 0 or column >= len(self.columns):
            return np.arange(self._n)
        return order_by(self._sort_key(column), order == Qt.SortOrder.DescendingOrder)

    def sort_spec(self) -> tuple[str, bool] | None:
        """``(frame column, descending)`` of the current sort, or None: what a read sorts by
        (:func:`frame_order`) before handing the frame back (``set_frame(order=...)``)."""
        if not (0 <= self._sort_column < len(self.columns)):
            return None
        return self.columns[self._sort_column].key, self._sort_order == Qt.SortOrder.DescendingOrder

    def sort(self, column: int, order=Qt.SortOrder.AscendingOrder) -> None:
        """Stable numpy sort; ties keep the frame's own order (e.g. urgent first)."""
        self.layoutAboutToBeChanged.emit()
        old_rows = self._rows
        self._sort_column, self._sort_order = column, order
        self._perm = self._sorted_perm(column, order)
        self._rows = self._visible(self._perm)
        self._remap_persistent(old_rows)
        self.layoutChanged.emit()

    def sort_state(self) -> tuple[int, Qt.SortOrder]:
        return self._sort_column, self._sort_order

    def _remap_persistent(self, old_rows: np.ndarray) -> None:
        persistent = self.persistentIndexList()
        if not persistent:
            return
        where = np.full(self._n, -1, dtype=np.int64)
        where[self._rows] = np.arange(len(self._rows))
        new = []
        for p in persistent:
            r = p.row()
            target = where[old_rows[r]] if 0 <= r < len(old_rows) else -1
            new.append(self.index(int(target), p.column()) if target >= 0 else QModelIndex())
        self.changePersistentIndexList(persistent, new)

    # ------------------------------------------------------------------ filtering
    def _visible(self, perm: np.ndarray) -> np.ndarray:
        if not self._masks:
            return perm
        mask = np.ones(self._n, dtype=bool)
        for m in self._masks.values():
            mask &= m
        return perm[mask[perm]]

    def set_mask(self, name: str, mask: np.ndarray | None) -> None:
        """Show only source rows where ``mask`` (one bool per frame row); None removes it."""
        self.beginResetModel()
        if mask is None:
            self._masks.pop(name, None)
        else:
            mask = np.asarray(mask, dtype=bool)
            if len(mask) != self._n:
                raise ValueError(f"mask of {len(mask)} rows for a frame of {self._n}")
            self._masks[name] = mask
        self._rows = self._visible(self._perm)
        self.endResetModel()

    def text_mask(self, text: str, keys: list[str] | None = None) -> np.ndarray | None:
        """Rows whose text columns contain ``text`` (case-insensitive); None for an empty text."""
        text = (text or "").strip().lower()
        if not text:
            return None
        keys = tuple(keys or [c.key for c in self.columns if c.kind == "text"])
        hay = self._haystacks.get(keys)
        if hay is None:  # built once per frame and key set: lower-cased columns joined
            hay = self._haystacks[keys] = text_index(self._frame, keys)
        return hay.str.contains(text, regex=False).to_numpy(dtype=bool, na_value=False)

    def set_text_filter(self, text: str, keys: list[str] | None = None) -> None:
        self.set_mask("text", self.text_mask(text, keys))

    # ------------------------------------------------------------------ rows
    def total_rows(self) -> int:
        return self._n

    def source_row(self, row: int) -> int:
        return int(self._rows[row])

    def source_rows(self, rows=None) -> np.ndarray:
        """The frame rows behind view rows ``rows`` (all shown rows, in view order, when None)."""
        if rows is None:
            return np.asarray(self._rows)
        return np.asarray(self._rows)[np.asarray(list(rows), dtype=np.int64)]

    def row_dict(self, row: int) -> dict:
        """The frame row behind view row ``row`` (all frame columns, Python values)."""
        src = int(self._rows[row])
        return {k: _as_python(v) for k, v in self._frame.iloc[src].items()}

    def value(self, row: int, key: str):
        return _as_python(self._frame[key].iat[int(self._rows[row])])

    def find(self, key: str, value) -> int:
        """The view row whose ``key`` equals ``value``, or -1 (hidden by a filter or absent)."""
        if key not in self._frame or not self._n:
            return -1
        col = self._frame[key]
        if isinstance(col.dtype, pd.CategoricalDtype):
            code = col.cat.categories.get_indexer([value])[0] if value is not None else -1
            hits = np.flatnonzero(col.cat.codes.to_numpy() == code) if code >= 0 else []
        else:
            hits = np.flatnonzero(col.to_numpy() == value)
        if not len(hits):
            return -1
        where = np.flatnonzero(np.isin(self._rows, hits))
        return int(where[0]) if len(where) else -1
