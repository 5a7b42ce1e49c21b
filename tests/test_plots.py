"""explorer.figures.zoo: the figures are pure functions of a zoo frame, so each promise is checked on the figure."""

from __future__ import annotations

from typing import Any

import pandas as pd
import plotly.graph_objects as go
import pytest

from explorer.figures import zoo as plots
from explorer.zoo import schedules
from explorer.zoo.pareto import pareto_mask
from explorer.zoo.speeds import hardware_caption
from explorer.zoo.table import load_notes, load_zoo


@pytest.fixture(scope="module")
def zoo() -> pd.DataFrame:
    return load_zoo()


def row(uid: str, **values: Any) -> dict[str, Any]:
    """One synthetic zoo row: the columns the figures read, NaN / '' unless given."""
    zoo_name, model_id = uid.split(":")[:2]
    base: dict[str, Any] = {
        "uid": uid, "zoo": zoo_name, "model_id": model_id, "name": f"model {model_id}", "table": "t",
        "type": "Mask",
        "backbone": "R-50-FPN", "lr_schedule": "1x", "tta": False, "hardware": "P100", "task": "masks",
        "primary_metric": "mask_ap", "infer_s": float("nan"), "box_ap": float("nan"), "mask_ap": float("nan"),
        "train_mem_gb": float("nan"), "train_hours": float("nan"), "train_gpu_hours": float("nan"),
        "metric_scope": "coco",
    }
    base.update(values)
    base.setdefault("infer_s_e2e", base["infer_s"])
    return base


def frame(*rows: dict[str, Any]) -> pd.DataFrame:
    table = pd.DataFrame(list(rows))
    return table.set_index(pd.Index(table["uid"], name="uid"))


def traces(fig: go.Figure, role: str) -> list[Any]:
    return [trace for trace in fig.data if trace.meta and trace.meta.get("role") == role]


def plotted_uids(fig: go.Figure) -> set[str]:
    return {data[0] for trace in traces(fig, "models") for data in trace.customdata}


# ---- the speed/accuracy scatter ----------------------------------------------------------------------------

@pytest.mark.parametrize(("x", "y"), [("infer_s", "box_ap"), ("infer_s_e2e", "mask_ap"),
                                      ("train_hours", "kp_ap"), ("gflops", "box_ap")])
def test_frontier_traces_match_pareto_mask_per_zoo(zoo: pd.DataFrame, x: str, y: str) -> None:
    fig = plots.speed_accuracy_figure(zoo, x, y, scope="both")
    drawn = {(trace.meta["zoo"], trace.meta["scope"]): [data[0] for data in trace.customdata]
             for trace in traces(fig, "frontier")}
    expected: dict[tuple[str, str], set[str]] = {}
    for (name, scope), rows in zoo.groupby(["zoo", "metric_scope"]):  # one frontier per zoo and metric scope
        mask = pareto_mask(rows[x], rows[y])
        if mask.any():
            expected[(str(name), str(scope))] = set(rows.index[mask])
    assert {name: set(uids) for name, uids in drawn.items()} == expected
    for trace in traces(fig, "frontier"):
        assert trace.line.shape == "hv"  # a step line
        assert list(trace.x) == sorted(trace.x)


def test_frontier_on_synthetic_points_skips_dominated_ones() -> None:
    table = frame(row("detectron:1", infer_s=0.1, box_ap=30.0), row("detectron:2", infer_s=0.2, box_ap=35.0),
                  row("detectron:3", infer_s=0.3, box_ap=33.0), row("detectron:4", infer_s=0.4, box_ap=40.0))
    (front,) = traces(plots.speed_accuracy_figure(table, "infer_s", "box_ap"), "frontier")
    assert [data[0] for data in front.customdata] == ["detectron:1", "detectron:2", "detectron:4"]


def test_every_point_carries_its_uid_and_hover_fields(zoo: pd.DataFrame) -> None:
    fig = plots.speed_accuracy_figure(zoo, "infer_s", "box_ap")
    coco = zoo["metric_scope"] == "coco"  # the default scope: person-only figures are not shown
    assert plotted_uids(fig) == set(zoo.index[zoo["infer_s"].notna() & zoo["box_ap"].notna() & coco])
    for trace in traces(fig, "models"):
        for data, x, y in zip(trace.customdata, trace.x, trace.y, strict=True):
            source = zoo.loc[data[0]]
            assert (x, y) == (source["infer_s"], source["box_ap"])
            assert list(data[1:4]) == [source["name"], source["zoo"], source["model_id"]]
        for field in ("customdata[1]", "customdata[2]", "customdata[3]", "customdata[4]", "customdata[5]",
                      "%{x}", "%{y}", "hardware", "schedule"):
            assert field in trace.hovertemplate


