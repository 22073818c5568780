"""The firm's policy: settings as data (resources/policy.toml), validated with pydantic.

An invalid file is refused with a message naming the key (``tiers[2].review: ...``).
"""
from __future__ import annotations

import hashlib
import tomllib
from pathlib import Path
from typing import Literal

import tomli_w
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from engine.core.tasks import RefusedError

DEFAULT_POLICY = Path(__file__).resolve().parents[2] / "resources" / "policy.toml"
MANDATE_KINDS = ("cash_high", "cash_normal", "restriction", "band")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Checks(_Strict):
    stale_price_days: int = Field(3, ge=0)
    recon_tolerance_shares: float = Field(0.001, ge=0)
    feed_max_age_days: int = Field(0, ge=0)
    # BAD_PRICE: a price at or below zero, above max_price, or more than max_price_move times
    # away (up or down) from the security's last known price (its price in an earlier snapshot)
    max_price_move: float = Field(5.0, gt=1)
    max_price: float = Field(1e6, gt=0)


class Mandates(_Strict):
    trade_now: tuple[Literal["cash_high", "cash_normal", "restriction", "band", "cash_invest",
                             "model_change"], ...] = MANDATE_KINDS
    cash_horizon_days: int = Field(10, ge=0)


class Bands(_Strict):
    absolute: float = Field(0.05, gt=0, le=1)
    relative: float = Field(0.25, gt=0, le=1)
    cutoff: float = Field(0.20, ge=0, le=1)
    min_width: float = Field(0.01, ge=0, le=1)  # never a band narrower than this (classes off the model)
    # where a band mandate trades a class outside its band: "edge" (back to the band's edge),
    # "target", or a fraction of the way from the edge to the target (0 = edge, 1 = target)
    trade_to: Literal["edge", "target"] | float = "edge"

    @field_validator("trade_to")
    @classmethod
    def _trade_to(cls, v):
        if isinstance(v, float) and not 0.0 <= v <= 1.0:
            raise ValueError("must be \"edge\", \"target\" or a fraction from 0 (edge) to 1 (target)")
        return v

    @property
    def trade_to_fraction(self) -> float:
        return {"edge": 0.0, "target": 1.0}.get(self.trade_to, self.trade_to)


class Trading(_Strict):
    tradeoff_lambda: float = Field(1.0, ge=0)
    cost_bps: float = Field(5.0, ge=0)
    ticket_cost: float = Field(1.0, ge=0)
    min_trade_dollars: float = Field(500.0, ge=0)
    min_trade_shares: int = Field(1, ge=1)
    harvest_min_loss_pct: float = Field(0.05, ge=0, le=1)
    harvest_min_loss_dollars: float = Field(1000.0, ge=0)
    wash_sale_days: int = Field(30, ge=0)
    multi_lot_order_lines: bool = False
    cross_class_substitution: bool = False
    band_penalty: float = Field(100.0, ge=0)
    # a security's own volatility apart from its substitute group (a year): a substitute held in
    # place of the model security is tracking error at this vol (0 = a perfect stand-in)
    security_vol: float = Field(0.0, ge=0, le=1)
    # the per-security term where selling costs no tax (engine/decide/optimizer/tax_free.py), a
    # year's vol like security_vol: in an account that pays no tax, the whole per-security term
    # at this vol (the larger of it and security_vol) ...
    security_vol_untaxed: float = Field(0.0, ge=0, le=1)
    # ... and in a taxable one, only the part of a security's overweight that its free lots can
    # sell (lots whose tax per $ sold is at most free_tax_bps: 0 = at a loss or at zero gain),
    # and cash above the model's (0 = off)
    security_vol_free: float = Field(0.0, ge=0, le=1)
    free_tax_bps: float = Field(0.0, ge=0, le=10_000)
    # drop order lines whose ticket and trading cost exceed what they bring (engine/decide/line_pruning.py)
    drop_unpaid_lines: bool = False
    # with drop_unpaid_lines: a drift line (not a mandate's, a harvest's, or one the cash or a band
    # needs) under this many dollars is dropped too (0 = off; the minimum trade still applies)
    min_drift_trade_dollars: float = Field(0.0, ge=0)


