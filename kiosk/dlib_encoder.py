"""dlib's ResNet face encoder (``dlib_face_recognition_resnet_model_v1.dat`` from the
``face-recognition-models`` package), used through dlib directly as a second embedding.

dlib's authors report 99.38 % on LFW and use 0.6 as the same-person distance threshold. The
network wants dlib's own 150x150 chip (``dlib.get_face_chip``: a similarity transform from the
68 landmarks, padding 0.25), cut from the original frame; the kiosk's FaceNet crop is
stretched (not aspect-preserving), so a chip cut from it is worse (docs/RECOGNITION.md).
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from kiosk.types import BoxXYXY, Embedding, FaceRGB, FrameBGR, Landmarks

DLIB_MODEL_ID = "dlib-resnet-v1"
DLIB_EMBEDDING_SIZE = 128
DLIB_AUTHORS_THRESHOLD = 0.6  # dlib's documented same-person distance
CHIP_SIZE_PX = 150
CHIP_PADDING = 0.25
# Where the face sits in the kiosk's 160x160 FaceNet crop (margin 0.17 of the box width on
# each side), as a box for the landmark predictor when only a stored crop is left.
CROP_FACE_BOX_XYXY = (20, 24, 140, 156)


class DlibResNetEncoder:
    """128-d dlib ResNet embeddings.

    Args:
        model_path: ``dlib_face_recognition_resnet_model_v1.dat``.
    """

    model_id = DLIB_MODEL_ID

    def __init__(self, model_path: str | Path) -> None:
        import dlib  # imported here so that `import kiosk` stays light

        self._dlib = dlib
        self.model_path = Path(model_path)
        self._model = dlib.face_recognition_model_v1(str(model_path))

    def embed_landmarks(self, frame_bgr: FrameBGR, landmarks: Landmarks, box_xyxy: BoxXYXY) -> Embedding:
        """The embedding of the face with these 68 landmarks (frame pixels), shape (128,).

        Raises:
            ValueError: ``landmarks`` is not (68, 2).
        """
        landmarks = np.asarray(landmarks)
        if landmarks.shape != (68, 2):
            raise ValueError(f"landmarks must be (68, 2), got {landmarks.shape}")
        dlib = self._dlib
        x0, y0, x1, y1 = (int(v) for v in box_xyxy)
        shape = dlib.full_object_detection(
            dlib.rectangle(x0, y0, x1, y1),
            [dlib.point(int(round(float(x))), int(round(float(y)))) for x, y in landmarks],
        )
        frame_rgb = cv2.cvtColor(frame_bgr, cv2.COLOR_BGR2RGB)
        chip = dlib.get_face_chip(frame_rgb, shape, size=CHIP_SIZE_PX, padding=CHIP_PADDING)
        return np.asarray(self._model.compute_face_descriptor(chip), np.float32)


def crop_landmarks_box() -> np.ndarray:
    """:data:`CROP_FACE_BOX_XYXY` as an int32 array (x0, y0, x1, y1)."""
    return np.array(CROP_FACE_BOX_XYXY, np.int32)


def crop_to_frame(face_rgb: FaceRGB) -> FrameBGR:
    """A stored RGB crop as a BGR frame (for re-embedding it)."""
    return cv2.cvtColor(np.ascontiguousarray(face_rgb), cv2.COLOR_RGB2BGR)
