"""One-click export routed per custodian (issue 20, "export settings once").

A desk sets a drop folder and formats for the book, and may give some custodians their own
(their own folder, their own formats: CSV, FIX, XLSX, the lots file, the PDF/HTML sign-off).
:func:`plan` turns those settings into routes: one per custodian with settings of its own
(its trades only), then one for the book (every other custodian's trades). :func:`export_routed`
exports each route as its own batch with :func:`engine.desk.exporter.export_batch` (each batch its
own transaction, manifest and checksums, in its own folder); a route with nothing approved
writes nothing. The routing is around the writers: the exporter only filters its trades by
custodian.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from engine.core.tasks import RefusedError, TaskState, ensure_state
from engine.desk.exporter import FORMATS

LOTS = "lots"  # the lots file: a format a route may leave out
ROUTE_FORMATS = ("csv", "fix", "xlsx", LOTS, "signoff")
TRADE_FORMATS = ("csv", "fix", "xlsx")


@dataclass(frozen=True)
class Route:
    """Where one batch goes: ``folder``, ``formats`` (of :data:`ROUTE_FORMATS`) and which
    custodians' trades (``custodians``; None = every custodian not in ``exclude``)."""
    folder: str
    formats: tuple[str, ...]
    custodians: tuple[str, ...] | None = None
    exclude: tuple[str, ...] = field(default=())

    @property
    def label(self) -> str:
        return ", ".join(self.custodians) if self.custodians is not None else "the book"


def check_formats(formats, who: str = "the book") -> tuple[str, ...]:
    """``formats`` in :data:`ROUTE_FORMATS` order; refused without a trades format or with an unknown one."""
    chosen = [str(f).strip().lower() for f in formats if str(f).strip()]
    bad = [f for f in chosen if f not in ROUTE_FORMATS]
    if bad:
        raise RefusedError(f"{who}: unknown export format(s) {', '.join(bad)}; use {', '.join(ROUTE_FORMATS)}")
    if not any(f in TRADE_FORMATS for f in chosen):
        raise RefusedError(f"{who}: choose at least one trades format (CSV, FIX or XLSX)")
    return tuple(f for f in ROUTE_FORMATS if f in chosen)


def plan(book_folder: str, book_formats, per_custodian: dict | None = None) -> list[Route]:
    """Routes for the book's settings and the custodians' own (``{custodian: {"folder": ...,
    "formats": [...]}}``; a custodian's empty folder means the book's folder, its empty formats the
    book's formats). The custodians' routes first, the book's last (for every other custodian)."""
    book = check_formats(book_formats)
    routes = []
    for cust in sorted(per_custodian or {}):
        spec = per_custodian[cust] or {}
        folder = str(spec.get("folder") or "").strip() or book_folder
        formats = check_formats(spec.get("formats") or book, f"custodian {cust}")
        if not folder:
            raise RefusedError(f"custodian {cust}: no drop folder (neither its own nor the book's)")
        routes.append(Route(folder, formats, (str(cust),)))
    own = tuple(r.custodians[0] for r in routes)
    routes.append(Route(book_folder, book, None, own))
    return routes


def describe(routes: list[Route]) -> list[str]:
    """One line per route, for the confirmation."""
    names = {"csv": "CSV", "fix": "FIX", "xlsx": "XLSX", LOTS: "lots file", "signoff": "sign-off PDF/HTML"}
    return [f"{'custodian ' + r.label if r.custodians is not None else 'every other custodian' if r.exclude else 'all custodians'}"
            f" → {r.folder or '(a folder chosen now)'} ({', '.join(names[f] for f in r.formats)})" for r in routes]


def export_routed(engine, routes: list[Route], *, user: str | None = None, state: TaskState | None = None) -> list:
    """Export each route as its own batch (see the module); the batches written (BatchResult),
    in route order. Every folder is checked before the first batch is written."""
    from engine.core.files import check_out_dir
    from engine.desk.exporter import export_batch

    state = ensure_state(state)
    for r in routes:
        if not str(r.folder or "").strip():
            raise RefusedError(f"{r.label}: no drop folder")
        check_out_dir(r.folder)
    out = []
    for k, r in enumerate(routes):
        state.progress(k / len(routes), f"exporting for {r.label}")
        state.check()
        res = export_batch(engine, r.folder, tuple(f for f in r.formats if f in FORMATS), user=user, state=state,
                           custodians=r.custodians, exclude_custodians=r.exclude, lots=LOTS in r.formats)
        if res is not None:
            out.append(res)
    state.progress(1.0, f"{len(out)} batch(es) exported")
    return out
