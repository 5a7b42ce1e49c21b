"""What every drawing module shares: the colour type, line widths and label text (font, size, readable colour).

A model's detections (explorer.drawing.detections) and predictions against the ground truth
(explorer.drawing.ground_truth) draw their lines and labels the same way, so a user reads both alike.
"""

from __future__ import annotations

from functools import lru_cache

from PIL import ImageFont

Color = tuple[int, int, int]


def auto_line_width(width: int, height: int) -> int:
    """About 2 px at 1333x800, growing with the image so lines stay visible once the page scales it down."""
    return max(1, round(max(width, height) / 600))


@lru_cache(maxsize=16)
def label_font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    """Pillow's bundled default font at `size` (a bitmap fallback where Pillow lacks FreeType)."""
    return ImageFont.load_default(size=size)


def label_font_size(line_width: int, width: int, height: int) -> int:
    """The label text size for an image of `width` x `height` drawn with lines `line_width` wide."""
    return max(10, round(max(width, height) / 90), 5 * line_width)


def text_color(background: Color) -> Color:
    """Black on light label backgrounds, white on dark ones."""
    red, green, blue = background
    return (0, 0, 0) if 0.299 * red + 0.587 * green + 0.114 * blue > 150 else (255, 255, 255)
