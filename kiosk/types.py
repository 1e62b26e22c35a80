"""Array aliases and frozen value types shared by all stages.

Boxes are always ``xyxy`` int arrays in the pixel coordinates of the frame they were found in.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

FrameBGR = npt.NDArray[np.uint8]  # (H, W, 3)
FrameGray = npt.NDArray[np.uint8]  # (H, W)
FaceRGB = npt.NDArray[np.uint8]  # (160, 160, 3), the aligned FaceNet input
BoxXYXY = npt.NDArray[np.int32]  # (4,): x0, y0, x1, y1 (x1, y1 exclusive)
BoxesXYXY = npt.NDArray[np.int32]  # (N, 4)
Landmarks = npt.NDArray[np.float32]  # (68, 2): x, y in frame pixels, 0-based dlib order
Embedding = npt.NDArray[np.float32]  # (512,), L2-normalised
Embeddings = npt.NDArray[np.float32]  # (N, 512)


@dataclass(frozen=True, slots=True)
class Face:
    """One face that passed the face gate.

    Attributes:
        box_xyxy: the face box in frame pixels.
        eyes_found: how many eyes the eye cascade found inside the box.
        equalised: whether CLAHE was applied before detection (a dark or flat frame).
    """

    box_xyxy: BoxXYXY
    eyes_found: int
    equalised: bool

    @property
    def width_px(self) -> int:
        return int(self.box_xyxy[2] - self.box_xyxy[0])
