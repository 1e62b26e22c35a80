"""One input policy for every photo the kiosk reads (enrolment, ``identify``, folder enrolment).

A photo is decoded only when all of these hold, checked in this order:

1. it is a **regular file** (not a folder, a device such as ``/dev/zero``, a named pipe or a
   socket: those are refused without reading a byte, so nothing hangs or reads without end);
2. it is at most ``max_bytes`` long (``[recognition] max_photo_bytes``);
3. its **format is one whose pixel size is read from the header here** (JPEG, PNG, BMP, TIFF,
   WebP, GIF, PBM/PGM/PPM, Sun raster). Other formats OpenCV could decode (JPEG 2000, OpenEXR,
   Radiance HDR, PFM, PAM, AVIF...) and anything unknown are refused before decoding;
4. the pixel size read from the header (for a JPEG wherever its SOF marker is; for a TIFF also
   its tile or strip size; for a GIF also its first frame) is at most ``max_pixels``
   (``[recognition] max_photo_pixels``), and no PNG chunk claims more bytes than the file holds
   (OpenCV allocates what a chunk claims).

Only then is the file read (once, at most ``max_bytes``) and decoded by OpenCV; an OpenCV error
while decoding becomes the same :class:`ImageError` as every other refusal. The header is read
through a file object with seeks, so a large file is never copied to find its size.
"""

from __future__ import annotations

import io
import os
import stat
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import cv2
import numpy as np

from kiosk.names import printable
from kiosk.types import FrameBGR

DEFAULT_MAX_PIXELS = 40_000_000
DEFAULT_MAX_BYTES = 50_000_000
ACCEPTED_FORMATS = "JPEG, PNG, BMP, TIFF, WebP, GIF, PBM/PGM/PPM, Sun raster"
MAX_TEXT_HEADER_BYTES = 1 << 20  # PNM headers (with comments) longer than this are refused
MAX_GIF_BLOCKS = 100_000  # extension sub-blocks before the first frame of a GIF
MAX_PNG_CHUNKS = 200_000  # chunks in a PNG (a 50 MB PNG in 8 KB chunks has 6,000)
MAX_TIFF_ENTRIES = 4096  # directory entries of the first TIFF image
_CHUNK_BYTES = 1 << 16
_OPEN_FLAGS = getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0) | getattr(os, "O_BINARY", 0)

_JPEG_SOF = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}
_JPEG_STANDALONE = {0x01, 0xD8, *range(0xD0, 0xD8)}

# Formats OpenCV decodes whose size is not read here: refused by name.
_REFUSED_SIGNATURES = (
    (b"\x00\x00\x00\x0cjP  \r\n\x87\n", "JPEG 2000"),
    (b"\xff\x4f\xff\x51", "JPEG 2000"),
    (b"\x76\x2f\x31\x01", "OpenEXR"),
    (b"#?RADIANCE", "Radiance HDR"),
    (b"#?RGBE", "Radiance HDR"),
    (b"PF", "PFM"),
    (b"Pf", "PFM"),
    (b"P7", "PAM"),
)


class ImageError(ValueError):
    """A photo that cannot be used: unreadable, not a photo, too large, no face, several faces."""


@dataclass(frozen=True, slots=True)
class ImageHeader:
    """What the header of a photo says, read without decoding it.

    Attributes:
        format: "JPEG", "PNG", "BMP", "TIFF", "WebP", "GIF", "PNM" or "Sun raster".
        width_px: image width.
        height_px: image height.
        buffer_px: the largest pixel count the decoder allocates for it: ``width_px *
            height_px``, or more for a TIFF tile or strip or a GIF frame outside the canvas.
    """

    format: str
    width_px: int
    height_px: int
    buffer_px: int


class _BadHeader(Exception):
    """The header cannot be read; the message says why (without the file name)."""


def _read(stream: BinaryIO, size: int) -> bytes:
    data = stream.read(size)
    if len(data) < size:
        raise _BadHeader("the header is cut short")
    return data


def _seek(stream: BinaryIO, offset: int) -> None:
    end = stream.seek(0, io.SEEK_END)
    if offset < 0 or offset >= end:
        raise _BadHeader("the header points past the end of the file")
    stream.seek(offset)


