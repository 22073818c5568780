"""The console's pyqtgraph building blocks, shared by the Charts panel (:mod:`ui.charts`) and the
Lab's charts (:mod:`ui.lab_charts`): the symmetric-log dollar scale and its axis, a count axis,
the account scatter made for 100,000 points (one item per tier, numpy-fed, clicks resolved for the
points under the cursor only), and a plot with its title, axis labels and legend in the console's
style."""
from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
from PySide6.QtGui import QColor, QFont
from pyqtgraph.graphicsItems.ScatterPlotItem import _DEFAULT_STYLE, SpotItem

TEXT = "#222222"
GRID_ALPHA = 0.15
POINT_SIZE = 5


# --------------------------------------------------------------------------- helpers
def symlog(v):
    """Symmetric log in dollars: sign(v)·log10(1 + |v|) (linear near 0, log beyond $10)."""
    v = np.asarray(v, dtype=float)
    return np.sign(v) * np.log10(1.0 + np.abs(v))


def inv_symlog(t):
    t = np.asarray(t, dtype=float)
    return np.sign(t) * (10.0 ** np.abs(t) - 1.0)


def money(v: float, signed: bool = False) -> str:
    """$1,234,567 / −$1,234 (a real minus sign); ``signed`` adds + to positive values."""
    if v is None or not np.isfinite(v):
        return "–"
    s = f"${abs(v):,.0f}"
    if round(v) < 0:
        return "−" + s
    return ("+" + s) if signed and round(v) > 0 else s


def _color(hex_: str, alpha: int = 255) -> QColor:
    c = QColor(hex_)
    c.setAlpha(alpha)
    return c


def _font(pt: float = 9, bold: bool = False) -> QFont:
    f = QFont()
    f.setPointSizeF(pt)
    f.setBold(bold)
    return f


class CountAxis(pg.AxisItem):
    """Plain numbers with thousands separators (no SI prefixes)."""

    def tickStrings(self, values, scale, spacing):
        decimals = 0 if spacing >= 1 else max(0, int(math.ceil(-math.log10(spacing))))
        return [f"{v * scale:,.{decimals}f}" for v in values]


class SymlogDollarAxis(pg.AxisItem):
    """Axis of :func:`symlog` dollars: labelled ticks at $0, ±$10, ±$100, … (thousands
    separators), unlabelled minor ticks at 2× and 5×; every other decade when space is short."""

    def tickValues(self, minVal, maxVal, size):
        lo, hi = sorted((minVal, maxVal))
        if not (np.isfinite(lo) and np.isfinite(hi)) or hi - lo <= 0 or size <= 0:
            return []
        kmax = int(math.ceil(max(abs(lo), abs(hi)))) + 1
        cands = [(0, 0.0)] + [(k, s * 10.0 ** k) for k in range(1, kmax + 1) for s in (1, -1)]
        per_decade = size / (hi - lo)  # pixels per decade
        min_px = 84 if self.orientation in ("top", "bottom") else 26
        step = max(1, int(math.ceil(min_px / per_decade)))
        majors = sorted(float(symlog(v)) for k, v in cands if k % step == 0)
        majors = [t for t in majors if lo <= t <= hi]
        minors = []
        if step == 1 and per_decade > 60:
            for k in range(0, kmax + 1):
                for m in (2, 5):
                    for s in (1, -1):
                        t = float(symlog(s * m * 10.0 ** k))
                        if lo <= t <= hi:
                            minors.append(t)
        return [(1.0, majors), (0.5, sorted(minors))]

    def tickStrings(self, values, scale, spacing):
        if spacing < 1.0:
            return ["" for _ in values]
        out = []
        for t in values:
            v = float(inv_symlog(t))
            mag = 10.0 ** round(math.log10(abs(v))) if abs(v) >= 1 else 0.0
            out.append(money(math.copysign(mag, v)) if mag else "$0")
        return out


