"""Fuzzing the upload path: over 1,000 malformed or hostile images through `load_images`, as the page calls it.

Every input must end in either a decoded RGB image or an `ImageError` that names the file: no other
exception, no hang, and the next valid upload still works. Seeded, so a failure reproduces.
"""

from __future__ import annotations

import io
import struct
import time
import zlib
from collections import Counter
from collections.abc import Iterator

import numpy as np
import pytest
from PIL import Image

from explorer.inputs.images import ImageError, LoadedImage, load_images

SEED = 20261127
FORMATS = {"JPEG": "jpg", "PNG": "png", "WEBP": "webp", "BMP": "bmp", "TIFF": "tif"}
MODES = ("RGB", "L", "LA", "RGBA", "P", "CMYK", "I;16", "I", "F", "1")


def encode(image: Image.Image, fmt: str, **options: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **options)
    return buffer.getvalue()


def valid_image(rng: np.random.Generator) -> Image.Image:
    height, width = int(rng.integers(8, 40)), int(rng.integers(8, 40))
    return Image.fromarray(rng.integers(0, 256, (height, width, 3), dtype=np.uint8))


def png_with_size(width: int, height: int, payload: bytes = b"") -> bytes:
    """A PNG whose header claims any size, with a tiny (or crafted) IDAT: a decompression-bomb shape."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(payload)) + chunk(b"IEND", b"")


def jpeg_with_exif(rng: np.random.Generator) -> bytes:
    """A JPEG whose APP1/EXIF block is random bytes (or a random orientation value)."""
    data = encode(valid_image(rng), "JPEG")
    exif = b"Exif\x00\x00" + rng.bytes(int(rng.integers(0, 200)))
    app1 = b"\xff\xe1" + struct.pack(">H", len(exif) + 2) + exif
    return data[:2] + app1 + data[2:]


def cases(rng: np.random.Generator) -> Iterator[tuple[str, str, bytes]]:
    """(kind, file name, bytes) for every hostile input."""
    for i in range(200):  # truncated files of every format
        fmt = list(FORMATS)[i % len(FORMATS)]
        data = encode(valid_image(rng), fmt)
        yield "truncated", f"t{i}.{FORMATS[fmt]}", data[: int(rng.integers(0, len(data)))]
    for i in range(200):  # bit flips in valid files
        fmt = list(FORMATS)[i % len(FORMATS)]
        data = bytearray(encode(valid_image(rng), fmt))
        for _ in range(int(rng.integers(1, 20))):
            data[int(rng.integers(0, len(data)))] ^= 1 << int(rng.integers(0, 8))
        yield "bit flips", f"f{i}.{FORMATS[fmt]}", bytes(data)
    magics = [b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n", b"RIFF\x00\x00\x00\x00WEBP", b"BM", b"II*\x00", b"MM\x00*",
              b"GIF89a"]
    for i in range(150):  # right magic, garbage after it; wrong magic entirely
        head = magics[i % len(magics)] if i % 3 else b""
        yield "wrong magic / garbage", f"g{i}.png", head + rng.bytes(int(rng.integers(0, 500)))
    for i in range(150):  # absurd dimensions and decompression bombs
        width, height = [(0, 10), (10, 0), (2**31 - 1, 2**31 - 1), (100_000, 100_000), (60_000, 1), (1, 60_000),
                         (9000, 9000), (20_000, 20_000)][i % 8]
        yield "absurd size / bomb", f"b{i}.png", png_with_size(width, height, rng.bytes(int(rng.integers(0, 64))))
    for i in range(150):  # odd modes in formats that can hold them
        mode = MODES[i % len(MODES)]
        image = valid_image(rng).convert(mode if mode not in ("I;16", "I", "F") else "L")
        if mode in ("I;16", "I", "F"):
            image = Image.fromarray((np.asarray(image).astype(np.float32) * 257).astype(
                {"I;16": np.uint16, "I": np.int32, "F": np.float32}[mode]))
        fmt = "TIFF" if mode in ("I;16", "I", "F", "CMYK", "LA") else ["PNG", "TIFF", "BMP"][i % 3]
        if mode in ("LA", "RGBA", "P", "1") and fmt == "BMP":
            fmt = "PNG"
        yield f"mode {mode}", f"m{i}.{FORMATS[fmt]}", encode(image, fmt)
    for i in range(150):  # broken EXIF
        yield "broken EXIF", f"e{i}.jpg", jpeg_with_exif(rng)
    for i in range(20):  # empty files and text files with image names
        yield "empty / text", f"x{i}.jpg", b"" if i % 2 else b"hello, I am not an image\n" * i


def check(kind: str, name: str, data: bytes, control: bytes, outcomes: Counter) -> None:
    started = time.perf_counter()
    loaded, errors = load_images([(name, data), ("control.png", control)], max_pixels=40_000_000)
    elapsed = time.perf_counter() - started
    assert elapsed < 5, f"{kind} {name} took {elapsed:.1f} s"
    assert loaded and loaded[-1].name == "control.png", f"the next valid upload failed after {kind} {name}"
    if errors:
        assert len(errors) == 1 and isinstance(errors[0], ImageError)
        assert str(errors[0]).startswith(f"{name}: "), str(errors[0])
        outcomes[f"{kind}: clear error"] += 1
    else:
        image: LoadedImage = loaded[0]
        assert image.rgb.dtype == np.uint8 and image.rgb.ndim == 3 and image.rgb.shape[2] == 3
        outcomes[f"{kind}: decoded"] += 1


@pytest.mark.filterwarnings("ignore::UserWarning:PIL")  # hostile files make Pillow warn; the loader never filters
def test_fuzz_uploaded_images(capsys) -> None:
    rng = np.random.default_rng(SEED)
    control = encode(valid_image(rng), "PNG")
    outcomes: Counter = Counter()
    total = 0
    for kind, name, data in cases(rng):
        check(kind, name, data, control, outcomes)
        total += 1
    assert total >= 1000
    with capsys.disabled():
        print(f"\nimage fuzzing: {total} hostile inputs, "
              f"{sum(v for k, v in outcomes.items() if k.endswith('clear error'))} clear errors, "
              f"{sum(v for k, v in outcomes.items() if k.endswith('decoded'))} decoded safely, 0 crashes")
    assert outcomes["absurd size / bomb: clear error"] == 150  # none of them may be decoded
    assert outcomes["truncated: clear error"] >= 150


