"""dlib's face-recognition ResNet read from its file and rebuilt for OpenVINO.

``dlib_face_recognition_resnet_model_v1.dat`` (``face-recognition-models``) is a network saved
with dlib's own serialization (``dlib/serialize.h``, ``dlib/dnn/core.h``, ``layers.h``,
``input.h``, ``loss.h`` in dlib's sources):

- an integer is a control byte (low 4 bits: how many little-endian bytes follow; bit 7: the
  sign) and those bytes; a string is its length as an integer, then its bytes; a bool is the
  character ``'1'`` or ``'0'``; a float is two integers, a mantissa and a binary exponent;
- a tensor is a version (2), its four sizes (samples, channels, rows, columns) and its values
  as little-endian float32; an alias tensor (a view into a layer's parameters) is a version
  (1) and four sizes;
- a network is written from the loss layer down: each layer writes its version, then the
  network below it, then its own settings and parameters, so the file holds every layer's
  version first (top to bottom), then the input layer, then each layer's parameters from the
  input up. Tag and skip layers (the wiring of the residual connections) write only their
  version: which tag an addition or a skip refers to is part of the C++ type, not of the file.

The wiring therefore comes from the type dlib declares for this file (``anet_type`` in dlib's
``dnn_face_recognition_ex.cpp`` and its Python binding): :func:`face_resnet_layers` spells it
out, and :func:`read_face_resnet` reads the file against it, checking every layer's name, sizes
and strides, so any other file is refused with the layer where it differs. The batch
normalisations are stored as ``bn_con`` with running statistics; dlib's loader turns them into
a per-channel scale and shift, and so does this reader.

:func:`build_openvino_model` builds the same computation with OpenVINO's opset (convolutions,
per-channel affine, ReLU, max and average pooling, the residual additions, where dlib pads the
smaller tensor with zeros, the global average and the last fully connected layer), input a
(N, 150, 150, 3) uint8 RGB chip. :func:`convert_to_openvino` saves it once into a cache
folder outside the project, like FaceNet's conversion (:mod:`kiosk.embed`).
"""

from __future__ import annotations

import hashlib
import math
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

CHIP_SIZE_PX = 150
DESCRIPTOR_SIZE = 128


class DlibNetFormatError(ValueError):
    """The file is not dlib's face-recognition ResNet as this reader knows it."""


@dataclass(frozen=True, slots=True)
class LayerSpec:
    """One layer of the declared network (top to bottom order in :func:`face_resnet_layers`).

    Attributes:
        kind: ``con``, ``affine``, ``relu``, ``add_prev``, ``avg_pool``, ``max_pool``, ``fc``
            (layers with parameters or settings in the file), or ``tag`` / ``skip`` (wiring).
        size: filters (``con``) or outputs (``fc``); window side for pooling (0 = everything).
        kernel: the convolution's side.
        stride: the convolution's or pooling's stride.
        tag: the tag a ``tag`` sets, an ``add_prev`` adds, a ``skip`` goes back to.
    """

    kind: str
    size: int = 0
    kernel: int = 0
    stride: int = 1
    tag: int = 0


@dataclass
class NetLayer:
    """A layer as read from the file, in evaluation order (from the input up).

    Attributes:
        spec: what the declared network says it is.
        padding: (rows, columns) zero padding of a convolution or pooling.
        weights: ``con``: ``filters`` (filters, channels, k, k) and ``bias`` (filters,);
            ``affine``: ``scale`` and ``shift`` (channels,); ``fc``: ``weights`` (inputs,
            outputs) and ``bias`` (outputs,).
    """

    spec: LayerSpec
    padding: tuple[int, int] = (0, 0)
    weights: dict[str, np.ndarray] = field(default_factory=dict)


@dataclass
class FaceResNet:
    """dlib's face-recognition network as read from its file.

    Attributes:
        input_means_rgb: subtracted from each channel before dividing by 256.
        layers: from the input up.
        distance_threshold: the loss layer's same-person distance (0.6 in this file).
    """

    input_means_rgb: tuple[float, float, float]
    layers: list[NetLayer]
    distance_threshold: float


def _con(filters: int, kernel: int, stride: int) -> LayerSpec:
    return LayerSpec("con", filters, kernel, stride)


def _block(filters: int, stride: int) -> list[LayerSpec]:
    """dlib's ``block``: affine(con 3x3 (relu(affine(con 3x3 / stride)))), top to bottom."""
    return [LayerSpec("affine"), _con(filters, 3, 1), LayerSpec("relu"), LayerSpec("affine"),
            _con(filters, 3, stride)]


