"""Before Qt starts: is there a display, and can Qt's xcb platform plugin load?

Qt aborts the process (``Could not load the Qt platform plugin "xcb"``, exit code 134) when the
plugin's system libraries are missing or no X server answers. These checks run first and turn
both into one clear line; they import no Qt module.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

PACKAGE_LIST = Path(__file__).resolve().parent.parent / ".ci" / "gui-packages.txt"


def xcb_plugin_path() -> Path | None:
    """The xcb platform plugin of the installed PyQt5, or None when it cannot be found."""
    try:
        import PyQt5
    except ImportError:
        return None
    path = Path(PyQt5.__file__).parent / "Qt5" / "plugins" / "platforms" / "libqxcb.so"
    return path if path.is_file() else None


def missing_libraries(plugin: Path | None = None) -> list[str]:
    """The shared libraries of the xcb plugin that the dynamic loader cannot find (by ``ldd``).

    Args:
        plugin: the plugin file; default :func:`xcb_plugin_path`.

    Returns:
        Sonames such as ``libxcb-icccm.so.4``; empty when all are found or ``ldd`` is absent.
    """
    plugin = plugin or xcb_plugin_path()
    if plugin is None or shutil.which("ldd") is None:
        return []
    try:
        output = subprocess.run(["ldd", str(plugin)], capture_output=True, text=True,
                                timeout=10, check=False).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    return sorted({line.split()[0] for line in output.splitlines() if "not found" in line})


def gui_packages() -> list[str]:
    """The Debian packages of ``.ci/gui-packages.txt`` (empty when the file is absent)."""
    try:
        lines = PACKAGE_LIST.read_text(encoding="utf-8").splitlines()
    except OSError:
        return []
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


def _x_server_reachable(display: str) -> bool:
    """For a local display (``:0``, ``:99.0``) whether its socket exists; True otherwise."""
    found = re.fullmatch(r"(?:unix)?:(\d+)(?:\.\d+)?", display.strip())
    if not found:
        return True  # a remote display (host:0) is left to Qt
    return Path(f"/tmp/.X11-unix/X{found.group(1)}").exists()


def display_problem(environ: dict[str, str] | None = None) -> str | None:
    """Why the kiosk window cannot open here, as one line, or None when it can.

    Args:
        environ: the environment to look at (default ``os.environ``).
    """
    env = os.environ if environ is None else environ
    platform = env.get("QT_QPA_PLATFORM", "")
    if platform and not platform.startswith("xcb"):
        return None  # offscreen, wayland, vnc...: Qt's own plugin choice
    if env.get("WAYLAND_DISPLAY") and not platform:
        return None
    display = env.get("DISPLAY", "")
    if not display:
        return ("no display: the kiosk window needs a graphical session (DISPLAY is not set); "
                "start it on the kiosk's screen, or use the other commands (--help)")
    if not _x_server_reachable(display):
        return f"no display: no X server answers on DISPLAY={display}"
    missing = missing_libraries()
    if missing:
        packages = gui_packages()
        hint = (f"install them with: sudo apt-get install -y {' '.join(packages)}"
                if packages else "install the packages that provide them")
        return (f"the kiosk window needs system libraries that are missing "
                f"({', '.join(missing)}); {hint} (./run.sh as root installs them)")
    return None