class Harvest(_Strict):
    # what a harvested loss is worth (engine/decide/harvest.py): "deferral" = the present value of
    # paying the tax later, loss x (rate_now - rate_later x (1 + discount_rate)^-horizon_years);
    # "full" = loss x rate (as if never paid back)
    value: Literal["deferral", "full"] = "deferral"
    discount_rate: float = Field(0.05, ge=0, le=1)  # a year
    horizon_years: float = Field(10.0, gt=0, le=100)  # when the deferred gain is realized
    st_conversion: bool = True  # a short-term loss: ST rate now, LT rate later
    substitute_bps: float = Field(10.0, ge=0, le=10_000)  # substitute's tracking cost, bps of a lot
    # a harvest pays for the switch back too: four legs (loss sale, substitute buy, and later the
    # substitute's sale and the model security's buy back), four tickets; false = the first two
    round_trip: bool = True


class Budgets(_Strict):
    # gains budgets (engine/decide/gains_budget.py): hard = the optimizer keeps every proposal within
    # the account's budget (mandates may exceed it by what they need, flagged OVER_BUDGET);
    # false = advisory, proposals are only flagged
    hard: bool = True
    # cash-flow trading (engine/decide/cash_flow.py): cash above the model's cash weight plus this
    # fraction of the account's value is invested (the cash_invest mandate kind)
    invest_threshold: float = Field(0.01, ge=0, le=1)
    # raise-cash helper (engine/desk/raise_cash.py): raise this % more than the estimated need (the
    # book's prices may be stale)
    cash_cushion_pct: float = Field(2.0, ge=0, le=50)
    # model changes (engine/book/model_changes.py): a phased transition realizes at most this many
    # dollars of net gains a day (and stays within the account's budget)
    phase_daily_gains: float = Field(25_000.0, ge=0)


class Outliers(_Strict):
    max_turnover_pct: float = Field(25.0, gt=0)
    max_realized_tax_pct: float = Field(1.0, ge=0)
    max_te_post: float = Field(0.01, ge=0)
    max_single_trade_pct: float = Field(15.0, gt=0)


class Retention(_Strict):
    # lots, custodian positions and transactions are kept for this many newest book snapshots;
    # older snapshots lose those rows at the next import (runs, trades and the audit log stay)
    keep_snapshots: int = Field(2, ge=1)
    # proposal detail (class weights, cash figures, notes) is kept for this many newest runs; an
    # older run is reduced to its summary at the next run (its proposals' categories, scores,
    # flags, reasons and decisions stay, and trades, batches and the audit log are never touched)
    keep_run_details: int = Field(10, ge=1)


# keys added after policies were first saved: written only when they differ from their default,
# so a policy saved before they existed keeps its text and checksum (and its version number)
LATER_KEYS = (("checks", "max_price_move"), ("checks", "max_price"), ("retention", "keep_run_details"),
              ("trading", "security_vol_untaxed"), ("trading", "security_vol_free"), ("trading", "free_tax_bps"))

REJECT_CODES = ("TAX_IMPACT", "CLIENT_INSTRUCTION", "BAD_DATA", "TIMING", "CASH_NEEDS", "OTHER")


class Review(_Strict):
    # reason codes a reviewer picks from when rejecting a proposal (plus free text, required)
    reject_codes: tuple[str, ...] = Field(REJECT_CODES, min_length=1)

    @model_validator(mode="after")
    def _check(self):
        bad = [c for c in self.reject_codes if not c or not c.replace("_", "").isalnum() or len(c) > 32]
        if bad:
            raise ValueError(f"reject codes are words of letters, digits and _ (at most 32): {bad}")
        if len(set(self.reject_codes)) != len(self.reject_codes):
            raise ValueError(f"duplicate reject code in {list(self.reject_codes)}")
        return self


NOTE_CODES = ("CLIENT_REQUEST", "ADVISOR_INSTRUCTION", "TAX", "COMPLIANCE", "DATA", "OTHER")
NOTE_ACTIONS = ("approve", "reject", "hold")


