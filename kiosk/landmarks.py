"""dlib 68-point landmarks on a face box (docs/ARCHITECTURE.md, stage 3).

Indices are dlib's 0-based order. The named slices below are used by alignment and liveness.
"""

from __future__ import annotations

import numpy as np

from kiosk.types import BoxXYXY, FrameGray, Landmarks

JAW = slice(0, 17)
RIGHT_BROW = slice(17, 22)
LEFT_BROW = slice(22, 27)
NOSE = slice(27, 36)
RIGHT_EYE = slice(36, 42)  # the subject's right eye, on the left of the image
LEFT_EYE = slice(42, 48)
MOUTH = slice(48, 68)


class LandmarkPredictor:
    """dlib's 68-point shape predictor.

    Args:
        model_path: path of ``shape_predictor_68_face_landmarks.dat``.
    """

    def __init__(self, model_path: str) -> None:
        import dlib  # imported here so that `import kiosk` stays light

        self._dlib = dlib
        self._predictor = dlib.shape_predictor(str(model_path))

    def predict(self, gray: FrameGray, box_xyxy: BoxXYXY) -> Landmarks:
        """68 landmarks, shape (68, 2) float32, in the pixels of ``gray``."""
        x0, y0, x1, y1 = (int(v) for v in box_xyxy)
        shape = self._predictor(gray, self._dlib.rectangle(x0, y0, x1, y1))
        return np.array([(p.x, p.y) for p in shape.parts()], dtype=np.float32)


def eye_centres(landmarks: Landmarks) -> tuple[np.ndarray, np.ndarray]:
    """Centres of the subject's right eye (image left) and left eye (image right), each (2,)."""
    return landmarks[RIGHT_EYE].mean(axis=0), landmarks[LEFT_EYE].mean(axis=0)
