"""Draw a model's `Detections` on its image: translucent masks with outlines, boxes, labels, keypoints.

Filtering (score threshold, classes, top proposals) happens here, on the stored result, so the page can
redraw on every slider move without running the model again. That makes drawing speed matter: the target
is 100 instance masks with boxes and labels on a 1333x800 image in at most 50 ms on two CPU cores
(`bench/bench_render.py` measures it). Two choices get there:

* Masks are never touched at full size per instance. Each instance's mask is read only inside its box
  (plus a margin), where it writes its id into one "which instance is on top here" map; outlines and
  colours are then computed once over the area the masks cover (outline: where the map changes; colour:
  one table lookup per channel). So a pixel is tinted by its top-most instance only: overlapping
  instances stay readable instead of mixing into brown, and the cost does not grow with the overlap.
* Text is the other big cost, so each label is laid out once: its size comes from the font's metrics
  and advance width, not from a second layout pass.

Draw order is by ascending score, so the most confident instance ends on top. Each instance keeps the
palette colour of its position in the *unfiltered* detections, so moving the score slider or unticking a
class does not repaint the instances that stay.
"""

from __future__ import annotations

import colorsys
import io
import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from PIL import Image, ImageDraw

from explorer.detections import COCO_SKELETON, Detections
from explorer.drawing.labels import Color, auto_line_width, label_font, label_font_size, text_color

_GOLDEN_RATIO_CONJUGATE = 0.618033988749895


@dataclass
class RenderOptions:
    """What to draw. `classes` None means every class; `line_width` None picks one from the image size.

    `keypoint_thresh` applies to each keypoint's own score (a limb needs both ends); the default suits
    both detectron2's probabilities and torchvision's logits, where low-confidence points are negative.
    `max_proposals` caps how many RPN proposals (highest objectness first) are drawn.
    """

    show_boxes: bool = True
    show_masks: bool = True
    show_keypoints: bool = True
    show_labels: bool = True
    score_thresh: float = 0.5
    classes: set[str] | None = None
    class_thresholds: dict[str, float] | None = None  # per-class score thresholds; other classes: score_thresh
    keypoint_thresh: float = 0.05
    mask_alpha: float = 0.5
    line_width: int | None = None
    max_proposals: int = 100

    def __post_init__(self) -> None:
        if not 0.0 <= self.mask_alpha <= 1.0:
            raise ValueError(f"mask_alpha must be within 0..1, got {self.mask_alpha}")
        if self.line_width is not None and self.line_width < 1:
            raise ValueError(f"line_width must be at least 1, got {self.line_width}")
        if self.max_proposals < 0:
            raise ValueError(f"max_proposals must not be negative, got {self.max_proposals}")


def instance_color(index: int) -> Color:
    """The palette colour of the index-th instance: hues a golden-ratio step apart, so neighbours differ.

    Deterministic (same result, same colours on every redraw) and bright enough to show on photos.
    """
    hue = (0.1 + index * _GOLDEN_RATIO_CONJUGATE) % 1.0
    saturation = 0.85 if index % 2 == 0 else 0.6
    red, green, blue = colorsys.hsv_to_rgb(hue, saturation, 0.95)
    return round(red * 255), round(green * 255), round(blue * 255)


@lru_cache(maxsize=8)
def _palette(count: int) -> np.ndarray:
    """(count, 3) uint8 colours of instances 0..count-1 (read-only: it is shared between calls)."""
    colors = np.array([instance_color(i) for i in range(count)], dtype=np.uint8).reshape(-1, 3)
    colors.flags.writeable = False
    return colors


def visible_indices(detections: Detections, options: RenderOptions) -> np.ndarray:
    """Indices of the detections to draw, ascending.

    Same rule as `Detections.keep_mask` (score at or above the class's threshold, class in `classes`); for
    proposals, then the `max_proposals` with the highest objectness. Indices rather than a filtered
    copy because a copy would duplicate the (N, H, W) masks, ~100 MB and ~15 ms for 100 masks at
    1333x800, on every redraw; and the original index is each instance's palette colour.
    """
    index = np.flatnonzero(detections.keep_mask(options.score_thresh, options.classes, options.class_thresholds))
    if detections.kind == "proposals":
        best_first = np.argsort(-detections.scores[index], kind="stable")
        index = np.sort(index[best_first[: options.max_proposals]])
    return index


