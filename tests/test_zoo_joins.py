"""The joins the zoo figures draw from, in the zoo package: the hardware each zoo timed on (notes.json beside the
table), measured speeds beside the published accuracy, and the frontier groups."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from explorer.figures import zoo as plots
from explorer.sweep.summary import MEASURED_COLUMNS, measured_frame
from explorer.zoo.local_speeds import measured_points
from explorer.zoo.pareto import frontier, frontiers
from explorer.zoo.speeds import LOCAL_COLUMNS, SPEEDS, hardware_caption, zoo_hardware
from explorer.zoo.table import load_zoo

MASK = "torchvision:MaskRCNN_ResNet50_FPN_Weights.COCO_V1"
RPN = "detectron:35998814"


@pytest.fixture(scope="module")
def zoo() -> pd.DataFrame:
    return load_zoo()


def table(rows: list[tuple[str, str, str]]) -> pd.DataFrame:
    """(uid, zoo, hardware) rows, every other column as the figures need it."""
    return pd.DataFrame([{"zoo": z, "hardware": h} for _, z, h in rows], index=[uid for uid, _, _ in rows])


def test_notes_name_the_hardware_and_the_table_fills_in_a_zoo_without_notes() -> None:
    rows = table([("a:1", "detectron", ""), ("b:1", "detectron2", "V100"), ("c:1", "torchvision", "")])
    notes = {"detectron": {"hardware": "P100", "year": 2017}, "detectron2": "not a mapping"}
    assert zoo_hardware(notes, rows) == {"detectron": "P100 (2017)", "detectron2": "V100"}
    assert hardware_caption(notes, rows) == ("Detectron: P100 (2017) · Detectron2: V100 — times across zoos are "
                                             "not comparable; torchvision: no published times")
    assert hardware_caption({}, rows.iloc[[2]]) == "No published timings among these models."


def sweep_summary() -> pd.DataFrame:
    """A sweep's rows: no weights_kind column, the kind is read from the weights label."""
    rows = [(MASK, "GPU A", "published", 0.05), (MASK, "GPU A", "random", 0.04), (MASK, "GPU A", "mine.pth", 0.03),
            (RPN, "GPU A", "published", 0.02), ("torchvision:not-in-the-zoo", "GPU A", "published", 0.01)]
    frame = pd.DataFrame([dict.fromkeys(MEASURED_COLUMNS, 1) | {"model_uid": uid, "device_name": device,
                                                                "weights": weights, "median_s": median}
                          for uid, device, weights, median in rows])
    return measured_frame(frame)


def test_measured_points_keep_published_weights_of_zoo_models_with_the_accuracy(zoo: pd.DataFrame) -> None:
    points = measured_points(sweep_summary(), zoo, "box_ap")
    assert points["model_uid"].tolist() == [MASK]  # not random, not a file, not an RPN (no box AP), not unknown
    assert points["median_s"].tolist() == [0.05]
    assert points["published_y"].tolist() == [zoo.loc[MASK, "box_ap"]] and points["name"].tolist() == [
        zoo.loc[MASK, "name"]]
    assert measured_points(sweep_summary(), zoo, "prop_ar")["model_uid"].tolist() == [RPN]


def test_the_figure_draws_the_points_it_is_given_for_the_rows_it_shows(zoo: pd.DataFrame) -> None:
    points = measured_points(sweep_summary(), zoo, "box_ap")
    shown = plots.speed_accuracy_figure(zoo, "infer_s", "box_ap", measured=points)
    (trace,) = [t for t in shown.data if t.meta and t.meta.get("role") == "measured"]
    assert list(trace.x) == [0.05] and trace.customdata[0][0] == MASK
    elsewhere = plots.speed_accuracy_figure(zoo.drop(index=MASK), "infer_s", "box_ap", measured=points)
    assert not [t for t in elsewhere.data if t.meta and t.meta.get("role") == "measured"]


def test_frontiers_are_per_zoo_and_scope_unless_the_times_are_one_machines(zoo: pd.DataFrame) -> None:
    per_zoo = frontiers(zoo, "infer_s", "box_ap")
    assert {group for group, _ in per_zoo} == {"detectron", "detectron2"}  # torchvision publishes no times
    for (group, scope), front in per_zoo.items():
        rows = zoo[(zoo["zoo"] == group) & (zoo["metric_scope"] == scope)]
        assert front.index.tolist() == frontier(rows, "infer_s", "box_ap").index.tolist()
    across = frontiers(zoo, "infer_s", "box_ap", across_zoos=True)
    assert {group for group, _ in across} == {"all"} and {scope for _, scope in across} == {"coco", "person"}
    assert all(not front.empty and front["infer_s"].is_monotonic_increasing for front in across.values())


def test_local_axes_are_the_speeds_for_this_machine() -> None:
    assert {speed.column for speed in SPEEDS.values() if speed.local} == LOCAL_COLUMNS == plots.LOCAL_X
    frame = pd.DataFrame({"measured_s": [0.1, math.nan]})
    assert plots.point_kinds(frame, "projected_s").tolist() == ["measured", "projected"]
    assert plots.point_kinds(frame, "measured_s").tolist() == ["measured", "measured"]
    assert plots.point_kinds(frame, "train_hours").tolist() == ["published", "published"]
