"""Translations: the committed .ts is complete and Qt's tr() answers from it."""

from __future__ import annotations

from PyQt5.QtCore import QCoreApplication

from ui.i18n import TRANSLATIONS_DIR, install_translator, load_ts, normalise_language


def test_every_text_has_a_chinese_translation():
    import xml.etree.ElementTree as ElementTree

    path = TRANSLATIONS_DIR / "kiosk_zh_CN.ts"
    sources = [m.findtext("source") for m in ElementTree.parse(path).getroot().iter("message")]
    table = load_ts(path)
    assert len(sources) > 100
    assert len(table) == len(sources)


def test_tr_switches_language(qtbot, gallery, event_id):
    from ui.staff_panel import StaffPanelWidget

    assert normalise_language("zh-CN") == "zh_CN"
    try:
        assert install_translator("zh_CN") == "zh_CN"
        assert QCoreApplication.translate("AttendeeText", "Not recognised - please see staff") == \
            "未能识别 - 请联系工作人员"
        panel = StaffPanelWidget(gallery, event_id)
        qtbot.addWidget(panel)
        assert panel.export_button.text() == "导出..."
    finally:
        install_translator("en")
    assert QCoreApplication.translate("AdminMenu", "Staff") == "Staff"


def test_every_translated_text_is_still_shown_somewhere():
    """No stale message: each source text of the .ts is a string literal of ui/ or kiosk/
    (a text the code no longer shows is removed with it, not left to mislead translators)."""
    import ast
    import xml.etree.ElementTree as ElementTree

    project = TRANSLATIONS_DIR.parent.parent
    literals = set()
    for package in ("ui", "kiosk"):
        for path in (project / package).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.Constant) and isinstance(node.value, str):
                    literals.add(node.value)
    root = ElementTree.parse(TRANSLATIONS_DIR / "kiosk_zh_CN.ts").getroot()
    unused = [(context.findtext("name"), message.findtext("source"))
              for context in root.iter("context") for message in context.iter("message")
              if message.findtext("source") not in literals]
    assert unused == []
