"""Draw the items behind one confusion-matrix cell on their image: the object (ground truth) and the detection.

The object's box is green with its class under it, the detection's orange with its class and score above, so a
"dog taken for a cat" cell shows both boxes and both names at once. A missed object has only the green box; a
background detection only the orange one.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Final

import numpy as np
from PIL import Image, ImageDraw, ImageFont

GROUND_TRUTH_COLOUR: Final[tuple[int, int, int]] = (40, 200, 70)
DETECTION_COLOUR: Final[tuple[int, int, int]] = (255, 140, 0)


def draw_cell_items(image: np.ndarray, items: Iterable[Mapping[str, Any]]) -> np.ndarray:
    """A copy of `image` (H, W, 3 uint8) with each item's `gt_box` and `dt_box` ([x, y, w, h] or None) drawn and
    labelled with `ground_truth` / `predicted` (and `score`)."""
    canvas = Image.fromarray(np.ascontiguousarray(image[..., :3]).astype(np.uint8))
    draw = ImageDraw.Draw(canvas)
    width = max(2, round(max(canvas.size) / 300))
    font = ImageFont.load_default(size=max(10, 6 * width))
    for item in items:
        # The object's name under its box, the detection's above: both stay readable when the boxes coincide.
        for box, colour, text, below in ((item.get("gt_box"), GROUND_TRUTH_COLOUR, f"{item.get('ground_truth')}", True),
                                         (item.get("dt_box"), DETECTION_COLOUR, _detection_text(item), False)):
            if box is None:
                continue
            x, y, w, h = (float(v) for v in box)
            draw.rectangle([x, y, x + w, y + h], outline=colour, width=width)
            left, top, right, bottom = draw.textbbox((0, 0), text, font=font)
            at = (x, y + h + 1) if below else (x, y - (bottom - top) - 3)
            draw.rectangle([at[0], at[1], at[0] + right - left + 2, at[1] + bottom + 2], fill=colour)
            draw.text((at[0] + 1, at[1]), text, fill=(0, 0, 0), font=font)
    return np.asarray(canvas)


def _detection_text(item: Mapping[str, Any]) -> str:
    score = item.get("score")
    return f"{item.get('predicted')} {score:.2f}" if isinstance(score, float) and score == score else (
        f"{item.get('predicted')}")
