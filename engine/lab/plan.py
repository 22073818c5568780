"""What the console's Lab panel asks the policy lab for, as one engine call a test can make too.

    plan = LabPlan(days=60, seed=7, sample=300, versions=(3,), sweeps=("lambda=0.3,3",),
                   baselines=("band",))
    run = run_plan(engine, plan, state=state)     # reads the book once; writes nothing anywhere
    run.result.summary                            # as engine.lab.simulate returns it
    run.base_version                              # the saved version the current policy is (0: defaults)

A sweep names a quick sweep of :func:`engine.lab.runner.sweep_variants` (``threshold``,
``lambda``, ``bands``) or any single policy setting, ``section.key=V1,V2`` (e.g.
``harvest.discount_rate=0.025,0.1`` or ``harvest.value=full``): each value is set in the current
policy and validated by the policy's own rules, so a bad value is refused naming the key.
:func:`setting_sweep` gives the values the Policy panel's "see in Lab" links start from.
"""
from __future__ import annotations

import typing
from dataclasses import dataclass, replace

import numpy as np

from engine.lab.runner import LabBook, LabResult, load_book, simulate
from engine.lab.variants import Variant, setting_field, build_variants, setting_variants, sweep_variants  # noqa: F401 (re-exported)
from engine.core.policy import Policy
from engine.core.tasks import RefusedError, TaskState, ensure_state

# what a quick sweep varies, for the Policy panel's links (setting key -> sweep)
QUICK_SWEEPS = {"threshold": "threshold=0.5,2", "lambda": "lambda=0.3,3", "bands": "bands=0.5,2"}
ACCOUNT_FRAMES = ("accounts", "lots", "custodian_positions", "transactions", "cash_requests")


@dataclass(frozen=True)
class LabPlan:
    days: int = 60
    seed: int = 1
    sample: int | None = None          # None: every account; else a seeded sample of this many
    default: bool = True               # the current policy's own variant
    versions: tuple[int, ...] = ()     # saved policy versions, one variant each
    sweeps: tuple[str, ...] = ()       # "lambda=0.3,3", "harvest.discount_rate=0.025,0.1", …
    baselines: tuple[str, ...] = ()    # "band", "calendar"
    request_rate: float = 0.0005


@dataclass
class LabRun:
    plan: LabPlan
    result: LabResult
    base_version: int      # the saved version the current policy was when the book was read (0: defaults)
    accounts: int          # accounts simulated
    book_accounts: int     # accounts in the book


def sweep(base: Policy, spec: str) -> list[Variant]:
    """A quick sweep (threshold, lambda, bands) or a sweep of one setting (section.key)."""
    key = spec.partition("=")[0].strip()
    return setting_variants(base, spec) if "." in key else sweep_variants(base, spec)


def setting_sweep(policy: Policy, key: str) -> str:
    """The sweep a "see in Lab" link of setting ``key`` starts from: the quick sweep that varies
    it (tier thresholds, λ, band widths), else half and twice a number, the other choices of a
    choice, the other value of a yes/no."""
    if key in QUICK_SWEEPS:
        return QUICK_SWEEPS[key]
    if key == "trading.tradeoff_lambda":
        return QUICK_SWEEPS["lambda"]
    if key in ("bands.absolute", "bands.relative"):
        return QUICK_SWEEPS["bands"]
    section, name, annotation = setting_field(key)
    v = getattr(getattr(policy, section), name)
    if key == "bands.trade_to":
        return f"{key}=edge,target" if v not in ("edge", "target") else \
            f"{key}={'target' if v == 'edge' else 'edge'}"
    if annotation is bool:
        return f"{key}={str(not v).lower()}"
    args = [a for arg in typing.get_args(annotation) for a in (typing.get_args(arg) or ())] or \
        list(typing.get_args(annotation))
    if args and all(isinstance(a, str) for a in args):
        return f"{key}=" + ",".join(a for a in args if a != v)
    if annotation is int:
        vals = sorted({max(1, int(round(v * 0.5))), int(v * 2)} - {v})
        return f"{key}=" + ",".join(str(x) for x in vals)
    fi = getattr(Policy.model_fields[section].annotation, "model_fields")[name]
    hi = next((m.le for m in fi.metadata if getattr(m, "le", None) is not None), None)
    vals = [v * 0.5, v * 2 if hi is None else min(v * 2, hi)] if v else \
        ([2500.0, 10000.0] if name.endswith("_dollars") else [10.0, 50.0] if name.endswith("_bps")
         else [0.03, 0.06, 0.12] if name.startswith("security_vol") else [0.01, 0.1])  # a setting that is off
    return f"{key}=" + ",".join(f"{x:g}" for x in dict.fromkeys(vals) if x != v)


