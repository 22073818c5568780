"""Check that the sample generator writes byte-identical books across a code change.

    .venv/bin/python bench/compare_sample.py --old /path/to/old/checkout [--new .] [--quick]

For each case (seeds, sizes, households, another as-of date, a one-account book, and a book
given gains budgets and cash-flow accounts by engine.book.budget_sample) both checkouts write a
book in a fresh folder, each in its own process importing its own code; every file's SHA-256
and the returned summary (as JSON, the output folder left out) must be equal. Prints one line per
case and exits 0 when all are identical, 1 otherwise.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# (name, generate_sample keyword arguments, add gains budgets and cash-flow accounts afterwards)
CASES = [
    ("2000 accounts, seed 7", {"accounts": 2000, "seed": 7}, False),
    ("2000 accounts, seed 7, households 0.4", {"accounts": 2000, "seed": 7, "households": 0.4}, False),
    ("2000 accounts, seed 1, budgets and cash flow", {"accounts": 2000, "seed": 1}, True),
    ("10000 accounts, seed 11, households 0.4", {"accounts": 10000, "seed": 11, "households": 0.4}, False),
    ("500 accounts, seed 3, as of 2025-06-30", {"accounts": 500, "seed": 3, "as_of": "2025-06-30"}, False),
    ("1 account, seed 5", {"accounts": 1, "seed": 5}, False),
    ("7 accounts, seed 2, every account in a household", {"accounts": 7, "seed": 2, "households": 1.0}, False),
]
QUICK = {"10000 accounts, seed 11, households 0.4"}

CHILD = r"""
import hashlib, json, sys
from datetime import date
from pathlib import Path
sys.path.insert(0, sys.argv[1])
from engine.book.sample import generate_sample
kw = json.loads(sys.argv[3])
if "as_of" in kw:
    kw["as_of"] = date.fromisoformat(kw["as_of"])
out = Path(sys.argv[2])
summary = generate_sample(out, **kw)
summary.pop("out_dir", None)
if sys.argv[4] == "1":
    from engine.book.budget_sample import add_budgets
    summary["budgets"] = add_budgets(out)
files = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(out.iterdir())}
print(json.dumps({"files": files, "summary": summary}, sort_keys=True, default=str))
"""


def book_of(checkout: Path, kwargs: dict, budgets: bool, work: Path) -> dict:
    out = subprocess.run([sys.executable, "-c", CHILD, str(checkout), str(work), json.dumps(kwargs),
                          "1" if budgets else "0"], cwd=checkout, capture_output=True, text=True, check=False)
    if out.returncode:
        raise SystemExit(f"{checkout}: generate_sample({kwargs}) failed:\n{out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--old", required=True, help="the checkout before the change")
    ap.add_argument("--new", default=str(ROOT), help="the checkout after the change (default: this one)")
    ap.add_argument("--quick", action="store_true", help="skip the 10,000-account case")
    args = ap.parse_args(argv)
    old, new = Path(args.old).resolve(), Path(args.new).resolve()
    same = 0
    cases = [c for c in CASES if not (args.quick and c[0] in QUICK)]
    with tempfile.TemporaryDirectory(prefix="compare_sample_") as tmp:
        for i, (name, kwargs, budgets) in enumerate(cases):
            t0 = time.perf_counter()
            a = book_of(old, kwargs, budgets, Path(tmp) / f"old{i}")
            b = book_of(new, kwargs, budgets, Path(tmp) / f"new{i}")
            diff = sorted(f for f in set(a["files"]) | set(b["files"]) if a["files"].get(f) != b["files"].get(f))
            if a["summary"] != b["summary"]:
                diff.append("summary")
            same += not diff
            print(f"{name}: {len(b['files'])} files, {b['summary']['lots']:,} lots: "
                  + ("identical" if not diff else "DIFFERENT: " + ", ".join(diff))
                  + f" ({time.perf_counter() - t0:.1f} s)", flush=True)
    print(f"identical: {same} of {len(cases)} cases ({old} vs {new})")
    return 0 if same == len(cases) else 1


if __name__ == "__main__":
    raise SystemExit(main())
