"""Decode users' uploaded images into plain RGB arrays, refusing anything broken, hostile or exotic.

Uploads are untrusted: a file may be empty, not an image, cut short, a decompression bomb that declares
billions of pixels in a few bytes, or carry broken metadata. Every such case ends in an `ImageError`
that names the file and the problem, so the page can show it next to the other files' results rather
than failing the whole batch. The checks run in the cheap order: format and header size first, the
full decode only after both pass. The server decodes in many threads at once, so nothing here touches
process-wide state (no warning filter is set or swapped: Pillow's size limits are checked per call instead).

Choices worth knowing:

* Transparency (LA, RGBA, PA, P with a transparent colour) is composited onto **white**, as a browser
  shows it on a white page; dropping alpha instead would expose whatever colour the encoder left under
  transparent pixels (often black), which is not what the user sees and confuses the models.
* 16-bit modes (I;16, I;16B, I;16L, I;16N) are scaled 0..65535 -> 0..255 by dividing by 257, which keeps
  relative brightness; 32-bit I uses the same scale when its values fit 0..65535 (how Pillow stores some
  16-bit files) and a min-max stretch otherwise; F uses 0..1 -> 0..255 when it fits, else min-max.
  Clipping instead would turn nearly every 16-bit image white.
* CMYK uses Pillow's plain conversion (no ICC colour management), good enough to detect objects.
* Multi-frame files (animated WebP, APNG, multi-page TIFF) give their first frame, with a note.
* EXIF orientation is applied; broken EXIF never fails the load: the image is kept unrotated and a note
  says why.
"""

from __future__ import annotations

import io
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from explorer.errors import ExplorerError

#: Largest image (width * height) decoded unless the caller or EXPLORER_MAX_PIXELS says otherwise. 40 MP
#: covers current phone and DSLR photos; its RGB array is 120 MB.
DEFAULT_MAX_PIXELS: int = 40_000_000

#: Environment variable that overrides DEFAULT_MAX_PIXELS for the whole app (e.g. EXPLORER_MAX_PIXELS=80_000_000).
MAX_PIXELS_ENV: str = "EXPLORER_MAX_PIXELS"

#: Longest side accepted: past this a header is lying or the image is no photo (JPEG's own limit is 65535).
MAX_SIDE: int = 50_000

#: Most elongated shape accepted. The zoo models fit the long side into about 1333 px, so a thinner strip
#: would be under ~7 px high: nothing to detect, and close to the 0-px size where resizing code breaks.
MAX_ASPECT_RATIO: float = 200.0

#: Pillow's names for the formats we decode. MPO is how Pillow names the multi-picture JPEGs many phones
#: write; it decodes as an ordinary JPEG (first picture).
SUPPORTED_FORMATS: frozenset[str] = frozenset({"JPEG", "MPO", "PNG", "WEBP", "BMP", "TIFF"})

