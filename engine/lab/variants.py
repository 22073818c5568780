"""The variants a simulation compares: the current policy, policy files, sweeps of a setting
and the naive baselines. A quick sweep (``threshold``, ``lambda``, ``bands``) scales or sets what
a firm most often varies; ``section.key=V1,V2`` sets any one policy setting, validated by the
policy's own rules (:func:`setting_variants`)."""
from __future__ import annotations

import typing
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from engine.core.policy import Policy, load_policy, policy_from_dict
from engine.core.tasks import RefusedError

BASELINES = ("band", "calendar")
SWEEPS = ("threshold", "lambda", "bands")


@dataclass(frozen=True)
class Variant:
    name: str
    kind: str  # "engine" | "band" | "calendar"
    policy: Policy



# --------------------------------------------------------------------------- sweeps of one setting
def setting_field(key: str):
    section, _, name = key.partition(".")
    model = Policy.model_fields.get(section)
    fields = getattr(model.annotation, "model_fields", {}) if model is not None else {}
    if not name or name not in fields:
        raise RefusedError(f"--sweep {key!r}: no such policy setting (expected section.key, e.g. "
                           "harvest.discount_rate)")
    return section, name, fields[name].annotation


def _parse(text: str, annotation):
    t = text.strip()
    if annotation is bool:
        if t.lower() in ("true", "yes", "on", "1"):
            return True
        if t.lower() in ("false", "no", "off", "0"):
            return False
        raise ValueError("expected true or false")
    if annotation is int:
        return int(t)
    args = typing.get_args(annotation)
    words = [a for arg in args for a in (typing.get_args(arg) or ())]
    if t in words or t in args:
        return t
    return float(t)


def setting_variants(base: Policy, spec: str) -> list[Variant]:
    """``section.key=V1,V2``: one engine variant per value of that setting, the rest of ``base``."""
    key, _, values = spec.partition("=")
    key = key.strip()
    section, name, annotation = setting_field(key)
    if not values.strip():
        raise RefusedError(f"--sweep {spec!r}: no values (expected {key}=V1,V2)")
    out = []
    for text in values.split(","):
        try:
            v = _parse(text, annotation)
        except ValueError:
            raise RefusedError(f"--sweep {spec!r}: {text.strip()!r} is not a value of {key}") from None
        data = base.model_dump(mode="python")
        data[section][name] = v
        p = policy_from_dict(data, f"--sweep {key}={text.strip()}")
        out.append(Variant(f"{key}={text.strip()}", "engine", p))
    return out


# --------------------------------------------------------------------------- variants
def _scaled_tiers(policy: Policy, factor: float) -> Policy:
    tiers = tuple(t.model_copy(update={"threshold_start_bps": t.threshold_start_bps * factor,
                                       "threshold_floor_bps": t.threshold_floor_bps * factor})
                  for t in policy.tiers)
    return policy.model_copy(update={"tiers": tiers})


def sweep_variants(base: Policy, spec: str) -> list[Variant]:
    """``threshold=0.5,2`` (multiplies every tier's threshold start and floor), ``lambda=0.3,3``
    (sets the dispersion-vs-tax weight), ``bands=0.5,2`` (multiplies the absolute and relative
    band widths, at most 1), or any one setting, ``section.key=V1,V2`` (sets it: e.g.
    ``harvest.discount_rate=0.025,0.1``, ``harvest.value=full``)."""
    key, _, values = spec.partition("=")
    key = key.strip().lower()
    if "." in key:  # one policy setting, section.key=V1,V2 (engine.lab.plan)
        return setting_variants(base, spec)
    if key not in SWEEPS or not values.strip():
        raise RefusedError(f"--sweep {spec!r}: expected one of {', '.join(f'{k}=V1,V2' for k in SWEEPS)} "
                           "or section.key=V1,V2")
    out = []
    for text in values.split(","):
        try:
            v = float(text)
        except ValueError:
            raise RefusedError(f"--sweep {spec!r}: {text.strip()!r} is not a number") from None
        if not np.isfinite(v) or v <= 0:
            raise RefusedError(f"--sweep {spec!r}: {text.strip()!r} must be a positive number")
        if key == "threshold":
            p = _scaled_tiers(base, v)
        elif key == "lambda":
            p = base.model_copy(update={"trading": base.trading.model_copy(update={"tradeoff_lambda": v})})
        else:
            b = base.bands
            p = base.model_copy(update={"bands": b.model_copy(update={"absolute": min(1.0, b.absolute * v),
                                                                       "relative": min(1.0, b.relative * v)})})
        out.append(Variant(f"{key}={v:g}", "engine", p))
    return out


def build_variants(base: Policy, *, policy_files=(), baselines=(), sweeps=(), default: bool = True) -> list[Variant]:
    """The current policy (``default``), each policy file, each sweep value, each baseline."""
    out = [Variant("policy", "engine", base)] if default else []
    for f in policy_files:
        out.append(Variant(Path(f).stem, "engine", load_policy(f)))
    for s in sweeps:
        out.extend(sweep_variants(base, s))
    for b in baselines:
        b = b.strip().lower()
        if b not in BASELINES:
            raise RefusedError(f"--baseline {b!r}: expected {', '.join(BASELINES)}")
        out.append(Variant(b, b, base))
    names = [v.name for v in out]
    for i, n in enumerate(names):
        if names.count(n) > 1:
            out[i] = replace(out[i], name=f"{n}#{names[:i + 1].count(n)}")
    if not out:
        raise RefusedError("no variant to simulate")
    return out


