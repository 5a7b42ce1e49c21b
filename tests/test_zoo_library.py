"""Loading, derived metrics, Pareto frontier and ranking on small hand-made tables."""

from __future__ import annotations

import json
import math

import pytest

from explorer.models.catalog import UnknownModelError
from explorer.zoo.pareto import frontier, frontier_neighbours, pareto_mask
from explorer.zoo.ranking import Constraints, RankingError, rank_models, recommend
from explorer.zoo.table import UnknownZooError, check_zoos, find_model, load_zoo, load_zoo_text
from tests.zoo_factory import as_frame, write_zoo, zoo_row

NOTES = json.dumps({"detectron": {"schedules": {"1x": {"epochs": 12.17}, "2x": {"epochs": 24.35}}}})


@pytest.fixture
def zoo(tmp_path):
    rows = [
        zoo_row("1", infer_s="0.100", infer_s_gpu="0.090", infer_s_cpu="0.010", box_ap="30.0", train_hours="10.0",
                train_mem_gb="5.0"),
        zoo_row("2", infer_s="0.200", box_ap="40.0", lr_schedule="2x", train_hours="20.0", train_mem_gb="8.0"),
        zoo_row("3", infer_s="0.300", box_ap="35.0"),  # dominated by 2
        zoo_row("4", type="Mask", task="masks", infer_s="0.250", box_ap="41.0", mask_ap="37.0"),
        zoo_row("5", type="RPN", task="proposals", infer_s="0.050", prop_ar="57.2"),
        zoo_row("6", type="Mask", task="masks", infer_s="0.120", box_ap="38.0", mask_ap="34.0",
                proposals_model_id="5"),
        zoo_row("Tv.COCO_V1", zoo="torchvision", hardware="", train_gpus="", lr_schedule="", box_ap="37.0",
                gflops="134.38"),
    ]
    return write_zoo(tmp_path, rows, NOTES)


def test_text_view_keeps_page_spelling(zoo) -> None:
    text = load_zoo_text(data_dir=zoo)
    assert text.loc["detectron:1", "infer_s"] == "0.100" and text.loc["detectron:3", "mask_ap"] == ""
    assert text.index.is_unique


def test_numbers_and_missing_values(zoo) -> None:
    table = load_zoo(data_dir=zoo)
    assert table.loc["detectron:1", "infer_s"] == pytest.approx(0.1)
    assert math.isnan(table.loc["detectron:3", "mask_ap"])  # empty stays missing, never 0
    assert math.isnan(table.loc["torchvision:Tv.COCO_V1", "infer_s"])
    assert table["tta"].dtype == bool


def test_derived_metrics(zoo) -> None:
    table = load_zoo(data_dir=zoo)
    one = table.loc["detectron:1"]
    assert one["box_ap_per_s"] == pytest.approx(300.0)
    assert one["train_gpu_hours"] == pytest.approx(80.0)
    assert one["ap_per_train_gb"] == pytest.approx(6.0)
    assert one["epochs"] == pytest.approx(12.17)
    assert table.loc["detectron:2", "epochs"] == pytest.approx(24.35)
    mask = table.loc["detectron:4"]
    assert mask["primary_metric"] == "mask_ap" and mask["ap"] == 37.0
    assert mask["ap_per_s"] == pytest.approx(37.0 / 0.25)
    assert math.isnan(table.loc["torchvision:Tv.COCO_V1", "box_ap_per_s"])  # no speed, no ratio
    assert table.loc["detectron:6", "infer_s_e2e"] == pytest.approx(0.17)  # 0.12 + RPN 5's 0.05
    assert table.loc["detectron:4", "infer_s_e2e"] == pytest.approx(0.25)


def test_pareto_on_hand_made_points() -> None:
    points = as_frame({"a": (1, 10), "b": (2, 20), "c": (3, 15), "d": (2, 20), "e": (4, 30), "f": (None, 99),
                       "g": (0.5, 5), "h": (2, 19)})
    mask = pareto_mask(points["cost"], points["value"])
    assert mask.to_dict() == {"a": True, "b": True, "c": False, "d": True, "e": True, "f": False, "g": True,
                              "h": False}
    assert list(frontier(points, "cost", "value").index) == ["g", "a", "b", "d", "e"]


def test_pareto_equal_cost_better_value_dominates() -> None:
    points = as_frame({"slow_bad": (1.0, 5.0), "same_cost_better": (1.0, 6.0)})
    assert pareto_mask(points["cost"], points["value"]).to_dict() == {"slow_bad": False, "same_cost_better": True}


