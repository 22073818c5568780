# Long because the form is built, read back, checked and marked field by field in one place (its field table is ui/policy_fields.py).
"""Policy: view and edit the firm's settings; saving makes a new version the next run uses.

The form is built from the pydantic model (engine.core.policy.Policy), so a setting added to the
engine shows up here with a generic label. Validation is the engine's: every edit is checked
with ``policy_from_dict`` and its messages (which name the key) are shown inline.

Saving carries the version the form was loaded from: when another user saved a newer version
meanwhile the save is refused (``engine.core.policy_store.PolicyConflict``), the message says who
saved which version when, and the form reloads the latest version — never a silent overwrite.

The settings on the policy lab's frontier (tier thresholds, λ, bands, harvest settings) have a
"see in Lab" link: it opens the Lab panel with a sweep of that setting selected
(:func:`engine.lab.plan.setting_sweep`).
"""
from __future__ import annotations

import html
import re
import typing

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtWidgets import (QAbstractItemView, QCheckBox, QComboBox, QDoubleSpinBox, QFormLayout, QGridLayout,
                               QGroupBox, QHBoxLayout, QHeaderView, QLabel, QLineEdit, QPushButton, QScrollArea,
                               QSpinBox, QSplitter, QTableWidget, QVBoxLayout, QWidget)

from engine.desk import views
from engine.lab.plan import setting_sweep
from engine.decide.mandates import threshold_bps
from engine.core.policy import MANDATE_KINDS, Policy, default_four_eyes, default_policy, policy_from_dict
from engine.core.policy_store import PolicyConflict, four_eyes_switched_off, policy_versions, save_policy
from engine.core.tasks import RefusedError
from ui import dialogs, fmt
from ui.models import Col, FrameModel
from ui.panel import AppContext, Panel
from ui.widgets import Banner, DataTable, inline_error, section_title, set_error_text

from ui.policy_fields import (BIG, FIELDS, LAB_KEYS, MANDATE_TITLES, REVIEWS, SECTIONS,  # noqa: F401
                              TIER_COLUMNS, _label)


