"""The photo input policy (kiosk/images.py): one loader, every format, bounded work.

Every photo the kiosk reads goes through ``read_image`` / ``decode_image``: only regular files,
at most ``max_bytes``, a format whose pixel size is read from its header, at most ``max_pixels``
before anything is decoded, and every failure an ``ImageError`` with the file name.
"""

from __future__ import annotations

import io
import os
import struct
import subprocess
import sys
import tempfile
import threading
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kiosk.images import (
    DEFAULT_MAX_BYTES,
    DEFAULT_MAX_PIXELS,
    ImageError,
    decode_image,
    read_header,
    read_image,
)

FUZZ = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
ROOT = Path(__file__).resolve().parents[2]
FORMATS = (".jpg", ".png", ".bmp", ".tiff", ".webp", ".gif")


def encoded(extension: str, shape: tuple[int, int] = (48, 64)) -> bytes:
    image = np.random.default_rng(1).integers(0, 256, (*shape, 3), dtype=np.uint8)
    ok, data = cv2.imencode(extension, image)
    assert ok
    return data.tobytes()


VALID = {ext: encoded(ext) for ext in FORMATS}


# -- headers that claim a size, one builder per format ---------------------------------------


def png_header(width: int, height: int) -> bytes:
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    chunk = b"IHDR" + ihdr
    return (b"\x89PNG\r\n\x1a\n" + struct.pack(">I", len(ihdr)) + chunk
            + struct.pack(">I", zlib.crc32(chunk)) + b"\x00" * 64)


def jpeg_header(width: int, height: int, comment_bytes: int = 0) -> bytes:
    """A JPEG whose SOF comes after ``comment_bytes`` of COM segments (65533 bytes each)."""
    segments = b""
    while comment_bytes > 0:
        size = min(comment_bytes, 65533)
        segments += b"\xff\xfe" + struct.pack(">H", size + 2) + b"c" * size
        comment_bytes -= size
    sof = b"\xff\xc0" + struct.pack(">HBHHB", 11, 8, height, width, 1) + b"\x01\x11\x00"
    return b"\xff\xd8\xff\xe0" + struct.pack(">H", 16) + b"JFIF\x00" + b"\x00" * 9 + segments + sof + b"\x00" * 64


def bmp_header(width: int, height: int) -> bytes:
    return (b"BM" + struct.pack("<IHHI", 54, 0, 0, 54)
            + struct.pack("<IiiHHIIiiII", 40, width, height, 1, 24, 0, 0, 2835, 2835, 0, 0)
            + b"\x00" * 256)


def tiff_header(width: int, height: int, tile: tuple[int, int] | None = None) -> bytes:
    tags = [(256, 4, width), (257, 4, height), (258, 3, 8), (259, 3, 1), (262, 3, 1),
            (273, 4, 8), (277, 3, 1), (278, 4, height), (279, 4, 64)]
    if tile is not None:
        tags += [(322, 4, tile[0]), (323, 4, tile[1])]
    tags.sort()
    ifd = struct.pack("<H", len(tags)) + b"".join(
        struct.pack("<HHII", tag, kind, 1, value) for tag, kind, value in tags
    ) + b"\x00\x00\x00\x00"
    return b"II*\x00" + struct.pack("<I", 72) + b"\x00" * 64 + ifd + b"\x00" * 64


def webp_header(width: int, height: int, kind: bytes = b"VP8L") -> bytes:
    if kind == b"VP8L":
        bits = (width - 1) & 0x3FFF | ((height - 1) & 0x3FFF) << 14
        payload = b"\x2f" + struct.pack("<I", bits) + b"\x00" * 64
    elif kind == b"VP8X":
        payload = (b"\x00" * 4 + ((width - 1) & 0xFFFFFF).to_bytes(3, "little")
                   + ((height - 1) & 0xFFFFFF).to_bytes(3, "little") + b"\x00" * 64)
    else:
        payload = b"\x00\x00\x00\x9d\x01\x2a" + struct.pack("<HH", width & 0x3FFF, height & 0x3FFF) + b"\x00" * 64
    chunk = kind + struct.pack("<I", len(payload)) + payload
    return b"RIFF" + struct.pack("<I", 4 + len(chunk)) + b"WEBP" + chunk