def test_log_axis_is_toggled(zoo: pd.DataFrame) -> None:
    assert plots.speed_accuracy_figure(zoo, log_x=True).layout.xaxis.type == "log"
    assert plots.speed_accuracy_figure(zoo, log_x=False).layout.xaxis.type == "linear"


def test_rows_without_x_or_y_are_counted_and_said(zoo: pd.DataFrame) -> None:
    zoo = zoo[zoo["metric_scope"] == "coco"]
    counts = plots.missing_counts(zoo, "infer_s", "box_ap")
    no_speed = int(zoo["infer_s"].isna().sum())
    assert no_speed >= (zoo["zoo"] == "torchvision").sum() > 0  # torchvision publishes no speed
    assert counts.no_x == no_speed
    assert counts.no_y == int(zoo["box_ap"].isna().sum())
    fig = plots.speed_accuracy_figure(zoo, "infer_s", "box_ap")
    assert counts.hidden == len(zoo) - len(plotted_uids(fig))
    annotation = fig.layout.annotations[0].text
    assert f"{counts.hidden} of {len(zoo)} models not shown" in annotation


def test_missing_counts_on_synthetic_rows() -> None:
    table = frame(row("detectron:1", infer_s=0.1, box_ap=30.0), row("torchvision:a", box_ap=40.0),
                  row("detectron:2", infer_s=0.2), row("torchvision:b"))
    counts = plots.missing_counts(table, "infer_s", "box_ap")
    assert (counts.total, counts.shown, counts.no_x, counts.no_y, counts.hidden) == (4, 1, 2, 2, 3)
    assert counts.sentence("s/im", "box AP") == "3 of 4 models not shown: 2 have no s/im, 2 have no box AP."


def test_log_axis_leaves_out_non_positive_x() -> None:
    table = frame(row("detectron:1", infer_s=0.0, box_ap=30.0), row("detectron:2", infer_s=0.2, box_ap=31.0))
    assert plotted_uids(plots.speed_accuracy_figure(table, log_x=True)) == {"detectron:2"}
    assert plotted_uids(plots.speed_accuracy_figure(table, log_x=False)) == {"detectron:1", "detectron:2"}


def test_colour_groups_follow_the_choice(zoo: pd.DataFrame) -> None:
    def names(colour_by: str) -> set[str]:
        fig = plots.speed_accuracy_figure(zoo, "gflops", "box_ap", colour_by=colour_by)
        return {trace.name for trace in traces(fig, "models")}

    by_type, by_zoo = names("type"), names("zoo")
    with_both = zoo[zoo["gflops"].notna() & zoo["box_ap"].notna() & (zoo["metric_scope"] == "coco")]
    assert by_type == set(with_both["type"])
    assert by_zoo == set(with_both["zoo"])


def test_symbol_by_backbone_and_size_by_memory() -> None:
    table = frame(row("detectron:1", infer_s=0.1, box_ap=30.0, backbone="A", train_mem_gb=4.0),
                  row("detectron:2", infer_s=0.2, box_ap=31.0, backbone="B", train_mem_gb=12.0),
                  row("detectron:3", infer_s=0.3, box_ap=32.0, backbone="A"))
    (points,) = traces(plots.speed_accuracy_figure(table), "models")
    symbols = dict(zip([d[0] for d in points.customdata], points.marker.symbol, strict=True))
    sizes = dict(zip([d[0] for d in points.customdata], points.marker.size, strict=True))
    assert symbols["detectron:1"] == symbols["detectron:3"] != symbols["detectron:2"]
    assert sizes["detectron:1"] < sizes["detectron:2"]
    assert sizes["detectron:3"] == plots.CONSTANT_SIZE
    assert {t.name for t in traces(plots.speed_accuracy_figure(table), "legend")} == {"A", "B"}


def test_selected_model_is_ringed(zoo: pd.DataFrame) -> None:
    uid = zoo.index[zoo["infer_s"].notna() & zoo["box_ap"].notna()][0]
    (ring,) = traces(plots.speed_accuracy_figure(zoo, selected=uid), "selected")
    assert ring.customdata[0][0] == uid
    assert not traces(plots.speed_accuracy_figure(zoo, selected=None), "selected")


