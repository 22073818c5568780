# Long because the four plots share one selection and threshold-preview state (a drag updates all of them); the pyqtgraph parts are in ui/chart_parts.py.
"""Cost/benefit charts of one run: the "Charts" panel of the console.

:class:`ChartsPanel` is self-contained: give it a run's proposals, the policy and (optionally)
the days since each account last traded with :meth:`ChartsPanel.set_data`; it never touches
the database nor changes the policy. Four plots:

(a) **Score distribution** of the selected tier (histogram, bps). Only the accounts a threshold
    decides are counted (SCORE or NO_TRADE with trades; MANDATE accounts trade anyway and
    SUSPENDED/HELD ones never do). The tier's policy start and floor are dashed lines; the solid
    line is a *flat preview threshold* that can be dragged: the label above the plots says how
    many accounts would trade at that threshold, their turnover and realized tax
    (:class:`engine.decide.preview.ThresholdPreviewer`, equal to what a run with that flat threshold
    does). The part of the histogram that would trade is drawn darker. "Save to policy…" asks
    for confirmation and emits ``saveThreshold(tier, bps)``; the main window stores the policy
    made by :func:`engine.decide.preview.policy_with_threshold` (flat: start = floor = bps, so the next
    run trades exactly what was previewed).
(b) **Benefit vs cost** per account, coloured by tier, both axes symmetric-log dollars
    (benefit = drift + harvest + rating benefit, cost = trading cost + tax cost; benefit can be
    negative). Points above the diagonal have a positive score. Clicking a point emits
    ``accountActivated(account_id)``.
(c) **Threshold decay** per tier (``floor + (start − floor)·2^(−days/half_life)``) with the
    selected tier's score accounts at (days since last trade, score). Accounts that never traded
    (threshold = floor) or traded before the right edge are drawn at the right edge.
    ``days_since_trade`` is not a column of the proposals: pass it to :meth:`set_data`
    (:func:`engine.decide.preview.days_since_trade` reads it from the run's book snapshot) or as a
    ``days_since_trade`` column of the proposals; without it only the curves are drawn.
(d) **Categories per tier** (grouped bars) with the previewed SCORE / NO_TRADE counts of the
    selected tier as outlines.

Made for 100,000 accounts: scatter plots are one ScatterPlotItem per tier fed with numpy
arrays (pxMode, one brush per item, no per-point Python objects; clicks create SpotItems only
for the points under the cursor), histograms are np.histogram + a stepMode curve, and a drag
step costs one searchsorted per update. Beyond :data:`MAX_SCATTER` accounts the scatter plots draw
a fixed random sample of each tier (the legend says how many): painting every point of a
100,000-account run costs the GUI thread a quarter second a frame. :meth:`ChartsPanel.prepare`
does all the arithmetic without a widget (off the GUI thread, :mod:`ui.charts_prepare`: the sample,
the symlog transform, category counts, every tier's histogram and decay points), so the GUI thread
only hands numpy arrays to pyqtgraph; ``set_data(staged=True)`` adds one tier's scatter, then one
plot, per turn of the event loop (:data:`STAGE_MS` apart).
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import pyqtgraph as pg
from PySide6.QtCore import QCoreApplication, QEvent, Qt, QTimer, Signal
from PySide6.QtWidgets import (QComboBox, QGridLayout, QHBoxLayout, QLabel, QMessageBox, QPushButton,
                               QSizePolicy, QVBoxLayout, QWidget)

from engine.core.policy import Policy
from engine.decide.preview import ThresholdPreviewer, score_eligible
from ui.charts_prepare import CATEGORIES, MAX_SCATTER, in_policy, plot_arrays, tier_arrays
from ui.chart_parts import (  # noqa: F401 - the chart parts, also by their old address
    GRID_ALPHA,
    POINT_SIZE,
    TEXT,
    AccountScatter,
    CountAxis,
    SymlogDollarAxis,
    _axis_label,
    _color,
    _font,
    _legend,
    _plot,
    _title,
    inv_symlog,
    money,
    symlog,
)

__all__ = ["ChartsPanel", "AccountScatter", "SymlogDollarAxis", "symlog", "inv_symlog", "money",
           "TIER_COLORS", "CATEGORY_COLORS", "MAX_SCATTER"]

TIER_COLORS = ("#4C78A8", "#F58518", "#54A24B", "#B279A2", "#E45756", "#72B7B2", "#9D755D", "#EECA3B")
CATEGORY_COLORS = {"SUSPENDED": "#D62728", "HELD": "#FF9F1C", "MANDATE": "#7B61B5", "SCORE": "#2CA02C",
                   "NO_TRADE": "#A0A0A0"}
assert tuple(CATEGORY_COLORS) == CATEGORIES
#: ms between two staged build steps: a real timer, not singleShot(0) (in Qt 6 a posted event, run
#: in the same pass of the event loop as the step before it and its repaint, so that input waited
#: for several steps and repaints at once)
STAGE_MS = 1
DECIMALS = 1  # preview thresholds are rounded to 0.1 bps (what is shown is what is saved)



# --------------------------------------------------------------------------- the panel
class ChartsPanel(QWidget):
    """Cost/benefit charts of a run; see the module docstring.

    Signals: ``accountActivated(account_id)`` when a point is clicked; ``saveThreshold(tier,
    bps)`` when the user confirms "Save to policy…" (the receiver saves
    ``engine.decide.preview.policy_with_threshold(policy, tier, bps)`` — a flat threshold).
    """

    accountActivated = Signal(str)
    saveThreshold = Signal(str, float)
    #: ask before emitting saveThreshold (tests and embedding code may switch it off)
    confirm_save = True

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setObjectName("charts_panel")
        self._props = pd.DataFrame()
        self._stage_gen = 0
        self.staging = False  # a staged set_data is still building its plots
        self._policy: Policy | None = None
        self._previewer: ThresholdPreviewer | None = None
        self._tier_color: dict[str, str] = {}
        self._tier_value: dict[str, float] = {}  # the preview threshold per tier
        self._hist_sorted = np.empty(0)  # clipped, sorted scores of the selected tier
        self._hist_edges = np.empty(0)
        self._days: np.ndarray | None = None
        self._last: dict | None = None
        self._updating = False

        # ---- controls
        self.tier_combo = QComboBox()
        self.tier_combo.setObjectName("charts_tier")
        self.tier_combo.setMinimumContentsLength(10)
        self.reset_button = QPushButton("Reset to policy floor")
        self.reset_button.setToolTip("Move the preview threshold back to the tier's policy floor")
        self.save_button = QPushButton("Save to policy…")
        self.save_button.setObjectName("charts_save")
        self.save_button.setToolTip("Make the previewed threshold the tier's flat threshold "
                                    "(start = floor) in a new policy version")
        self.preview_label = QLabel()
        self.preview_label.setObjectName("charts_preview")
        self.preview_label.setTextFormat(Qt.TextFormat.RichText)
        self.preview_label.setWordWrap(True)
        self.preview_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.selection_label = QLabel()
        self.selection_label.setObjectName("charts_selection")
        self.selection_label.setTextFormat(Qt.TextFormat.RichText)
        self.selection_label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)

        top = QHBoxLayout()
        top.addWidget(QLabel("Tier:"))
        top.addWidget(self.tier_combo)
        top.addSpacing(12)
        top.addWidget(self.selection_label, 1)
        top.addWidget(self.reset_button)
        top.addWidget(self.save_button)

        # ---- (a) histogram
        self.hist_plot = _plot()
        _axis_label(self.hist_plot, "bottom", "score (bps of account value)")
        _axis_label(self.hist_plot, "left", "accounts")
        self.hist_plot.setMouseEnabled(x=False, y=False)
        self._hist_all = pg.PlotDataItem(stepMode="center", fillLevel=0, pen=pg.mkPen("#999999", width=1))
        self._hist_above = pg.PlotDataItem(stepMode="center", fillLevel=0)
        self.hist_plot.addItem(self._hist_all)
        self.hist_plot.addItem(self._hist_above)
        self._start_line = pg.InfiniteLine(angle=90, movable=False,
                                           pen=pg.mkPen("#555555", width=1, style=Qt.PenStyle.DashLine),
                                           label="start {value:.0f}", labelOpts={
                                               "position": 0.80, "color": "#555555", "anchors": [(0, 0.5), (0, 0.5)]})
        self._floor_line = pg.InfiniteLine(angle=90, movable=False,
                                           pen=pg.mkPen("#555555", width=1, style=Qt.PenStyle.DotLine),
                                           label="floor {value:.0f}", labelOpts={
                                               "position": 0.65, "color": "#555555", "anchors": [(0, 0.5), (0, 0.5)]})
        self.threshold_line = pg.InfiniteLine(
            angle=90, movable=True, pen=pg.mkPen("#111111", width=2.5),
            hoverPen=pg.mkPen("#D62728", width=3.5), label="preview {value:.1f} bps ⇆",
            labelOpts={"position": 0.94, "color": "#111111", "fill": (255, 255, 255, 220),
                       "anchors": [(0, 0.5), (0, 0.5)]})
        self.threshold_line.setZValue(20)
        self.threshold_line.setCursor(Qt.CursorShape.SizeHorCursor)
        for item in (self._start_line, self._floor_line, self.threshold_line):
            self.hist_plot.addItem(item, ignoreBounds=True)
        self.threshold_line.sigPositionChanged.connect(self._on_threshold_moved)

        # ---- (b) benefit vs cost
        self.scatter_plot = _plot(SymlogDollarAxis("left"), SymlogDollarAxis("bottom"), xgrid=True)
        self.scatter_plot.getPlotItem().getAxis("left").setWidth(86)
        _axis_label(self.scatter_plot, "bottom", "cost: trading + tax ($, log scale)")
        _axis_label(self.scatter_plot, "left", "benefit: drift + harvest + rating ($, log scale)")
        _title(self.scatter_plot, "Benefit vs cost per account (click a point to open it)")
        self._scatter_legend = _legend(self.scatter_plot, offset=(-10, -10))  # bottom right: cost > benefit
        self._diag = pg.PlotCurveItem(pen=pg.mkPen("#666666", width=1, style=Qt.PenStyle.DashLine))
        self.scatter_plot.addItem(self._diag, ignoreBounds=True)
        self._diag_label = pg.TextItem("benefit = cost (score 0)", color="#555555", anchor=(1, 0))
        self._diag_label.setFont(_font(8))
        self.scatter_plot.addItem(self._diag_label, ignoreBounds=True)
        self.scatter_items: dict[str, AccountScatter] = {}
        self._selected = pg.ScatterPlotItem(size=14, symbol="o", pen=pg.mkPen("#000000", width=2),
                                            brush=None)
        self._selected.setZValue(50)
        self.scatter_plot.addItem(self._selected, ignoreBounds=True)

        # ---- (c) decay
        self.decay_plot = _plot()
        _axis_label(self.decay_plot, "bottom", "days since last trade (never traded or older: right edge)")
        _axis_label(self.decay_plot, "left", "threshold / score (bps)")
        self._decay_legend = _legend(self.decay_plot, offset=(-10, 10), cols=2)
        self.decay_curves: dict[str, pg.PlotCurveItem] = {}
        self.decay_points = AccountScatter(size=POINT_SIZE, pen=None, pxMode=True, hoverable=False)
        self.decay_points_score = AccountScatter(size=POINT_SIZE, pen=None, pxMode=True, hoverable=False)
        self._decay_flat = pg.InfiniteLine(angle=0, movable=False,
                                           pen=pg.mkPen("#111111", width=1.5, style=Qt.PenStyle.DashLine),
                                           label="preview {value:.1f}", labelOpts={
                                               "position": 0.03, "color": "#111111", "anchors": [(0, 1), (0, 1)]})
        self._decay_edge = pg.InfiniteLine(angle=90, movable=False,
                                           pen=pg.mkPen("#999999", width=1, style=Qt.PenStyle.DotLine))
        self.decay_plot.addItem(self._decay_edge, ignoreBounds=True)
        self.decay_plot.addItem(self._decay_flat, ignoreBounds=True)
        self.decay_plot.addItem(self.decay_points)
        self.decay_plot.addItem(self.decay_points_score)
        self._decay_note = pg.TextItem("", color="#555555", anchor=(0.5, 0.5))
        self.decay_plot.addItem(self._decay_note, ignoreBounds=True)

        # ---- (d) categories
        self.category_plot = _plot()
        _axis_label(self.category_plot, "left", "accounts")
        _title(self.category_plot, "Categories per tier (outline: preview)")
        self.category_plot.setMouseEnabled(x=False, y=False)
        self._cat_legend = _legend(self.category_plot, offset=(-10, 10))
        self.category_bars: dict[str, pg.BarGraphItem] = {}
        self._cat_preview = pg.BarGraphItem(x=[], height=[], width=0.15, brush=None,
                                            pen=pg.mkPen("#111111", width=1.5, style=Qt.PenStyle.DashLine))
        self._cat_preview.setZValue(10)
        self.category_plot.addItem(self._cat_preview)

        for w in (self.decay_points, self.decay_points_score):
            w.sigClicked.connect(self._on_points_clicked)

        grid = QGridLayout()
        grid.setContentsMargins(0, 0, 0, 0)
        grid.setSpacing(6)
        grid.addWidget(self.hist_plot, 0, 0)
        grid.addWidget(self.decay_plot, 0, 1)
        grid.addWidget(self.scatter_plot, 1, 0)
        grid.addWidget(self.category_plot, 1, 1)
        lay = QVBoxLayout(self)
        lay.addLayout(top)
        lay.addWidget(self.preview_label)
        lay.addLayout(grid, 1)

        self.tier_combo.currentTextChanged.connect(self._on_tier_changed)
        self.reset_button.clicked.connect(self.reset_threshold)
        self.save_button.clicked.connect(self._on_save)
        self._set_enabled(False)
        self.preview_label.setText("No run yet: run the book to see its cost/benefit charts.")

    # ------------------------------------------------------------------ public API
    @staticmethod
    def prepare(proposals: pd.DataFrame | None, policy: Policy, days_since_trade: pd.Series | None = None) -> dict:
        """The per-account arrays :meth:`set_data` needs, computed without touching a widget (a
        console prepares them off the GUI thread and passes them as ``prepared``)."""
        props = (proposals if proposals is not None else pd.DataFrame()).reset_index(drop=True)
        n = len(props)

        def codes(col):
            if col not in props.columns or not n:
                return np.full(n, -1), []
            c, names = pd.factorize(props[col])
            return c, [str(x) for x in names]

        if "account_id" in props.columns:
            acc = props["account_id"]
            if not (pd.api.types.is_string_dtype(acc) or acc.dtype == object):
                acc = acc.astype(str)
            ids = acc.to_numpy(dtype=object, na_value="")
        else:
            ids = np.full(n, "", dtype=object)
        if days_since_trade is not None:
            days = pd.to_numeric(pd.Series(days_since_trade).reindex(ids), errors="coerce").to_numpy(float)
        elif "days_since_trade" in props.columns:
            days = pd.to_numeric(props["days_since_trade"], errors="coerce").to_numpy(float)
        else:
            days = None
        out = {"props": props, "previewer": ThresholdPreviewer(props) if n else None, "tier": codes("tier"),
               "category": codes("category"), "ids": ids,
               "elig": score_eligible(props) if n else np.zeros(0, bool), "days": days}
        out["plots"] = plot_arrays(out, policy)  # what each plot draws (ui.charts_prepare)
        return out

    def set_data(self, proposals: pd.DataFrame | None, policy: Policy,
                 days_since_trade: pd.Series | None = None, *, prepared: dict | None = None,
                 staged: bool = False, on_done=None) -> None:
        """Show a run. ``proposals``: one row per account (engine.decide.workflow.proposals_frame);
        ``policy``: whose tiers give the threshold curves and the preview's starting point;
        ``days_since_trade``: Series indexed by account_id (NaN = never traded), else the
        proposals' ``days_since_trade`` column if any. ``prepared``: :meth:`prepare`'s result for
        the same arguments (computed elsewhere, e.g. off the GUI thread). ``staged``: build the
        plots one per turn of the event loop (the GUI thread is never busy with all four at
        once), then call ``on_done()``; ``staging`` is true meanwhile."""
        self._stage_gen += 1
        p = prepared if prepared is not None else self.prepare(proposals, policy, days_since_trade)
        self._props = p["props"]
        self._policy = policy
        self._previewer = p["previewer"]
        self._tier_codes, self._tier_names = p["tier"]
        self._cat_codes, self._cat_names = p["category"]
        self._prepared = p
        self._plots = plots = p["plots"]
        self._tiers = tiers = plots["tiers"]
        self._tier_color = {t: TIER_COLORS[i % len(TIER_COLORS)] for i, t in enumerate(tiers)}
        self._tier_value = {t: self._policy_floor(t) for t in tiers}
        self._ids = p["ids"]
        self._elig = p["elig"]
        self._days = p["days"]
        self._selected.clear()
        self.selection_label.setText("")
        self._bx, self._by = plots["bx"], plots["by"]
        self._benefit, self._cost = plots["benefit"], plots["cost"]
        self._decay_xmax = plots["decay_xmax"]
        # one tier's points per turn of the event loop when staged (no turn hands pyqtgraph them all)
        steps = [self._clear_scatter] + [lambda e=e: self._add_scatter(e) for e in plots["scatter"]] + [
            self._build_categories, self._build_decay_curves, self._finish_data]
        if not staged:
            for step in steps:
                step()
            return
        gen = self._stage_gen
        self.staging = True

        def run(i: int) -> None:
            if gen != self._stage_gen:  # newer data: this build is abandoned
                return
            if i == len(steps):  # the plots' first repaint (posted events) has run before this timer
                self.staging = False
                if on_done is not None:
                    on_done()
                return
            steps[i]()
            QTimer.singleShot(STAGE_MS, lambda: run(i + 1))

        run(0)

    def _settle(self) -> None:
        """Lay the plots out and let their items (view transforms, text labels) follow the new ranges
        now, before the plots' repaint: else the first paint does it, and what it moves is painted
        again in the same pass of the event loop (three times on a first open)."""
        QCoreApplication.sendPostedEvents(None, QEvent.Type.LayoutRequest)
        for w in (self.hist_plot, self.scatter_plot, self.decay_plot, self.category_plot):
            w.scene().prepareForPaint()

    def _finish_data(self) -> None:
        tiers = self._tiers
        current = self.tier_combo.currentText()
        self.tier_combo.blockSignals(True)
        self.tier_combo.clear()
        self.tier_combo.addItems(tiers)
        self.tier_combo.blockSignals(False)
        self._set_enabled(self._previewer is not None)
        if self._previewer is None:
            self._last = None
            self._hist_all.setData(x=[], y=[])
            self._hist_above.setData(x=[], y=[])
            for item in (self.decay_points, self.decay_points_score):
                item.clear()
                item.ids = np.empty(0, dtype=object)
            self._cat_preview.setOpts(x=[], height=[])
            self.preview_label.setText("No run yet: run the book to see its cost/benefit charts.")
        pick = current if current in tiers else self._default_tier()
        self.tier_combo.blockSignals(True)
        self.tier_combo.setCurrentText(pick)
        self.tier_combo.blockSignals(False)
        self._on_tier_changed(pick)
        self._settle()

    def current_tier(self) -> str:
        return self.tier_combo.currentText()

    def set_tier(self, tier: str) -> None:
        self.tier_combo.setCurrentText(tier)

    def threshold(self) -> float:
        """The preview threshold of the selected tier, as previewed and saved (0.1 bps)."""
        return round(float(self.threshold_line.value()), DECIMALS)

    def set_threshold(self, bps: float) -> None:
        """Move the preview line (as a drag would)."""
        self.threshold_line.setValue(float(bps))

    def reset_threshold(self) -> None:
        self.set_threshold(self._policy_floor(self.current_tier()))

    def select_account(self, account_id: str) -> bool:
        """Highlight an account (ring on the benefit/cost plot) without emitting a signal."""
        rows = np.flatnonzero(self._ids == str(account_id)) if len(self._props) else []
        if not len(rows):
            return False
        self._show_selection(str(account_id), int(rows[0]))
        return True

    def last_preview(self) -> dict | None:
        """The preview shown now (engine.decide.preview.ThresholdPreviewer.preview's dict)."""
        return self._last

    # ------------------------------------------------------------------ building
    def _set_enabled(self, on: bool) -> None:
        for w in (self.tier_combo, self.reset_button, self.save_button):
            w.setEnabled(on)
        self.threshold_line.setVisible(on)

    def _default_tier(self) -> str:
        if self._previewer is None or not self._tiers:
            return self._tiers[0] if getattr(self, "_tiers", None) else ""
        counts = {t: len(self._previewer.scores(t)) for t in self._tiers}
        return max(self._tiers, key=lambda t: counts[t])

    def _policy_floor(self, tier: str) -> float:
        try:
            return float(self._policy.tier(tier).threshold_floor_bps)
        except (KeyError, AttributeError):
            return 0.0

    def _clear_scatter(self) -> None:
        plot = self.scatter_plot
        for item in self.scatter_items.values():
            plot.removeItem(item)
            self._scatter_legend.removeItem(item)
        self.scatter_items = {}
        rng = self._plots["scatter_range"]
        if rng is None:
            self._diag.setData([], [])
            return
        hi, lo_y = rng
        self._diag.setData([0.0, hi], [0.0, hi])
        self._diag_label.setPos(hi * 0.97, hi * 0.97)
        plot.getPlotItem().setXRange(-0.12, hi * 1.02, padding=0)  # room for the $0 tick
        plot.getPlotItem().setYRange(lo_y - 0.1, hi * 1.02, padding=0)

    def _add_scatter(self, e: dict) -> None:
        """One tier's points (prepared by ui.charts_prepare.plot_arrays): one brush for the item."""
        t, n_all, sel = e["tier"], e["n_all"], e["rows"]
        c = self._tier_color[t]
        item = AccountScatter(size=POINT_SIZE, pen=None, brush=pg.mkBrush(_color(c, 170)), pxMode=True,
                              hoverable=False, name=f"{t} ({n_all:,}{f', {len(sel):,} drawn' if e['sampled'] else ''})")
        item.rows = sel
        item.set_points(e["x"], e["y"], e["ids"])
        item.sigClicked.connect(self._on_points_clicked)
        self.scatter_plot.addItem(item)
        self.scatter_items[t] = item

    def _build_categories(self) -> None:
        plot = self.category_plot
        for item in self.category_bars.values():
            plot.removeItem(item)
            self._cat_legend.removeItem(item)
        self.category_bars = {}
        tiers = self._tiers
        x0 = np.arange(len(tiers), dtype=float)
        width = 0.8 / len(CATEGORIES)
        self._cat_offsets = {c: (i - (len(CATEGORIES) - 1) / 2) * width for i, c in enumerate(CATEGORIES)}
        self._cat_width = width * 0.92
        self._cat_counts = ct = self._plots["cat_counts"]
        for c in CATEGORIES:
            bar = pg.BarGraphItem(x=x0 + self._cat_offsets[c], height=ct[c].to_numpy(float), width=self._cat_width,
                                  brush=pg.mkBrush(CATEGORY_COLORS[c]), pen=pg.mkPen(None),
                                  name=f"{c.replace('_', ' ').title()}")
            plot.addItem(bar)
            self.category_bars[c] = bar
        totals = ct.sum(axis=1)
        ticks = [(i, f"{t} ({int(totals[t]):,})") for i, t in enumerate(tiers)]
        plot.getPlotItem().getAxis("bottom").setTicks([ticks, []])
        top = float(ct.to_numpy().max()) if ct.size else 1.0
        plot.getPlotItem().setXRange(-0.5, len(tiers) - 0.5, padding=0.02)
        plot.getPlotItem().setYRange(0, max(top, 1.0) * 1.32, padding=0)

    def _build_decay_curves(self) -> None:
        plot = self.decay_plot
        for item in self.decay_curves.values():
            plot.removeItem(item)
            self._decay_legend.removeItem(item)
        self.decay_curves = {}
        self._decay_legend.removeItem(self.decay_points_score)
        self._decay_legend.removeItem(self.decay_points)
        pol = self._policy
        xmax = self._decay_xmax
        self._decay_edge.setValue(xmax)
        days = np.linspace(0.0, xmax, 241)
        for t in self._tiers:
            if not self._in_policy(t):
                continue
            tr = pol.tier(t)
            y = tr.threshold_floor_bps + (tr.threshold_start_bps - tr.threshold_floor_bps) * np.exp2(
                -days / tr.half_life_days)
            curve = pg.PlotCurveItem(days, y, pen=pg.mkPen(self._tier_color[t], width=2),
                                     name=f"{t} {tr.threshold_start_bps:g}→{tr.threshold_floor_bps:g} bps")
            plot.addItem(curve)
            self.decay_curves[t] = curve
        self._decay_legend.addItem(self.decay_points_score, "traded (run)")
        self._decay_legend.addItem(self.decay_points, "no trade (run)")
        self.decay_plot.setToolTip("\n".join(
            f"{t}: threshold = {pol.tier(t).threshold_floor_bps:g} + ({pol.tier(t).threshold_start_bps:g} − "
            f"{pol.tier(t).threshold_floor_bps:g})·2^(−days/{pol.tier(t).half_life_days:g}) bps"
            for t in self._tiers if self._in_policy(t)) +
            "\nPoints: the selected tier's score accounts at (days since last trade, score); accounts that "
            "never traded or traded before the right edge are drawn at the edge (dotted line).")

    def _in_policy(self, tier: str) -> bool:
        return in_policy(self._policy, tier)

    def _tier_arrays(self, tier: str) -> dict:
        """The tier's histogram and decay points, prepared with the data (computed now for a tier
        the run does not know)."""
        per = self._plots["per_tier"]
        if tier not in per:
            per[tier] = tier_arrays(self._prepared, self._policy, self._tiers, tier, self._decay_xmax)
        return per[tier]

    # ------------------------------------------------------------------ tier-dependent
    def _on_tier_changed(self, tier: str) -> None:
        if not tier or self._previewer is None:
            return
        color = self._tier_color.get(tier, TIER_COLORS[0])
        a = self._tier_arrays(tier)  # prepared off the GUI thread (ui.charts_prepare.tier_arrays)
        lo, hi, nbins, edges, counts = a["lo"], a["hi"], a["nbins"], a["edges"], a["counts"]
        start, floor, has_tier = a["start"], a["floor"], a["in_policy"]
        self._hist_edges = edges
        self._hist_sorted = a["sorted"]
        self._hist_all.setData(x=edges, y=counts, stepMode="center", fillLevel=0,
                               brush=pg.mkBrush(_color(color, 60)), pen=pg.mkPen(_color(color, 140), width=1))
        self._hist_above.setPen(pg.mkPen(color, width=1))
        self._hist_above.setBrush(pg.mkBrush(_color(color, 210)))
        pi = self.hist_plot.getPlotItem()
        pi.setXRange(lo, hi, padding=0.01)
        pi.setYRange(0, max(float(counts.max()) if len(counts) else 1.0, 1.0) * 1.18, padding=0)
        _title(self.hist_plot, f"Score distribution: {tier}, {a['n_scores']:,} score accounts — drag the line")
        self.hist_plot.setToolTip(
            f"Scores of the {tier} accounts whose trading a threshold decides (SCORE or NO_TRADE with "
            f"trades), {nbins} bins from {lo:,.0f} to {hi:,.0f} bps; scores outside fall in the edge bins.\n"
            "Dashed: the policy's start and floor. Solid: the preview threshold (drag it).")
        self._start_line.setValue(start)
        self._floor_line.setValue(floor)
        self._start_line.setVisible(has_tier and start != floor)
        self._floor_line.label.format = "floor {value:.0f}" if start != floor else "policy {value:.0f} (flat)"
        self._floor_line.setVisible(has_tier)
        self._updating = True  # setBounds may move the line: not a user's preview
        try:
            self.threshold_line.setBounds((lo, hi))
        finally:
            self._updating = False
        # decay plot: the tier's accounts
        self._draw_decay_points(tier)
        for t, curve in self.decay_curves.items():
            curve.setPen(pg.mkPen(self._tier_color[t], width=3.5 if t == tier else 1.2))
            curve.setZValue(5 if t == tier else 1)
        _title(self.decay_plot, f"Threshold vs days since last trade ({tier} accounts)")
        self._updating = True
        try:
            self.threshold_line.setValue(self._tier_value.get(tier, floor))
        finally:
            self._updating = False
        self._on_threshold_moved()

    def _draw_decay_points(self, tier: str) -> None:
        xmax = self._decay_xmax
        a = self._tier_arrays(tier)
        if a["decay"] is None:
            self.decay_points.clear()
            self.decay_points_score.clear()
            self._decay_note.setText("days since last trade not available for this run")
            self._decay_note.setPos(xmax / 2, a["decay_y"][1] * 0.5)
            self.decay_plot.getPlotItem().setXRange(0, xmax, padding=0.01)
            self.decay_plot.getPlotItem().setYRange(*a["decay_y"], padding=0)
            return
        self._decay_note.setText("")
        color = self._tier_color.get(tier, TIER_COLORS[0])
        for item, kind, brush in ((self.decay_points, "NO_TRADE", _color("#8C8C8C", 120)),
                                  (self.decay_points_score, "SCORE", _color(color, 200))):
            d = a["decay"][kind]
            item.rows = d["rows"]
            item.setBrush(pg.mkBrush(brush))
            item.set_points(d["x"], d["y"], d["ids"])
        self.decay_plot.getPlotItem().setXRange(0, xmax, padding=0.01)
        self.decay_plot.getPlotItem().setYRange(*a["decay_y"], padding=0)

    # ------------------------------------------------------------------ the drag
    def _on_threshold_moved(self, *_):
        if self._updating or self._previewer is None:
            return
        tier = self.current_tier()
        x = self.threshold()
        self._tier_value[tier] = float(self.threshold_line.value())
        p = self._previewer.preview(tier, x)
        self._last = p
        # the part of the histogram that trades at x
        s, e = self._hist_sorted, self._hist_edges
        if len(s) and len(e) and x < e[-1]:
            xe = np.concatenate([[max(x, e[0])], e[e > x]])
            pos = np.searchsorted(s, xe, side="left")
            pos[-1] = len(s)
            self._hist_above.setData(x=xe, y=np.diff(pos).astype(float), stepMode="center", fillLevel=0)
        else:
            self._hist_above.setData(x=[], y=[])
        self._decay_flat.setValue(x)
        # preview outlines on the category chart
        if tier in self._tiers:
            i = self._tiers.index(tier)
            run_nt = float(self._cat_counts.loc[tier, "NO_TRADE"])
            run_sc = float(self._cat_counts.loc[tier, "SCORE"])
            self._cat_preview.setOpts(
                x=[i + self._cat_offsets["SCORE"], i + self._cat_offsets["NO_TRADE"]],
                height=[p["accounts"], run_nt + run_sc - p["accounts"]], width=self._cat_width)
        self.preview_label.setText(self._preview_text(p))

    @staticmethod
    def _preview_text(p: dict) -> str:
        delta = p["accounts"] - p["run_score_accounts"]
        dtxt = "same as" if delta == 0 else f"{delta:+,} vs"

        def nb(text: str) -> str:
            """Keep a figure with its words on one line (Qt's rich text ignores <nobr> and
            white-space: nowrap inside a wrapping QLabel; non-breaking spaces and a word joiner
            after the minus sign work)."""
            return text.replace(" ", "&nbsp;").replace("−", "−\u2060")

        return (
            f"<b>{p['tier']} at a flat {p['threshold_bps']:.1f} bps:</b> "
            f"<b>{p['accounts']:,}</b> of {p['eligible']:,} score accounts trade ({dtxt} this run) · "
            + nb(f"turnover <b>{money(p['turnover'])}</b>") + " · "
            + nb(f"realized tax <b>{money(p['realized_tax'])}</b>")
            + f"<br><span style='color:#555'>plus {p['mandate_accounts']:,} mandate accounts that trade "
            "regardless (" + nb(f"turnover {money(p['mandate_turnover'])}") + ", "
            + nb(f"realized tax {money(p['mandate_realized_tax'])}") + ") · "
            + nb(f"total {p['total_accounts']:,} of {p['tier_accounts']:,} accounts") + " · "
            + nb(f"turnover {money(p['total_turnover'])}") + " · "
            + nb(f"realized tax {money(p['total_realized_tax'])}")
            + ". Preview only: the policy is unchanged.</span>")

    # ------------------------------------------------------------------ clicks and save
    def _on_points_clicked(self, item, points, ev=None) -> None:
        if points is None or len(points) == 0:
            return
        spot = points[0]
        i = spot.index()
        account = str(item.ids[i])
        row = int(item.rows[i]) if hasattr(item, "rows") else None
        self._show_selection(account, row)
        self.accountActivated.emit(account)

    def _show_selection(self, account: str, row: int | None) -> None:
        if row is None or not len(self._props):
            return
        r = self._props.iloc[row]
        self._selected.setData(x=[self._bx[row]], y=[self._by[row]])
        score = r.get("score_bps")
        self.selection_label.setText(
            f"<b>{account}</b> · {r.get('tier')} · {r.get('category')} · benefit {money(self._benefit[row])}"
            f" · cost {money(self._cost[row])} · score "
            f"{'–' if pd.isna(score) else f'{float(score):,.1f} bps'}")

    def _on_save(self) -> None:
        tier, bps = self.current_tier(), self.threshold()
        if not tier:
            return
        if self.confirm_save:
            tr = self._policy.tier(tier) if self._in_policy(tier) else None
            was = (f"now start {tr.threshold_start_bps:g} bps → floor {tr.threshold_floor_bps:g} bps, "
                   f"half-life {tr.half_life_days:g} days" if tr else "not in the policy")
            p = self._last or {}
            text = (f"Set the {tier} threshold to a flat {bps:.1f} bps (start = floor = {bps:.1f}; {was})?\n\n"
                    f"On this run's book: {p.get('accounts', 0):,} score accounts would trade, turnover "
                    f"{money(p.get('turnover', 0.0))}, realized tax {money(p.get('realized_tax', 0.0))}.\n"
                    "The next run uses the new policy version.")
            answer = QMessageBox.question(self, "Save threshold to policy", text,
                                          QMessageBox.StandardButton.Save | QMessageBox.StandardButton.Cancel,
                                          QMessageBox.StandardButton.Cancel)
            if answer != QMessageBox.StandardButton.Save:
                return
        self.saveThreshold.emit(tier, float(bps))
