"""Untrusted image decoding: every image is made in memory with Pillow, every bad file must be an ImageError."""

from __future__ import annotations

import contextlib
import io
import struct
import warnings
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from explorer.inputs.images import (
    DEFAULT_MAX_PIXELS,
    MAX_PIXELS_ENV,
    ImageError,
    LoadedImage,
    configured_max_pixels,
    load_image,
    load_images,
    to_rgb,
)

ORIENTATION = 0x0112


def encode(img: Image.Image, fmt: str, **params: object) -> bytes:
    buffer = io.BytesIO()
    img.save(buffer, fmt, **params)
    return buffer.getvalue()


def pattern(width: int = 40, height: int = 20) -> np.ndarray:
    """A smooth RGB pattern (survives lossy codecs) with a white 4x4 marker in the top-left corner."""
    y, x = np.mgrid[0:height, 0:width]
    rgb = np.stack([x * 255 // max(width - 1, 1), y * 255 // max(height - 1, 1), np.full_like(x, 64)], axis=-1)
    rgb = rgb.astype(np.uint8)
    rgb[:4, :4] = 255
    return rgb


def png_with_header_size(width: int, height: int) -> bytes:
    """A tiny real PNG whose IHDR is patched to claim width x height (CRC fixed so Pillow believes it)."""
    data = bytearray(encode(Image.new("RGB", (8, 8)), "PNG"))
    assert data[12:16] == b"IHDR"
    data[16:24] = struct.pack(">II", width, height)
    data[29:33] = struct.pack(">I", zlib.crc32(bytes(data[12:29])))
    return bytes(data)


# --- formats -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("fmt", "params", "lossless"), [
    ("PNG", {}, True),
    ("BMP", {}, True),
    ("TIFF", {}, True),
    ("WEBP", {"lossless": True}, True),
    ("JPEG", {"quality": 95}, False),
])
def test_each_supported_format_decodes_to_rgb(fmt: str, params: dict[str, object], lossless: bool) -> None:
    expected = pattern()
    loaded = load_image(encode(Image.fromarray(expected), fmt, **params), f"photo.{fmt.lower()}")
    assert isinstance(loaded, LoadedImage)
    assert loaded.rgb.shape == (20, 40, 3) and loaded.rgb.dtype == np.uint8
    assert (loaded.width, loaded.height) == (40, 20)
    assert loaded.original_format == fmt and loaded.original_mode == "RGB"
    assert not loaded.exif_rotated
    assert loaded.rgb.flags.writeable and loaded.rgb.flags.c_contiguous
    difference = np.abs(loaded.rgb.astype(int) - expected.astype(int))
    assert difference.max() == 0 if lossless else difference.mean() < 4


def test_phone_mpo_jpeg_is_accepted_and_first_picture_used() -> None:
    first, second = Image.new("RGB", (16, 16), (255, 0, 0)), Image.new("RGB", (16, 16), (0, 0, 255))
    loaded = load_image(encode(first, "MPO", save_all=True, append_images=[second]), "phone.jpg")
    assert loaded.original_format == "MPO"
    assert loaded.rgb[8, 8, 0] > 200 and loaded.rgb[8, 8, 2] < 50
    assert any("first" in note for note in loaded.notes)


def test_gif_is_refused_naming_the_format() -> None:
    with pytest.raises(ImageError, match=r"anim\.gif: GIF images are not supported"):
        load_image(encode(Image.new("RGB", (8, 8)), "GIF"), "anim.gif")


# --- EXIF orientation ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP", "TIFF"])
def test_exif_orientation_6_rotates_clockwise(fmt: str) -> None:
    exif = Image.Exif()
    exif[ORIENTATION] = 6  # stored sideways: display = rotate 90° clockwise
    params: dict[str, object] = {"exif": exif if fmt == "TIFF" else exif.tobytes()}
    if fmt == "JPEG":
        params["quality"] = 95
    loaded = load_image(encode(Image.fromarray(pattern(40, 20)), fmt, **params), "sideways")
    assert loaded.exif_rotated
    assert loaded.rgb.shape == (40, 20, 3)  # width and height swap
    # The stored top-left marker ends up at the displayed top-right.
    assert loaded.rgb[1, 18].min() > 200
    assert loaded.rgb[1, 1].min() < 200


