"""Translations through Qt's own system: every on-screen text goes through ``tr()``.

``lrelease`` is not always installed, so instead of a compiled ``.qm`` file the committed Qt
Linguist source (``ui/translations/kiosk_<lang>.ts``, XML) is read directly by
:class:`TsTranslator`, a :class:`QTranslator` whose ``translate()`` looks the text up in a dict.
Widgets keep calling ``self.tr(...)`` and ``QCoreApplication.translate(...)`` as usual, so a
real ``.qm`` can replace this later without touching the widgets.
"""

from __future__ import annotations

import logging
import xml.etree.ElementTree as ElementTree
from pathlib import Path

from PyQt5.QtCore import QCoreApplication, QTranslator

log = logging.getLogger(__name__)

TRANSLATIONS_DIR = Path(__file__).resolve().parent / "translations"
LANGUAGES = {"en": "English", "zh_CN": "简体中文"}


def load_ts(path: Path) -> dict[tuple[str, str], str]:
    """Read a Qt Linguist ``.ts`` file into ``{(context, source): translation}``.

    Unfinished or empty translations are skipped (Qt then shows the English source).
    """
    table: dict[tuple[str, str], str] = {}
    root = ElementTree.parse(path).getroot()
    for context in root.iter("context"):
        context_name = context.findtext("name", default="")
        for message in context.iter("message"):
            source = message.findtext("source", default="")
            translation = message.find("translation")
            if translation is None or not (translation.text or "").strip():
                continue
            if translation.get("type") in ("obsolete", "vanished"):
                continue
            table[(context_name, source)] = translation.text or ""
    return table


class TsTranslator(QTranslator):
    """A :class:`QTranslator` answering from a ``.ts`` file loaded into a dict.

    Attributes:
        table: ``{(context, source): translation}``.
    """

    def __init__(self, table: dict[tuple[str, str], str], parent: object | None = None) -> None:
        super().__init__(parent)
        self.table = table

    def translate(self, context, source_text, disambiguation=None, n=-1):  # noqa: N802 (Qt)
        """The translation of ``source_text`` in ``context``, or "" (Qt falls back to it)."""
        return self.table.get((context or "", source_text or ""), "")

    def isEmpty(self) -> bool:  # noqa: N802 (Qt override)
        return not self.table


def normalise_language(language: str) -> str:
    """Map user spellings ("zh", "zh-CN", "zh_CN") to a known language code ("en" otherwise)."""
    text = (language or "en").replace("-", "_").strip()
    if text.lower().startswith("zh"):
        return "zh_CN"
    return "en"


_installed: TsTranslator | None = None


def install_translator(language: str) -> str:
    """Install the translator for ``language`` on the running application (replacing any
    earlier one); returns the language code in use."""
    global _installed
    app = QCoreApplication.instance()
    code = normalise_language(language)
    if app is None:
        return code
    if _installed is not None:
        app.removeTranslator(_installed)
        _installed = None
    if code != "en":
        path = TRANSLATIONS_DIR / f"kiosk_{code}.ts"
        try:
            _installed = TsTranslator(load_ts(path), app)
            app.installTranslator(_installed)
        except (OSError, ElementTree.ParseError) as exc:
            log.error("translation %s not loaded: %s", path, exc)
            return "en"
    return code


def translate(context: str, text: str) -> str:
    """``QCoreApplication.translate`` for code outside a QObject."""
    return QCoreApplication.translate(context, text)