def gif_header(width: int, height: int, frame: tuple[int, int, int, int] | None = None) -> bytes:
    left, top, frame_w, frame_h = frame or (0, 0, width, height)
    return (b"GIF89a" + struct.pack("<HHBBB", width, height, 0, 0, 0)
            + b"\x21\xf9\x04\x00\x00\x00\x00\x00"  # graphic control extension
            + b"\x2c" + struct.pack("<HHHHB", left, top, frame_w, frame_h, 0)
            + b"\x02\x02\x44\x01\x00\x3b")


BUILDERS = {
    ".jpg": jpeg_header, ".png": png_header, ".bmp": bmp_header, ".tiff": tiff_header,
    ".webp": webp_header, ".gif": gif_header,
}


def decodes_or_refuses(data: bytes, name: str = "fuzz") -> None:
    """The policy's promise for any bytes: a frame within the limits, or an ImageError."""
    try:
        frame_bgr = decode_image(data, name)
    except ImageError as exc:
        assert str(exc).startswith(f"{name}: ")
        return
    assert frame_bgr.dtype == np.uint8 and frame_bgr.ndim == 3 and frame_bgr.shape[2] == 3
    assert 0 < frame_bgr.shape[0] * frame_bgr.shape[1] <= DEFAULT_MAX_PIXELS


# -- every format is read, and its size is checked before decoding --------------------------


@pytest.mark.parametrize("extension", FORMATS)
def test_every_accepted_format_decodes(tmp_path, extension):
    path = tmp_path / f"photo{extension}"
    path.write_bytes(VALID[extension])
    assert read_image(path).shape == (48, 64, 3)
    assert (read_header(io.BytesIO(VALID[extension])).width_px,
            read_header(io.BytesIO(VALID[extension])).height_px) == (64, 48)


@pytest.mark.parametrize(("name", "data"), [
    ("JPEG 10000x10000, SOF after a 70 KB comment", jpeg_header(10_000, 10_000, comment_bytes=70_000)),
    ("JPEG 10000x10000, SOF after 1 MB of comments", jpeg_header(10_000, 10_000, comment_bytes=1 << 20)),
    ("TIFF 20000x20000", tiff_header(20_000, 20_000)),
    ("TIFF 100x100 in 20000x20000 tiles", tiff_header(100, 100, tile=(20_000, 20_000))),
    ("WebP lossless 16000x16000", webp_header(16_000, 16_000, b"VP8L")),
    ("WebP extended 16000x16000", webp_header(16_000, 16_000, b"VP8X")),
    ("WebP lossy 16000x16000", webp_header(16_000, 16_000, b"VP8 ")),
    ("GIF 65535x65535", gif_header(65_535, 65_535)),
    ("GIF 10x10 with a frame at 60000,60000", gif_header(10, 10, (60_000, 60_000, 100, 100))),
    ("BMP 40000x40000", bmp_header(40_000, 40_000)),
    ("PNG 7000x7000", png_header(7000, 7000)),
])
def test_large_images_are_refused_from_the_header_in_every_format(tmp_path, name, data):
    path = tmp_path / "bomb"
    path.write_bytes(data)
    with pytest.raises(ImageError, match="too large"):
        read_image(path)
    with pytest.raises(ImageError, match="too large"):
        decode_image(data, "bomb")


def test_the_pixel_limit_is_a_parameter():
    data = VALID[".png"]
    assert decode_image(data, "x", max_pixels=64 * 48).shape == (48, 64, 3)
    with pytest.raises(ImageError, match="too large"):
        decode_image(data, "x", max_pixels=64 * 48 - 1)