def _ares(filters: int) -> list[LayerSpec]:
    """relu(add_prev1(block(tag1(x)))): the residual block that keeps the size."""
    return [LayerSpec("relu"), LayerSpec("add_prev", tag=1), *_block(filters, 1),
            LayerSpec("tag", tag=1)]


def _ares_down(filters: int) -> list[LayerSpec]:
    """relu(add_prev2(avg_pool 2x2/2(skip1(tag2(block/2(tag1(x))))))): the one that halves it."""
    return [LayerSpec("relu"), LayerSpec("add_prev", tag=2), LayerSpec("avg_pool", 2, stride=2),
            LayerSpec("skip", tag=1), LayerSpec("tag", tag=2), *_block(filters, 2),
            LayerSpec("tag", tag=1)]


def face_resnet_layers() -> list[LayerSpec]:
    """The layers of dlib's ``anet_type`` (face recognition), top (the 128-d output) to bottom."""
    levels = [
        *_ares_down(256),                                   # level 0
        *_ares(256), *_ares(256), *_ares_down(256),         # level 1
        *_ares(128), *_ares(128), *_ares_down(128),         # level 2
        *_ares(64), *_ares(64), *_ares(64), *_ares_down(64),  # level 3
        *_ares(32), *_ares(32), *_ares(32),                 # level 4
    ]
    return [LayerSpec("fc", DESCRIPTOR_SIZE), LayerSpec("avg_pool", 0, stride=1), *levels,
            LayerSpec("max_pool", 3, stride=2), LayerSpec("relu"), LayerSpec("affine"),
            _con(32, 7, 2)]