class NoteRule(_Strict):
    # the action that needs a note, and the tiers it applies to (empty: every tier)
    action: Literal["approve", "reject", "hold"]
    tiers: tuple[str, ...] = ()


class Notes(_Strict):
    # reason codes a note picks from (plus free text); rules that make a note required
    codes: tuple[str, ...] = Field(NOTE_CODES, min_length=1)
    required: tuple[NoteRule, ...] = ()

    @model_validator(mode="after")
    def _check(self):
        bad = [c for c in self.codes if not c or not c.replace("_", "").isalnum() or len(c) > 32]
        if bad:
            raise ValueError(f"note codes are words of letters, digits and _ (at most 32): {bad}")
        return self


FOUR_EYES_DEFAULT_TIERS = ("uhnw",)  # casefolded tier names with four-eyes on unless the policy says otherwise


def default_four_eyes(tier_name: str) -> bool:
    """Four-eyes of a tier whose policy does not set it: on for UHNW (any case), else off."""
    return str(tier_name).strip().casefold() in FOUR_EYES_DEFAULT_TIERS


class Tier(_Strict):
    name: str = Field(min_length=1, max_length=32)
    min_value: float = Field(ge=0)
    max_value: float | None = None  # None = no upper bound
    review: Literal["none", "outliers", "all"]
    threshold_start_bps: float = Field(ge=0)
    threshold_floor_bps: float = Field(ge=0)
    half_life_days: float = Field(gt=0)
    # four-eyes: a manual trade or an edited proposal of this tier needs the approval of a user
    # other than the one who entered or edited it before it can be exported. None (the key left
    # out, as in every policy saved before the setting existed) means the default: on for the
    # tier named UHNW (any case), off for the others. Read it with Policy.four_eyes(tier) or
    # Tier.four_eyes_on, never the raw field.
    four_eyes: bool | None = None
    # household optimization with asset location (engine.decide.household_location) for the households
    # whose combined value falls in this tier; None (left out): off
    household_optimization: bool | None = None
    # default gains budget of the tier's taxable accounts (dollars of net realized gains this
    # year; an account's own gains_budget wins); None (left out): no default budget
    gains_budget: float | None = Field(None, ge=0)

    @property
    def four_eyes_on(self) -> bool:
        """The effective four-eyes setting: the explicit value, else the default for the name."""
        return self.four_eyes if self.four_eyes is not None else default_four_eyes(self.name)

    @model_validator(mode="after")
    def _check(self):
        if self.max_value is not None and self.max_value <= self.min_value:
            raise ValueError(f"max_value {self.max_value:,.0f} must be above min_value {self.min_value:,.0f}")
        if self.threshold_floor_bps > self.threshold_start_bps:
            raise ValueError("threshold_floor_bps must not exceed threshold_start_bps")
        return self


