"""CLI: the operator's set-up of a kiosk PC.

``admin set-password`` and ``staff set-pin`` (prompted without echo; read from standard input
when it is not a terminal, for scripts), ``install-autostart [--systemd]`` and
``uninstall-autostart`` (start at login, full screen, restarted after a crash).
"""

from __future__ import annotations

import argparse
import getpass
import os
import shlex
import sys
from collections.abc import Callable
from pathlib import Path

from kiosk.commands.common import UserError
from kiosk.commands.recognition import open_gallery
from kiosk.config import Settings
from kiosk.gallery import GalleryError

REPOSITORY = Path(__file__).resolve().parents[2]
AUTOSTART_NAME = "face-checkin-kiosk"
RESTART_DELAY_S = 5


def read_secret(what: str, stdin=None, prompt=getpass.getpass,
                check: Callable[[str], None] | None = None) -> str:
    """Ask for a secret twice without echo on a terminal; one line from stdin otherwise.

    Args:
        what: "admin password" or "staff PIN", for the prompts.
        stdin: the input stream (default ``sys.stdin``).
        prompt: the no-echo prompt function (``getpass.getpass``).
        check: on a terminal, judges the first entry before it is asked again (raises
            ``ValueError`` with the reason); the caller still checks what is returned.

    Raises:
        UserError: the first entry fails ``check``, the two entries differ or the input is
            empty.
    """
    stream = sys.stdin if stdin is None else stdin
    if stream.isatty():
        first = prompt(f"New {what}: ")
        if check is not None:
            try:
                check(first)
            except ValueError as exc:
                raise UserError(f"{exc}; nothing was changed") from exc
        if prompt(f"Repeat the {what}: ") != first:
            raise UserError(f"the two {what} entries differ; nothing was changed")
        return first
    line = stream.readline()
    if not line:
        raise UserError(f"no {what} on standard input; nothing was changed")
    return line.rstrip("\r\n")


def _set_secret_command(
    settings: Settings, what: str, has: Callable[..., bool], set_: Callable[..., None]
) -> int:
    """Read a new secret (``what``: "admin password", "staff PIN") and store it with ``set_``."""
    secret = read_secret(what)
    with open_gallery(settings) as gallery:
        existed = has(gallery)
        try:
            set_(gallery, secret, actor="cli")
        except (ValueError, GalleryError) as exc:
            raise UserError(f"{exc}; nothing was changed") from exc
    print(f"{what} changed" if existed else f"{what} set")
    return 0


def cmd_admin_set_password(args: argparse.Namespace, settings: Settings) -> int:
    from kiosk.auth import has_admin_password, set_admin_password

    return _set_secret_command(settings, "admin password", has_admin_password, set_admin_password)


def cmd_staff_set_pin(args: argparse.Namespace, settings: Settings) -> int:
    from kiosk.auth import has_staff_pin, set_staff_pin

    return _set_secret_command(settings, "staff PIN", has_staff_pin, set_staff_pin)


def config_home() -> Path:
    """``$XDG_CONFIG_HOME`` or ``~/.config``."""
    return Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config")


def autostart_paths() -> dict[str, Path]:
    """Where the two kinds of autostart entry go: ``xdg`` and ``systemd``."""
    return {
        "xdg": config_home() / "autostart" / f"{AUTOSTART_NAME}.desktop",
        "systemd": config_home() / "systemd" / "user" / f"{AUTOSTART_NAME}.service",
    }


def kiosk_command(args: argparse.Namespace) -> list[str]:
    """The command that starts this kiosk full screen, with the global options given."""
    command = [str(REPOSITORY / "run.sh")]
    if getattr(args, "settings", None):
        command += ["--settings", str(Path(args.settings).resolve())]
    if getattr(args, "db", None):
        command += ["--db", str(Path(args.db).resolve())]
    return [*command, "run", "--fullscreen"]


