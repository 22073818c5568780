"""Benchmark: the batch sign-off's PDF, reportlab (what the engine uses) against Qt's QPdfWriter.

    .venv/bin/python bench/bench_signoff.py [--rows N] [--repeat R]

One real batch is exported from the small test book; its sign-off facts are then widened to
``N`` rows in each list (overrides, manual trades, four-eyes approvals: a busy day's sign-off
of several pages), and the same content is drawn R times by each writer:
* reportlab: :func:`engine.desk.signoff.signoff_pdf` (platypus tables);
* Qt: :func:`engine.desk.signoff.signoff_html` laid out by ``QTextDocument`` and printed to a
  ``QPdfWriter`` (what a Qt-only writer would do; it needs a QGuiApplication, so the headless
  export could not use it).
Prints the median seconds, the PDF's bytes and pages (pypdf) for each.
"""
from __future__ import annotations

import argparse
import io
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))


def facts(tmp: Path, rows: int) -> dict:
    from bookkit import write_book
    from engine.desk.exporter import export_batch
    from engine.book.importer import import_book
    from engine.desk.review import approve
    from engine.desk.signoff import batch_signoff_facts
    from engine.decide.workflow import run_workflow
    from storage.db import make_engine

    engine = make_engine(tmp / "b.db")
    import_book(engine, write_book(tmp / "book"), user="bench")
    run_workflow(engine, workers=1, user="bench")
    approve(engine, ["A1", "A2", "A3"], user="rev")
    res = export_batch(engine, tmp / "out", user="bench")
    f = batch_signoff_facts(engine, res.batch_id)
    f["overrides"] = [{"kind": "HOLD", "target": f"X{i:06d}", "mode": "", "until": "until ended",
                       "reason": "client wires cash next week", "by": "ops1"} for i in range(rows)]
    f["manual_trades"] = [{"account_id": f"X{i:06d}", "side": "SELL", "quantity": 100 + i, "symbol": "AAA",
                           "value": 10_000.0 + i, "entered_by": "ops1", "approved_by": "ops2",
                           "reason": "cash-out"} for i in range(rows)]
    f["four_eyes"] = [{"what": f"proposal X{i:06d} (Small)", "entered_or_edited_by": "ed",
                       "approved_by": "rev"} for i in range(rows)]
    engine.dispose()
    return f


def qt_pdf(html: str) -> bytes:
    from PySide6.QtCore import QBuffer, QIODevice, QMarginsF
    from PySide6.QtGui import QPageLayout, QPageSize, QPdfWriter, QTextDocument

    buf = QBuffer()
    buf.open(QIODevice.OpenModeFlag.WriteOnly)
    writer = QPdfWriter(buf)
    writer.setPageLayout(QPageLayout(QPageSize(QPageSize.PageSizeId.A4), QPageLayout.Orientation.Landscape,
                                     QMarginsF(14, 12, 14, 12), QPageLayout.Unit.Millimeter))
    doc = QTextDocument()
    doc.setHtml(html)
    doc.print_(writer)
    buf.close()
    return bytes(buf.data())


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=300)
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtGui import QGuiApplication
    from pypdf import PdfReader

    from engine.desk.signoff import signoff_html, signoff_pdf

    app = QGuiApplication.instance() or QGuiApplication([])  # noqa: F841 - QPdfWriter needs one
    with tempfile.TemporaryDirectory() as d:
        f = facts(Path(d), args.rows)
    html = signoff_html(f)
    for name, make in (("reportlab", lambda: signoff_pdf(f)), ("Qt QPdfWriter", lambda: qt_pdf(html))):
        times, data = [], b""
        for _ in range(args.repeat):
            t0 = time.perf_counter()
            data = make()
            times.append(time.perf_counter() - t0)
        pages = len(PdfReader(io.BytesIO(data)).pages)
        text = PdfReader(io.BytesIO(data)).pages[0].extract_text()
        print(f"{name:14s} median {statistics.median(times):.3f} s  (min {min(times):.3f})  {len(data):,} bytes  "
              f"{pages} pages  text extractable: {'Totals per tier' in text}")


if __name__ == "__main__":
    main()
