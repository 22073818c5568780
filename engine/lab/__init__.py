"""The policy lab: carry a book forward business day by business day under the real engine and
under the naive band and calendar rebalancers, on the same prices, and account for each the
same way (see engine.lab.runner for the API)."""
from engine.lab.runner import (LabBook, LabResult, Variant, build_variants, load_book, simulate,  # noqa: F401
                               write_outputs)
