"""One identification of a live face whose landmarks are known: the embeddings and the match.

Used by the pipeline for every decision embedding and by ``bench`` for the identification it
compares with ``face_recognition``, so that both run the same steps:

- without fusion: FaceNet's aligned crop, its embedding, the match;
- with fusion: dlib's embedding first; when dlib's distance alone is sure
  (:class:`kiosk.matching.rule.DlibFirstBand`) that is the decision and FaceNet does not run;
  otherwise FaceNet's embedding too, and the fused distance decides.

The aligned crop is made in both cases (a millisecond or two): it is the picture stored with a
check-in, and FaceNet's input when the embedding has to be completed later
(:meth:`FaceIdentifier.complete`: the rolling update stores every model's embedding).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from kiosk.align import align_face
from kiosk.config import RecognitionSettings
from kiosk.decision import MatchPolicy
from kiosk.matching.rule import Match
from kiosk.stages import Models, elapsed_ms
from kiosk.tracking import box_from_landmarks
from kiosk.types import Embedding, FaceRGB, FrameBGR, Landmarks


@dataclass(frozen=True, slots=True)
class Identification:
    """What one identification found.

    Attributes:
        match: the decision for this face.
        query: what was matched: FaceNet's vector, or ``{model id: vector}`` with fusion
            (without FaceNet's when dlib alone decided).
        face_rgb: FaceNet's aligned crop of the face.
        facenet: FaceNet's embedding, or None when it did not run.
    """

    match: Match
    query: Any
    face_rgb: FaceRGB
    facenet: Embedding | None


class FaceIdentifier:
    """The identification steps of one thread (the models are not shared between threads).

    Args:
        models: the loaded models (``dlib_encoder`` needed when ``fused``).
        policy: the match rule.
        facenet_model_id: the gallery's FaceNet model id (the key of FaceNet's vector).
        fused: whether the gallery decides on the fused distance.
        crop_margin: ``[recognition] crop_margin`` of FaceNet's crop.
    """

    def __init__(self, models: Models, policy: MatchPolicy, facenet_model_id: str, fused: bool,
                 crop_margin: float) -> None:
        if fused and models.dlib_encoder is None:
            raise ValueError("models: a fused gallery needs dlib's encoder")
        self.models = models
        self.policy = policy
        self.facenet_model_id = facenet_model_id
        self.fused = fused
        self.crop_margin = crop_margin

    @classmethod
    def for_gallery(cls, models: Models, gallery: Any, recognition: RecognitionSettings) -> FaceIdentifier:
        """The identifier of a gallery: its FaceNet model id, fused or not, and the match rule
        of the ``[recognition]`` settings for it (:attr:`policy`)."""
        return cls(models, MatchPolicy.from_settings(recognition, gallery.fused),
                   gallery.model_id, gallery.fused, recognition.crop_margin)

    def align(self, frame_bgr: FrameBGR, landmarks: Landmarks, timings: dict[str, float]) -> FaceRGB:
        """FaceNet's aligned crop of the face with these landmarks (stage ``align``)."""
        started = time.perf_counter()
        face_rgb = align_face(frame_bgr, landmarks, self.crop_margin)
        timings["align"] = elapsed_ms(started)
        return face_rgb

    def facenet(self, face_rgb: FaceRGB, timings: dict[str, float], stage: str = "embed") -> Embedding:
        """FaceNet's embedding of an aligned crop (timed as ``stage``)."""
        started = time.perf_counter()
        embedding = self.models.embedder.embed(face_rgb)
        timings[stage] = elapsed_ms(started)
        return embedding

    def identify(self, matcher: Any, frame_bgr: FrameBGR, landmarks: Landmarks,
                 timings: dict[str, float]) -> Identification:
        """Embed the face with these landmarks and match it (stages ``align``, ``embed_dlib``
        with fusion, ``embed`` when FaceNet runs, ``match``)."""
        face_rgb = self.align(frame_bgr, landmarks, timings)
        if not self.fused:
            embedding = self.facenet(face_rgb, timings)
            return Identification(self._match(matcher, embedding, timings), embedding, face_rgb,
                                  embedding)
        started = time.perf_counter()
        height, width = frame_bgr.shape[:2]
        dlib_encoder = self.models.dlib_encoder
        query = {dlib_encoder.model_id: dlib_encoder.embed_landmarks(
            frame_bgr, landmarks, box_from_landmarks(landmarks, width, height))}
        timings["embed_dlib"] = elapsed_ms(started)
        started = time.perf_counter()
        settled = self.policy.match_dlib_first(matcher, query[dlib_encoder.model_id])
        timings["match"] = elapsed_ms(started)
        if settled is not None:
            return Identification(settled, query, face_rgb, None)
        facenet = self.facenet(face_rgb, timings)
        query[self.facenet_model_id] = facenet
        return Identification(self._match(matcher, query, timings), query, face_rgb, facenet)

    def complete(self, query: Any, face_rgb: FaceRGB, timings: dict[str, float]) -> Any:
        """``query`` with FaceNet's embedding of ``face_rgb`` added when it is missing (a
        dlib-only decision whose face is going to be stored; stage ``embed_stored``, after the
        decision, not part of an identification)."""
        if not isinstance(query, dict) or self.facenet_model_id in query:
            return query
        return {**query, self.facenet_model_id: self.facenet(face_rgb, timings, "embed_stored")}

    def _match(self, matcher: Any, query: Any, timings: dict[str, float]) -> Match:
        started = time.perf_counter()
        match = self.policy.match(matcher, query)
        timings["match"] = timings.get("match", 0.0) + elapsed_ms(started)
        return match


def facenet_of(query: Any, facenet_model_id: str) -> np.ndarray | None:
    """FaceNet's vector of a query (a vector, or ``{model id: vector}``), or None."""
    if isinstance(query, dict):
        return query.get(facenet_model_id)
    return query