class AccountScatter(pg.ScatterPlotItem):
    """A ScatterPlotItem whose click hit-test only makes SpotItems for the points under the
    cursor (nearest first) instead of one Python object per point of the whole plot.
    ``ids`` (object array, one account id per point) is kept as the points' data."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.ids = np.empty(0, dtype=object)

    def set_points(self, x: np.ndarray, y: np.ndarray, ids: np.ndarray) -> None:
        self.ids = np.asarray(ids, dtype=object)
        self.setData(x=np.asarray(x, float), y=np.asarray(y, float), data=self.ids)

    def updateSpots(self, dataSet=None):
        """pyqtgraph looks up the symbol atlas once per point (a Python loop: ~0.5 s for 100,000
        points); when every point uses the item's own style, look it up once for all."""
        if dataSet is None:
            dataSet = self.data
        if not (self.opts["pxMode"] and self.opts["useCache"] and len(dataSet)) or not self._uniform(dataSet):
            return super().updateSpots(dataSet)
        mask = dataSet["sourceRect"]["w"] == 0
        if mask.any():
            style = (self.opts["symbol"], self.opts["size"], self.opts["pen"], self.opts["brush"])
            dataSet["sourceRect"][mask] = self.fragmentAtlas[[style]][0]
            self.invalidate()
        self._updateMaxSpotSizes(data=dataSet)

    @staticmethod
    def _uniform(dataSet) -> bool:
        return (bool(np.all(dataSet["size"] == _DEFAULT_STYLE["size"]))
                and all(bool(np.equal(dataSet[k], None).all()) for k in ("symbol", "pen", "brush")))

    def pointsAt(self, pos):
        idx = np.flatnonzero(self._maskAt(pos))
        if len(idx) > 1:
            px, py = self.pixelVectors()
            sx = px.length() if px is not None and px.length() > 0 else 1.0
            sy = py.length() if py is not None and py.length() > 0 else 1.0
            d = ((self.data["x"][idx] - pos.x()) / sx) ** 2 + ((self.data["y"][idx] - pos.y()) / sy) ** 2
            idx = idx[np.argsort(d, kind="stable")]
        out = []
        for i in idx.tolist():
            rec = self.data[i]
            if rec["item"] is None:
                rec["item"] = SpotItem(rec, self, i)
            out.append(rec["item"])
        return out


def _plot(left=None, bottom=None, xgrid: bool = False) -> pg.PlotWidget:
    axes = {"left": left or CountAxis("left"), "bottom": bottom or CountAxis("bottom")}
    w = pg.PlotWidget(background="w", axisItems=axes)
    pi = w.getPlotItem()
    pi.hideButtons()
    pi.setMenuEnabled(False)
    for name in ("left", "bottom"):
        ax = pi.getAxis(name)
        ax.setPen(pg.mkPen("#888888"))
        ax.setTextPen(pg.mkPen(TEXT))
        ax.setTickFont(_font(8.5))
    pi.getAxis("left").setWidth(62)
    pi.showGrid(x=xgrid, y=True, alpha=GRID_ALPHA)
    w.setMinimumSize(320, 220)
    w.setAntialiasing(False)
    return w


def _title(w: pg.PlotWidget, text: str) -> None:
    w.getPlotItem().setTitle(text, color=TEXT, size="10pt", bold=True)


def _axis_label(w: pg.PlotWidget, side: str, text: str) -> None:
    w.getPlotItem().getAxis(side).setLabel(text, **{"color": TEXT, "font-size": "9pt"})


def _legend(w: pg.PlotWidget, offset=(-10, 10), cols: int = 1) -> pg.LegendItem:
    leg = w.getPlotItem().addLegend(offset=offset, brush=pg.mkBrush(255, 255, 255, 215),
                                    pen=pg.mkPen("#bbbbbb"), labelTextColor=TEXT, labelTextSize="8.5pt",
                                    colCount=cols, verSpacing=-4)
    return leg
