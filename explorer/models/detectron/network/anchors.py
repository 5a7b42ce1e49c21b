"""Detectron's cell anchors, computed the way its `generate_anchors` does (numpy, no torch).

An anchor is built from a reference window (0, 0, stride - 1, stride - 1): first one window per aspect ratio
with the same area (widths rounded to whole pixels, heights rounded from them), then each scaled by
size / stride around the same centre. The rounding and the inclusive "+1" widths make these anchors differ from
torchvision's by up to a pixel, and the trained weights expect exactly these, so they are reproduced here.
"""

from __future__ import annotations

import numpy as np

from explorer.models.detectron.arch import DetectronArch


def _width_height_centre(window: np.ndarray) -> tuple[float, float, float, float]:
    width = window[2] - window[0] + 1
    height = window[3] - window[1] + 1
    return width, height, window[0] + 0.5 * (width - 1), window[1] + 0.5 * (height - 1)


def _windows(widths: np.ndarray, heights: np.ndarray, x_centre: float, y_centre: float) -> np.ndarray:
    half_w = 0.5 * (widths[:, None] - 1)
    half_h = 0.5 * (heights[:, None] - 1)
    return np.hstack((x_centre - half_w, y_centre - half_h, x_centre + half_w, y_centre + half_h))


def cell_anchors(stride: float, sizes: tuple[float, ...], aspect_ratios: tuple[float, ...]) -> np.ndarray:
    """(len(ratios) * len(sizes), 4) anchors around the first cell, ratio-major as Detectron orders them."""
    reference = np.array([0.0, 0.0, stride - 1.0, stride - 1.0])
    width, height, x_centre, y_centre = _width_height_centre(reference)
    ratios = np.asarray(aspect_ratios, dtype=float)
    ratio_widths = np.round(np.sqrt(width * height / ratios))
    ratio_heights = np.round(ratio_widths * ratios)
    per_ratio = _windows(ratio_widths, ratio_heights, x_centre, y_centre)
    scales = np.asarray(sizes, dtype=float) / stride
    out = []
    for window in per_ratio:
        w, h, xc, yc = _width_height_centre(window)
        out.append(_windows(w * scales, h * scales, xc, yc))
    return np.vstack(out)


def rpn_cell_anchors(arch: DetectronArch, level: int | None) -> tuple[float, np.ndarray]:
    """(stride, anchors) of the RPN at an FPN level, or of the single C4 RPN when `level` is None."""
    if level is None:
        stride = 16.0
        return stride, cell_anchors(stride, arch.rpn_anchor_sizes, arch.rpn_aspect_ratios)
    stride = 2.0 ** level
    start = arch.rpn_anchor_sizes[0]  # FPN.RPN_ANCHOR_START_SIZE: one size per level, doubling per level
    size = start * 2.0 ** (level - arch.rpn_min_level)
    return stride, cell_anchors(stride, (size,), arch.rpn_aspect_ratios)


def retinanet_cell_anchors(arch: DetectronArch, level: int) -> tuple[float, np.ndarray]:
    """(stride, A x 4 anchors) of RetinaNet at `level`: octave-major, then aspect ratio (test_retinanet.py)."""
    stride = 2.0 ** level
    rows = []
    for octave in range(arch.retinanet_scales_per_octave):
        octave_scale = 2 ** (octave / float(arch.retinanet_scales_per_octave))
        size = stride * octave_scale * arch.retinanet_anchor_scale
        for ratio in arch.retinanet_aspect_ratios:
            rows.append(cell_anchors(stride, (size,), (ratio,))[0])
    return stride, np.vstack(rows)