def xdg_entry(command: list[str]) -> str:
    """An XDG autostart entry that starts the kiosk at login and again after a crash (a
    non-zero exit); a normal close ends the loop."""
    loop = (f"until {shlex.join(command)}; do sleep {RESTART_DELAY_S}; done")
    return (
        "[Desktop Entry]\n"
        "Type=Application\n"
        "Name=Face check-in kiosk\n"
        "Comment=Starts the check-in kiosk full screen at login and restarts it after a crash\n"
        f"Exec=sh -c {shlex.quote(loop)}\n"
        f"Path={REPOSITORY}\n"
        "Terminal=false\n"
        "X-GNOME-Autostart-enabled=true\n"
    )


def systemd_unit(command: list[str]) -> str:
    """A systemd user unit: started with the graphical session, restarted on failure."""
    return (
        "[Unit]\n"
        "Description=Face check-in kiosk\n"
        "PartOf=graphical-session.target\n"
        "After=graphical-session.target\n\n"
        "[Service]\n"
        "Type=simple\n"
        f"WorkingDirectory={REPOSITORY}\n"
        f"ExecStart={shlex.join(command)}\n"
        "Restart=on-failure\n"
        f"RestartSec={RESTART_DELAY_S}\n\n"
        "[Install]\n"
        "WantedBy=graphical-session.target\n"
    )


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_name(f".{path.name}.tmp")
    temp.write_text(text, encoding="utf-8")
    os.replace(temp, path)


def cmd_install_autostart(args: argparse.Namespace, settings: Settings) -> int:
    kind = "systemd" if args.systemd else "xdg"
    path = autostart_paths()[kind]
    command = kiosk_command(args)
    try:
        _write(path, systemd_unit(command) if args.systemd else xdg_entry(command))
    except OSError as exc:
        raise UserError(f"{path}: cannot write: {exc.strerror or exc}") from exc
    print(f"wrote {path}")
    if args.systemd:
        print(f"enable it with:  systemctl --user daemon-reload && "
              f"systemctl --user enable --now {AUTOSTART_NAME}.service")
        print("(the desktop session must export DISPLAY to systemd; GNOME and KDE do)")
    else:
        print("the kiosk starts full screen at the next login of this user and restarts "
              f"{RESTART_DELAY_S} s after a crash")
    return 0


def cmd_uninstall_autostart(args: argparse.Namespace, settings: Settings) -> int:
    removed = []
    for kind, path in autostart_paths().items():
        if path.exists():
            try:
                path.unlink()
            except OSError as exc:
                raise UserError(f"{path}: cannot remove: {exc.strerror or exc}") from exc
            removed.append(path)
            if kind == "systemd":
                print(f"also run:  systemctl --user disable --now {AUTOSTART_NAME}.service")
    for path in removed:
        print(f"removed {path}")
    if not removed:
        print("no autostart entry was installed")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``admin``, ``staff``, ``install-autostart`` and ``uninstall-autostart``."""
    admin = subparsers.add_parser("admin", help="the admin password")
    admin_sub = admin.add_subparsers(dest="admin_command", metavar="ACTION", required=True)
    setpw = admin_sub.add_parser(
        "set-password", help="set or reset the admin password (prompted without echo)",
        description="Set or reset the admin password. On a terminal it is asked twice without "
                    "echo; otherwise the first line of standard input is the password.")
    setpw.set_defaults(handler=cmd_admin_set_password)

    staff = subparsers.add_parser("staff", help="the staff PIN")
    staff_sub = staff.add_subparsers(dest="staff_command", metavar="ACTION", required=True)
    setpin = staff_sub.add_parser(
        "set-pin", help="set or reset the staff PIN or password (prompted without echo)",
        description="Set or reset the staff PIN (at least 4 characters). On a terminal it is "
                    "asked twice without echo; otherwise the first line of standard input.")
    setpin.set_defaults(handler=cmd_staff_set_pin)

    install = subparsers.add_parser(
        "install-autostart",
        help="start the kiosk full screen at login and restart it after a crash (this user)")
    install.add_argument("--systemd", action="store_true",
                         help="a systemd user unit (Restart=on-failure) instead of an XDG "
                              "autostart entry")
    install.set_defaults(handler=cmd_install_autostart)
    uninstall = subparsers.add_parser("uninstall-autostart",
                                      help="remove what install-autostart wrote")
    uninstall.set_defaults(handler=cmd_uninstall_autostart)