@pytest.mark.parametrize("entry", [
    b"\x01\x12\x00\x03\x00\x00\x00\x01\x00\x09\x00\x00",  # SHORT 9: out of the 1..8 range
    b"\x01\x12\x00\x02\x00\x00\x00\x04abc\x00",  # ASCII "abc": the wrong type altogether
])
def test_invalid_orientation_value_is_noted_not_fatal(entry: bytes) -> None:
    exif = Image.Exif()
    exif[ORIENTATION] = 6
    blob = exif.tobytes()
    good_entry = b"\x01\x12\x00\x03\x00\x00\x00\x01\x00\x06\x00\x00"  # big-endian tag 274, SHORT, 1, 6
    assert good_entry in blob
    data = encode(Image.fromarray(pattern()), "JPEG", exif=blob.replace(good_entry, entry))
    loaded = load_image(data, "odd.jpg")
    assert loaded.rgb.shape == (20, 40, 3)
    assert not loaded.exif_rotated
    assert any("orientation" in note for note in loaded.notes)


def test_corrupt_exif_block_falls_back_to_no_rotation() -> None:
    exif = Image.Exif()
    exif[ORIENTATION] = 6
    data = bytearray(encode(Image.fromarray(pattern()), "JPEG", exif=exif.tobytes()))
    start = data.find(b"Exif\x00\x00") + 6
    data[start + 4:start + 8] = b"\xff\xff\xff\x7f"  # first IFD offset points far past the end
    loaded = load_image(bytes(data), "broken-exif.jpg")
    assert loaded.rgb.shape == (20, 40, 3)  # unrotated
    assert not loaded.exif_rotated
    assert any("EXIF" in note for note in loaded.notes)


# --- colour modes --------------------------------------------------------------------------------------------


def test_grayscale_becomes_three_equal_channels() -> None:
    gray = np.arange(256, dtype=np.uint8).reshape(16, 16)
    loaded = load_image(encode(Image.fromarray(gray, "L"), "PNG"), "gray.png")
    assert loaded.original_mode == "L"
    assert (loaded.rgb == gray[..., None]).all()


def test_la_transparency_is_composited_on_white() -> None:
    la = np.zeros((4, 4, 2), np.uint8)
    la[..., 0] = 0
    la[:2, ..., 1] = 255  # top half opaque black, bottom half fully transparent black
    loaded = load_image(encode(Image.fromarray(la, "LA"), "PNG"), "la.png")
    assert loaded.original_mode == "LA"
    assert (loaded.rgb[:2] == 0).all() and (loaded.rgb[2:] == 255).all()
    assert any("white" in note for note in loaded.notes)


def test_rgba_half_alpha_blends_towards_white() -> None:
    rgba = np.zeros((4, 4, 4), np.uint8)
    rgba[..., 0] = 200
    rgba[..., 3] = 128
    loaded = load_image(encode(Image.fromarray(rgba, "RGBA"), "PNG"), "rgba.png")
    red, green, blue = (int(v) for v in loaded.rgb[0, 0])
    assert abs(red - round((200 * 128 + 255 * 127) / 255)) <= 1
    assert abs(green - 127) <= 1 and green == blue


def test_opaque_rgba_keeps_colours_and_adds_no_note() -> None:
    rgba = np.dstack([pattern(), np.full((20, 40), 255, np.uint8)])
    loaded = load_image(encode(Image.fromarray(rgba, "RGBA"), "PNG"), "opaque.png")
    assert (loaded.rgb == pattern()).all()
    assert loaded.notes == ()


