"""explorer.figures.evaluation: figures from generated evaluations with known numbers (perfect = 100, absent = no
bar)."""

from __future__ import annotations

import plotly.graph_objects as go
import pytest

from explorer.evaluation.coco.frames import category_matrix, difference_frame
from explorer.evaluation.coco.pipeline import evaluate
from explorer.evaluation.coco.results import Evaluation
from explorer.figures import evaluation as eval_plots
from tests.coco_factory import ABSENT_CATEGORY_ID, CATEGORIES, make_ground_truth, perfect_results


@pytest.fixture(scope="module")
def gt() -> dict:
    return make_ground_truth(n_images=8, seed=3)


@pytest.fixture(scope="module")
def perfect(gt: dict) -> Evaluation:
    return evaluate(gt, perfect_results(gt), "bbox", analysis=True, results_name="perfect.json")


@pytest.fixture(scope="module")
def worse(gt: dict) -> Evaluation:
    """Perfect except that every cat (17) detection is missing: cat AP 0, the rest 100."""
    results = [r for r in perfect_results(gt) if r["category_id"] != 17]
    return evaluate(gt, results, "bbox", results_name="no_cats.json")


def test_category_bars_sorted_and_absent_category_barless(perfect: Evaluation, worse: Evaluation) -> None:
    figure = eval_plots.category_ap_figure(worse)
    bar = figure.data[0]
    names = list(bar.y)
    assert set(names) == {c["name"] for c in CATEGORIES}
    assert names[-1] == "toothbrush" and bar.text[-1] == "no ground truth"  # absent: last, labelled, no bar
    assert bar.marker.color[-1] == "rgba(0,0,0,0)"
    assert names[-2] == "cat" and bar.x[-2] == 0.0 and bar.text[-2] == "0.0"  # found none: a real 0
    assert list(bar.x[:4]) == [100.0] * 4
    with pytest.raises(ValueError, match="unknown metric"):
        eval_plots.category_ap_figure(perfect, "apx")


def test_pr_curves_at_chosen_iou(perfect: Evaluation) -> None:
    figure = eval_plots.pr_curves_figure(perfect, 0.75, [1, ABSENT_CATEGORY_ID])
    names = [trace.name for trace in figure.data]
    assert names == ["person [100.0]", "toothbrush [no ground truth]", "all categories [100.0]"]
    assert "IoU 0.75" in figure.layout.title.text
    assert all(y is None for y in figure.data[1].y)
    assert len(eval_plots.pr_curves_figure(perfect, 0.5).data) == 1  # overall only
    with pytest.raises(ValueError, match="not one of the thresholds"):
        eval_plots.pr_curves_figure(perfect, 0.51)


def test_area_bars(perfect: Evaluation) -> None:
    figure = eval_plots.area_ap_figure(perfect)
    assert list(figure.data[0].x) == ["small", "medium", "large"]
    assert list(figure.data[0].y) == [100.0, 100.0, 100.0]


def test_breakdown_figures(perfect: Evaluation, worse: Evaluation) -> None:
    assert perfect.breakdown is not None
    figure = eval_plots.breakdown_figure(perfect.breakdown)
    assert [trace.name.split()[-1] for trace in figure.data] == ["FN", "BG", "Oth", "Sim", "Loc", "C50", "C75"]
    assert all(trace.name.startswith("[1.000]") for trace in figure.data)
    one = eval_plots.breakdown_figure(perfect.breakdown, category_id=1)
    assert "person" in one.layout.title.text
    gains = eval_plots.breakdown_gains_figure(perfect.breakdown)
    assert list(gains.data[0].x) == ["C50", "Loc", "Sim", "Oth", "BG", "FN"]
    assert all(v == pytest.approx(0.0) for v in gains.data[0].y)


def test_heatmap_rows_categories_cols_files(perfect: Evaluation, worse: Evaluation) -> None:
    figure = eval_plots.category_heatmap_figure(category_matrix({"perfect.json": perfect, "no_cats.json": worse}))
    heat = figure.data[0]
    assert isinstance(heat, go.Heatmap)
    assert list(heat.x) == ["perfect.json", "no_cats.json"]
    rows = list(heat.y)
    cat, toothbrush = rows.index("cat"), rows.index("toothbrush")
    assert list(heat.z[cat]) == [100.0, 0.0]
    assert list(heat.z[toothbrush]) == [None, None] and list(heat.text[toothbrush]) == ["", ""]
    best = figure.data[1]
    assert dict(zip(best.y, best.x, strict=True))["cat"] == "perfect.json"


def test_difference_bars(perfect: Evaluation, worse: Evaluation) -> None:
    names = ("perfect", "no cats")
    figure = eval_plots.difference_figure(difference_frame(perfect, worse, names=names), names=names)
    bar = figure.data[0]
    assert bar.y[0] == "cat" and bar.x[0] == pytest.approx(100.0) and bar.marker.color[0] == "#2CA02C"
    assert bar.text[-1] == "undefined"
    assert "perfect − no cats" in figure.layout.title.text
    reverse = eval_plots.difference_figure(difference_frame(worse, perfect))
    assert reverse.data[0].marker.color[-2] == "#D62728"  # B better: red, sorted last among defined
    with pytest.raises(ValueError, match="unknown metric"):
        eval_plots.difference_figure(difference_frame(worse, perfect), "apx")