class PolicyPanel(Panel):
    title = "Policy"

    def __init__(self, ctx: AppContext, parent=None):
        super().__init__(ctx, parent)
        self.loaded: Policy | None = None       # what the form was loaded from
        self.loaded_id: int | None = None
        self._after_load: tuple | None = None   # a message shown again once a reload is applied
        self.valid: Policy | None = None        # the form's content, when valid
        self.fields: dict[str, QWidget] = {}
        self.lab_links: dict[str, QPushButton] = {}
        self._loading = False
        outer = QVBoxLayout(self)
        outer.setContentsMargins(16, 12, 16, 12)
        self.banner = Banner()
        outer.addWidget(self.banner)

        self.split = QSplitter(Qt.Orientation.Horizontal)
        self.split.setObjectName("policySplit")
        form = QWidget()
        fl = QVBoxLayout(form)
        fl.setContentsMargins(0, 0, 8, 0)

        tiers = QGroupBox("Tiers: review mode and trading thresholds by account value")
        tl = QVBoxLayout(tiers)
        self.tiers = QTableWidget(0, len(TIER_COLUMNS))
        self.tiers.setObjectName("tiersTable")
        self.tiers.setHorizontalHeaderLabels([t for _, t in TIER_COLUMNS])
        self.tiers.verticalHeader().setVisible(False)
        self.tiers.verticalHeader().setDefaultSectionSize(34)
        self.tiers.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.tiers.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        for i, (_, t) in enumerate(TIER_COLUMNS):
            self.tiers.horizontalHeaderItem(i).setToolTip({
                "name": "Tier name (an account's `group` column may name a tier)",
                "min_value": "Accounts worth at least this…", "max_value": "…and less than this (no limit: the top tier)",
                "review": "none = trades go out untouched; outliers = flagged accounts are reviewed; all = every account",
                "threshold_start_bps": "Score threshold right after a trade",
                "threshold_floor_bps": "Score threshold long after a trade",
                "half_life_days": "Days for the threshold to fall halfway from start to floor",
                "four_eyes": "A manual trade or an edited proposal of this tier must be approved by a user "
                             "other than the one who entered or edited it before it is exported",
            }[TIER_COLUMNS[i][0]])
        tl.addWidget(self.tiers)
        tb = QHBoxLayout()
        self.add_tier_button = QPushButton("Add tier")
        self.add_tier_button.clicked.connect(lambda: self._add_tier_row(None))
        self.remove_tier_button = QPushButton("Remove tier")
        self.remove_tier_button.clicked.connect(self._remove_tier_row)
        tb.addWidget(self.add_tier_button)
        tb.addWidget(self.remove_tier_button)
        tb.addStretch(1)
        tb.addWidget(self._lab_link("threshold"))
        tl.addLayout(tb)
        self.threshold_note = QLabel()
        self.threshold_note.setObjectName("thresholdNote")
        self.threshold_note.setWordWrap(True)
        tl.addWidget(self.threshold_note)
        fl.addWidget(tiers)

        grid = QGridLayout()
        for i, (section, title) in enumerate(SECTIONS):
            box = QGroupBox(title)
            f = QFormLayout(box)
            f.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
            model = Policy.model_fields[section].annotation
            for name, info in model.model_fields.items():
                key = f"{section}.{name}"
                w = self._editor(key, info.annotation)
                self.fields[key] = w
                label = QLabel(_label(key))
                helptext = FIELDS.get(key, ("", "", "", 0, ""))[4]
                label.setToolTip(helptext)
                w.setToolTip(helptext)
                f.addRow(label, self._with_lab_link(key, w) if key in LAB_KEYS else w)
            grid.addWidget(box, i // 2, i % 2)
        fl.addLayout(grid)
        fl.addStretch(1)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(form)
        scroll.setFrameShape(QScrollArea.Shape.NoFrame)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAsNeeded)
        self.split.addWidget(scroll)

        side = QWidget()
        sl = QVBoxLayout(side)
        sl.setContentsMargins(8, 0, 0, 0)
        sl.addWidget(section_title("Saved versions"))
        self.versions_model = FrameModel([
            Col("id", "Version", "count"), Col("created_at", "Saved", "datetime"), Col("created_by", "By"),
            Col("note", "Note", tooltip_key="note")], self, strong="used")
        self.versions = DataTable(self.versions_model, "policyVersions")
        self.versions.doubleClicked.connect(lambda i: self.load_version(int(self.versions_model.value(i.row(), "id"))))
        sl.addWidget(self.versions, 1)
        legend = QLabel("Bold: the version the latest run used. Double-click a version to load it.")
        legend.setObjectName("thresholdNote")
        legend.setWordWrap(True)
        sl.addWidget(legend)
        vb = QHBoxLayout()
        self.load_button = QPushButton("Load selected into form")
        self.load_button.clicked.connect(self._load_selected)
        self.defaults_button = QPushButton("Load defaults")
        self.defaults_button.setToolTip("The default policy of resources/policy.toml")
        self.defaults_button.clicked.connect(lambda: self.set_policy(default_policy(), None))
        vb.addWidget(self.load_button)
        vb.addWidget(self.defaults_button)
        sl.addLayout(vb)
        self.split.addWidget(side)
        self.split.setStretchFactor(0, 2)
        self.split.setStretchFactor(1, 1)
        self.split.setSizes([940, 450])
        side.setMinimumWidth(300)
        outer.addWidget(self.split, 1)

        self.error = inline_error(selectable=True)
        outer.addWidget(self.error)
        bottom = QHBoxLayout()
        self.state_label = QLabel()
        self.state_label.setObjectName("policyState")
        self.note = QLineEdit()
        self.note.setObjectName("policyNote")
        self.note.setPlaceholderText("Note for this version (what changed and why)")
        self.revert_button = QPushButton("Revert")
        self.revert_button.clicked.connect(self.refresh)
        self.save_button = QPushButton("Save as new version")
        self.save_button.setObjectName("savePolicy")
        self.save_button.setProperty("primary", True)
        self.save_button.clicked.connect(self.save)
        bottom.addWidget(self.state_label)
        bottom.addWidget(self.note, 1)
        bottom.addWidget(self.revert_button)
        bottom.addWidget(self.save_button)
        outer.addLayout(bottom)

    # ------------------------------------------------------------------ links to the lab
    def _lab_link(self, key: str) -> QPushButton:
        b = QPushButton("Lab")
        b.setObjectName("labLink")
        b.setFlat(True)
        b.setCursor(Qt.CursorShape.PointingHandCursor)
        b.setToolTip("See in Lab: open the Lab with a sweep of this setting selected — its effect on tax, drift, "
                     "turnover and dispersion over weeks, side by side with the current policy")
        b.setStyleSheet("QPushButton{color:#1f4e8c;text-decoration:underline;border:none;padding:0 2px;"
                        "min-width:0}")
        b.setAccessibleName("see in Lab")
        b.clicked.connect(lambda: self.see_in_lab(key))
        self.lab_links[key] = b
        return b

    def _with_lab_link(self, key: str, editor: QWidget) -> QWidget:
        box = QWidget()
        lay = QHBoxLayout(box)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setSpacing(2)
        editor.setMinimumWidth(90)  # the row stays as wide as the others with the link beside it
        lay.addWidget(editor, 1)
        lay.addWidget(self._lab_link(key))
        return box

    def see_in_lab(self, key: str) -> str:
        """Open the Lab panel with a sweep of ``key`` (from the form's values) selected."""
        policy = self.valid or self.loaded or default_policy()
        spec = setting_sweep(policy, key)
        self.ctx.navigate.emit("Lab", {"sweep": spec})
        return spec

    # ------------------------------------------------------------------ editors
    def _editor(self, key: str, annotation) -> QWidget:
        label, prefix, suffix, decimals, _ = FIELDS.get(key, ("", "", "", 3, ""))
        if typing.get_origin(annotation) is tuple:  # mandates.trade_now: one checkbox per kind
            box = QWidget()
            lay = QVBoxLayout(box)
            lay.setContentsMargins(0, 0, 0, 0)
            lay.setSpacing(2)
            box.checks = {}
            for kind in MANDATE_KINDS:
                cb = QCheckBox(f"{MANDATE_TITLES.get(kind, kind)} ({kind})")
                cb.setObjectName(f"tradeNow_{kind}")
                cb.toggled.connect(self._changed)
                box.checks[kind] = cb
                lay.addWidget(cb)
            return box
        if key == "bands.trade_to":  # "edge" | "target" | a fraction, shown as the fraction
            w = QDoubleSpinBox()
            w.setDecimals(2)
            w.setRange(0.0, 1.0)
            w.setSingleStep(0.25)
            w.valueChanged.connect(self._changed)
        elif typing.get_origin(annotation) is typing.Literal:
            w = QComboBox()
            for v in typing.get_args(annotation):
                w.addItem(str(v), v)
            w.currentIndexChanged.connect(self._changed)
        elif annotation is bool:
            w = QCheckBox()
            w.toggled.connect(self._changed)
        elif annotation is int:
            w = QSpinBox()
            w.setRange(-1_000_000_000, 1_000_000_000)
            w.setGroupSeparatorShown(True)
            w.valueChanged.connect(self._changed)
        else:
            w = QDoubleSpinBox()
            w.setDecimals(decimals if key in FIELDS else 4)
            w.setRange(-BIG, BIG)
            w.setGroupSeparatorShown(True)
            w.valueChanged.connect(self._changed)
        if isinstance(w, (QSpinBox, QDoubleSpinBox)):
            w.setPrefix(prefix)
            w.setSuffix(suffix)
            w.setAlignment(Qt.AlignmentFlag.AlignRight)
            w.setMinimumWidth(120)
        w.setObjectName(key.replace(".", "__"))
        return w

    def _tier_editors(self) -> list[QWidget]:
        name = QLineEdit()
        name.textChanged.connect(self._changed)
        lo = QDoubleSpinBox()
        lo.setRange(-BIG, BIG)
        lo.setDecimals(0)
        lo.setPrefix("$")
        hi = QDoubleSpinBox()
        hi.setRange(-1, BIG)  # the minimum shows as "no limit" (max_value = None)
        hi.setDecimals(0)
        hi.setPrefix("$")
        hi.setSpecialValueText("no limit")
        review = QComboBox()
        for key, text in REVIEWS:
            review.addItem(text, key)
        review.currentIndexChanged.connect(self._changed)
        start, floor = QDoubleSpinBox(), QDoubleSpinBox()
        for w in (start, floor):
            w.setRange(-BIG, BIG)
            w.setDecimals(1)
            w.setSuffix(" bps")
        half = QDoubleSpinBox()
        half.setRange(-BIG, BIG)
        half.setDecimals(1)
        half.setSuffix(" days")
        for w in (lo, hi, start, floor, half):
            w.setGroupSeparatorShown(True)
            w.setAlignment(Qt.AlignmentFlag.AlignRight)
            w.setButtonSymbols(QDoubleSpinBox.ButtonSymbols.NoButtons)
            w.valueChanged.connect(self._changed)
        four = QCheckBox("required")
        four.setObjectName("tierFourEyes")
        four.setToolTip("Four-eyes: manual trades and edited proposals of this tier need another user's approval")
        four.toggled.connect(self._changed)
        return [name, lo, hi, review, start, floor, half, four]

    def _add_tier_row(self, tier) -> None:
        row = self.tiers.rowCount()
        self.tiers.insertRow(row)
        editors = self._tier_editors()
        for c, w in enumerate(editors):
            self.tiers.setCellWidget(row, c, w)
        if tier is not None:
            name, lo, hi, review, start, floor, half, four = editors
            four.setChecked(tier.four_eyes_on)  # the effective value (UHNW: on unless set off)
            four.setProperty("explicit", tier.four_eyes)  # None: the policy leaves it to the default
            name.setText(tier.name)
            lo.setValue(tier.min_value)
            hi.setValue(-1 if tier.max_value is None else tier.max_value)
            review.setCurrentIndex(max(0, review.findData(tier.review)))
            start.setValue(tier.threshold_start_bps)
            floor.setValue(tier.threshold_floor_bps)
            half.setValue(tier.half_life_days)
        self._fit_tiers()
        self._changed()

    def _fit_tiers(self) -> None:
        rows = self.tiers.rowCount()
        self.tiers.setFixedHeight(self.tiers.horizontalHeader().height() + 34 * max(rows, 1) + 6)

    def _remove_tier_row(self) -> None:
        row = self.tiers.currentRow()
        if row < 0:
            row = self.tiers.rowCount() - 1
        if row >= 0:
            self.tiers.removeRow(row)
            self._fit_tiers()
            self._changed()

    def tier_editor(self, row: int, key: str) -> QWidget:
        return self.tiers.cellWidget(row, [k for k, _ in TIER_COLUMNS].index(key))

    # ------------------------------------------------------------------ form <-> policy
    def set_policy(self, policy: Policy, policy_id: int | None) -> None:
        """Fill the form from ``policy`` (marked as loaded from version ``policy_id``)."""
        self._loading = True
        try:
            data = policy.model_dump(mode="python")
            for key, w in self.fields.items():
                section, name = key.split(".")
                v = data[section][name]
                if hasattr(w, "checks"):
                    for kind, cb in w.checks.items():
                        cb.setChecked(kind in v)
                elif isinstance(w, QCheckBox):
                    w.setChecked(bool(v))
                elif isinstance(w, QComboBox):
                    w.setCurrentIndex(w.findData(v))
                elif key == "bands.trade_to":
                    w.setValue(policy.bands.trade_to_fraction)
                else:
                    w.setValue(v)
            self.tiers.setRowCount(0)
            for t in policy.tiers:
                self._add_tier_row(t)
        finally:
            self._loading = False
        if policy_id is not None or self.loaded is None:
            self.loaded, self.loaded_id = policy, policy_id
        self._changed()

    def form_dict(self) -> dict:
        """The form's content in the shape of the policy file (not yet validated)."""
        data: dict = {s: {} for s, _ in SECTIONS}
        for key, w in self.fields.items():
            section, name = key.split(".")
            if hasattr(w, "checks"):
                data[section][name] = [k for k, cb in w.checks.items() if cb.isChecked()]
            elif isinstance(w, QCheckBox):
                data[section][name] = w.isChecked()
            elif isinstance(w, QComboBox):
                data[section][name] = w.currentData()
            elif key == "bands.trade_to":
                data[section][name] = {0.0: "edge", 1.0: "target"}.get(w.value(), w.value())
            else:
                data[section][name] = w.value()
        tiers = []
        for r in range(self.tiers.rowCount()):
            name, lo, hi, review, start, floor, half, four = (self.tiers.cellWidget(r, c)
                                                              for c in range(len(TIER_COLUMNS)))
            t = {"name": name.text().strip(), "min_value": lo.value(), "review": review.currentData(),
                 "threshold_start_bps": start.value(), "threshold_floor_bps": floor.value(),
                 "half_life_days": half.value(), "four_eyes": self._four_eyes_value(four, name.text())}
            if hi.value() != hi.minimum():
                t["max_value"] = hi.value()
            tiers.append(t)
        data["tiers"] = tiers
        if self.loaded is not None and self.loaded.review is not None:  # not in the form: kept as loaded
            data["review"] = self.loaded.review.model_dump(mode="json")
        if self.loaded is not None:  # households' settings, not in the form either: kept as loaded
            for key in ("tier_by", "tax_drag_bps"):
                if getattr(self.loaded, key, None) is not None:
                    data[key] = getattr(self.loaded, key)
            located = {t.name: t.household_optimization for t in self.loaded.tiers
                       if t.household_optimization is not None}
            for t in tiers:
                if t["name"] in located:
                    t["household_optimization"] = located[t["name"]]
        return data

    @staticmethod
    def _four_eyes_value(box: QCheckBox, tier_name: str) -> bool | None:
        """The tier's four_eyes as saved: left unset (None, the default for the tier's name) when
        the loaded policy left it unset and the box still shows that default; else explicit, so
        a change the user makes is saved as such (and a policy's text stays as loaded)."""
        checked = box.isChecked()
        if box.property("explicit") is None and checked == default_four_eyes(tier_name):
            return None
        return checked

    def _changed(self, *_) -> None:
        if self._loading:
            return
        self._clear_marks()
        try:
            self.valid = policy_from_dict(self.form_dict(), "policy")
        except RefusedError as exc:
            self.valid = None
            lines = str(exc).splitlines()[1:] or [str(exc)]
            set_error_text(self.error, "The policy is not valid yet:\n" + "\n".join(l.strip() for l in lines))
            for line in lines:
                self._mark(line.strip().split(":", 1)[0])
        else:
            set_error_text(self.error, "")
        dirty = self.valid is None or self.loaded is None or self.valid.checksum != self.loaded.checksum
        self.save_button.setEnabled(self.valid is not None and dirty)
        self.revert_button.setEnabled(dirty)
        if self.valid is None:
            self.state_label.setText("Not valid")
        elif dirty:
            self.state_label.setText("Unsaved changes")
        else:
            self.state_label.setText(f"Version {self.loaded_id}" if self.loaded_id else "Default policy")
        self._threshold_preview()

    def _clear_marks(self) -> None:
        for w in list(self.fields.values()) + [self.tiers]:
            if w.property("invalid"):
                w.setProperty("invalid", False)
                w.style().unpolish(w)
                w.style().polish(w)
        for r in range(self.tiers.rowCount()):
            for c in range(len(TIER_COLUMNS)):
                w = self.tiers.cellWidget(r, c)
                if w is not None and w.property("invalid"):
                    w.setProperty("invalid", False)
                    w.style().unpolish(w)
                    w.style().polish(w)

    def _mark(self, where: str) -> None:
        """Outline the editor of a validation message's key (``trading.cost_bps``, ``tiers[1].name``)."""
        w = self.fields.get(where.split("[")[0])
        m = re.match(r"tiers\[(\d+)\]\.(\w+)", where)
        if m and int(m.group(1)) < self.tiers.rowCount() and m.group(2) in dict(TIER_COLUMNS):
            w = self.tier_editor(int(m.group(1)), m.group(2))
        elif where.startswith("tiers"):
            w = self.tiers
        if w is not None:
            w.setProperty("invalid", True)
            w.style().unpolish(w)
            w.style().polish(w)

    def _threshold_preview(self) -> None:
        p = self.valid
        if p is None:
            self.threshold_note.setText("")
            return
        days = np.array([0.0, 30.0, 90.0, 365.0])
        parts = []
        for t in p.tiers:
            v = threshold_bps(days, np.array([t.name] * len(days), dtype=object), p)
            parts.append(f"<b>{html.escape(t.name)}</b> " + " → ".join(f"{x:,.0f}" for x in v) + " bps")
        self.threshold_note.setText("Score threshold right after a trade, then 30, 90 and 365 days later: "
                                    + " · ".join(parts))

    def has_unsaved_edits(self) -> bool:
        """The form differs from the version it was loaded from (the console then does not
        reload it for another user's change; it says so and waits for F5)."""
        return self.state_label.text() in ("Unsaved changes", "Not valid")

    # ------------------------------------------------------------------ data
    def refresh(self) -> None:
        """Read the versions and the newest policy off the GUI thread, then show them."""
        engine = self.ctx.engine
        self.load(lambda: self.read(engine), self._apply)

    @staticmethod
    def read(engine) -> dict:
        versions = policy_versions(engine)
        run = views.status(engine)["run"]
        used = run["policy_id"] if run else None
        versions["used"] = versions["id"] == used if len(versions) else []
        newest = int(versions["id"].max()) if len(versions) else None
        return {"versions": versions, "used": used, "newest": newest,
                "policy": views.policy_body(engine, newest) if newest is not None else None}

    def _say(self, text: str, ok: bool = False) -> None:
        """Show ``text`` now and again once the reload under way is applied (which resets the form's message)."""
        set_error_text(self.error, text, ok=ok)
        self._after_load = (text, ok) if self.loading else None

    def _apply(self, d: dict) -> None:
        self._apply_versions(d)
        if self._after_load is not None:
            text, ok = self._after_load
            self._after_load = None
            set_error_text(self.error, text, ok=ok)

    def _apply_versions(self, d: dict) -> None:
        versions, used = d["versions"], d["used"]
        self.versions_model.set_frame(versions)
        self.versions.fit_columns()
        if len(versions):
            newest, policy = d["newest"], d["policy"]
            r = versions[versions["id"] == newest].iloc[0]
            msg = (f"Version {newest} saved by {html.escape(str(r['created_by']))} on {fmt.local_time(r['created_at'])}"
                   + (" — the latest run used it." if used == newest else " — the next run uses it."))
            self.set_policy(policy, newest)
        else:
            policy = default_policy()
            msg = "No policy saved yet: the default policy (resources/policy.toml) is used until you save one."
            self.loaded = None
            self.set_policy(policy, None)
            self.loaded = policy
            self._changed()
        self.banner.show_message(msg, "info")

    def load_version(self, policy_id: int) -> None:
        self.set_policy(views.policy_body(self.ctx.engine, policy_id), None)
        self.note.setText(f"back to version {policy_id}")

    def _load_selected(self) -> None:
        row = self.versions.selected_row()
        if row >= 0:
            self.load_version(int(self.versions_model.value(row, "id")))

    def save(self) -> int | None:
        """Save the form as a new version, based on the version it was loaded from; refused
        (message box, then the latest version is loaded) if someone saved a newer one since."""
        self._changed()
        if self.valid is None:
            return None
        if not self._confirm_four_eyes_off():
            return None
        try:
            pid = save_policy(self.ctx.engine, self.valid, user=self.ctx.user,
                              note=self.note.text().strip() or None, expected_version=self.loaded_id or 0)
        except PolicyConflict as exc:
            dialogs.show_error(self, "Policy not saved: changed by someone else", exc)
            self.refresh()  # the latest version, which the user redoes their change on
            self._say(f"{exc} The form now shows version {exc.latest}.")
            return None
        except RefusedError as exc:
            set_error_text(self.error, f"Not saved: {exc}")
            return None
        self.note.clear()
        self.ctx.notify("policy")
        self.refresh()
        self._say(f"Saved as version {pid}; the next run uses it.", ok=True)
        return pid

    def _confirm_four_eyes_off(self) -> bool:
        """Ask before saving a version that switches four-eyes off for a tier where the version
        the form was loaded from (or the default policy) has it on; True = go ahead."""
        before = self.loaded if self.loaded is not None else default_policy()
        off = four_eyes_switched_off(before, self.valid)
        if not off:
            return True
        names = ", ".join(t for t, _ in off)
        how = "; ".join(f"{t}: {h}" for t, h in off)
        return dialogs.confirm(
            self, "Switch four-eyes off?",
            f"This version switches four-eyes off for {'tier' if len(off) == 1 else 'tiers'} {names}.",
            f"{how}.\n\nManual trades and edited proposals of "
            f"{'this tier' if len(off) == 1 else 'these tiers'} will no longer need a second user's "
            f"approval before they are exported. The audit log records that {self.ctx.user} switched it off.",
            ok="Switch off and save")

    # ------------------------------------------------------------------ state
    def save_state(self, settings) -> None:
        settings.setValue("policy/split", self.split.saveState())
        self.versions.save_state(settings)

    def restore_state(self, settings) -> None:
        state = settings.value("policy/split")
        if state is not None:
            self.split.restoreState(state)
        self.versions.restore_state(settings)
