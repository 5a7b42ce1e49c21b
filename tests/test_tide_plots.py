"""TIDE figures: one bar per error type with the dAP, per category too, and model against model."""

from __future__ import annotations

import math

from explorer.evaluation.analyses.tide import ERRORS, tide
from explorer.figures.tide import tide_comparison_figure, tide_figure
from tests.coco_factory import make_ground_truth, perfect_results
from tests.test_tide_reference import noisy_results


def test_bars_are_the_daps() -> None:
    gt = make_ground_truth(8, seed=3)
    errors = tide(gt, noisy_results(gt, seed=1), "bbox")
    bar = tide_figure(errors).data[0]
    assert list(bar.x) == list(ERRORS) and list(bar.y) == [errors.dap[e] for e in ERRORS]
    k = errors.category_names.index("cat")
    one = tide_figure(errors, "cat").data[0]
    assert [v for v in one.y] == [float(errors.category_dap[e, k]) for e in range(len(ERRORS))]
    absent = tide_figure(errors, "toothbrush").data[0]
    assert all(v is None for v in absent.y)  # no objects: no bars, not zeros
    perfect = tide(gt, perfect_results(gt), "bbox")
    both = tide_comparison_figure({"noisy": errors, "perfect": perfect})
    assert [t.name for t in both.data] == ["noisy", "perfect"]
    assert all(math.isclose(v, 0.0, abs_tol=1e-9) for v in both.data[1].y[:6])  # nothing to fix