#: File suffixes of those formats: what folder listings pick up and what upload widgets accept.
IMAGE_SUFFIXES: tuple[str, ...] = (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff")
#: The same without the dot, as st.file_uploader takes them.
UPLOAD_TYPES: list[str] = [suffix.lstrip(".") for suffix in IMAGE_SUFFIXES]

_ORIENTATION_TAG = 0x0112
#: The size of a well-formed EXIF block with no tag ("Exif\\0\\0", a TIFF header, an empty IFD): a block this
#: small that parses to no tag is empty, not corrupt.
_EMPTY_EXIF_BYTES = 20
_SIXTEEN_BIT_MODES = frozenset({"I;16", "I;16B", "I;16L", "I;16N"})
_ALPHA_MODES = frozenset({"LA", "RGBA", "PA", "RGBa"})
_DIRECT_TO_RGB_MODES = frozenset({"RGB", "L", "1", "CMYK", "YCbCr", "RGBX"})


class ImageError(ExplorerError, ValueError):
    """An uploaded file that cannot be used as an image; the message names the file and the problem."""

    def __init__(self, name: str, problem: str) -> None:
        super().__init__(f"{name}: {problem}")
        self.name = name
        self.problem = problem


@dataclass
class LoadedImage:
    """One decoded upload, ready for the models: `rgb` is (H, W, 3) uint8, already EXIF-rotated.

    `original_mode` / `original_format` are what the file held (Pillow's names), for the page to show;
    `notes` are harmless oddities handled on the way (alpha composited, EXIF ignored, first frame used).
    """

    name: str
    rgb: np.ndarray
    original_mode: str
    original_format: str
    exif_rotated: bool
    notes: tuple[str, ...] = ()

    @property
    def width(self) -> int:
        return int(self.rgb.shape[1])

    @property
    def height(self) -> int:
        return int(self.rgb.shape[0])


def configured_max_pixels() -> int:
    """The pixel limit in force: EXPLORER_MAX_PIXELS if set, else DEFAULT_MAX_PIXELS.

    Read at call time (not import time) so a changed environment or a test's monkeypatch takes effect.
    A malformed value raises a plain ValueError: that is a deployment mistake, not a bad upload.
    """
    raw = os.environ.get(MAX_PIXELS_ENV, "").strip()
    if not raw:
        return DEFAULT_MAX_PIXELS
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if value <= 0:
        raise ValueError(f"{MAX_PIXELS_ENV} must be a positive whole number of pixels, got {raw!r}")
    return value


def load_image(data: bytes, name: str, *, max_pixels: int | None = None) -> LoadedImage:
    """Decode one upload into RGB, or raise ImageError saying what is wrong with it.

    `max_pixels` caps width * height (checked from the header, before any pixel is decoded); None
    means `configured_max_pixels()`.
    """
    limit = configured_max_pixels() if max_pixels is None else max_pixels
    if not data:
        raise ImageError(name, "the file is empty (0 bytes)")
    notes: list[str] = []
    img = _open(data, name, limit)
    try:
        return _decode(img, name, limit, notes)
    finally:
        img.close()


def load_image_file(path: Path | str, *, max_pixels: int | None = None) -> LoadedImage:
    """Read and decode one image file; a file that cannot be read is an ImageError too ("<path>: <OS error>")."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as error:
        raise ImageError(str(path), str(error)) from None
    return load_image(data, path.name, max_pixels=max_pixels)


def load_images(
    files: Iterable[tuple[str, bytes]], *, max_pixels: int | None = None
) -> tuple[list[LoadedImage], list[ImageError]]:
    """Decode each (name, bytes) upload; a bad file is reported in the second list and the rest go on."""
    loaded: list[LoadedImage] = []
    errors: list[ImageError] = []
    for name, data in files:
        try:
            loaded.append(load_image(data, name, max_pixels=max_pixels))
        except ImageError as error:
            errors.append(error)
    return loaded, errors


def load_uploads(files: Iterable[tuple[str, bytes]]) -> tuple[list[LoadedImage], list[str]]:
    """`load_images` with each error as its one-line message: plain strings, which a page's cache can pickle
    (an ImageError, whose constructor takes two arguments, cannot be rebuilt from its pickle)."""
    loaded, errors = load_images(files)
    return loaded, [str(error) for error in errors]


def _limit_advice(limit: int) -> str:
    return (f"the limit is {limit:,} pixels; raise it with the max_pixels setting or the {MAX_PIXELS_ENV} "
            "environment variable if you trust this file")


def _open(data: bytes, name: str, limit: int) -> Image.Image:
    """Image.open (header only), its failures turned into ImageErrors; no warning filter is touched.

    Warning filters are process-wide state (a server's threads would race on them), so Pillow's
    decompression-bomb warning is not made an error here: its size checks are repeated per call, on the
    header's size, by `_check_pixels` before any pixel is decoded. Pillow's own refusal past twice
    Image.MAX_IMAGE_PIXELS, and its warning where the process's filters make it an error, end as ImageErrors.
    """
    try:
        return Image.open(io.BytesIO(data))
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as error:
        raise ImageError(name, f"too many pixels ({error}); {_pixel_advice(limit)}") from error
    except UnidentifiedImageError as error:
        raise ImageError(name, "not a supported image: PIL could not identify the file as any image format "
                               f"({len(data):,} bytes); expected {_format_list()}") from error
    except Exception as error:  # a hostile header can trip any parser error; none may escape as a crash
        raise ImageError(name, f"the image header is truncated or corrupt ({type(error).__name__}: {error})") from error


def _pixel_advice(limit: int) -> str:
    """How to get past a pixel refusal: our limit, unless Pillow's own ceiling (twice its bomb level) is lower."""
    ceiling = Image.MAX_IMAGE_PIXELS
    if ceiling is None or limit <= 2 * ceiling:
        return _limit_advice(limit)
    return (f"Pillow itself refuses over twice PIL.Image.MAX_IMAGE_PIXELS = {ceiling:,}, "
            "whatever max_pixels says")


def _check_pixels(size: tuple[int, int], name: str, limit: int) -> None:
    """Pillow's decompression-bomb levels, checked per call from the header's size (see `_open`).

    Past twice Image.MAX_IMAGE_PIXELS Pillow refuses to decode whatever our limit is; past it once, the file is
    refused unless the caller's limit is higher. Below Pillow's level `_check_size` applies the caller's limit.
    """
    bomb_level = Image.MAX_IMAGE_PIXELS
    width, height = size
    pixels = max(width, 1) * max(height, 1)
    if bomb_level is None or pixels <= bomb_level:
        return
    if pixels > 2 * bomb_level or limit <= bomb_level:
        level = "twice " * (pixels > 2 * bomb_level)
        raise ImageError(name, f"too many pixels ({width}×{height} = {pixels:,}, over {level}Pillow's "
                               f"decompression-bomb level of {bomb_level:,}); {_pixel_advice(limit)}")


def _format_list() -> str:
    return ", ".join(sorted(SUPPORTED_FORMATS - {"MPO"}))


def _decode(img: Image.Image, name: str, limit: int, notes: list[str]) -> LoadedImage:
    """Header checks, then the full decode, EXIF rotation and conversion to RGB."""
    fmt = img.format or "unknown"
    if fmt not in SUPPORTED_FORMATS:
        raise ImageError(name, f"{fmt} images are not supported; use {_format_list()}")
    _check_pixels(img.size, name, limit)
    _check_size(img.size, name, limit)
    n_frames = int(getattr(img, "n_frames", 1) or 1)
    if n_frames > 1:
        notes.append(f"the file has {n_frames} frames; only the first is used")
    orientation = _orientation(img, notes)  # read before load(): Pillow's TIFF loader applies it itself
    try:
        img.load()  # force the full decode now, so a truncated or corrupt body fails here and not later
    except Exception as error:  # decoders raise OSError, SyntaxError, ValueError, EOFError, struct.error...
        raise ImageError(name, f"the image data is truncated or corrupt ({type(error).__name__}: {error})") from error
    original_mode = img.mode
    img, rotated = _apply_orientation(img, orientation, notes)
    rgb = to_rgb(img, name, notes)
    return LoadedImage(name=name, rgb=rgb, original_mode=original_mode, original_format=fmt,
                       exif_rotated=rotated, notes=tuple(notes))


def _check_size(size: tuple[int, int], name: str, limit: int) -> None:
    """Refuse absurd or oversized dimensions from the header, before allocating any pixels."""
    width, height = size
    if width <= 0 or height <= 0:
        raise ImageError(name, f"absurd dimensions {width}×{height}: the image has no pixels")
    if max(width, height) > MAX_SIDE:
        raise ImageError(name, f"absurd dimensions {width}×{height}: a side is over {MAX_SIDE:,} pixels")
    if max(width, height) / min(width, height) > MAX_ASPECT_RATIO:
        raise ImageError(name, f"absurd dimensions {width}×{height}: more than {MAX_ASPECT_RATIO:g} times "
                               "longer than wide; nothing a detector can use")
    if width * height > limit:
        raise ImageError(name, f"too many pixels: {width}×{height} = {width * height:,}; {_limit_advice(limit)}")


def _orientation(img: Image.Image, notes: list[str]) -> int:
    """The EXIF orientation (1..8), or 1 when absent or unreadable; broken EXIF is noted, never fatal.

    Pillow reports a corrupt EXIF block only by a warning (not capturable per call without touching the
    process-wide filters), so corruption is told from the outcome: a file with EXIF bytes that parse to no tag.
    """
    try:
        exif = img.getexif()
        value = exif.get(_ORIENTATION_TAG, 1)
    except Exception as error:  # EXIF is untrusted free-form data; any parse failure just means no rotation
        notes.append(f"EXIF metadata could not be read ({type(error).__name__}: {error}); orientation ignored")
        return 1
    if not exif and len(_raw_exif(img)) > _EMPTY_EXIF_BYTES:
        notes.append("EXIF metadata is corrupt (no readable tag in its block); orientation ignored")
        return 1
    if not isinstance(value, int) or not 1 <= value <= 8:
        notes.append(f"EXIF orientation {value!r} is not a valid value (1-8); orientation ignored")
        return 1
    return value


def _raw_exif(img: Image.Image) -> bytes:
    raw = img.info.get("exif", b"")
    return raw if isinstance(raw, bytes) else b""


def _apply_orientation(img: Image.Image, orientation: int, notes: list[str]) -> tuple[Image.Image, bool]:
    """Rotate/flip per EXIF. True when the pixels were turned (by us, or by Pillow's TIFF loader)."""
    if orientation == 1:
        return img, False
    try:
        turned = ImageOps.exif_transpose(img)
    except Exception as error:  # see _orientation: metadata must never sink the image
        notes.append(f"EXIF orientation could not be applied ({type(error).__name__}: {error}); kept unrotated")
        return img, False
    return (turned if turned is not None else img), True


def to_rgb(img: Image.Image, name: str = "image", notes: list[str] | None = None) -> np.ndarray:
    """Any supported Pillow mode as a writable, C-contiguous (H, W, 3) uint8 array (see the module docstring).

    Writable because `np.asarray(image)` is read-only and torch.from_numpy warns on read-only arrays.
    """
    notes = notes if notes is not None else []
    mode = img.mode
    if mode in _DIRECT_TO_RGB_MODES:
        return np.array(img if mode == "RGB" else img.convert("RGB"), dtype=np.uint8)
    if mode == "P":
        if "transparency" not in img.info:
            return np.array(img.convert("RGB"), dtype=np.uint8)
        img, mode = img.convert("RGBA"), "RGBA"
    if mode in _ALPHA_MODES:
        return _composite_on_white(img, notes)
    if mode in _SIXTEEN_BIT_MODES or mode in ("I", "F"):
        return _gray_to_rgb(_scale_to_uint8(np.asarray(img), mode))
    raise ImageError(name, f"colour mode {mode} is not supported; save the image as 8-bit RGB or grayscale")


def _composite_on_white(img: Image.Image, notes: list[str]) -> np.ndarray:
    array = np.asarray(img.convert("RGBA"))
    alpha = array[..., 3:4].astype(np.uint16)
    if (alpha == 255).all():
        return np.ascontiguousarray(array[..., :3])
    notes.append("transparent pixels were composited onto white")
    rgb = array[..., :3].astype(np.uint16)
    return ((rgb * alpha + 255 * (255 - alpha) + 127) // 255).astype(np.uint8)


def _scale_to_uint8(values: np.ndarray, mode: str) -> np.ndarray:
    """High-bit-depth gray to 0..255 by scaling, never by clipping (see the module docstring)."""
    data = values.astype(np.float64)
    finite = np.isfinite(data)
    if not finite.all():
        data = np.where(finite, data, 0.0)
    low, high = (float(data.min()), float(data.max())) if data.size else (0.0, 0.0)
    if mode in _SIXTEEN_BIT_MODES or (mode == "I" and low >= 0 and high <= 65535):
        scaled = data / 257.0
    elif mode == "F" and low >= 0 and high <= 1:
        scaled = data * 255.0
    elif high > low:
        scaled = (data - low) * (255.0 / (high - low))
    else:
        scaled = np.zeros_like(data)
    return np.clip(np.rint(scaled), 0, 255).astype(np.uint8)


def _gray_to_rgb(gray: np.ndarray) -> np.ndarray:
    return np.repeat(gray[..., None], 3, axis=2)
