"""Today's date, asked in one place so the tests can fix it.

Checks measured against today (the as-of window of an import, fallbacks where no book is loaded)
call ``clock.today()`` through the module, never ``date.today()``: the test suite's conftest sets
:data:`FIXED` so books dated in the fixtures stay "recent" whatever the day the suite runs.
"""
from __future__ import annotations

from datetime import date

# None in production; a date set by the tests (tests/conftest.py) to stop the calendar.
FIXED: date | None = None


def today() -> date:
    """The desk's today: the real date unless :data:`FIXED` is set."""
    return FIXED if FIXED is not None else date.today()