@pytest.mark.parametrize("data", [
    b"\x00\x00\x00\x0cjP  \r\n\x87\n" + b"\x00" * 64,  # JPEG 2000
    b"#?RADIANCE\n" + b"\x00" * 64,
    b"PF\n10 10\n-1\n" + b"\x00" * 64,
    b"\x00\x00\x00\x1cftypavif" + b"\x00" * 64,
    b"hello, not an image",
])
def test_formats_whose_size_is_not_read_are_refused_before_decoding(data):
    with pytest.raises(ImageError, match="not accepted|not an image"):
        decode_image(data, "other")


def test_an_opencv_error_while_decoding_is_an_image_error():
    """With the pixel check lifted, OpenCV itself refuses 1.6 Gpx with cv2.error: it must
    reach the caller as the same ImageError, not as cv2.error."""
    with pytest.raises(ImageError, match="^big: not an image OpenCV can decode"):
        decode_image(bmp_header(40_000, 40_000), "big", max_pixels=10**10)


def test_the_header_is_read_without_reading_the_whole_file():
    class CountingStream(io.BytesIO):
        read_bytes = 0

        def read(self, size: int | None = -1) -> bytes:
            data = super().read(size)
            self.read_bytes += len(data)
            return data

    # a 3 MB JPEG whose size header comes after its comments: found by seeking past them
    stream = CountingStream(jpeg_header(640, 480, comment_bytes=3 << 20))
    header = read_header(stream)
    assert (header.format, header.width_px, header.height_px) == ("JPEG", 640, 480)
    assert stream.read_bytes < 4096


# -- only regular files, only up to the byte limit -------------------------------------------


def _in_thread(function, *args):
    """Run ``function`` in a daemon thread; (finished, result or exception)."""
    outcome: list[object] = []
    thread = threading.Thread(target=lambda: outcome.append(_call(function, *args)), daemon=True)
    thread.start()
    thread.join(60)  # a hang guard, not a timing assertion: the call must return at all
    return (not thread.is_alive()), (outcome[0] if outcome else None)


def _call(function, *args):
    try:
        return function(*args)
    except Exception as exc:  # noqa: BLE001 - returned to the test
        return exc


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="named pipes are POSIX only")
def test_a_named_pipe_is_refused_without_waiting(tmp_path):
    fifo = tmp_path / "photo.jpg"
    os.mkfifo(fifo)
    finished, result = _in_thread(read_image, fifo)
    assert finished, "read_image waited on a named pipe"
    assert isinstance(result, ImageError) and "named pipe" in str(result)


@pytest.mark.skipif(not Path("/dev/zero").exists(), reason="no /dev/zero")
def test_a_device_is_refused_without_reading_it():
    finished, result = _in_thread(read_image, "/dev/zero")
    assert finished
    assert isinstance(result, ImageError) and "a device" in str(result)


def test_a_file_over_the_byte_limit_is_refused_before_reading(tmp_path):
    huge = tmp_path / "huge.jpg"
    with huge.open("wb") as handle:  # sparse: no disk space used
        handle.write(VALID[".jpg"])
        handle.truncate(DEFAULT_MAX_BYTES + 1)
    with pytest.raises(ImageError, match="too large for a photo"):
        read_image(huge)
    small = tmp_path / "small.jpg"
    small.write_bytes(VALID[".jpg"])
    with pytest.raises(ImageError, match="too large for a photo"):
        read_image(small, max_bytes=len(VALID[".jpg"]) - 1)


def test_a_folder_is_refused(tmp_path):
    with pytest.raises(ImageError, match="folder"):
        read_image(tmp_path)


# -- fuzz: mutated headers and dimensions in every format, through the same loader -----------


@FUZZ
@given(st.sampled_from(FORMATS), st.data())
def test_fuzz_mutated_headers(extension, data):
    image = bytearray(VALID[extension])
    for _ in range(data.draw(st.integers(1, 6))):
        position = data.draw(st.integers(0, min(len(image), 96) - 1))
        image[position] = data.draw(st.integers(0, 255))
    decodes_or_refuses(bytes(image))


@FUZZ
@given(st.sampled_from(FORMATS), st.integers(0, 2**32 - 1), st.integers(0, 2**32 - 1),
       st.integers(0, 3000))
