"""The open-set rule lives in one place (kiosk/matching/rule.py): every other module that decides
calls the rule instead of comparing distances to a threshold itself. (That matching never imports
the store is an import-linter contract in pyproject.toml, checked by test_layering.py.)"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from kiosk.config import GallerySettings, RecognitionSettings
from kiosk.matching import rule

ROOT = Path(__file__).resolve().parents[2]
MATCHING = ROOT / "kiosk" / "matching"

_SIDE_DISTANCE = r"(?:[\w\]\)]+\.)*(?:distance|margin|best_distance)"
_SIDE_LIMIT = r"(?:[\w\]\)]+\.)*(?:threshold|distance_threshold|fused_distance_threshold|min_margin)\b"
ACCEPT_COMPARISON = re.compile(
    rf"\b{_SIDE_DISTANCE}\s*(?:<|<=|>|>=)\s*{_SIDE_LIMIT}"
    rf"|\b{_SIDE_LIMIT}\s*(?:<|<=|>|>=)\s*{_SIDE_DISTANCE}\b"
)


def accept_comparisons(source: str) -> list[str]:
    """Lines of code (comments and strings aside) that compare a distance or margin with a
    threshold or minimum margin: the accept rule written out again."""
    found = []
    for line in source.splitlines():
        code = line.split("#", 1)[0]
        if ACCEPT_COMPARISON.search(code) and not code.strip().startswith(('"', "'", "``")):
            found.append(line.strip())
    return found


def test_the_scan_finds_the_accept_rule_written_out():
    assert accept_comparisons("    ok = match.distance < threshold and match.margin >= min_margin")
    assert accept_comparisons("if best.distance <= self.distance_threshold:")
    assert accept_comparisons("accepted = min_margin <= margin")
    assert not accept_comparisons("if score < self.norm_chi2_threshold:")
    assert not accept_comparisons("return rule.accepts(distance, margin, threshold, min_margin)")
    assert not accept_comparisons("    # a distance < threshold is accepted")


def test_no_threshold_comparison_outside_matching():
    offenders = []
    for folder in ("kiosk", "ui", "scripts", "service"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            if MATCHING in path.parents:
                continue
            for line in accept_comparisons(path.read_text(encoding="utf-8")):
                offenders.append(f"{path.relative_to(ROOT)}: {line}")
    assert offenders == [], "call kiosk.matching.rule instead:\n" + "\n".join(offenders)


def test_no_module_of_matching_is_over_600_lines():
    sizes = {p.name: len(p.read_text(encoding="utf-8").splitlines()) for p in MATCHING.glob("*.py")}
    assert max(sizes.values()) <= 600, sizes


@pytest.mark.parametrize("distance, margin, accepted", [
    (0.99, 0.05, True),    # under the threshold, the margin exactly met
    (1.00, 0.50, False),   # at the threshold: not under it
    (0.50, 0.049, False),  # close, but the next person is too near
])
def test_the_accept_test(distance, margin, accepted):
    assert rule.accepts(distance, margin, threshold=1.0, min_margin=0.05) is accepted


def test_the_threshold_in_force_follows_fusion():
    recognition = RecognitionSettings(distance_threshold=0.9, fused_distance_threshold=1.1)
    assert rule.match_threshold(recognition) == 1.1  # fusion is on by default
    assert rule.match_threshold(recognition, fused=False) == 0.9
    assert rule.threshold_setting_key(RecognitionSettings(fusion=False)) == "distance_threshold"


def test_frames_agree_only_on_one_accepted_person():
    yes = [rule.Match(1, 0.5, 0.3, True), rule.Match(1, 0.4, 0.3, True)]
    assert rule.agreed(yes, 2) == yes[1]
    assert rule.agreed([rule.Match(2, 0.5, 0.3, True), yes[1]], 2) is None
    assert rule.agreed(yes[:1], 2) is None
    assert rule.all_unknown([rule.Match(1, 1.5, 0.0, False)] * 2, 2)


def test_the_pass_rate_counts_stored_images_within_the_threshold():
    gate = rule.RollingUpdateGate.from_settings(
        RecognitionSettings(fusion=False, distance_threshold=1.0), GallerySettings(min_pass_rate=0.7))
    model = RecognitionSettings().model_id
    stored = {model: np.array([[1.0, 0.0], [0.8, 0.6], [0.0, 1.0], [-1.0, 0.0]], np.float32)}
    face = {model: np.array([1.0, 0.0], np.float32)}
    # distances 0, 0.63, 1.41, 2: two of four within 1.0
    assert gate.pass_rate(stored, face) == pytest.approx(0.5)
    assert not gate.admits(stored, face)
    assert gate.admits({model: stored[model][:2]}, face)
    assert gate.pass_rate({model: np.empty((0, 2), np.float32)}, face) == 0.0


# -- dlib first ---------------------------------------------------------------------------------

BAND = rule.DlibFirstBand(accept_below=0.37, reject_from=0.69, min_margin=0.08)
TO_FUSED = rule.FACENET_REFERENCE_THRESHOLD / rule.DLIB_REFERENCE_THRESHOLD


@pytest.mark.parametrize(
    ("distance", "margin", "settled", "accepted"),
    [
        (0.20, 0.50, True, True),  # sure: close, and nobody else near
        (0.20, 0.05, False, None),  # close, but another person nearly as close: FaceNet decides
        (0.50, 0.50, False, None),  # in the band: FaceNet decides
        (0.69, 0.50, True, False),  # sure not: from reject_from on
        (1.20, 0.00, True, False),
    ],
)
def test_dlib_first_settles_only_what_it_is_sure_of(distance, margin, settled, accepted):
    accept_below, min_margin = BAND.thresholds
    dlib_match = rule.decision(7, distance, distance + margin, 70, accept_below, min_margin)
    found = BAND.settle(dlib_match)
    assert (found is not None) == settled
    if found is not None:
        assert found.accepted is accepted and found.dlib_only and found.person_id == 7
        assert found.distance == pytest.approx(distance * TO_FUSED)  # read like a fused distance
        assert found.margin == pytest.approx(margin * TO_FUSED)
    sure, sure_not = BAND.settle_many(np.array([distance]), np.array([margin]))
    assert bool(sure[0] | sure_not[0]) == settled
    if settled:
        assert bool(sure[0]) is accepted


def test_dlib_first_comes_from_the_settings_only_with_fusion():
    band = rule.DlibFirstBand.from_settings(RecognitionSettings())
    assert band is not None and band.thresholds[0] == RecognitionSettings().dlib_first_accept
    # the margin is min_margin in dlib's scale
    assert band.min_margin == pytest.approx(RecognitionSettings().min_margin / TO_FUSED)
    assert rule.DlibFirstBand.from_settings(RecognitionSettings(fusion=False)) is None
    assert rule.DlibFirstBand.from_settings(RecognitionSettings(dlib_first=False)) is None
    with pytest.raises(ValueError, match="accept_below <= reject_from"):
        rule.DlibFirstBand(0.7, 0.5, 0.0)


def test_the_band_never_contradicts_the_threshold_in_force():
    """The settings dialog edits the fused threshold: dlib alone must follow it. Stricter (0.6,
    that is 0.32 on dlib's scale): dlib's sure acceptance drops to 0.32; more lenient (1.5, 0.80):
    dlib's sure refusal rises to 0.80."""
    strict = rule.DlibFirstBand.from_settings(RecognitionSettings(fused_distance_threshold=0.6))
    assert strict.accept_below == pytest.approx(0.6 / TO_FUSED)
    assert strict.reject_from == RecognitionSettings().dlib_first_reject
    lenient = rule.DlibFirstBand.from_settings(RecognitionSettings(fused_distance_threshold=1.5))
    assert lenient.accept_below == RecognitionSettings().dlib_first_accept
    assert lenient.reject_from == pytest.approx(1.5 / TO_FUSED)
    default = rule.DlibFirstBand.from_settings(RecognitionSettings())
    assert (default.accept_below, default.reject_from) == (0.37, 0.69)  # inside 1.07's 0.57
