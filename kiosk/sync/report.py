"""What a kiosk reports of itself with every request to the service, and the rule both sides
apply to it: the check-ins waiting in its outbox (``X-Kiosk-Outbox``, a whole number) and its
model settings (``X-Kiosk-Model``, a short text). The service shows them on the console's doors
page and reads them as untrusted input through :func:`read_outbox` and :func:`clean_model`.
"""

from __future__ import annotations

import re

from kiosk.config import RecognitionSettings

OUTBOX_HEADER = "X-Kiosk-Outbox"
MODEL_HEADER = "X-Kiosk-Model"
MAX_REPORTED_OUTBOX = 10_000_000  # more is not a real kiosk's outbox: the report is refused
MAX_MODEL_CHARS = 100
_OUTBOX_TEXT = re.compile(r"[0-9]{1,8}")
_NOT_MODEL_TEXT = re.compile(r"[^A-Za-z0-9 ._:=,+/()-]+")  # markup, quotes, controls, non-ASCII


def read_outbox(text: str | None) -> int | None:
    """The reported count, or None when ``text`` is not a whole number in
    0..:data:`MAX_REPORTED_OUTBOX` (ASCII digits only: no sign, space or other script's digits)."""
    if text is None or not _OUTBOX_TEXT.fullmatch(text):
        return None
    count = int(text)
    return count if count <= MAX_REPORTED_OUTBOX else None


def clean_model(text: str | None) -> str | None:
    """The model text with every character outside letters, digits, spaces and ``._:=,+/()-``
    removed, spaces collapsed, cut at :data:`MAX_MODEL_CHARS`; None when nothing is left."""
    if not text:
        return None
    cleaned = " ".join(_NOT_MODEL_TEXT.sub("", text[:4 * MAX_MODEL_CHARS]).split())
    return cleaned[:MAX_MODEL_CHARS].strip() or None


def model_report(recognition: RecognitionSettings) -> str:
    """This kiosk's model settings in one line: the FaceNet model id and back-end, the dlib
    fusion (back-end and weight) or none, and the decision's threshold."""
    if recognition.fusion:
        fusion = f"fusion={recognition.dlib_backend}:{recognition.dlib_weight:g}"
        threshold = recognition.fused_distance_threshold
    else:
        fusion, threshold = "fusion=off", recognition.distance_threshold
    return clean_model(f"{recognition.model_id} {recognition.facenet_backend} {fusion} "
                       f"threshold={threshold:g}") or ""
