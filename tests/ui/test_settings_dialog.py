"""The Settings dialog edits the threshold the kiosk decides with (the fused one with fusion
on, the default): saving it through the site's settings file changes the decision on the same
face; the file and the audit entry are written off the GUI thread."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest

from kiosk.settings_files import load_layered_settings
from kiosk.decision import MatchPolicy
from kiosk.gallery import model_dim, open_gallery

SHIPPED = Path(__file__).resolve().parents[2] / "settings.toml"


def unit(vector: np.ndarray) -> np.ndarray:
    return (vector / np.linalg.norm(vector)).astype(np.float32)


def face_and_probe(model_ids, seed: int = 7) -> tuple[dict, dict]:
    """An enrolled face and a probe 0.6 away from it on every model (unit vectors)."""
    rng = np.random.default_rng(seed)
    face, probe = {}, {}
    for model_id in model_ids:
        e = unit(rng.normal(size=model_dim(model_id)))
        u = rng.normal(size=e.shape)
        u = unit(u - u.dot(e) * e)  # orthogonal to e
        angle = 2 * np.arcsin(0.6 / 2)
        face[model_id], probe[model_id] = e, unit(np.cos(angle) * e + np.sin(angle) * u)
    return face, probe


def decide(settings, gallery, probe) -> tuple[bool, float]:
    """The kiosk's decision on one probe, as Pipeline takes it (its policy, its matcher)."""
    policy = MatchPolicy.from_settings(settings.recognition, gallery.fused)
    match = policy.match(gallery.matcher, gallery.query_of(probe))
    return match.accepted, match.distance


@pytest.mark.parametrize("fusion", [True, False])
def test_saving_the_threshold_changes_the_kiosk_decision(qtbot, tmp_path, fusion):
    from ui.settings_dialog import SettingsDialog

    local = tmp_path / "settings.local.toml"
    local.write_text(f"[gallery]\ndb_path = \"{tmp_path / 'faces.sqlite'}\"\n"
                     f"[recognition]\nfusion = {'true' if fusion else 'false'}\n")
    before = load_layered_settings(SHIPPED, local)
    gallery = open_gallery(before)
    try:
        face, probe = face_and_probe(gallery.model_ids)
        gallery.add_person("Li Wei", [face], actor="test")
        accepted, distance = decide(before, gallery, probe)
        assert accepted and 0.2 < distance  # the shipped threshold lets this face in

        dialog = SettingsDialog(before, gallery, path=local)
        qtbot.addWidget(dialog)
        assert dialog.threshold_key == ("fused_distance_threshold" if fusion
                                        else "distance_threshold")
        assert dialog.threshold_spin.value() == pytest.approx(
            getattr(before.recognition, dialog.threshold_key))
        assert "Lower is stricter" in dialog.threshold_help.text()
        assert "a wrong name cannot be undone" in dialog.threshold_help.text()
        stricter = round(distance - 0.05, 2)
        dialog.threshold_spin.setValue(stricter)
        threads: list[int] = []
        gallery.store._conn.set_trace_callback(lambda _sql: threads.append(threading.get_ident()))
        with qtbot.waitSignal(dialog.accepted, timeout=10_000):
            dialog.on_save_clicked()
        gallery.store._conn.set_trace_callback(None)

        after = load_layered_settings(SHIPPED, local)  # what the kiosk reads at its next start
        assert getattr(after.recognition, dialog.threshold_key) == pytest.approx(stricter)
        assert decide(after, gallery, probe) == (False, pytest.approx(distance))
        assert dialog.saved_settings == after
        assert threads and threading.get_ident() not in threads  # the audit entry, off the GUI
        assert gallery.audit_log()[0]["action"] == "change settings"
    finally:
        gallery.close()
