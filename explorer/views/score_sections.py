"""What a score means, for one evaluated results file: the operating point, then calibration. One call for both
evaluation pages, so each page adds one line (operating_point_view and calibration_view draw the sections)."""

from __future__ import annotations

from collections.abc import Sequence

from explorer.views.calibration_view import render_calibration
from explorer.views.operating_point_view import UseThresholds, render_operating_point


def render_score_sections(ground_truth: tuple[str, bytes], results: tuple[str, bytes], iou_type: str,
                          key_prefix: str, *, image_ids: Sequence[int] | None = None,
                          on_use: UseThresholds | None = None) -> None:
    render_operating_point(ground_truth, results, iou_type, key_prefix, image_ids=image_ids, on_use=on_use)
    render_calibration(ground_truth, results, iou_type, key_prefix, image_ids=image_ids)