# --------------------------------------------------------------------------- the run
def sample_accounts(book: LabBook, n: int | None, seed: int) -> LabBook:
    """The book restricted to a seeded random sample of ``n`` accounts (all when ``n`` is None or
    not smaller than the book), each per-account frame filtered the same way."""
    acc = book.frames["accounts"]
    if n is None or n >= len(acc):
        return book
    if n < 1:
        raise RefusedError(f"accounts sample {n}: at least one account")
    rng = np.random.default_rng([seed, 16])
    keep = np.sort(rng.choice(len(acc), size=n, replace=False))
    return keep_accounts(book, set(acc["account_id"].iloc[keep]))


def keep_accounts(book: LabBook, ids: set) -> LabBook:
    """The book restricted to the accounts ``ids``, each per-account frame filtered the same way."""
    frames = dict(book.frames)
    for name in ACCOUNT_FRAMES:
        f = frames.get(name)
        if f is not None and "account_id" in f.columns:
            frames[name] = f[f["account_id"].isin(ids)].reset_index(drop=True)
    return replace(book, frames=frames)


def plan_variants(book: LabBook, plan: LabPlan, versions: dict[int, Policy]) -> list[Variant]:
    out = build_variants(book.policy, baselines=(), default=plan.default) if plan.default else []
    for vid in plan.versions:
        out.append(Variant(f"version {vid}", "engine", versions[vid]))
    for s in plan.sweeps:
        out.extend(sweep(book.policy, s))
    if plan.baselines:
        out.extend(build_variants(book.policy, baselines=plan.baselines, default=False))
    names = [v.name for v in out]
    out = [replace(v, name=f"{v.name}#{names[:i + 1].count(v.name)}") if names.count(v.name) > 1 else v
           for i, v in enumerate(out)]
    if not out:
        raise RefusedError("no variant to simulate: pick the current policy, a version, a sweep or a baseline")
    return out


def read_plan_inputs(engine, plan: LabPlan) -> tuple[LabBook, int, dict[int, Policy]]:
    """The book (its policy: the newest saved version, else the defaults), that version's id and
    the policies of the plan's versions: reads only."""
    from engine.desk import views
    from engine.core.policy_store import latest_saved
    from engine.core.policy import default_policy, policy_from_toml

    with engine.connect() as conn:
        row = latest_saved(conn)
    base = policy_from_toml(row.body, f"policy version {row.id}") if row else default_policy()
    book = replace(load_book(engine), policy=base)
    versions = {v: views.policy_body(engine, v) for v in plan.versions}
    return book, int(row.id) if row else 0, versions


def run_plan(engine, plan: LabPlan, *, state: TaskState | None = None, workers: int = 1) -> LabRun:
    """Read the book once and simulate the plan's variants on it; nothing is written anywhere."""
    state = ensure_state(state)
    if plan.days < 1:
        raise RefusedError(f"days {plan.days}: simulate at least one day")
    state.progress(0.0, "reading the book")
    book, base_version, versions = read_plan_inputs(engine, plan)
    state.check()
    n_book = len(book.frames["accounts"])
    book = sample_accounts(book, plan.sample, plan.seed)
    variants = plan_variants(book, plan, versions)
    result = simulate(book, variants, plan.days, seed=plan.seed, request_rate=plan.request_rate,
                      workers=workers, state=state)
    return LabRun(plan, result, base_version, len(book.frames["accounts"]), n_book)


def variant_policy(run: LabRun, name: str) -> Policy:
    """The policy of a simulated engine variant (a baseline has none to save)."""
    v = next((v for v in run.result.variants if v.name == name), None)
    if v is None:
        raise RefusedError(f"variant {name!r} was not simulated")
    if v.kind != "engine":
        raise RefusedError(f"{name} is a baseline rebalancer, not a policy: pick a policy variant to save")
    return v.policy


def save_variant(engine, run: LabRun, name: str, *, user: str | None = None, note: str | None = None) -> int:
    """Save a simulated variant's policy as a new version (audited POLICY_SAVE), refused with
    :class:`engine.core.policy_store.PolicyConflict` when a version newer than the one the lab
    started from was saved since."""
    from engine.core.policy_store import save_policy

    policy = variant_policy(run, name)
    p = run.plan
    what = (f"from the Lab: variant {name}, {p.days} business days, seed {p.seed}, "
            f"{run.accounts:,} of {run.book_accounts:,} accounts")
    return save_policy(engine, policy, user=user, note=f"{note.strip()} ({what})" if note and note.strip() else what,
                       expected_version=run.base_version)