def test_fuzz_claimed_dimensions(extension, width, height, junk_bytes):
    """Any width and height a header field can hold, with junk where the pixels should be."""
    builder = BUILDERS[extension]
    limit = {".jpg": 0xFFFF, ".gif": 0xFFFF, ".webp": 0x3FFF, ".bmp": 0x7FFFFFFF}.get(extension, 2**32 - 1)
    header = builder(width % (limit + 1), height % (limit + 1))
    decodes_or_refuses(header + bytes(range(256)) * (junk_bytes // 256))


@FUZZ
@given(st.sampled_from(FORMATS), st.floats(0.0, 1.0), st.binary(max_size=64))
def test_fuzz_truncated_and_spliced(extension, fraction, tail):
    data = VALID[extension]
    decodes_or_refuses(data[: int(len(data) * fraction)] + tail)


def png_claiming_a_huge_chunk() -> bytes:
    """A valid 64x48 PNG whose first IDAT claims 1.2 GB: OpenCV allocated it (3.5 GB peak)."""
    data = bytearray(VALID[".png"])
    position = 8
    while data[position + 4 : position + 8] != b"IDAT":
        position += 12 + struct.unpack(">I", data[position : position + 4])[0]
    struct.pack_into(">I", data, position, 0x4A002000)
    return bytes(data)


def test_a_png_chunk_longer_than_the_file_is_refused_before_decoding():
    with pytest.raises(ImageError, match="chunk claims 1241522176 bytes"):
        decode_image(png_claiming_a_huge_chunk(), "chunk")


BOMBS = [
    png_claiming_a_huge_chunk(),
    jpeg_header(10_000, 10_000, comment_bytes=70_000), tiff_header(20_000, 20_000),
    tiff_header(100, 100, tile=(20_000, 20_000)), webp_header(16_000, 16_000),
    webp_header(16_000, 16_000, b"VP8X"), gif_header(65_535, 65_535), bmp_header(40_000, 40_000),
    png_header(20_000, 20_000),
]

MEMORY_SCRIPT = """
import sys
from pathlib import Path
sys.path.insert(0, "scripts")
from fuzz_images import peak_rss_mb
from kiosk.images import ImageError, read_image
base = peak_rss_mb()
refused = 0
for path in sorted(Path(sys.argv[1]).iterdir()):
    try:
        read_image(path)
    except ImageError:
        refused += 1
print(refused, int(peak_rss_mb() - base))
"""


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads the peak from /proc")
def test_bombs_in_every_format_stay_within_bounded_memory():
    """In a fresh process: the peak memory over all the bombs grows by less than 100 MB
    (decoding any one of them would take 0.3 to 12 GB; the PNG chunk one took 3.5 GB)."""
    folder = Path(tempfile.mkdtemp(prefix="kiosk-bombs-"))
    for number, data in enumerate(BOMBS):
        (folder / f"bomb{number}").write_bytes(data)
    result = subprocess.run(
        [sys.executable, "-c", MEMORY_SCRIPT, str(folder)], capture_output=True, text=True,
        cwd=ROOT, timeout=300,
    )
    assert result.returncode == 0, result.stderr
    refused, growth_mb = map(int, result.stdout.split())
    assert refused == len(BOMBS)
    assert growth_mb < 100


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads the peak from /proc")
def test_a_fixed_fuzz_run_stays_within_bounded_memory():
    """5,000 mutated files of the six formats in a fresh process (scripts/fuzz_images.py):
    no failure, and a peak under 1 GB (one PNG claiming a huge chunk once took 3.5 GB)."""
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "fuzz_images.py"), "--inputs", "5000",
         "--seconds", "600", "--seed", "7"],
        capture_output=True, text=True, cwd=ROOT, timeout=900,
    )
    assert result.returncode == 0, result.stdout[-2000:]
    figures = dict(line.split(": ", 1) for line in result.stdout.splitlines() if ": " in line)
    assert int(figures["inputs"]) == 5000 and int(figures["failures"]) == 0
    assert float(figures["peak_rss_mb"]) < 1000
