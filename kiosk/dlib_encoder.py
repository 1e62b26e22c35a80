"""dlib's ResNet face encoder (``dlib_face_recognition_resnet_model_v1.dat`` from the
``face-recognition-models`` package), the second embedding of the fused decision.

dlib's authors report 99.38 % on LFW and use 0.6 as the same-person distance threshold. The
network wants dlib's own 150x150 chip (``dlib.get_face_chip``: a similarity transform from the
landmarks, padding 0.25), cut from the original frame, and landmarks found the way dlib's
predictors were trained: inside a box of dlib's HOG face detector. The kiosk's gate is a Haar
cascade, whose boxes sit differently on the face; the landmarks found in them give dlib a
slightly different chip and cost about a point of accuracy (docs/RECOGNITION.md). So
:meth:`DlibResNetEncoder.embed_landmarks` looks for the HOG box in a small region around the
face (:func:`hog_box_near`), finds the 68 landmarks again inside it, and cuts the chip from
those; when HOG finds no face there, the kiosk's own landmarks are used.

The network runs on OpenVINO (:mod:`kiosk.dlib_net` reads dlib's file and rebuilds it,
converted once and cached: the same numbers as dlib's within 1e-6, about 10x faster than the
``dlib-bin`` wheel, which is built without BLAS) or on dlib itself (``[recognition]
dlib_backend = "dlib"``, and the fallback when the conversion fails, logged with its reason).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from kiosk.types import BoxXYXY, Embedding, FaceRGB, FrameBGR, Landmarks

log = logging.getLogger(__name__)

# The id stored with each embedding. The chip changed with the HOG box (first id:
# "dlib-resnet-v1", landmarks from the Haar box): stored images are re-embedded from their crops.
DLIB_MODEL_ID = "dlib-resnet-v1/hog-box"
DLIB_EMBEDDING_SIZE = 128
DLIB_AUTHORS_THRESHOLD = 0.6  # dlib's documented same-person distance
DLIB_BACKENDS = ("openvino", "dlib")
CHIP_SIZE_PX = 150
CHIP_PADDING = 0.25
HOG_REGION_MARGIN = 0.5  # the region searched around the face box, per side, of its width
CHIP_REGION_MARGIN = 1.0  # the part of the frame the chip is cut from, per side, of the box width
HOG_REGION_SIDE_PX = 200  # the region's width once scaled (the face about 100 px: HOG's range)
CHECK_TOLERANCE = 1e-4  # largest difference to dlib's own output accepted from OpenVINO
# Where the face sits in the kiosk's 160x160 FaceNet crop (margin 0.17 of the box width on
# each side), as a box for the landmark predictor when only a stored crop is left.
CROP_FACE_BOX_XYXY = (20, 24, 140, 156)
# FaceNet's crop is its box (taller than wide) resized to a square. Before dlib's chip is cut
# from a stored crop, the crop is stretched back to this height / width, the median of the
# boxes of lfw-dev's 807 faces (5-95 %: 1.13-1.37); dlib alone, gallery re-embedded from crops
# against probes from photos: 97.2 % -> 98.0 %, TAR 92.3 -> 97.0 % (docs/RECOGNITION.md).
CROP_HEIGHT_OVER_WIDTH = 1.234


def hog_box_near(hog: Any, frame_rgb: np.ndarray, box_xyxy: BoxXYXY) -> np.ndarray | None:
    """The box dlib's HOG detector gives the face in ``box_xyxy`` (any detector's), or None.

    HOG runs on the region around the box (:data:`HOG_REGION_MARGIN` of its width on each
    side) scaled to :data:`HOG_REGION_SIDE_PX` wide, not on the whole frame, so its cost does
    not depend on the frame's size (a few ms).

    Returns:
        ``(x0, y0, x1, y1)`` int32 in frame pixels (the largest face found), or None.
    """
    x0, y0, x1, y1 = (float(v) for v in box_xyxy)
    pad = HOG_REGION_MARGIN * (x1 - x0)
    rx0, ry0 = x0 - pad, y0 - pad
    scale = HOG_REGION_SIDE_PX / max(1.0, x1 - x0 + 2 * pad)
    height_px = max(1, int(round((y1 - y0 + 2 * pad) * scale)))
    to_region = np.array([[scale, 0.0, -rx0 * scale], [0.0, scale, -ry0 * scale]])
    region = cv2.warpAffine(
        frame_rgb, to_region, (HOG_REGION_SIDE_PX, height_px),
        flags=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT,
    )
    detections = hog(region, 0)
    if len(detections) == 0:
        return None
    found = max(detections, key=lambda rect: rect.area())
    corners = np.array([found.left(), found.top(), found.right(), found.bottom()], np.float64)
    return np.round(corners / scale + [rx0, ry0, rx0, ry0]).astype(np.int32)


class DlibResNetEncoder:
    """128-d dlib ResNet embeddings.

    Args:
        model_path: ``dlib_face_recognition_resnet_model_v1.dat``.
        shape_predictor_path: dlib's 68-point predictor (for the landmarks in the HOG box).
        backend: ``"openvino"`` (converted from the file at first use, cached in
            ``cache_dir``) or ``"dlib"`` (dlib's own runtime).
        threads: OpenVINO's threads (dlib's runtime uses one).
        cache_dir: folder of the converted model ("" = the system's temporary folder).

    Attributes:
        backend: the runtime in use (``"dlib"`` after a fallback).
        fallback_reason: why OpenVINO was not used ("" when it is, or was not asked for).

    Raises:
        ValueError: unknown ``backend``.
    """

    model_id = DLIB_MODEL_ID

    def __init__(
        self, model_path: str | Path, shape_predictor_path: str | Path, backend: str = "openvino",
        threads: int = 2, cache_dir: str | Path = "",
    ) -> None:
        if backend not in DLIB_BACKENDS:
            raise ValueError(f"backend must be one of {', '.join(DLIB_BACKENDS)}, got {backend!r}")
        import dlib  # imported here so that `import kiosk` stays light

        self._dlib = dlib
        self.model_path = Path(model_path)
        self.shape_predictor_path = Path(shape_predictor_path)
        self.threads = threads
        self.cache_dir = cache_dir
        self._predictor = dlib.shape_predictor(str(shape_predictor_path))
        self._hog = dlib.get_frontal_face_detector()
        self.fallback_reason = ""
        self.backend = backend
        if backend == "openvino":
            try:
                self._run_chips = self._openvino_runner(threads, cache_dir)
            except Exception as exc:  # noqa: BLE001 - any failure leaves dlib's runtime
                self.fallback_reason = f"{type(exc).__name__}: {exc}"
                log.warning("dlib's encoder on OpenVINO failed (%s); using dlib's own runtime "
                            "(slower, the same embeddings)", self.fallback_reason)
                self.backend = "dlib"
        if self.backend == "dlib":
            self._run_chips = self._dlib_runner()

    def _dlib_runner(self) -> Any:
        model = self._dlib.face_recognition_model_v1(str(self.model_path))

        def run(chips_rgb: np.ndarray) -> np.ndarray:
            return np.array([model.compute_face_descriptor(np.ascontiguousarray(chip))
                             for chip in chips_rgb], np.float32).reshape(-1, DLIB_EMBEDDING_SIZE)

        return run

    def _openvino_runner(self, threads: int, cache_dir: str | Path) -> Any:
        from kiosk.dlib_net import convert_to_openvino, openvino_cache_path
        from kiosk.embed import import_openvino

        ov = import_openvino()
        xml_path = openvino_cache_path(self.model_path, cache_dir)
        converted = False
        if not (xml_path.is_file() and xml_path.with_suffix(".bin").is_file()):
            convert_to_openvino(self.model_path, xml_path)
            converted = True
        compiled = ov.Core().compile_model(str(xml_path), "CPU", {
            "INFERENCE_PRECISION_HINT": "f32",  # bf16 (the default on some CPUs) differs by 3e-3
            "INFERENCE_NUM_THREADS": threads,
            "NUM_STREAMS": 1,
            "PERFORMANCE_HINT": "LATENCY",
        })
        request = compiled.create_infer_request()

        def run(chips_rgb: np.ndarray) -> np.ndarray:
            return np.array(request.infer([np.ascontiguousarray(chips_rgb, np.uint8)])[0],
                            np.float32)

        if converted:
            self._check_against_dlib(run, xml_path)
        return run

    def _check_against_dlib(self, run: Any, xml_path: Path) -> None:
        """After a conversion: the new model must give dlib's numbers on a test chip, else it
        is deleted (and the constructor falls back to dlib)."""
        chip = check_chip()
        expected = self._dlib_runner()(chip[None])
        difference = float(np.abs(run(chip[None]) - expected).max())
        if not difference <= CHECK_TOLERANCE:
            for path in (xml_path, xml_path.with_suffix(".bin")):
                path.unlink(missing_ok=True)
            raise RuntimeError(f"the converted model differs from dlib's by {difference:.2g}")

    def embed_chip(self, chip_rgb: FaceRGB) -> Embedding:
        """The embedding of one 150x150 RGB chip made as ``dlib.get_face_chip`` makes it."""
        if chip_rgb.shape != (CHIP_SIZE_PX, CHIP_SIZE_PX, 3):
            raise ValueError(f"chip_rgb must be (150, 150, 3), got {chip_rgb.shape}")
        return self._run_chips(chip_rgb[None])[0]

    def chip(self, frame_bgr: FrameBGR, landmarks: Landmarks, box_xyxy: BoxXYXY) -> FaceRGB:
        """dlib's 150x150 RGB chip of the face with these 68 landmarks (frame pixels), from
        the landmarks found again in the HOG box near ``box_xyxy`` (when HOG finds one).

        Only the part of the frame around the face (:data:`CHIP_REGION_MARGIN`) is converted
        and searched, at the frame's resolution; the chip lies well inside it, so it is the
        chip ``dlib.get_face_chip`` cuts from the whole frame.

        Raises:
            ValueError: ``landmarks`` is not (68, 2).
        """
        landmarks = np.asarray(landmarks)
        if landmarks.shape != (68, 2):
            raise ValueError(f"landmarks must be (68, 2), got {landmarks.shape}")
        dlib = self._dlib
        height, width = frame_bgr.shape[:2]
        # The region holds the box and the landmarks, whatever order the box's corners came in.
        xs = np.concatenate([np.asarray(box_xyxy, np.float64)[[0, 2]], landmarks[:, 0]])
        ys = np.concatenate([np.asarray(box_xyxy, np.float64)[[1, 3]], landmarks[:, 1]])
        x0, y0, x1, y1 = float(xs.min()), float(ys.min()), float(xs.max()), float(ys.max())
        margin = CHIP_REGION_MARGIN * max(1.0, x1 - x0)
        left, top = max(0, int(x0 - margin)), max(0, int(y0 - margin))
        right, bottom = min(width, int(np.ceil(x1 + margin))), min(height, int(np.ceil(y1 + margin)))
        if right <= left or bottom <= top:  # the face lies outside the frame: the whole frame
            left, top, right, bottom = 0, 0, width, height
        region_bgr = np.ascontiguousarray(frame_bgr[top:bottom, left:right])
        if region_bgr.ndim == 2:
            region_bgr = cv2.cvtColor(region_bgr, cv2.COLOR_GRAY2BGR)
        region_rgb = cv2.cvtColor(region_bgr, cv2.COLOR_BGR2RGB)
        offset = np.array([left, top, left, top])
        box_in_region = np.asarray(box_xyxy, np.float64) - offset
        hog_box = hog_box_near(self._hog, region_rgb, box_in_region)
        if hog_box is not None:
            shape = self._predictor(cv2.cvtColor(region_bgr, cv2.COLOR_BGR2GRAY),
                                    dlib.rectangle(*(int(v) for v in hog_box)))
        else:
            bx0, by0, bx1, by1 = (int(round(v)) for v in box_in_region)
            shape = dlib.full_object_detection(
                dlib.rectangle(bx0, by0, bx1, by1),
                [dlib.point(int(round(float(x) - left)), int(round(float(y) - top)))
                 for x, y in landmarks],
            )
        return np.asarray(dlib.get_face_chip(region_rgb, shape, size=CHIP_SIZE_PX,
                                             padding=CHIP_PADDING))

    def embed_landmarks(self, frame_bgr: FrameBGR, landmarks: Landmarks, box_xyxy: BoxXYXY) -> Embedding:
        """The embedding of the face with these 68 landmarks (frame pixels), shape (128,)
        (:meth:`chip`, then the network)."""
        return self.embed_chip(self.chip(frame_bgr, landmarks, box_xyxy))

    def another(self) -> DlibResNetEncoder:
        """A second encoder on the same files and settings, for another thread (the network
        keeps per-call buffers; the converted model is read from the cache)."""
        return DlibResNetEncoder(self.model_path, self.shape_predictor_path, self.backend,
                                 self.threads, self.cache_dir)

    def warm_up(self) -> None:
        """Run one call so that one-time set-up happens now, not at the first attendee."""
        self.embed_chip(check_chip())


def check_chip() -> FaceRGB:
    """A fixed 150x150 RGB test chip (smooth gradients and a pattern: every layer active)."""
    rows, cols = np.mgrid[0:CHIP_SIZE_PX, 0:CHIP_SIZE_PX].astype(np.float64)
    channels = [
        127 + 100 * np.sin(rows / 9.0) * np.cos(cols / 13.0),
        127 + 90 * np.cos((rows + cols) / 17.0),
        60 + rows + 0.3 * cols,
    ]
    return np.clip(np.stack(channels, axis=-1), 0, 255).astype(np.uint8)


def crop_landmarks_box() -> np.ndarray:
    """Where the face is in :func:`crop_to_frame`'s frame: :data:`CROP_FACE_BOX_XYXY` with its
    rows stretched like the frame, int32 (x0, y0, x1, y1)."""
    x0, y0, x1, y1 = CROP_FACE_BOX_XYXY
    return np.array([x0, int(y0 * CROP_HEIGHT_OVER_WIDTH), x1,
                     int(y1 * CROP_HEIGHT_OVER_WIDTH)], np.int32)


def crop_to_frame(face_rgb: FaceRGB) -> FrameBGR:
    """A stored RGB crop (for re-embedding it) as a BGR frame, its height stretched back to
    :data:`CROP_HEIGHT_OVER_WIDTH` of its width (FaceNet's crop squashed the face's box)."""
    height_px = int(round(face_rgb.shape[1] * CROP_HEIGHT_OVER_WIDTH))
    frame_bgr = cv2.cvtColor(np.ascontiguousarray(face_rgb), cv2.COLOR_RGB2BGR)
    return cv2.resize(frame_bgr, (face_rgb.shape[1], height_px), interpolation=cv2.INTER_LINEAR)