# -- one reader per format ------------------------------------------------------------------


def _jpeg(stream: BinaryIO) -> ImageHeader:
    """Walk the segments as libjpeg does, up to the first SOF marker, wherever it is."""
    stream.seek(2)
    while True:
        byte = stream.read(1)
        if not byte:
            raise _BadHeader("the JPEG ends before its size header (SOF)")
        if byte != b"\xff":  # garbage between segments: libjpeg skips it too
            chunk = stream.read(_CHUNK_BYTES)
            found = chunk.find(b"\xff")
            if found < 0:
                if not chunk:
                    raise _BadHeader("the JPEG ends before its size header (SOF)")
                continue
            stream.seek(found - len(chunk) + 1, io.SEEK_CUR)
        marker = stream.read(1)
        while marker == b"\xff":  # fill bytes
            marker = stream.read(1)
        if not marker:
            raise _BadHeader("the JPEG ends before its size header (SOF)")
        code = marker[0]
        if code == 0x00 or code in _JPEG_STANDALONE:
            continue
        if code in _JPEG_SOF:
            _, _, height, width = struct.unpack(">HBHH", _read(stream, 7))
            return ImageHeader("JPEG", width, height, width * height)
        if code in (0xDA, 0xD9):
            raise _BadHeader("the JPEG has no size header (SOF) before its image data")
        (length,) = struct.unpack(">H", _read(stream, 2))
        if length < 2:
            raise _BadHeader(f"a JPEG segment has an invalid length ({length})")
        stream.seek(length - 2, io.SEEK_CUR)


def _png(stream: BinaryIO) -> ImageHeader:
    stream.seek(8)
    _, kind, width, height = struct.unpack(">I4sII", _read(stream, 16))
    if kind != b"IHDR":
        raise _BadHeader("the PNG does not start with its IHDR header")
    return ImageHeader("PNG", width, height, width * height)


def _png_chunks(stream: BinaryIO) -> None:
    """Every chunk's length checked against the file: OpenCV allocates a buffer of the length
    a chunk claims, so a 64x48 PNG claiming a 1.2 GB chunk took 3.5 GB to refuse."""
    end = stream.seek(0, io.SEEK_END)
    position = 8
    for _ in range(MAX_PNG_CHUNKS):
        stream.seek(position)
        head = stream.read(8)
        if len(head) < 8:
            break  # cut short: the decoder says so
        length, kind = struct.unpack(">I4s", head)
        if length > 0x7FFFFFFF or position + 12 + length > end:
            raise _BadHeader(f"a PNG chunk claims {length} bytes, more than the file holds")
        if kind == b"IEND":
            break
        position += 12 + length
    else:
        raise _BadHeader(f"the PNG has more than {MAX_PNG_CHUNKS} chunks")


def _bmp(stream: BinaryIO) -> ImageHeader:
    stream.seek(14)
    (info_size,) = struct.unpack("<I", _read(stream, 4))
    if info_size == 12:
        width, height = struct.unpack("<HH", _read(stream, 4))
    elif 16 <= info_size <= 1024:
        width, height = struct.unpack("<ii", _read(stream, 8))
        height = abs(height)  # negative: rows stored top-down
    else:
        raise _BadHeader(f"the BMP header has an unknown size ({info_size})")
    return ImageHeader("BMP", width, height, width * abs(height))


