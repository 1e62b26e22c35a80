"""The ui package's shape: the window a view of under 350 lines, no module over 600."""

from __future__ import annotations

from pathlib import Path

UI = Path(__file__).resolve().parents[2] / "ui"


def lines(path: Path) -> int:
    return len(path.read_text(encoding="utf-8").splitlines())


def test_no_ui_module_is_over_600_lines():
    sizes = {p.name: lines(p) for p in UI.glob("*.py")}
    assert max(sizes.values()) <= 600, sizes


def test_the_window_is_a_view_under_350_lines():
    assert lines(UI / "main_window.py") < 350