def draw_detections(image: np.ndarray, detections: Detections, options: RenderOptions | None = None) -> np.ndarray:
    """A new (H, W, 3) uint8 image with the detections drawn; `image` itself is left untouched."""
    options = options or RenderOptions()
    _check_image(image, detections)
    out = np.array(image, dtype=np.uint8, copy=True, order="C")
    index = visible_indices(detections, options)
    if len(index) == 0:
        return out
    # Ascending score: the most confident instance is drawn last, on top.
    order = index[np.argsort(detections.scores[index], kind="stable")]
    colors = _palette(len(detections))
    line_width = options.line_width or auto_line_width(detections.width, detections.height)
    proposals = detections.kind == "proposals"

    if options.show_masks and detections.masks is not None and not proposals:
        _blend_masks(out, detections.masks, detections.boxes, colors, order, options.mask_alpha)

    draw_keypoints = options.show_keypoints and detections.keypoints is not None
    if not (options.show_boxes or options.show_labels or draw_keypoints):
        return out
    canvas = Image.fromarray(out)
    draw = ImageDraw.Draw(canvas)
    if options.show_boxes:
        _draw_boxes(draw, detections.boxes, colors, order, 1 if proposals else line_width)
    if draw_keypoints:
        _draw_keypoints(draw, detections, colors, order, options.keypoint_thresh, line_width)
    if options.show_labels and not proposals:
        _draw_labels(draw, detections, colors, order, line_width)
    return np.array(canvas)


def encode_png(image: np.ndarray, compress_level: int = 1) -> bytes:
    """PNG bytes for the download button.

    Level 1 by default: Streamlit's download button needs the bytes on every rerun, and on a
    1333x800 photo level 1 takes about a third of the time of Pillow's default 6 for a ~15% larger file.
    """
    buffer = io.BytesIO()
    Image.fromarray(np.asarray(image, dtype=np.uint8)).save(buffer, "PNG", compress_level=compress_level)
    return buffer.getvalue()


def _check_image(image: np.ndarray, detections: Detections) -> None:
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError(f"expected an (H, W, 3) uint8 image, got shape {image.shape} of {image.dtype}")
    if image.shape[:2] != (detections.height, detections.width):
        raise ValueError(f"image is {image.shape[1]}x{image.shape[0]} but the detections are for "
                         f"{detections.width}x{detections.height}")


# --- masks ---------------------------------------------------------------------------------------------------


def _mask_window(box: np.ndarray, width: int, height: int) -> tuple[int, int, int, int] | None:
    """The part of the image where an instance's mask can be non-zero: its box plus a margin, clipped.

    Models paste masks into their box, but interpolation lets them spill a little past it (torchvision
    pads the 28x28 mask by a cell, so up to ~1/56 of the box size), hence a margin that grows with the box.
    None when the window is empty (a box entirely off the image, or degenerate).
    """
    x1, y1, x2, y2 = (float(v) for v in box)
    if not all(math.isfinite(v) for v in (x1, y1, x2, y2)):
        return 0, 0, width, height  # no usable box: look at the whole mask rather than miss it
    margin = 2 + math.ceil(0.05 * max(x2 - x1, y2 - y1, 0.0))
    left, top = max(0, math.floor(x1) - margin), max(0, math.floor(y1) - margin)
    right, bottom = min(width, math.ceil(x2) + margin + 1), min(height, math.ceil(y2) + margin + 1)
    if right <= left or bottom <= top:
        return None
    return left, top, right, bottom


def _blend_masks(out: np.ndarray, masks: np.ndarray, boxes: np.ndarray, colors: np.ndarray, order: np.ndarray,
                 alpha: float) -> None:
    """Tint each drawn instance's mask with its colour at `alpha` and outline it in solid colour, in place.

    A map holds, per pixel, a code for the top-most drawn instance j (its position in `order`):
    j = tinted, m + j = outline, 2m = untouched. Masks are read only inside their windows; the outline
    and the colours are then computed once over the area the windows cover.
    """
    height, width = out.shape[:2]
    m = len(order)
    untouched = 2 * m
    # uint16 holds code * 256 + 255 while m <= 127 (the usual at most 100 detections) and halves the traffic.
    dtype = np.uint16 if untouched * 256 + 255 <= np.iinfo(np.uint16).max else np.int32
    code = np.full((height, width), untouched, dtype=dtype)
    covered: list[tuple[int, int, int, int]] = []
    for j, i in enumerate(order):
        window = _mask_window(boxes[i], width, height)
        if window is not None:
            left, top, right, bottom = window
            np.copyto(code[top:bottom, left:right], j, where=masks[i, top:bottom, left:right])
            covered.append(window)
    if not covered:
        return
    left, top = min(w[0] for w in covered), min(w[1] for w in covered)
    right, bottom = max(w[2] for w in covered), max(w[3] for w in covered)
    region_code = code[top:bottom, left:right]
    _mark_outlines(region_code, m, untouched)
    _apply_codes(out[top:bottom, left:right], region_code, _blend_table(colors[order], alpha))