def test_hardware_is_stated_per_zoo(zoo: pd.DataFrame) -> None:
    notes = {"detectron": {"hardware": "P100", "year": 2017}, "detectron2": {"hardware": "V100", "year": 2019}}
    both = pd.concat([zoo[zoo["zoo"] == "detectron"].head(2),
                      zoo[zoo["zoo"] == "detectron"].head(1).assign(zoo="detectron2", hardware="V100")])
    assert hardware_caption(notes, both) == ("Detectron: P100 (2017) · Detectron2: V100 (2019) — times "
                                                   "across zoos are not comparable")
    title = plots.speed_accuracy_figure(zoo, notes=load_notes()).layout.title.text
    assert "Detectron: P100 (2017)" in title
    assert "torchvision: no published times" in title


def test_unknown_axis_is_refused(zoo: pd.DataFrame) -> None:
    with pytest.raises(ValueError, match="unknown axis"):
        plots.speed_accuracy_figure(zoo, "name", "box_ap")


# ---- mapping a click back to a row -------------------------------------------------------------------------

def test_uid_from_selection_reads_customdata(zoo: pd.DataFrame) -> None:
    point = {"curve_number": 0, "point_index": 3, "customdata": ["detectron:35861858", "x"]}
    event = {"selection": {"points": [point]}}
    assert plots.uid_from_selection(event) == "detectron:35861858"


def test_uid_from_selection_falls_back_to_trace_and_index(zoo: pd.DataFrame) -> None:
    fig = plots.speed_accuracy_figure(zoo, "infer_s", "box_ap")
    expected = fig.data[1].customdata[2][0]
    event = {"selection": {"points": [{"curve_number": 1, "point_index": 2}], "point_indices": [2]}}
    assert plots.uid_from_selection(event, fig) == expected


@pytest.mark.parametrize("event", [None, {}, {"selection": {"points": []}}, {"selection": {"points": [{}]}}])
def test_uid_from_selection_without_a_point_is_none(event: Any) -> None:
    assert plots.uid_from_selection(event) is None


# ---- schedules and backbones -------------------------------------------------------------------------------

def test_schedule_pairs_differ_only_in_schedule(zoo: pd.DataFrame) -> None:
    pairs = schedules.schedule_pairs(zoo)
    assert not pairs.empty
    for _, pair in pairs.iterrows():
        base, longer = zoo.loc[pair["uid_base"]], zoo.loc[pair["uid_long"]]
        assert base["lr_schedule"] == "1x" != longer["lr_schedule"]
        for key in schedules.PAIR_KEYS:
            assert base[key] == longer[key]
        assert pair["ap_gain"] == pytest.approx(longer["ap"] - base["ap"])
        assert pair["extra_hours"] == pytest.approx(longer["train_hours"] - base["train_hours"], nan_ok=True)


def test_schedule_pairs_skip_ambiguous_groups_and_other_tables() -> None:
    table = frame(
        row("detectron:1", ap=30.0, train_hours=10.0, train_gpu_hours=80.0),
        row("detectron:2", ap=31.5, train_hours=20.0, train_gpu_hours=160.0, lr_schedule="2x"),
        row("detectron:3", ap=32.0, train_hours=20.0, train_gpu_hours=160.0, lr_schedule="2x", table="other"),
        row("detectron:4", ap=30.0, train_hours=10.0, backbone="B"),
        row("detectron:5", ap=30.1, train_hours=10.0, backbone="B"),
        row("detectron:6", ap=31.0, train_hours=20.0, backbone="B", lr_schedule="2x"),
    )
    pairs = schedules.schedule_pairs(table)
    assert list(zip(pairs["uid_base"], pairs["uid_long"], strict=True)) == [("detectron:1", "detectron:2")]
    assert pairs.loc[0, "ap_gain"] == pytest.approx(1.5)
    assert pairs.loc[0, "gain_per_extra_hour"] == pytest.approx(0.15)
    fig = plots.schedule_gain_figure(pairs)
    assert list(fig.data[0].x) == [10.0] and list(fig.data[0].y) == [pytest.approx(1.5)]


def test_backbone_bars_group_by_schedule_and_rank_backbones(zoo: pd.DataFrame) -> None:
    rows = zoo[(zoo["type"] == "RetinaNet") & (zoo["zoo"] == "detectron")]
    fig = plots.backbone_bars(rows, "box_ap", "box AP")
    assert fig.layout.barmode == "group"
    assert {trace.name for trace in fig.data} == set(rows["lr_schedule"])
    order = list(fig.layout.xaxis.categoryarray)
    means = rows.groupby("backbone")["box_ap"].mean()
    assert order == means.sort_values().index.tolist()
