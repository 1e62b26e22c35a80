"""A longer fuzz run of the photo input policy than the test suite's (kiosk/images.py).

    python scripts/fuzz_images.py --seconds 120 [--seed N] [--inputs N]

Mutates small valid JPEG, PNG, BMP, TIFF, WebP and GIF files (random header bytes, random
claimed dimensions with junk pixel data, random bytes anywhere) and feeds each to
``kiosk.images.decode_image``. Every result must be a frame within the pixel limit or an
``ImageError`` naming the input; anything else is counted as a failure and printed. Prints the
counts, the slowest single call and the peak resident memory of the process; exits 1 on any
failure. ``tests/kiosk/test_images.py`` runs it for a fixed number of inputs.
"""

from __future__ import annotations

import argparse
import random
import resource
import struct
import sys
import time
import zlib
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from kiosk.images import DEFAULT_MAX_PIXELS, ImageError, decode_image  # noqa: E402

FORMATS = (".jpg", ".png", ".bmp", ".tiff", ".webp", ".gif")
DIMENSION_FIELDS = {  # (offset, struct format) of width and height in the encoded test images
    ".png": ((16, ">I"), (20, ">I")),
    ".bmp": ((18, "<i"), (22, "<i")),
    ".gif": ((6, "<H"), (8, "<H")),
}


def valid_images() -> dict[str, bytes]:
    image = np.random.default_rng(1).integers(0, 256, (48, 64, 3), dtype=np.uint8)
    return {ext: cv2.imencode(ext, image)[1].tobytes() for ext in FORMATS}


def mutate(rng: random.Random, extension: str, data: bytes) -> bytes:
    image = bytearray(data)
    mode = rng.random()
    if mode < 0.4:  # header bytes
        for _ in range(rng.randint(1, 8)):
            image[rng.randrange(min(len(image), 128))] = rng.randrange(256)
    elif mode < 0.7 and extension in DIMENSION_FIELDS:  # claimed dimensions
        for offset, fmt in DIMENSION_FIELDS[extension]:
            bits = 8 * struct.calcsize(fmt)
            value = rng.randrange(1 << bits) if rng.random() < 0.5 else rng.randrange(20_000)
            if fmt[-1] == "i":
                value -= 1 << (bits - 1)
            struct.pack_into(fmt, image, offset, value)
        if extension == ".png":  # keep the IHDR checksum right so libpng reads the size
            struct.pack_into(">I", image, 29, zlib.crc32(bytes(image[12:29])))
    elif mode < 0.85:  # anywhere
        for _ in range(rng.randint(1, 30)):
            image[rng.randrange(len(image))] = rng.randrange(256)
    else:  # cut short, with junk after
        image = image[: rng.randrange(len(image))] + rng.randbytes(rng.randrange(64))
    return bytes(image)


def peak_rss_mb() -> float:
    """Peak resident memory of this process since it started (VmHWM; ``ru_maxrss`` keeps the
    peak of the parent from before ``exec`` on Linux, so it is only the fallback)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--inputs", type=int, default=0, help="stop after this many (0: no limit)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)  # per-file warnings
    rng = random.Random(args.seed)
    images = valid_images()
    counts = {"inputs": 0, "decoded": 0, "refused": 0, "failures": 0}
    slowest_ms = 0.0
    end = time.monotonic() + args.seconds
    while time.monotonic() < end and not (args.inputs and counts["inputs"] >= args.inputs):
        extension = rng.choice(FORMATS)
        data = mutate(rng, extension, images[extension])
        counts["inputs"] += 1
        started = time.monotonic()
        try:
            frame_bgr = decode_image(data, "fuzz")
            if frame_bgr.shape[0] * frame_bgr.shape[1] > DEFAULT_MAX_PIXELS:
                raise AssertionError(f"decoded {frame_bgr.shape} beyond the limit")
            counts["decoded"] += 1
        except ImageError as exc:
            if not str(exc).startswith("fuzz: "):
                counts["failures"] += 1
                print(f"failure ({extension}): message without the name: {exc}")
            counts["refused"] += 1
        except Exception as exc:  # noqa: BLE001 - this is what the run looks for
            counts["failures"] += 1
            print(f"failure ({extension}): {type(exc).__name__}: {exc}")
        slowest_ms = max(slowest_ms, 1000 * (time.monotonic() - started))
    for key, value in counts.items():
        print(f"{key}: {value}")
    print(f"slowest_call_ms: {slowest_ms:.1f}")
    print(f"peak_rss_mb: {peak_rss_mb():.0f}")
    return 1 if counts["failures"] else 0


if __name__ == "__main__":
    sys.exit(main())