class Policy(_Strict):
    checks: Checks = Checks()
    mandates: Mandates = Mandates()
    bands: Bands = Bands()
    trading: Trading = Trading()
    harvest: Harvest = Harvest()
    outliers: Outliers = Outliers()
    retention: Retention = Retention()
    # None (the section left out, as in every policy saved before it existed): the default codes;
    # read them with Policy.reject_codes(). Left out of the text form when None (same checksum).
    review: Review | None = None
    # "household": an account's tier is set by its household's combined value (accounts.csv
    # household_id), so a small IRA of a large family is reviewed as the family is; None or
    # "account": by its own value. Left out of the text form when None (same checksum).
    tier_by: Literal["account", "household"] | None = None
    # asset location: yearly tax drag of each asset class in a taxable account, bps (e.g. bonds
    # and REITs high, broad equity low); classes left out: 0. Used by household optimization.
    tax_drag_bps: dict[str, float] | None = None
    # None (left out, as in every policy saved before notes existed): the default codes, no note
    # required; read it with Policy.note_policy(). Left out of the text form when None.
    notes: Notes | None = None
    # None (left out, as in every policy saved before it existed): the defaults; read it with
    # Policy.budget_settings(). Left out of the text form when None (same checksum).
    budgets: Budgets | None = None
    tiers: tuple[Tier, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _tiers_cover_values(self):
        tiers = sorted(self.tiers, key=lambda t: t.min_value)
        names = [t.name for t in self.tiers]
        if len(set(names)) != len(names):
            raise ValueError(f"tiers: duplicate tier name in {names}")
        if tiers[0].min_value != 0:
            raise ValueError("tiers: the smallest tier must start at min_value = 0")
        for a, b in zip(tiers, tiers[1:]):
            if a.max_value is None or a.max_value != b.min_value:
                raise ValueError(f"tiers: {a.name} ends at {a.max_value} but {b.name} starts at "
                                 f"{b.min_value:,.0f}; tiers must be contiguous")
        if tiers[-1].max_value is not None:
            raise ValueError(f"tiers: the largest tier ({tiers[-1].name}) must have no max_value")
        return self

    def four_eyes(self, tier: str) -> bool:
        """Whether ``tier`` needs a second user's approval: the tier's explicit setting, else the
        default (on for UHNW); False for a tier the policy lacks."""
        return any(t.four_eyes_on for t in self.tiers if t.name == tier)

    def four_eyes_tiers(self) -> set[str]:
        """Names of the tiers with four-eyes on (explicitly or by default)."""
        return {t.name for t in self.tiers if t.four_eyes_on}

    def reject_codes(self) -> tuple[str, ...]:
        """The reason codes a rejection picks from."""
        return (self.review or Review()).reject_codes

    def note_policy(self) -> Notes:
        """The note codes and the rules that require a note."""
        return self.notes or Notes()

    def note_required(self, action: str, tier: str) -> bool:
        """Whether ``action`` on an account of ``tier`` needs a note (policy ``[notes] required``)."""
        return any(r.action == action and (not r.tiers or tier in r.tiers) for r in self.note_policy().required)

    def budget_settings(self) -> Budgets:
        """Gains budgets, cash-flow and model-change settings (the defaults when left out)."""
        return self.budgets or Budgets()
    def tier(self, name: str) -> Tier:
        for t in self.tiers:
            if t.name == name:
                return t
        raise KeyError(name)

    # ------------------------------------------------------------------ text form
    def to_toml(self) -> str:
        data = self.model_dump(mode="json", exclude_none=True)
        data["mandates"]["trade_now"] = list(data["mandates"]["trade_now"])
        for section, key in LATER_KEYS:
            if data[section][key] == getattr(type(self).model_fields[section].default, key):
                del data[section][key]
        if "review" in data:
            data["review"]["reject_codes"] = list(data["review"]["reject_codes"])
        if "notes" in data:
            data["notes"]["codes"] = list(data["notes"]["codes"])
            data["notes"]["required"] = [{**r, "tiers": list(r["tiers"])} for r in data["notes"]["required"]]
        # four_eyes is written only when set explicitly (None is left out above): a policy saved
        # before the setting existed keeps its text and checksum
        return tomli_w.dumps(data)

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.to_toml().encode()).hexdigest()


def _where(loc: tuple) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out or "(top level)"


def policy_from_dict(data: dict, source: str = "policy") -> Policy:
    try:
        return Policy.model_validate(data)
    except ValidationError as exc:
        lines = []
        for err in exc.errors():
            loc = tuple(p for p in err["loc"] if p not in ("function-after",))
            msg = err["msg"].removeprefix("Value error, ")
            if err["type"] == "extra_forbidden":
                msg = "unknown key"
            lines.append(f"  {_where(loc)}: {msg}")
        raise RefusedError(f"{source}: invalid policy\n" + "\n".join(lines)) from None


def policy_from_toml(text: str, source: str = "policy") -> Policy:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise RefusedError(f"{source}: not valid TOML ({exc})") from None
    return policy_from_dict(data, source)


def load_policy(path: str | Path | None = None) -> Policy:
    path = Path(path) if path else DEFAULT_POLICY
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise RefusedError(f"{path}: cannot read the policy file ({exc.strerror})") from None
    return policy_from_toml(text, str(path))


def default_policy() -> Policy:
    return load_policy(DEFAULT_POLICY)
