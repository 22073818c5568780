"""The demo book of `make run`: generated and imported once into an empty database."""
from __future__ import annotations

from pathlib import Path

from platformdirs import user_data_dir
from sqlalchemy import Engine

from engine.book.importer import import_book
from engine.core.tasks import TaskState, ensure_state
from storage import repo

DEMO_ACCOUNTS = 3000
DEMO_SEED = 7


def ensure_demo_book(engine: Engine, *, folder: str | Path | None = None, accounts: int = DEMO_ACCOUNTS,
                     state: TaskState | None = None, user: str | None = None, run: bool = True) -> int | None:
    """Import a generated sample book when the database has none, then run the day's workflow
    on it (one process: safe from a GUI thread); returns the new snapshot id."""
    from engine.book.sample import generate_sample

    state = ensure_state(state)
    with engine.connect() as conn:
        if repo.snapshot_info(conn) is not None:
            return None
    folder = Path(folder or Path(user_data_dir("RebalanceDesk", appauthor=False)) / "demo-book")
    state.progress(0.0, f"generating a demo book of {accounts:,} accounts")
    generate_sample(folder, accounts=accounts, seed=DEMO_SEED)
    state.check()
    snap = import_book(engine, folder, user=user, state=state, allow_same=True)
    if run:
        from engine.decide.workflow import run_workflow

        run_workflow(engine, workers=1, user=user, state=state)
    return snap
