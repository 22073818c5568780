"""The house rules (docs/architecture.md): the import contracts in pyproject.toml hold and the
document names every one of them; engine and storage never import Qt; files are named for what
they are, not for when they were built."""
import re
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def contracts() -> list[dict]:
    with open(ROOT / "pyproject.toml", "rb") as f:
        return tomllib.load(f)["tool"]["importlinter"]["contracts"]


def test_import_contracts_hold():
    exe = Path(sys.executable).with_name("lint-imports")
    out = subprocess.run([str(exe), "--no-cache"], cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr
    assert f"Contracts: {len(contracts())} kept, 0 broken" in out.stdout
    assert len(contracts()) >= 7


def test_the_architecture_document_names_every_contract():
    doc = " ".join((ROOT / "docs" / "architecture.md").read_text(encoding="utf-8").split())
    missing = [c["name"] for c in contracts() if f"“{c['name']}”" not in doc]
    assert not missing, f"docs/architecture.md does not name the contracts {missing}"


def test_engine_runs_without_qt():
    code = ("import sys; sys.modules['PySide6'] = None; sys.modules['pyqtgraph'] = None; "
            "import engine.decide.workflow, engine.desk.exporter, engine.desk.review, engine.desk.manual, engine.book.importer, "
            "engine.book.sample, engine.core.policy_store; print('ok')")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert out.stdout.strip() == "ok", out.stderr


def test_files_are_named_for_what_they_are():
    when_built = re.compile(r"part_?\d", re.IGNORECASE)
    named = [str(p.relative_to(ROOT)) for folder in ("engine", "storage", "ui", "tests", "bench", "docs")
             for p in (ROOT / folder).rglob("*") if when_built.search(p.name)]
    assert not named, named


def test_a_file_over_500_lines_says_why_on_its_first_line():
    """Issue 14: no module of engine/, storage/ or ui/ (nor main.py) over 500 lines unless its
    first line says why it is kept whole ("Long because ...")."""
    long = {}
    for path in [*ROOT.glob("engine/**/*.py"), *ROOT.glob("storage/**/*.py"), *ROOT.glob("ui/**/*.py"),
                 ROOT / "main.py"]:
        lines = path.read_text(encoding="utf-8").splitlines()
        if len(lines) > 500 and not re.match(r"#.*\blong because\b", lines[0], re.IGNORECASE):
            long[str(path.relative_to(ROOT))] = len(lines)
    assert not long, f"over 500 lines without a reason on the first line: {long}"
