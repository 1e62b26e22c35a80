"""FaceEncoder: a photo (or one frame) to an aligned face and its embeddings, or a clear refusal.

This is the path of enrolment, ``identify`` and the evaluation: face gate, landmarks, alignment,
embedding. Photos differ from kiosk frames: the face can be any size, so the minimum face size
is relative to the photo, and when the Haar cascade finds nothing dlib's HOG detector (built into
dlib, no model file) gets a second look, then dlib's CNN detector (``mmod_human_face_detector``
from ``face-recognition-models``). The live camera path never runs these.

With ``[recognition] fusion`` the encoder also loads dlib's ResNet encoder: :meth:`FaceEncoder.
encode_models` gives ``{model_id: embedding}`` for a face, :meth:`FaceEncoder.reembed_crop`
the same for a stored crop (migration of an old gallery).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from kiosk.align import align_face
from kiosk.config import Settings
from kiosk.detect import HaarFaceDetector, box_areas, equalise, scale_to_max_side, to_gray
from kiosk.dlib_encoder import crop_landmarks_box, crop_to_frame
from kiosk.images import ImageError, decode_image, read_image
from kiosk.model_files import cnn_face_detector_path
from kiosk.names import printable
from kiosk.stages import Models
from kiosk.types import BoxesXYXY, BoxXYXY, Embedding, FaceRGB, FrameBGR, Landmarks

PHOTO_DETECT_MAX_SIDE_PX = 640
PHOTO_MIN_FACE_FRACTION = 0.08  # of the photo's shorter side
SEVERAL_FACES_AREA_RATIO = 0.25  # a second face at least half as wide as the largest is ambiguous
JPEG_QUALITY = 90
HOG_MAX_SIDE_PX = 1280  # dlib's HOG fallback runs on a copy no larger than this
CNN_MIN_SIDE_PX = 80  # dlib's MMOD filters need at least this much image
CNN_MAX_SIDE_PX = 640  # dlib's CNN fallback (about 1 s at this size on 2 cores)

__all__ = ["FaceEncoder", "FaceSample", "inside_image"]


@dataclass(frozen=True, slots=True)
class FaceSample:
    """One face ready for the gallery.

    Attributes:
        box_xyxy: where the face is in the photo or frame.
        landmarks: (68, 2) in the same pixels.
        face_rgb: the aligned 160x160 RGB crop.
        embedding: its FaceNet embedding.
        detector: which detector found it ("haar" or "hog").
        embeddings: ``{model id: embedding}`` of the models the settings use (FaceNet's, and
            dlib's with ``[recognition] fusion``): what the gallery stores and matches.
    """

    box_xyxy: BoxXYXY
    landmarks: Landmarks
    face_rgb: FaceRGB
    embedding: Embedding
    detector: str
    embeddings: dict[str, Embedding] = field(default_factory=dict)

    def crop_jpeg(self) -> bytes:
        """The aligned crop as JPEG bytes (for the gallery and the admin screens)."""
        ok, encoded = cv2.imencode(
            ".jpg", cv2.cvtColor(self.face_rgb, cv2.COLOR_RGB2BGR),
            [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY],
        )
        return encoded.tobytes() if ok else b""




def inside_image(boxes_xyxy: BoxesXYXY, width: int, height: int, slack: float = 0.1) -> np.ndarray:
    """Which boxes lie inside the image, allowing ``slack`` of their size outside. Shape (N,)."""
    boxes = np.asarray(boxes_xyxy, np.float64).reshape(-1, 4)
    allowed = slack * (boxes[:, 2] - boxes[:, 0])
    return (
        (boxes[:, 0] >= -allowed) & (boxes[:, 1] >= -allowed)
        & (boxes[:, 2] <= width + allowed) & (boxes[:, 3] <= height + allowed)
    )


class FaceEncoder:
    """Photo or frame -> :class:`FaceSample`, refusing what cannot be enrolled or matched.

    Args:
        models: the loaded models.
        settings: the kiosk settings (detection and alignment).
    """

    def __init__(self, models: Models, settings: Settings) -> None:
        self.models = models
        self.settings = settings
        self._photo_detector = HaarFaceDetector(
            dataclasses.replace(settings.detection, detect_max_side_px=PHOTO_DETECT_MAX_SIDE_PX,
                                min_face_px=8)
        )
        self._hog: Any = None
        self._cnn: Any = None

    def find_faces(self, frame_bgr: FrameBGR) -> tuple[BoxesXYXY, str]:
        """Face boxes in a photo, largest first, and which detector found them.

        HOG boxes that stick out of the photo by more than a tenth of their size (a face cut
        off at the edge) are dropped.
        """
        gray = to_gray(frame_bgr)
        min_side = max(24, int(min(gray.shape[:2]) * PHOTO_MIN_FACE_FRACTION))
        for image in (gray, equalise(gray)):
            boxes = self._photo_detector.detect_boxes(image)
            boxes = boxes[(boxes[:, 2] - boxes[:, 0]) >= min_side]
            if len(boxes):
                return boxes, "haar"
        if self._hog is None:
            import dlib

            self._hog = dlib.get_frontal_face_detector()
        small, factor = scale_to_max_side(gray, HOG_MAX_SIDE_PX)
        rects = self._hog(small, 1)
        boxes = np.array(
            [[r.left(), r.top(), r.right(), r.bottom()] for r in rects], np.float64
        ).reshape(-1, 4)
        boxes = np.round(boxes / factor).astype(np.int32)
        boxes = boxes[(boxes[:, 2] - boxes[:, 0]) >= min_side]
        boxes = boxes[inside_image(boxes, gray.shape[1], gray.shape[0])]
        if len(boxes):
            return boxes[np.argsort(-box_areas(boxes), kind="stable")], "hog"
        return self._cnn_boxes(frame_bgr, min_side), "cnn"

    def _cnn_boxes(self, frame_bgr: FrameBGR, min_side: int) -> BoxesXYXY:
        """Faces found by dlib's CNN (MMOD) detector, the last resort for photos."""
        import dlib

        if self._cnn is None:
            self._cnn = dlib.cnn_face_detection_model_v1(str(cnn_face_detector_path()))
        rgb = cv2.cvtColor(frame_bgr, cv2.COLOR_BGR2RGB)
        small, factor = scale_to_max_side(rgb, CNN_MAX_SIDE_PX)
        if min(small.shape[:2]) < CNN_MIN_SIDE_PX:  # smaller than the detector's own window
            return np.empty((0, 4), np.int32)
        try:
            detections = self._cnn(
                np.ascontiguousarray(small), 1 if max(small.shape[:2]) < 400 else 0
            )
        except RuntimeError:  # dlib refuses images its filters do not fit
            return np.empty((0, 4), np.int32)
        boxes = np.array(
            [[d.rect.left(), d.rect.top(), d.rect.right(), d.rect.bottom()] for d in detections],
            np.float64,
        ).reshape(-1, 4)
        boxes = np.round(boxes / factor).astype(np.int32)
        boxes = boxes[(boxes[:, 2] - boxes[:, 0]) >= min_side * 0.8]  # MMOD boxes are tighter
        boxes = boxes[inside_image(boxes, frame_bgr.shape[1], frame_bgr.shape[0])]
        return boxes[np.argsort(-box_areas(boxes), kind="stable")]

    def _other_faces(self, frame_bgr: FrameBGR, boxes: BoxesXYXY) -> int:
        """Faces besides the largest that are real rivals: at least half as wide, apart from
        it, and with an eye inside (the face cascade alone also fires on necks and clothing)."""
        gray = to_gray(frame_bgr)
        areas = box_areas(boxes)
        main = boxes[0]
        rivals = 0
        for box, area in zip(boxes[1:], areas[1:]):
            if area < SEVERAL_FACES_AREA_RATIO * areas[0]:
                continue
            overlap_w = min(main[2], box[2]) - max(main[0], box[0])
            overlap_h = min(main[3], box[3]) - max(main[1], box[1])
            if overlap_w > 0 and overlap_h > 0 and overlap_w * overlap_h > 0.2 * area:
                continue
            if self._photo_detector.count_eyes(gray, box) > 0:
                rivals += 1
        return rivals

    def encode_box(
        self, frame_bgr: FrameBGR, box_xyxy: BoxXYXY, detector: str = "haar"
    ) -> FaceSample:
        """Landmarks, alignment and embedding of the face in one box."""
        gray = to_gray(frame_bgr)
        landmarks = self.models.landmarks.predict(gray, box_xyxy)
        return self.encode_landmarks(frame_bgr, landmarks, box_xyxy, detector)

    def encode_landmarks(
        self, frame_bgr: FrameBGR, landmarks: Landmarks, box_xyxy: BoxXYXY, detector: str = "haar"
    ) -> FaceSample:
        """Alignment and embedding (of every model the settings use) from landmarks already
        found."""
        face_rgb = align_face(frame_bgr, landmarks, self.settings.recognition.crop_margin)
        embedding = self.models.embedder.embed(face_rgb)
        box = np.asarray(box_xyxy, np.int32)
        embeddings = {getattr(self.models.embedder, "model_id", self.settings.recognition.model_id):
                      embedding}
        if self.models.dlib_encoder is not None and self.settings.recognition.fusion:
            embeddings[self.models.dlib_encoder.model_id] = self.models.dlib_encoder.embed_landmarks(
                frame_bgr, landmarks, box
            )
        return FaceSample(box, landmarks, face_rgb, embedding, detector, embeddings)

    def encode_photo(self, frame_bgr: FrameBGR, name: str = "image", single: bool = True) -> FaceSample:
        """The one face of a photo.

        Args:
            single: refuse photos with several faces of similar size (enrolment); otherwise
                take the largest.

        Raises:
            ImageError: no face, or several faces when ``single``.
        """
        if frame_bgr is None or frame_bgr.size == 0:
            raise ImageError(f"{name}: the image is empty")
        try:
            boxes, detector = self.find_faces(frame_bgr)
        except (ValueError, cv2.error) as exc:
            raise ImageError(f"{name}: unusable image: {exc}") from exc
        if len(boxes) == 0:
            raise ImageError(f"{name}: no face found")
        if single and len(boxes) > 1:
            others = self._other_faces(frame_bgr, boxes)
            if others:
                raise ImageError(
                    f"{name}: {others + 1} faces found; use a photo of this person alone"
                )
        return self.encode_box(frame_bgr, boxes[0], detector)

    def encode_file(self, path: str | Path, single: bool = True) -> FaceSample:
        """:meth:`encode_photo` of a file, read under the photo limits of the settings (see
        :func:`kiosk.images.read_image` for the errors)."""
        frame_bgr = self._read(path)
        return self.encode_photo(frame_bgr, printable(str(path)), single)

    def _read(self, path: str | Path) -> FrameBGR:
        recognition = self.settings.recognition
        return read_image(path, max_bytes=recognition.max_photo_bytes,
                          max_pixels=recognition.max_photo_pixels)

    def encode_models(self, frame_bgr: FrameBGR, sample: FaceSample) -> dict[str, Embedding]:
        """``{model_id: embedding}`` of a face already encoded by FaceNet: FaceNet's, plus
        dlib's ResNet embedding (from the frame and the sample's landmarks) with fusion on."""
        embeddings = {self.models.embedder.model_id: sample.embedding}
        if self.models.dlib_encoder is not None:
            dlib_id = self.models.dlib_encoder.model_id
            embeddings[dlib_id] = sample.embeddings.get(dlib_id)
            if embeddings[dlib_id] is None:
                embeddings[dlib_id] = self.models.dlib_encoder.embed_landmarks(
                    frame_bgr, sample.landmarks, sample.box_xyxy
                )
        return embeddings

    def encode_file_models(self, path: str | Path, single: bool = True) -> dict[str, Embedding]:
        """:meth:`encode_models` of the face of a photo file (errors as :meth:`encode_file`)."""
        frame_bgr = self._read(path)
        return self.encode_models(frame_bgr, self.encode_photo(frame_bgr, printable(str(path)), single))

    def reembed_crop(self, crop_jpeg: bytes) -> dict[str, Embedding]:
        """``{model_id: embedding}`` of a stored aligned crop (160x160 JPEG), to migrate a
        gallery enrolled before a model was added or changed.

        FaceNet gets the crop as it is. For dlib the crop (FaceNet's box squashed to a square)
        is first stretched back to a typical face box's height (:func:`kiosk.dlib_encoder.
        crop_to_frame`), then its chip is cut as from a frame (the HOG box near the face,
        landmarks in it). These dlib embeddings are a little less accurate than those of photos
        or live faces (docs/RECOGNITION.md): re-enrolling from photos is better when possible.

        Raises:
            ImageError: not a decodable 160x160 crop.
        """
        frame_bgr = decode_image(crop_jpeg, "stored crop")
        if frame_bgr.shape[:2] != (160, 160):
            raise ImageError(f"stored crop: expected 160x160, got {frame_bgr.shape[1]}x{frame_bgr.shape[0]}")
        face_rgb = cv2.cvtColor(frame_bgr, cv2.COLOR_BGR2RGB)
        embeddings = {self.models.embedder.model_id: self.models.embedder.embed(face_rgb)}
        if self.models.dlib_encoder is not None:
            box = crop_landmarks_box()
            unstretched_bgr = crop_to_frame(face_rgb)
            landmarks = self.models.landmarks.predict(to_gray(unstretched_bgr), box)
            embeddings[self.models.dlib_encoder.model_id] = self.models.dlib_encoder.embed_landmarks(
                unstretched_bgr, landmarks, box
            )
        return embeddings
