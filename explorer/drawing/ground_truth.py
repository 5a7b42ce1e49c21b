"""Draw predictions against the ground truth on an image: true positives, false positives labelled with their
TIDE error type, and missed objects drawn distinctly (dashed), from `per_image.image_overlay`'s items.

Colours are fixed per kind, not per instance (explorer.drawing.detections's palette): here the colour *is* the message,
and a legend on the page reads the same way on every image. Missed objects are dashed so they read as "should
be here" even where a colour is hard to tell apart.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from PIL import Image, ImageDraw

from explorer.drawing.labels import Color, auto_line_width, label_font, label_font_size, text_color
from explorer.evaluation.analyses.per_image import OverlayItem

#: Colour of each kind of item (RGB).
KIND_COLORS: dict[str, Color] = {
    "tp": (40, 200, 80),
    "cls": (240, 60, 60),
    "loc": (255, 150, 30),
    "both": (200, 60, 200),
    "dupe": (250, 220, 40),
    "bkg": (150, 150, 150),
    "ignored": (110, 110, 110),
    "missed": (40, 140, 255),
}
#: What each kind means, for the page's legend.
KIND_LABELS: dict[str, str] = {
    "tp": "true positive", "cls": "false positive: wrong class", "loc": "false positive: badly placed",
    "both": "false positive: wrong class and badly placed", "dupe": "false positive: duplicate",
    "bkg": "false positive: background", "ignored": "in a crowd region (ignored)",
    "missed": "missed object (dashed)",
}


def draw_ground_truth(image: np.ndarray, items: Sequence[OverlayItem], *, line_width: int | None = None,
                      show_labels: bool = True) -> np.ndarray:
    """A copy of `image` (H, W, 3 uint8) with `items` drawn: missed objects first (dashed), then detections by
    ascending score so the most confident ends on top, each labelled "<kind> <class> <score>"."""
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError(f"expected an (H, W, 3) uint8 image, got {image.shape} {image.dtype}")
    height, width = image.shape[:2]
    lw = line_width or auto_line_width(width, height)
    canvas = Image.fromarray(image.copy())
    draw = ImageDraw.Draw(canvas)
    missed = [item for item in items if item.kind == "missed"]
    found = sorted((item for item in items if item.kind != "missed"), key=lambda item: item.score or 0.0)
    for item in missed:
        _dashed_rectangle(draw, _corners(item.box), KIND_COLORS["missed"], lw)
    for item in found:
        draw.rectangle(_corners(item.box), outline=KIND_COLORS[item.kind], width=lw)
    if show_labels:
        font = label_font(label_font_size(lw, width, height))
        ascent, descent = font.getmetrics()
        for item in [*missed, *found]:
            text = item.category if item.kind == "missed" else f"{item.kind} {item.category} {item.score:.2f}"
            if item.kind == "missed":
                text = f"missed {text}"
            _label(draw, font, text, _corners(item.box), KIND_COLORS[item.kind], lw, ascent + descent, ascent,
                   (width, height), below=item.kind == "missed")
    return np.asarray(canvas)


def _corners(box: tuple[float, float, float, float]) -> tuple[int, int, int, int]:
    x, y, w, h = box
    return round(x), round(y), max(round(x), round(x + w)), max(round(y), round(y + h))


def _dashed_rectangle(draw: ImageDraw.ImageDraw, corners: tuple[int, int, int, int], color: Color,
                      line_width: int) -> None:
    x1, y1, x2, y2 = corners
    dash = max(4, 3 * line_width)
    for start, end in (((x1, y1), (x2, y1)), ((x2, y1), (x2, y2)), ((x2, y2), (x1, y2)), ((x1, y2), (x1, y1))):
        length = math.dist(start, end)
        steps = max(1, int(length // dash))
        for i in range(0, steps, 2):
            a, b = i / steps, min(1.0, (i + 1) / steps)
            draw.line((start[0] + (end[0] - start[0]) * a, start[1] + (end[1] - start[1]) * a,
                       start[0] + (end[0] - start[0]) * b, start[1] + (end[1] - start[1]) * b),
                      fill=color, width=line_width)


def _label(draw: ImageDraw.ImageDraw, font: object, text: str, corners: tuple[int, int, int, int], color: Color,
           line_width: int, text_height: int, ascent: int, size: tuple[int, int], *, below: bool = False) -> None:
    """The label above the box (inside it at the image's top edge); `below` puts it under the box instead, so a
    missed object's label does not hide under the label of a detection on it."""
    pad = max(1, line_width)
    label_h = text_height + 2 * pad
    label_w = math.ceil(font.getlength(text)) + 2 * pad  # type: ignore[attr-defined]
    x1, y1, _, y2 = corners
    x = min(max(0, x1), max(0, size[0] - label_w))
    if below:
        y = y2 + 1 if y2 + 1 + label_h <= size[1] else max(0, y2 - label_h)
    else:
        y = y1 - label_h if y1 - label_h >= 0 else max(0, y1)
    draw.rectangle((x, y, x + label_w - 1, y + label_h - 1), fill=color)
    draw.text((x + pad, y + pad + ascent), text, font=font, fill=text_color(color), anchor="ls")