class _Stream:
    """dlib's serialized values read in order from bytes."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def fail(self, what: str) -> DlibNetFormatError:
        return DlibNetFormatError(f"at byte {self.pos}: {what}")

    def byte(self) -> int:
        if self.pos >= len(self.data):
            raise self.fail("unexpected end of file")
        value = self.data[self.pos]
        self.pos += 1
        return value

    def int(self) -> int:
        control = self.byte()
        size = control & 0x0F
        if size == 0 or size > 8:
            raise self.fail(f"bad integer control byte 0x{control:02x}")
        raw = self.data[self.pos:self.pos + size]
        if len(raw) != size:
            raise self.fail("unexpected end of file")
        self.pos += size
        value = int.from_bytes(raw, "little")
        return -value if control & 0x80 else value

    def float(self) -> float:
        mantissa, exponent = self.int(), self.int()
        special = {32000: math.inf, 32001: -math.inf, 32002: math.nan}
        return special[exponent] if exponent in special else math.ldexp(mantissa, exponent)

    def string(self) -> str:
        length = self.int()
        raw = self.data[self.pos:self.pos + length]
        if len(raw) != length:
            raise self.fail("unexpected end of file")
        self.pos += length
        return raw.decode("latin-1")

    def bool(self) -> bool:
        value = self.byte()
        if value not in (ord("0"), ord("1")):
            raise self.fail(f"bad bool byte 0x{value:02x}")
        return value == ord("1")

    def tensor(self) -> np.ndarray:
        if self.int() != 2:
            raise self.fail("unknown tensor version")
        shape = tuple(self.int() for _ in range(4))
        count = int(np.prod(shape))
        end = self.pos + 4 * count
        if end > len(self.data):
            raise self.fail("unexpected end of file in a tensor")
        values = np.frombuffer(self.data, "<f4", count, self.pos).reshape(shape)
        self.pos = end
        return values.astype(np.float32)

    def alias_tensor(self) -> tuple[int, ...]:
        if self.int() != 1:
            raise self.fail("unknown alias tensor version")
        return tuple(self.int() for _ in range(4))

    def expect(self, actual: Any, wanted: Any, what: str) -> None:
        if actual != wanted:
            raise self.fail(f"{what}: expected {wanted!r}, found {actual!r}")


def _read_con(stream: _Stream, spec: LayerSpec) -> NetLayer:
    version = stream.string()
    if version not in ("con_4", "con_5", "con_6"):
        raise stream.fail(f"expected a convolution (con_4..6), found {version!r}")
    params = stream.tensor().ravel()
    filters = stream.int()
    rows, cols, stride_y, stride_x = (stream.int() for _ in range(4))
    padding = (stream.int(), stream.int())
    filters_shape, bias_shape = stream.alias_tensor(), stream.alias_tensor()
    for _ in range(4):  # learning-rate and weight-decay multipliers
        stream.float()
    use_bias = stream.bool() if version in ("con_5", "con_6") else True
    if version == "con_6" and stream.bool():
        raise stream.fail("a convolution with a fused ReLU is not supported")
    stream.expect((filters, rows, cols, stride_y, stride_x),
                  (spec.size, spec.kernel, spec.kernel, spec.stride, spec.stride), "convolution")
    weight_count = int(np.prod(filters_shape))
    weights = {"filters": params[:weight_count].reshape(filters_shape[:4])}
    bias = params[weight_count:weight_count + int(np.prod(bias_shape))]
    weights["bias"] = bias if use_bias and len(bias) == filters else np.zeros(filters, np.float32)
    return NetLayer(spec, padding, weights)


def _read_affine(stream: _Stream, spec: LayerSpec) -> NetLayer:
    version = stream.string()
    if version == "bn_con2":  # batch normalisation with its running statistics
        params = stream.tensor().ravel()
        gamma_shape, _ = stream.alias_tensor(), stream.alias_tensor()
        for _ in range(2):  # the last batch's means and inverse deviations (training only)
            stream.tensor()
        running_means, running_variances = stream.tensor().ravel(), stream.tensor().ravel()
        stream.int()  # num_updates
        stream.int()  # running_stats_window_size
        for _ in range(4):  # learning-rate and weight-decay multipliers
            stream.float()
        eps = stream.float()
        channels = int(np.prod(gamma_shape))
        gamma, beta = params[:channels], params[channels:2 * channels]
        # dlib's affine_(bn_): scale = gamma / sqrt(var + eps), shift = beta - scale * mean
        scale = gamma / np.sqrt(running_variances + np.float32(eps))
        return NetLayer(spec, weights={"scale": scale.astype(np.float32),
                                       "shift": (beta - scale * running_means).astype(np.float32)})
    if version not in ("affine_", "affine_2"):
        raise stream.fail(f"expected an affine or bn_con layer, found {version!r}")
    params = stream.tensor().ravel()
    gamma_shape, _ = stream.alias_tensor(), stream.alias_tensor()
    if stream.int() != 0:  # dlib's layer_mode: 0 = per channel (CONV_MODE)
        raise stream.fail("expected an affine layer in per-channel mode")
    if version == "affine_2" and stream.bool():
        raise stream.fail("a disabled affine layer is not supported")
    channels = int(np.prod(gamma_shape))
    return NetLayer(spec, weights={"scale": params[:channels], "shift": params[channels:2 * channels]})


def _read_pool(stream: _Stream, spec: LayerSpec) -> NetLayer:
    name = "max_pool_2" if spec.kind == "max_pool" else "avg_pool_2"
    stream.expect(stream.string(), name, "pooling layer")
    rows, cols, stride_y, stride_x = (stream.int() for _ in range(4))
    padding = (stream.int(), stream.int())
    stream.expect((rows, cols, stride_y, stride_x),
                  (spec.size, spec.size, spec.stride, spec.stride), name)
    return NetLayer(spec, padding)


def _read_fc(stream: _Stream, spec: LayerSpec) -> NetLayer:
    version = stream.string()
    if version not in ("fc_2", "fc_3"):
        raise stream.fail(f"expected a fully connected layer (fc_2, fc_3), found {version!r}")
    outputs, inputs = stream.int(), stream.int()
    params = stream.tensor().ravel()
    weights_shape, _ = stream.alias_tensor(), stream.alias_tensor()
    has_bias = stream.int() == 0  # dlib's fc_bias_mode: 0 has a bias, 1 has none
    for _ in range(4):
        stream.float()
    if version == "fc_3":
        has_bias = stream.bool() and has_bias
    stream.expect(outputs, spec.size, "fully connected outputs")
    stream.expect(weights_shape[:2], (inputs, outputs), "fully connected weights")
    count = inputs * outputs
    weights = {"weights": params[:count].reshape(inputs, outputs)}
    weights["bias"] = params[count:count + outputs] if has_bias else np.zeros(outputs, np.float32)
    return NetLayer(spec, weights=weights)


def _read_simple(stream: _Stream, spec: LayerSpec) -> NetLayer:
    version = stream.string()
    if spec.kind == "relu":
        if version not in ("relu_", "relu_2"):
            raise stream.fail(f"expected relu, found {version!r}")
        if version == "relu_2" and stream.bool():
            raise stream.fail("a disabled relu is not supported")
    else:
        stream.expect(version, "add_prev_", "addition layer")
    return NetLayer(spec)


_READERS = {"con": _read_con, "affine": _read_affine, "relu": _read_simple,
            "add_prev": _read_simple, "avg_pool": _read_pool, "max_pool": _read_pool,
            "fc": _read_fc}


def read_face_resnet(model_path: str | Path) -> FaceResNet:
    """Read ``dlib_face_recognition_resnet_model_v1.dat`` against :func:`face_resnet_layers`.

    Raises:
        DlibNetFormatError: the file is not that network (the message gives the byte and what
            was expected there).
        OSError: the file cannot be read.
    """
    stream = _Stream(Path(model_path).read_bytes())
    stream.expect(stream.int(), 1, "loss layer version")
    loss = stream.string()
    if loss not in ("loss_metric_", "loss_metric_2"):
        raise stream.fail(f"expected dlib's metric loss, found {loss!r}")
    distance_threshold = 0.75
    if loss == "loss_metric_2":
        stream.float()  # margin
        distance_threshold = stream.float()
    specs = face_resnet_layers()
    versions = []
    for index, spec in enumerate(specs):
        version = stream.int()
        bottom = index == len(specs) - 1
        allowed = (1,) if spec.kind in ("tag", "skip") else (2, 3) if bottom else (1, 2)
        if version not in allowed:
            raise stream.fail(f"layer {index} from the top ({spec.kind}): version {version}, "
                              f"expected {' or '.join(map(str, allowed))}")
        versions.append(version)
    input_kind = stream.string()
    if input_kind not in ("input_rgb_image_sized", "input_rgb_image"):
        raise stream.fail(f"expected an RGB image input, found {input_kind!r}")
    means = (stream.float(), stream.float(), stream.float())
    if input_kind == "input_rgb_image_sized":
        stream.expect((stream.int(), stream.int()), (CHIP_SIZE_PX, CHIP_SIZE_PX), "input size")
    layers = []
    for index in range(len(specs) - 1, -1, -1):
        spec = specs[index]
        if spec.kind in ("tag", "skip"):
            layers.append(NetLayer(spec))
            continue
        layers.append(_READERS[spec.kind](stream, spec))
        for _ in range(3):  # set-up and gradient flags
            stream.bool()
        stream.tensor()  # x_grad
        stream.tensor()  # cached_output
        if index == len(specs) - 1:
            stream.tensor()  # grad_final
            if versions[index] == 3:
                stream.int()  # sample expansion factor
        elif versions[index] == 2:
            stream.tensor()  # params_grad
    if stream.pos != len(stream.data):
        raise stream.fail(f"{len(stream.data) - stream.pos} bytes left after the network")
    return FaceResNet(means, layers, distance_threshold)


def build_openvino_model(net: FaceResNet) -> Any:
    """The network as an OpenVINO model: input ``chip_rgb`` (N, 150, 150, 3) uint8, dlib's
    150x150 RGB chip; output ``descriptor`` (N, 128) float32, dlib's face descriptor."""
    from kiosk.embed import import_openvino

    ov = import_openvino()
    import openvino.opset13 as ops

    def const(values: np.ndarray) -> Any:
        return ops.constant(np.ascontiguousarray(values, np.float32))

    def per_channel(values: np.ndarray) -> Any:
        return const(np.asarray(values, np.float32).reshape(1, -1, 1, 1))

    chip = ops.parameter([-1, CHIP_SIZE_PX, CHIP_SIZE_PX, 3], ov.Type.u8, name="chip_rgb")
    x = ops.transpose(ops.convert(chip, "f32"), ops.constant(np.array([0, 3, 1, 2], np.int64)))
    x = ops.multiply(ops.subtract(x, per_channel(np.array(net.input_means_rgb))),
                     const(np.array(1.0 / 256.0)))
    shape = (3, CHIP_SIZE_PX, CHIP_SIZE_PX)  # channels, rows, columns of x
    tags: dict[int, tuple[Any, tuple[int, int, int]]] = {}
    for layer in net.layers:
        spec = layer.spec
        pad_y, pad_x = layer.padding
        if spec.kind == "con":
            filters = layer.weights["filters"]
            x = ops.convolution(x, const(filters), [spec.stride] * 2, [pad_y, pad_x],
                                [pad_y, pad_x], [1, 1])
            x = ops.add(x, per_channel(layer.weights["bias"]))
            shape = (filters.shape[0], (shape[1] + 2 * pad_y - spec.kernel) // spec.stride + 1,
                     (shape[2] + 2 * pad_x - spec.kernel) // spec.stride + 1)
        elif spec.kind == "affine":
            x = ops.add(ops.multiply(x, per_channel(layer.weights["scale"])),
                        per_channel(layer.weights["shift"]))
        elif spec.kind == "relu":
            x = ops.relu(x)
        elif spec.kind in ("max_pool", "avg_pool") and spec.size == 0:
            x = ops.reduce_mean(x, ops.constant(np.array([2, 3], np.int64)), True)
            shape = (shape[0], 1, 1)
        elif spec.kind in ("max_pool", "avg_pool"):
            pool = ops.max_pool if spec.kind == "max_pool" else ops.avg_pool
            args: list[Any] = [[spec.stride] * 2]
            if spec.kind == "max_pool":
                args.append([1, 1])  # dilations
            args += [[pad_y, pad_x], [pad_y, pad_x], [spec.size] * 2]
            if spec.kind == "avg_pool":
                args.append(False)  # padding counted: dlib divides by the window
            x = pool(x, *args, rounding_type="floor")
            if spec.kind == "max_pool":
                x = x.output(0)
            shape = (shape[0], (shape[1] + 2 * pad_y - spec.size) // spec.stride + 1,
                     (shape[2] + 2 * pad_x - spec.size) // spec.stride + 1)
        elif spec.kind == "tag":
            tags[spec.tag] = (x, shape)
        elif spec.kind == "skip":
            x, shape = tags[spec.tag]
        elif spec.kind == "add_prev":
            other, other_shape = tags[spec.tag]
            # dlib adds tensors of different sizes as if the smaller were padded with zeros
            # at the end of each dimension
            joint = tuple(max(a, b) for a, b in zip(shape, other_shape))
            x = ops.add(_zero_pad(ops, x, shape, joint), _zero_pad(ops, other, other_shape, joint))
            shape = joint
        elif spec.kind == "fc":
            x = ops.reshape(x, ops.constant(np.array([0, -1], np.int64)), True)
            x = ops.add(ops.matmul(x, const(layer.weights["weights"]), False, False),
                        const(layer.weights["bias"]))
    result = ops.result(x)
    result.output(0).get_tensor().set_names({"descriptor"})
    return ov.Model([result], [chip], "dlib_face_recognition_resnet_v1")


def _zero_pad(ops: Any, x: Any, shape: tuple[int, int, int], joint: tuple[int, int, int]) -> Any:
    if shape == joint:
        return x
    ends = np.array([0, *(j - s for s, j in zip(shape, joint))], np.int64)
    return ops.pad(x, ops.constant(np.zeros(4, np.int64)), ops.constant(ends), "constant",
                   ops.constant(np.float32(0)))


def openvino_cache_path(model_path: str | Path, cache_dir: str | Path = "") -> Path:
    """Where the OpenVINO model (``.xml`` and ``.bin``) built from a dlib file is cached.

    The name carries the file's SHA-256 (first 16 hex digits) and the OpenVINO version, so
    another file or runtime never reuses a stale model. ``cache_dir`` "" is the system's
    temporary folder.
    """
    from importlib.metadata import version as package_version

    digest = hashlib.sha256(Path(model_path).read_bytes()).hexdigest()[:16]
    folder = Path(cache_dir) if cache_dir else Path(tempfile.gettempdir())
    return folder / f"kiosk-dlib-resnet-{digest}-openvino-{package_version('openvino')}.xml"


def convert_to_openvino(model_path: str | Path, xml_path: Path) -> None:
    """Read the dlib file, build the OpenVINO model and save it at ``xml_path`` (float32).

    The two files are written under temporary names and renamed, the ``.bin`` first, so a
    second process never reads half a model.

    Raises:
        DlibNetFormatError: see :func:`read_face_resnet`.
    """
    from kiosk.embed import import_openvino

    ov = import_openvino()
    model = build_openvino_model(read_face_resnet(model_path))
    xml_path.parent.mkdir(parents=True, exist_ok=True)
    partial = xml_path.with_name(f"{xml_path.stem}.{os.getpid()}.part.xml")
    ov.save_model(model, str(partial), compress_to_fp16=False)
    os.replace(partial.with_suffix(".bin"), xml_path.with_suffix(".bin"))
    os.replace(partial, xml_path)
