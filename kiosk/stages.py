"""The seams between the pipeline's stages: small Protocols, and the bundle of loaded models.

Each stage of the pipeline is an object with one verb per frame; the pipeline, the enrolment
capture and the evaluation depend on these Protocols, not on the classes that implement them,
so tests can pass test doubles (``tests/kiosk/fakes.py``) and run the decision logic without the
real models. The real implementations: :class:`kiosk.detect.HaarFaceDetector`,
:class:`kiosk.landmarks.LandmarkPredictor`, :class:`kiosk.embed.FaceNetEmbedder`,
:class:`kiosk.liveness.LivenessTracker`, ``time.monotonic``/``time.time``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from kiosk.config import DetectionSettings, Settings
from kiosk.types import BoxXYXY, Embedding, FaceRGB, FrameBGR, FrameGray, Landmarks

Clock = Callable[[], float]  # seconds; time.monotonic for intervals, time.time for wall-clock


def elapsed_ms(started: float) -> float:
    """Milliseconds since ``started`` (a ``time.perf_counter()`` reading): a stage's time."""
    return (time.perf_counter() - started) * 1000.0


class FaceDetector(Protocol):
    """The face gate: the attendee's face in a frame, or why there is none."""

    settings: DetectionSettings

    def detect(self, frame_bgr: FrameBGR, near_xyxy: Any = None) -> Any:
        """A :class:`kiosk.detect.GateResult` (``face``, ``problem``, ``boxes_xyxy``...)."""


class Landmarker(Protocol):
    """68 facial landmarks inside a face box."""

    def predict(self, gray: FrameGray, box_xyxy: BoxXYXY) -> Landmarks:
        """(68, 2) float32 landmarks in frame pixels."""


class Embedder(Protocol):
    """Aligned face -> L2-normalised embedding."""

    def embed(self, face_rgb: FaceRGB) -> Embedding:
        """The embedding of one aligned 160x160 RGB face."""


class Liveness(Protocol):
    """Liveness over a window of frames (:class:`kiosk.liveness.LivenessTracker`)."""

    def reset(self) -> None:
        """Forget the window (a new attendee)."""

    def update(self, gray: FrameGray, landmarks: Landmarks | None, t_monotonic: float,
               frame_bgr: FrameBGR | None = None) -> Any:
        """A :class:`kiosk.liveness.LivenessVerdict` after this frame (the colour frame feeds
        the texture cue)."""


@dataclass
class Models:
    """The loaded models, shared by everything in one process (load once, they are slow).

    Attributes:
        dlib_encoder: dlib's ResNet encoder when ``[recognition] fusion`` is on, else None.
    """

    detector: FaceDetector
    landmarks: Landmarker
    embedder: Embedder
    dlib_encoder: Any = None


def load_models(settings: Settings) -> Models:
    """Load the face gate, the landmark predictor and FaceNet (a few seconds; warm FaceNet up),
    and dlib's encoder when fusion is on (on OpenVINO unless ``dlib_backend`` says otherwise;
    converted at the first start; dlib's own runtime, with a logged reason, if that fails).

    Raises:
        ValueError: ``[recognition] model_id`` is not the id of the configured FaceNet
            (backend and mirror averaging), so stored embeddings would be mixed up.
    """
    from kiosk.detect import HaarFaceDetector
    from kiosk.dlib_encoder import DlibResNetEncoder
    from kiosk.embed import FaceNetEmbedder
    from kiosk.landmarks import LandmarkPredictor
    from kiosk.model_files import dlib_resnet_path, facenet_graph_path, shape_predictor_path

    recognition = settings.recognition
    embedder = FaceNetEmbedder(
        facenet_graph_path(recognition.facenet_graph), recognition.tf_threads,
        recognition.flip_average, recognition.facenet_backend, recognition.model_cache_dir,
    )
    if embedder.model_id != recognition.model_id:
        embedder.close()
        raise ValueError(
            f"[recognition] model_id is {recognition.model_id!r} but facenet_backend and "
            f"flip_average give {embedder.model_id!r}; set model_id to that (images stored "
            "under another id are not matched until they are embedded again)"
        )
    embedder.warm_up()
    landmarks_path = shape_predictor_path(recognition.shape_predictor)
    dlib_encoder = None
    if recognition.fusion:
        dlib_encoder = DlibResNetEncoder(
            dlib_resnet_path(), landmarks_path, recognition.dlib_backend, recognition.tf_threads,
            recognition.model_cache_dir,
        )
        dlib_encoder.warm_up()
    return Models(
        detector=HaarFaceDetector(settings.detection),
        landmarks=LandmarkPredictor(str(landmarks_path)),
        embedder=embedder,
        dlib_encoder=dlib_encoder,
    )