def _mark_outlines(code: np.ndarray, m: int, untouched: int) -> None:
    """Turn instance pixels with a 4-neighbour of another code into outline codes (j -> m + j), in place.

    This outlines what is visible of each mask: where instances overlap, the one on top is outlined
    along its whole edge and the one below where it shows. One pass over the map, not one per mask.
    """
    edge = np.zeros(code.shape, dtype=bool)
    differs = code[1:] != code[:-1]
    edge[1:] |= differs
    edge[:-1] |= differs
    differs = code[:, 1:] != code[:, :-1]
    edge[:, 1:] |= differs
    edge[:, :-1] |= differs
    edge &= code != untouched
    np.add(code, code.dtype.type(m), out=code, where=edge)


def _apply_codes(region: np.ndarray, code: np.ndarray, table: np.ndarray) -> None:
    """region[..., c] = table[c][code * 256 + region[..., c]]: one `np.take` per channel, in place.

    `code` is consumed (shifted in place). mode="clip" skips bounds checks; indices are in range by design.
    """
    code <<= 8
    for channel in range(3):
        region[..., channel] = np.take(table[channel], code + region[..., channel], mode="clip")


def _blend_table(colors: np.ndarray, alpha: float) -> np.ndarray:
    """(3, (2m + 1) * 256) uint8: per channel, rows of 256 outputs for tint j, outline j, then identity."""
    values = np.arange(256, dtype=np.float32)[None, :, None]
    tinted = values * (1.0 - alpha) + colors[:, None, :].astype(np.float32) * alpha
    outline = np.broadcast_to(colors[:, None, :], tinted.shape)
    identity = np.broadcast_to(values, (1, 256, 3))
    table = np.concatenate([np.rint(tinted), outline, identity]).clip(0, 255).astype(np.uint8)
    return np.ascontiguousarray(table.transpose(2, 0, 1)).reshape(3, -1)


# --- boxes, labels, keypoints --------------------------------------------------------------------------------


def _draw_boxes(draw: ImageDraw.ImageDraw, boxes: np.ndarray, colors: np.ndarray, order: np.ndarray,
                line_width: int) -> None:
    for i in order:
        if not np.isfinite(boxes[i]).all():
            continue
        x1, y1, x2, y2 = (round(float(v)) for v in boxes[i])
        if x2 < x1 or y2 < y1:
            continue
        draw.rectangle((x1, y1, x2, y2), outline=_rgb(colors[i]), width=line_width)


def _draw_labels(draw: ImageDraw.ImageDraw, detections: Detections, colors: np.ndarray, order: np.ndarray,
                 line_width: int) -> None:
    """"class 0.97" on a box of the instance's colour, above the box (inside it at the image's top edge).

    Label height comes from the font's metrics, and width from `getlength`, rather than a per-label
    `getbbox`: that would lay the text out twice, and text is the costliest part of a redraw.
    """
    font = label_font(label_font_size(line_width, detections.width, detections.height))
    ascent, descent = font.getmetrics()
    pad = max(1, line_width)
    label_h = ascent + descent + 2 * pad
    for i in order:
        if not np.isfinite(detections.boxes[i][:2]).all():
            continue
        text = f"{detections.names[i]} {float(detections.scores[i]):.2f}"
        label_w = math.ceil(font.getlength(text)) + 2 * pad
        x1, y1 = round(float(detections.boxes[i][0])), round(float(detections.boxes[i][1]))
        x = min(max(0, x1), max(0, detections.width - label_w))
        y = y1 - label_h if y1 - label_h >= 0 else max(0, y1)
        background = _rgb(colors[i])
        draw.rectangle((x, y, x + label_w - 1, y + label_h - 1), fill=background)
        draw.text((x + pad, y + pad + ascent), text, font=font, fill=text_color(background), anchor="ls")


def _draw_keypoints(draw: ImageDraw.ImageDraw, detections: Detections, colors: np.ndarray, order: np.ndarray,
                    threshold: float, line_width: int) -> None:
    """Dots for keypoints scoring at least `threshold`; COCO skeleton limbs where both ends pass."""
    assert detections.keypoints is not None
    keypoints = detections.keypoints
    count = keypoints.shape[1]
    scores = detections.keypoint_scores
    skeleton = COCO_SKELETON if count == 17 else ()
    radius = max(2, line_width + 1)
    for i in order:
        visible = (scores[i] >= threshold) if scores is not None else np.ones(count, dtype=bool)
        visible &= np.isfinite(keypoints[i]).all(axis=1)
        color = _rgb(colors[i])
        for a, b in skeleton:
            if visible[a] and visible[b]:
                start, end = keypoints[i, a], keypoints[i, b]
                draw.line((float(start[0]), float(start[1]), float(end[0]), float(end[1])), fill=color,
                          width=line_width)
        for k in np.flatnonzero(visible):
            x, y = float(keypoints[i, k, 0]), float(keypoints[i, k, 1])
            draw.ellipse((x - radius, y - radius, x + radius, y + radius), fill=color, outline=(255, 255, 255))


def _rgb(color: np.ndarray) -> Color:
    return int(color[0]), int(color[1]), int(color[2])
