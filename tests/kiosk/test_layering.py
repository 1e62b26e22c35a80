"""kiosk/ is the pipeline and storage: it must work without Qt (the GUI depends on it, never the
reverse)."""

from __future__ import annotations

import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest

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


def present_contracts(pyproject: Path) -> dict:
    """The import-linter configuration of pyproject.toml; every module a contract names must
    exist (a contract about a module that is gone would hold for nothing)."""
    import tomllib

    config = tomllib.loads(pyproject.read_text(encoding="utf-8"))["tool"]["importlinter"]
    for contract in config["contracts"]:
        for module in contract["source_modules"]:
            path = ROOT / Path(*module.split("."))
            assert path.with_suffix(".py").exists() or (path / "__init__.py").exists(), module
    return config


def test_import_contracts_hold(tmp_path):
    """kiosk never imports Qt, ui or the service; matching never imports the store; ui never
    imports the service (the contracts of pyproject.toml, checked by import-linter)."""
    import shutil

    lint_imports = shutil.which("lint-imports") or str(Path(sys.executable).parent / "lint-imports")
    if not Path(lint_imports).exists():
        pytest.skip("import-linter is not installed (pip install -e .[test])")
    config = present_contracts(ROOT / "pyproject.toml")
    assert len(config["contracts"]) >= 3
    lines = ["[importlinter]", "root_packages =\n    " + "\n    ".join(config["root_packages"]),
             f"include_external_packages = {config.get('include_external_packages', False)}"]
    for number, contract in enumerate(config["contracts"], 1):
        lines.append(f"\n[importlinter:contract:{number}]")
        for key, value in contract.items():
            if isinstance(value, list):
                value = "\n    " + "\n    ".join(value)
            lines.append(f"{key} = {value}")
    ini = tmp_path / "importlinter.ini"
    ini.write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = subprocess.run([lint_imports, "--config", str(ini), "--no-cache"],
                            capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert "BROKEN" not in result.stdout


SERVER_ONLY = ("fastapi", "starlette", "uvicorn", "psycopg", "multipart", "python_multipart")
# As if not installed: ``import fastapi`` raises ModuleNotFoundError, find_spec gives None.
BLOCK_SERVER_PACKAGES = f"""
import sys
for name in {SERVER_ONLY!r}:
    sys.modules[name] = None
"""


def test_the_kiosk_enrolls_and_identifies_without_the_server_extra(tmp_path, known_faces):
    """``pip install -e .`` (no extra): enroll and identify work with fastapi, uvicorn and
    psycopg absent, and ``serve`` says which extra to install."""
    db = tmp_path / "faces.sqlite"
    code = BLOCK_SERVER_PACKAGES + f"""
from kiosk.cli import main
extra = ("service.commands",)
assert main(["--db", {str(db)!r}, "enroll", "--name", "Barack Obama",
             {str(known_faces / "obama.jpg")!r}], extra=extra) == 0
assert main(["--db", {str(db)!r}, "identify", {str(known_faces / "obama2.jpg")!r}],
            extra=extra) == 0
assert main(["serve", "--database", "postgresql://nowhere/x"], extra=extra) == 1
loaded = sorted(m for m, v in sys.modules.items() if v is not None
                and m.split(".")[0] in {SERVER_ONLY!r})
print("loaded:", loaded)
"""
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            cwd=ROOT, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Barack Obama" in result.stdout
    assert "loaded: []" in result.stdout
    assert "pip install -e '.[server]'" in result.stderr


def test_headless_run_is_offered_without_the_server_extra():
    code = BLOCK_SERVER_PACKAGES + """
from kiosk.cli import build_parser
parser = build_parser(("service.commands",))
args = parser.parse_args(["run", "--headless", "--source", "clip.mp4"])
print(args.headless, args.handler.__name__)
"""
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            cwd=ROOT, timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.split()[0] == "True"
