"""kiosk/ is the pipeline and storage: it must work without Qt (the GUI depends on it, never the
reverse)."""

from __future__ import annotations

import pkgutil
import subprocess
import sys
from pathlib import Path

import kiosk

ROOT = Path(__file__).resolve().parents[2]


def test_no_kiosk_module_imports_qt():
    modules = [m.name for m in pkgutil.walk_packages(kiosk.__path__, "kiosk.")]
    code = (
        "import importlib, sys\n"
        f"for name in {modules!r}:\n"
        "    importlib.import_module(name)\n"
        "qt = sorted(m for m in sys.modules if m.startswith(('PyQt5', 'PySide', 'ui')))\n"
        "print(','.join(qt))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == ""
    assert len(modules) > 15


def test_importing_kiosk_loads_no_model_or_tensorflow():
    code = "import sys, kiosk.pipeline, kiosk.cli; print('tensorflow' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert result.stdout.strip() == "False", result.stderr