def _tiff(stream: BinaryIO, head: bytes) -> ImageHeader:
    order = "<" if head[:2] == b"II" else ">"
    big = struct.unpack(order + "H", head[2:4])[0] == 43
    if big:
        stream.seek(8)
        (offset,) = struct.unpack(order + "Q", _read(stream, 8))
    else:
        stream.seek(4)
        (offset,) = struct.unpack(order + "I", _read(stream, 4))
    _seek(stream, offset)
    count_format, entry_size = (order + "Q", 20) if big else (order + "H", 12)
    (count,) = struct.unpack(count_format, _read(stream, struct.calcsize(count_format)))
    if not 0 < count <= MAX_TIFF_ENTRIES:
        raise _BadHeader(f"the TIFF directory has {count} entries")
    entries = _read(stream, count * entry_size)
    values: dict[int, int] = {}
    for start in range(0, len(entries), entry_size):
        entry = entries[start : start + entry_size]
        tag, kind = struct.unpack(order + "HH", entry[:4])
        if tag not in (256, 257, 278, 322, 323):  # width, length, rows per strip, tile w, tile l
            continue
        value = entry[12:] if big else entry[8:]
        if kind == 3:  # SHORT
            values[tag] = struct.unpack(order + "H", value[:2])[0]
        elif kind == 4:  # LONG
            values[tag] = struct.unpack(order + "I", value[:4])[0]
        elif kind == 16 and big:  # LONG8
            values[tag] = struct.unpack(order + "Q", value[:8])[0]
        else:
            raise _BadHeader(f"the TIFF tag {tag} has an unexpected type ({kind})")
    if 256 not in values or 257 not in values:
        raise _BadHeader("the TIFF has no image width or length")
    width, height = values[256], values[257]
    if 322 in values or 323 in values:
        block = values.get(322, width) * values.get(323, height)
    else:
        rows = values.get(278, height)
        block = width * (height if rows in (0, 0xFFFFFFFF) else rows)
    return ImageHeader("TIFF", width, height, max(width * height, block))