def test_palette_with_transparent_index_is_composited() -> None:
    img = Image.new("P", (4, 4), 1)
    img.putpalette([0, 0, 0, 255, 0, 0] + [0] * (256 * 3 - 6))
    img.putpixel((0, 0), 0)  # index 0 is the transparent colour (black)
    loaded = load_image(encode(img, "PNG", transparency=0), "palette.png")
    assert loaded.original_mode == "P"
    assert tuple(loaded.rgb[0, 0]) == (255, 255, 255)
    assert tuple(loaded.rgb[1, 1]) == (255, 0, 0)


def test_palette_without_transparency() -> None:
    img = Image.fromarray(pattern()).convert("P", palette=Image.Palette.ADAPTIVE, colors=16)
    loaded = load_image(encode(img, "PNG"), "palette.png")
    assert loaded.rgb.shape == (20, 40, 3)
    assert (loaded.rgb == np.asarray(img.convert("RGB"))).all()


@pytest.mark.parametrize("mode", ["I;16", "I;16B"])
def test_sixteen_bit_gradient_scales_to_full_8_bit_range(mode: str) -> None:
    ramp = np.linspace(0, 65535, 512).round().astype(np.uint16).reshape(1, 512).repeat(8, axis=0)
    img = Image.frombytes(mode, (512, 8), ramp.astype(">u2" if mode == "I;16B" else "<u2").tobytes())
    for fmt in ("PNG", "TIFF"):
        loaded = load_image(encode(img, fmt), f"ramp.{fmt.lower()}")
        row = loaded.rgb[0, :, 0].astype(int)
        assert row[0] == 0 and row[-1] == 255, "scaled, not clipped: the ramp spans the whole 8-bit range"
        assert (np.diff(row) >= 0).all(), "monotonic"
        assert len(np.unique(row)) > 200, "no banding from clipping"
        assert (loaded.rgb[..., 0] == loaded.rgb[..., 2]).all()
        assert loaded.rgb.flags.writeable and loaded.rgb.flags.c_contiguous


def test_32_bit_integer_and_float_images_are_scaled() -> None:
    ints = np.linspace(-1000, 5_000_000, 64).astype(np.int32).reshape(8, 8)  # outside 16 bits: min-max stretch
    loaded = load_image(encode(Image.fromarray(ints, "I"), "TIFF"), "int.tif")
    assert loaded.original_mode == "I"
    assert loaded.rgb.min() == 0 and loaded.rgb.max() == 255
    assert (np.diff(loaded.rgb[..., 0].ravel().astype(int)) >= 0).all()

    floats = np.linspace(0, 1, 64, dtype=np.float32).reshape(8, 8)
    loaded = load_image(encode(Image.fromarray(floats, "F"), "TIFF"), "float.tif")
    assert loaded.original_mode == "F"
    assert loaded.rgb[0, 0, 0] == 0 and loaded.rgb[-1, -1, 0] == 255


def test_cmyk_jpeg_and_tiff() -> None:
    cmyk = Image.new("CMYK", (8, 8), (0, 255, 255, 0))  # pure red in CMYK
    for fmt in ("JPEG", "TIFF"):
        loaded = load_image(encode(cmyk, fmt), f"print.{fmt.lower()}")
        assert loaded.original_mode == "CMYK"
        red, green, blue = (int(v) for v in loaded.rgb[4, 4])
        assert red > 200 and green < 60 and blue < 60


def test_bilevel_image() -> None:
    img = Image.new("1", (8, 8), 0)
    img.putpixel((3, 3), 1)
    loaded = load_image(encode(img, "PNG"), "bw.png")
    assert loaded.original_mode == "1"
    assert tuple(loaded.rgb[3, 3]) == (255, 255, 255) and tuple(loaded.rgb[0, 0]) == (0, 0, 0)


