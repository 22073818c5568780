"""The README's screenshots come from one module (``python -m ui.screenshots``): its groups write
the PNGs they name, at the console's size, and a wrong group is refused before anything runs."""
import pytest
from PySide6.QtGui import QImage

from ui import screenshots


def test_review_and_safety_groups_write_their_shots(qtbot, tmp_path):
    out = tmp_path / "shots"
    assert screenshots.main([str(out), "--only", "review,safety", "--accounts", "150"]) == 0
    names = {p.stem for p in out.glob("*.png")}
    assert names == {"proposals", "charts", "batches", "audit", "export_result",
                     "override_impact", "export_blocked", "reject_dialog"}
    for name in ("proposals", "charts", "batches", "audit"):  # whole-window shots
        img = QImage(str(out / f"{name}.png"))
        assert (img.width(), img.height()) == screenshots.SIZE
    for name in ("export_result", "override_impact", "export_blocked", "reject_dialog"):  # dialogs
        img = QImage(str(out / f"{name}.png"))
        assert not img.isNull() and 0 < img.width() < screenshots.SIZE[0]


@pytest.mark.parametrize("args", [["--only", "charts"], ["--only", ""], []])
def test_a_wrong_group_or_no_folder_is_refused(tmp_path, capsys, args):
    out = tmp_path / "shots"
    argv = [str(out), *args] if args else []
    assert screenshots.main(argv) == 2
    assert "usage" in capsys.readouterr().err
    assert not out.exists() or not any(out.iterdir())