def _webp(stream: BinaryIO) -> ImageHeader:
    stream.seek(12)
    kind = _read(stream, 4)
    stream.seek(20)
    data = _read(stream, 10)
    if kind == b"VP8 ":
        if data[3:6] != b"\x9d\x01\x2a":
            raise _BadHeader("the WebP (VP8) frame has no start code")
        width, height = struct.unpack("<HH", data[6:10])
        width, height = width & 0x3FFF, height & 0x3FFF
    elif kind == b"VP8L":
        if data[0] != 0x2F:
            raise _BadHeader("the WebP (VP8L) frame has no signature")
        (bits,) = struct.unpack("<I", data[1:5])
        width, height = (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    elif kind == b"VP8X":
        width = int.from_bytes(data[4:7], "little") + 1
        height = int.from_bytes(data[7:10], "little") + 1
    else:
        raise _BadHeader(f"the WebP has an unknown first chunk ({kind!r})")
    return ImageHeader("WebP", width, height, width * height)


def _gif(stream: BinaryIO) -> ImageHeader:
    stream.seek(6)
    width, height, flags = struct.unpack("<HHB", _read(stream, 5))
    position = 13 + (3 << ((flags & 0x07) + 1) if flags & 0x80 else 0)
    _seek(stream, position)
    blocks = 0
    while True:
        introducer = _read(stream, 1)
        if introducer == b"\x2c":  # the first frame: it may lie outside the logical screen
            left, top, frame_w, frame_h = struct.unpack("<HHHH", _read(stream, 8))
            canvas_w, canvas_h = max(width, left + frame_w), max(height, top + frame_h)
            return ImageHeader("GIF", width, height, canvas_w * canvas_h)
        if introducer != b"\x21":
            raise _BadHeader("the GIF has no image before its end")
        stream.seek(1, io.SEEK_CUR)  # extension label
        while True:
            blocks += 1
            if blocks > MAX_GIF_BLOCKS:
                raise _BadHeader("the GIF has too many extension blocks before its image")
            size = _read(stream, 1)[0]
            if size == 0:
                break
            stream.seek(size, io.SEEK_CUR)


def _pnm(stream: BinaryIO) -> ImageHeader:
    """Width and height of a PBM/PGM/PPM: numbers after the magic, with ``#`` comments."""
    stream.seek(2)
    numbers: list[int] = []
    digits = b""
    in_comment = False
    read = 0
    while len(numbers) < 2:
        chunk = stream.read(4096)
        if not chunk:
            raise _BadHeader("the PNM header is cut short")
        read += len(chunk)
        if read > MAX_TEXT_HEADER_BYTES:
            raise _BadHeader("the PNM header is too long")
        for value in chunk:
            char = bytes((value,))
            if in_comment:
                in_comment = char not in b"\r\n"
            elif char.isdigit():
                digits += char
                if len(digits) > 10:
                    raise _BadHeader("the PNM header has an absurd number")
            elif char.isspace() or char == b"#":
                if digits:
                    numbers.append(int(digits))
                    digits = b""
                    if len(numbers) == 2:
                        break
                in_comment = char == b"#"
            else:
                raise _BadHeader("the PNM header holds something other than numbers")
    width, height = numbers
    return ImageHeader("PNM", width, height, width * height)


def _sun_raster(stream: BinaryIO) -> ImageHeader:
    stream.seek(4)
    width, height = struct.unpack(">II", _read(stream, 8))
    return ImageHeader("Sun raster", width, height, width * height)


def read_header(stream: BinaryIO) -> ImageHeader:
    """The format and pixel size of a photo, from its header, without decoding it.

    Args:
        stream: a seekable binary file object positioned anywhere (it is left anywhere).

    Raises:
        ImageError: a format whose size is not read here, or a header that cannot be read
            (the message has no file name; callers add it).
    """
    stream.seek(0)
    head = stream.read(32)
    try:
        if head[:3] == b"\xff\xd8\xff":
            header = _jpeg(stream)
        elif head[:8] == b"\x89PNG\r\n\x1a\n":
            header = _png(stream)
        elif head[:2] == b"BM":
            header = _bmp(stream)
        elif head[:4] in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+"):
            header = _tiff(stream, head)
        elif head[:4] == b"RIFF" and head[8:12] == b"WEBP":
            header = _webp(stream)
        elif head[:6] in (b"GIF87a", b"GIF89a"):
            header = _gif(stream)
        elif head[:1] == b"P" and head[1:2] in (b"1", b"2", b"3", b"4", b"5", b"6") and (
            head[2:3].isspace() or head[2:3] == b"#"
        ):
            header = _pnm(stream)
        elif head[:4] == b"\x59\xa6\x6a\x95":
            header = _sun_raster(stream)
        else:
            known = next((name for magic, name in _REFUSED_SIGNATURES if head.startswith(magic)), None)
            if head[4:8] == b"ftyp" and head[8:12] in (b"avif", b"avis"):
                known = "AVIF"
            if known:
                raise ImageError(f"{known} images are not accepted; use {ACCEPTED_FORMATS}")
            raise ImageError(f"not an image the kiosk can read ({ACCEPTED_FORMATS})")
    except _BadHeader as exc:
        raise ImageError(f"not an image the kiosk can read: {exc}") from None
    except struct.error as exc:  # a short read inside a reader
        raise ImageError(f"not an image the kiosk can read: {exc}") from None
    if header.width_px <= 0 or header.height_px <= 0:
        raise ImageError(
            f"not an image the kiosk can read: its header gives "
            f"{header.width_px}x{header.height_px} pixels"
        )
    return header


def _check_before_decoding(
    stream: BinaryIO, header: ImageHeader, max_pixels: int, name: str
) -> None:
    """The pixel limit, then what the decoder would allocate from the rest of the file."""
    _check_pixels(header, max_pixels, name)
    if header.format == "PNG":
        try:
            _png_chunks(stream)
        except _BadHeader as exc:
            raise ImageError(f"{name}: not an image the kiosk can read: {exc}") from None


def _check_pixels(header: ImageHeader, max_pixels: int, name: str) -> None:
    if header.buffer_px > max_pixels:
        size = f"{header.width_px}x{header.height_px} pixels"
        if header.buffer_px > header.width_px * header.height_px:
            size += f", decoded in blocks of {header.buffer_px} pixels"
        raise ImageError(
            f"{name}: the image is too large ({header.format}, {size}; the limit is "
            f"{max_pixels} pixels, [recognition] max_photo_pixels)"
        )


def _too_many_bytes(name: str, size: int, max_bytes: int) -> ImageError:
    return ImageError(
        f"{name}: the file is too large for a photo ({size} bytes; the limit is {max_bytes} "
        "bytes, [recognition] max_photo_bytes)"
    )


def _decode(data: bytes, name: str, max_pixels: int) -> FrameBGR:
    try:
        frame_bgr = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    except (cv2.error, MemoryError) as exc:
        reason = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
        reason = reason.split(" error: ", 1)[-1]  # drop OpenCV's source location
        raise ImageError(f"{name}: not an image OpenCV can decode ({reason[:200]})") from None
    if frame_bgr is None or frame_bgr.size == 0:
        raise ImageError(f"{name}: not an image OpenCV can read (damaged or cut short)")
    if frame_bgr.shape[0] * frame_bgr.shape[1] > max_pixels:  # never expected: header checked
        raise ImageError(f"{name}: the image is too large ({frame_bgr.shape[1]}x{frame_bgr.shape[0]})")
    return frame_bgr


def decode_image(
    data: bytes,
    name: str = "image",
    *,
    max_bytes: int = DEFAULT_MAX_BYTES,
    max_pixels: int = DEFAULT_MAX_PIXELS,
) -> FrameBGR:
    """Decode photo bytes to BGR under the input policy (see the module docstring).

    Args:
        data: the encoded photo.
        name: how messages name it (a file name).
        max_bytes: the largest accepted ``len(data)``.
        max_pixels: the largest accepted pixel count, read from the header before decoding.

    Returns:
        (H, W, 3) uint8 BGR.

    Raises:
        ImageError: empty, too large, not an accepted format, or not decodable; the message
            starts with ``name``.
    """
    name = printable(name)
    if not data:
        raise ImageError(f"{name}: the file is empty")
    if len(data) > max_bytes:
        raise _too_many_bytes(name, len(data), max_bytes)
    stream = io.BytesIO(data)
    try:
        header = read_header(stream)
    except ImageError as exc:
        raise ImageError(f"{name}: {exc}") from None
    _check_before_decoding(stream, header, max_pixels, name)
    return _decode(data, name, max_pixels)


def _file_kind(mode: int) -> str:
    for test, kind in ((stat.S_ISDIR, "a folder"), (stat.S_ISFIFO, "a named pipe"),
                       (stat.S_ISCHR, "a device"), (stat.S_ISBLK, "a device"),
                       (stat.S_ISSOCK, "a socket")):
        if test(mode):
            return kind
    return "not a regular file"


def read_image(
    path: str | Path,
    *,
    max_bytes: int = DEFAULT_MAX_BYTES,
    max_pixels: int = DEFAULT_MAX_PIXELS,
) -> FrameBGR:
    """Read and decode a photo file to BGR under the input policy (see the module docstring).

    Args:
        path: the photo file.
        max_bytes: the largest accepted file size.
        max_pixels: the largest accepted pixel count, read from the header before decoding.

    Returns:
        (H, W, 3) uint8 BGR.

    Raises:
        ImageError: missing, not a regular file, empty, too large, not an accepted format, or
            not decodable; the message starts with the path.
    """
    name = printable(str(path))
    try:
        # O_NONBLOCK: opening a named pipe that appeared after a check must not wait for a writer
        fd = os.open(path, os.O_RDONLY | _OPEN_FLAGS)
    except FileNotFoundError:
        raise ImageError(f"{name}: cannot read: no such file") from None
    except OSError as exc:
        raise ImageError(f"{name}: cannot read: {exc.strerror or exc}") from None
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode):
        os.close(fd)
        raise ImageError(f"{name}: cannot read: {_file_kind(info.st_mode)}, not a photo file")
    with os.fdopen(fd, "rb") as handle:
        if info.st_size == 0:
            raise ImageError(f"{name}: the file is empty")
        if info.st_size > max_bytes:
            raise _too_many_bytes(name, info.st_size, max_bytes)
        try:
            header = read_header(handle)
            _check_before_decoding(handle, header, max_pixels, name)
            handle.seek(0)
            data = handle.read(max_bytes + 1)
        except ImageError as exc:
            if str(exc).startswith(name + ": "):
                raise
            raise ImageError(f"{name}: {exc}") from None
        except OSError as exc:
            raise ImageError(f"{name}: cannot read: {exc.strerror or exc}") from None
    if len(data) > max_bytes:  # the file grew after the check
        raise _too_many_bytes(name, len(data), max_bytes)
    return _decode(data, name, max_pixels)


def _image_size(data: bytes | np.ndarray) -> tuple[int, int] | None:
    """Width and height from the header of encoded image bytes, or None when unknown."""
    raw = data.tobytes() if isinstance(data, np.ndarray) else data
    try:
        header = read_header(io.BytesIO(raw))
    except ImageError:
        return None
    return header.width_px, header.height_px