def test_frontier_neighbours() -> None:
    points = as_frame({"a": (1, 10), "b": (2, 20), "c": (3, 15), "e": (4, 30)})
    assert list(frontier_neighbours(points, "c", "cost", "value").index) == ["b", "e"]
    assert list(frontier_neighbours(points, "a", "cost", "value").index) == ["b"]


def test_ranking_by_ap_per_second(zoo) -> None:
    table = load_zoo(data_dir=zoo)
    ranked = rank_models(table, Constraints(metric="box_ap", speed="published"))
    assert list(ranked["model_id"]) == ["6", "1", "2", "4", "3"]  # 316.7, 300, 200, 164, 116.7 AP/s
    assert list(ranked["rank"]) == [1, 2, 3, 4, 5]
    assert ranked.set_index("model_id")["pareto"].to_dict() == {"1": True, "6": True, "2": True, "4": True,
                                                                "3": False}


def test_ranking_constraints(zoo) -> None:
    table = load_zoo(data_dir=zoo)
    assert list(rank_models(table, Constraints(metric="box_ap", max_infer_s=0.2, speed="published"))["model_id"]) \
        == ["6", "1", "2"]
    # the default speed is end to end: 6 runs on RPN 5's proposals, 0.12 + 0.05 s
    assert list(rank_models(table, Constraints(metric="box_ap", max_infer_s=0.2))["model_id"]) == ["1", "6", "2"]
    assert list(rank_models(table, Constraints(metric="box_ap", task="masks"))["model_id"]) == ["6", "4"]
    assert list(rank_models(table, Constraints(metric="box_ap", min_metric=39))["model_id"]) == ["2", "4"]
    assert list(rank_models(table, Constraints(metric="prop_ar"))["model_id"]) == ["5"]
    assert rank_models(table, Constraints(metric="box_ap", zoos=("torchvision",))).empty  # no speed published
    assert list(rank_models(table, Constraints(metric="box_ap", speed="infer_s_gpu"))["model_id"]) == ["1"]
    e2e = rank_models(table, Constraints(metric="mask_ap", speed="infer_s_e2e"))
    assert list(e2e["model_id"]) == ["6", "4"] and e2e.iloc[0]["per_s"] == pytest.approx(34.0 / 0.17)


def test_bad_constraints_are_clear(zoo) -> None:
    table = load_zoo(data_dir=zoo)
    with pytest.raises(RankingError, match="unknown metric 'ap50'"):
        rank_models(table, Constraints(metric="ap50"))
    with pytest.raises(RankingError, match="unknown task 'faces'"):
        rank_models(table, Constraints(task="faces"))
    with pytest.raises(UnknownZooError, match="unknown zoo 'yolo'"):
        rank_models(table, Constraints(zoos=("yolo",)))


def test_recommendation_sentence(zoo) -> None:
    table = load_zoo(data_dir=zoo)
    sentence = recommend(table, Constraints(metric="mask_ap", min_metric=33, speed="published"))
    assert sentence.startswith("Comparing mask AP over all COCO categories. Timed by Detectron on P100: the fastest "
                               "model with mask AP ≥ 33 is model 6 (detectron 6)")
    assert "not counting proposal generation by RPN 5" in sentence
    assert "the most accurate is model 4" in sentence
    e2e = recommend(table, Constraints(metric="mask_ap", min_metric=33))
    assert "model 6 (detectron 6): mask AP 34 at 0.17 s/im including proposal generation by RPN 5" in e2e
    assert recommend(table, Constraints(metric="mask_ap", min_metric=90)).startswith("No model with mask AP ≥ 90")


def test_lookup_errors(zoo) -> None:
    table = load_zoo(data_dir=zoo)
    assert list(find_model(table, "2").index) == ["detectron:2"]
    with pytest.raises(UnknownModelError, match="unknown model id '999'"):
        find_model(table, "999")
    assert check_zoos(["all"]) == ["detectron", "detectron2", "torchvision"]


def test_rejects_stale_columns(tmp_path) -> None:
    for zoo in ("detectron", "detectron2", "torchvision"):
        (tmp_path / f"{zoo}.csv").write_text("zoo,model_id\n")
    with pytest.raises(ValueError, match="rebuild zoo_data"):
        load_zoo_text(data_dir=tmp_path)