def test_unsupported_mode_is_refused() -> None:
    with pytest.raises(ImageError, match=r"lab\.tif: colour mode LAB is not supported"):
        load_image(encode(Image.new("LAB", (8, 8)), "TIFF"), "lab.tif")
    with pytest.raises(ImageError, match="HSV"):
        to_rgb(Image.new("HSV", (2, 2)), "hsv")


# --- bad input -----------------------------------------------------------------------------------------------


def test_empty_file() -> None:
    with pytest.raises(ImageError, match=r"empty\.jpg: the file is empty \(0 bytes\)") as info:
        load_image(b"", "empty.jpg")
    assert isinstance(info.value, ValueError) and info.value.name == "empty.jpg"


def test_random_bytes_are_not_an_image() -> None:
    noise = np.random.default_rng(0).bytes(2000)
    with pytest.raises(ImageError, match=r"noise\.png: not a supported image: PIL could not identify"):
        load_image(noise, "noise.png")


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP", "TIFF", "BMP"])
def test_truncated_file_fails_on_full_decode(fmt: str) -> None:
    noisy = np.random.default_rng(1).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    data = encode(Image.fromarray(noisy), fmt)
    with pytest.raises(ImageError, match=rf"cut\.{fmt.lower()}: .*(truncated|corrupt|header)"):
        load_image(data[: len(data) // 2], f"cut.{fmt.lower()}")


def test_header_claiming_more_pixels_than_the_limit_is_refused_before_decoding() -> None:
    with pytest.raises(ImageError, match=r"too many pixels: 8000×6000 = 48,000,000.*EXPLORER_MAX_PIXELS") as info:
        load_image(png_with_header_size(8000, 6000), "bomb.png")
    assert "max_pixels" in str(info.value) and "40,000,000" in str(info.value)


def test_decompression_bomb_past_pillows_own_limit_is_an_image_error() -> None:
    with pytest.raises(ImageError, match=r"bomb\.png: too many pixels.*limit is 40,000,000"):
        load_image(png_with_header_size(100_000, 100_000), "bomb.png")
    with pytest.raises(ImageError, match=r"bomb\.png: too many pixels.*Pillow itself refuses"):
        load_image(png_with_header_size(40_000, 40_000), "bomb.png", max_pixels=10**12)
    with pytest.raises(ImageError, match=r"too many pixels .*40,000,000"):  # Pillow's warning level, our limit
        load_image(png_with_header_size(10_000, 10_000), "bomb.png")


def test_raised_limit_lets_a_big_header_through_to_decoding() -> None:
    # Past Pillow's warning level but within the caller's limit: the header passes, the (fake) body fails.
    with pytest.raises(ImageError, match="truncated or corrupt"):
        load_image(png_with_header_size(10_000, 10_000), "big.png", max_pixels=200_000_000)


def test_low_max_pixels_on_a_real_image() -> None:
    data = encode(Image.fromarray(pattern()), "PNG")
    with pytest.raises(ImageError, match=r"40×20 = 800.*limit is 799"):
        load_image(data, "small.png", max_pixels=799)
    assert load_image(data, "small.png", max_pixels=800).rgb.shape == (20, 40, 3)


def test_env_var_sets_the_default_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    data = encode(Image.fromarray(pattern()), "PNG")
    monkeypatch.delenv(MAX_PIXELS_ENV, raising=False)
    assert configured_max_pixels() == DEFAULT_MAX_PIXELS
    monkeypatch.setenv(MAX_PIXELS_ENV, "700")
    with pytest.raises(ImageError, match="limit is 700"):
        load_image(data, "small.png")
    monkeypatch.setenv(MAX_PIXELS_ENV, "40_000_000")
    assert configured_max_pixels() == 40_000_000
    monkeypatch.setenv(MAX_PIXELS_ENV, "lots")
    with pytest.raises(ValueError, match=MAX_PIXELS_ENV):
        load_image(data, "small.png")


@pytest.mark.parametrize(("width", "height", "why"), [
    (60_000, 10, "a side is over"),
    (20, 5000, "more than 200 times longer than wide"),
])
def test_absurd_dimensions(width: int, height: int, why: str) -> None:
    with pytest.raises(ImageError, match=rf"absurd dimensions {width}×{height}: {why}"):
        load_image(png_with_header_size(width, height), "strip.png")


def test_load_images_reports_bad_files_and_keeps_going() -> None:
    good = encode(Image.fromarray(pattern()), "PNG")
    files = [("a.png", good), ("empty.png", b""), ("b.jpg", encode(Image.fromarray(pattern()), "JPEG")),
             ("c.gif", encode(Image.new("RGB", (4, 4)), "GIF"))]
    loaded, errors = load_images(files)
    assert [image.name for image in loaded] == ["a.png", "b.jpg"]
    assert [error.name for error in errors] == ["empty.png", "c.gif"]
    assert all(isinstance(error, ImageError) for error in errors)


def test_load_images_passes_the_limit_on() -> None:
    loaded, errors = load_images([("a.png", encode(Image.fromarray(pattern()), "PNG"))], max_pixels=10)
    assert loaded == [] and "limit is 10" in str(errors[0])


def test_load_image_file_reads_a_file_and_reports_an_unreadable_one_as_an_image_error(tmp_path: Path) -> None:
    from explorer.inputs.images import load_image_file

    path = tmp_path / "small.png"
    Image.fromarray(np.full((5, 7, 3), 9, dtype=np.uint8)).save(path)
    assert load_image_file(path).rgb.shape == (5, 7, 3)
    with pytest.raises(ImageError, match=r"missing\.png: \[Errno 2\]"):
        load_image_file(tmp_path / "missing.png")
    with pytest.raises(ImageError, match="pixels"):
        load_image_file(path, max_pixels=10)


# --- no process-wide state ------------------------------------------------------------------------------------

@pytest.mark.parametrize("case", ["plain", "corrupt exif", "bomb", "big header, raised limit"])
def test_decoding_never_touches_the_process_wide_warning_filters(case: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Warning filters are shared by every thread of a server: a decode must neither change them nor swap them
    for its own while it parses (another session's warnings would be lost or turned into errors meanwhile)."""
    exif = Image.Exif()
    exif[ORIENTATION] = 6
    broken = bytearray(encode(Image.fromarray(pattern()), "JPEG", exif=exif.tobytes()))
    start = broken.find(b"Exif\x00\x00") + 6
    broken[start + 4:start + 8] = b"\xff\xff\xff\x7f"
    data, limit = {"plain": (encode(Image.fromarray(pattern()), "PNG"), None),
                   "corrupt exif": (bytes(broken), None),
                   "bomb": (png_with_header_size(100_000, 100_000), None),
                   "big header, raised limit": (png_with_header_size(10_000, 10_000), 200_000_000)}[case]
    before = list(warnings.filters)
    seen: list[list[object]] = []
    real_open = Image.open

    def watched_open(*args: object, **kwargs: object) -> Image.Image:
        seen.append(list(warnings.filters))
        return real_open(*args, **kwargs)

    monkeypatch.setattr(Image, "open", watched_open)
    with contextlib.suppress(ImageError):
        load_image(data, "x.png", max_pixels=limit)
    assert seen and all(filters == before for filters in seen)
    assert warnings.filters == before


def test_load_uploads_gives_messages_a_cache_can_pickle() -> None:
    import pickle

    from explorer.inputs.images import load_uploads

    loaded, messages = load_uploads([("bad.png", b"nope"), ("good.png", encode(Image.fromarray(pattern()), "PNG"))])
    assert [image.name for image in loaded] == ["good.png"]
    assert len(messages) == 1 and messages[0].startswith("bad.png: ")
    assert pickle.loads(pickle.dumps((loaded, messages)))[1] == messages
