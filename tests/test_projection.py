"""Projected speeds on hand-made tables: a known scale comes back exactly, too few models give none,
noise widens the interval, and sources are never mixed."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from explorer.zoo.local_speeds import latest_speeds, settings, with_local_speeds
from explorer.zoo.projection import MIN_MODELS, fit_scale, project, t_quantile
from explorer.zoo.ranking import Constraints, rank_models, ranking_view, recommend
from explorer.zoo.table import load_zoo
from tests.zoo_factory import write_zoo, zoo_row


def series(values: list[float | None]) -> pd.Series:
    return pd.Series(values, index=[f"m{i}" for i in range(len(values))], dtype=float)


def test_t_quantiles_match_closed_forms() -> None:
    assert t_quantile(0.9, 1) == pytest.approx(math.tan(math.pi * 0.4), rel=1e-6)  # Cauchy
    assert t_quantile(0.9, 2) == pytest.approx(0.8 / math.sqrt(2 * 0.9 * 0.1), rel=1e-6)
    assert t_quantile(0.9, 4000) == pytest.approx(1.28155, abs=1e-3)  # the normal's
    assert t_quantile(0.9, 0) == 0.0


def test_a_known_scale_is_given_back_exactly() -> None:
    published = series([0.1, 0.2, 0.4, 0.05])
    measured = series([0.3, 0.6, 1.2, None])  # three times slower here; m3 not measured
    fit = fit_scale(published, measured)
    assert fit is not None and fit.n == 3 and fit.scale == pytest.approx(3.0) and fit.residual_sd == pytest.approx(0)
    out = project(published, measured, pd.Series("Detectron on P100", index=published.index))
    assert out.loc["m3", "projected_s"] == pytest.approx(0.15)
    assert out.loc["m3", "projected_lo_s"] == pytest.approx(0.15) and out.loc["m3", "projected_hi_s"] == pytest.approx(
        0.15)
    assert out.loc["m3", "projection_n"] == 3
    free = fit_scale(published, series([0.3, 0.6 * 2, 1.2 * 4, None]), free_slope=True)  # t_here = 30 t_pub^2
    assert free is not None and free.slope == pytest.approx(2.0) and free.predict(np.array([0.05]))[0][0] == (
        pytest.approx(30 * 0.05 ** 2))


def test_fewer_than_three_measured_models_give_no_projection() -> None:
    assert MIN_MODELS == 3
    published = series([0.1, 0.2, 0.4])
    measured = series([0.3, 0.6, None])
    assert fit_scale(published, measured) is None
    out = project(published, measured, pd.Series("Detectron on P100", index=published.index))
    assert out["projected_s"].isna().all()


def test_interval_widens_with_noisy_residuals() -> None:
    published = series([0.1, 0.2, 0.4, 0.8, 0.3])
    source = pd.Series("s", index=published.index)
    quiet = project(published, series([0.30, 0.61, 1.19, 2.41, None]), source).loc["m4"]
    noisy = project(published, series([0.25, 0.75, 1.00, 2.90, None]), source).loc["m4"]
    assert quiet["projected_lo_s"] < quiet["projected_s"] < quiet["projected_hi_s"]
    assert noisy["projected_hi_s"] / noisy["projected_lo_s"] > 2 * (quiet["projected_hi_s"] / quiet["projected_lo_s"])


def test_never_across_sources() -> None:
    published = series([0.1, 0.2, 0.4, 0.1, 0.2])
    measured = series([0.3, 0.6, 1.2, None, None])
    source = pd.Series(["A", "A", "A", "B", "B"], index=published.index)
    out = project(published, measured, source)
    assert out.loc[["m0", "m1", "m2"], "projected_s"].notna().all()
    assert out.loc[["m3", "m4"], "projected_s"].isna().all()  # B has no measured model: A's scale is not lent


# ---- from the store's records to ranked local speeds -------------------------------------------------------

@pytest.fixture
def zoo(tmp_path):
    rows = [
        zoo_row("1", infer_s="0.100", box_ap="30.0"),
        zoo_row("2", infer_s="0.200", box_ap="40.0"),
        zoo_row("3", infer_s="0.400", box_ap="42.0"),
        zoo_row("4", infer_s="0.050", box_ap="25.0"),  # not measured: projected at 3 x 0.05
        zoo_row("5", zoo="detectron2", infer_s="0.050", box_ap="41.0", hardware="V100"),  # too few of its source
        zoo_row("Tv", zoo="torchvision", hardware="", box_ap="37.0"),  # no published time: measured only
        zoo_row("K", type="Kps", task="keypoints", infer_s="0.100", box_ap="55.0", kp_ap="65.0",
                metric_scope="person"),
    ]
    return load_zoo(data_dir=write_zoo(tmp_path, rows))


def records(*rows: tuple[str, float], device: str = "CPU A", width: int = 640, **extra: object) -> pd.DataFrame:
    base = {"device_name": device, "image_width": width, "image_height": 480, "batch_size": 1, "autocast": "",
            "weights": "random", "p90_s": np.nan, "torch_version": "2.x", **extra}
    return pd.DataFrame([{**base, "model_uid": uid, "median_s": median} for uid, median in rows])


def test_a_model_input_size_of_its_own_is_its_own_setting(zoo: pd.DataFrame) -> None:
    """Same image, device and batch but the model resized to another input size: never mixed in, and told apart."""
    store = pd.concat([
        records(("detectron:1", 0.3), ("detectron:2", 0.6), ("detectron:3", 1.2), min_size=800, max_size=1333),
        records(("detectron:1", 0.05), min_size=320, max_size=533),
    ], ignore_index=True)
    found = settings(latest_speeds(store))
    assert [s.models for s in found] == [3, 1]
    assert found[0].label == "CPU A, 640×480, batch 1, fp32, random weights, input 800/1333"
    assert found[1].label.endswith("input 320/533")
    table, machine = with_local_speeds(zoo, store)
    assert machine == found[0].label and table.loc["detectron:1", "measured_s"] == 0.3
    small, _ = with_local_speeds(zoo, store, found[1].label)
    assert small.loc["detectron:1", "measured_s"] == 0.05 and math.isnan(small.loc["detectron:2", "measured_s"])


def test_local_speeds_from_store_records(zoo: pd.DataFrame) -> None:
    store = pd.concat([
        records(("detectron:1", 0.5)),  # replaced by the newer record below
        records(("detectron:1", 0.3), ("detectron:2", 0.6), ("detectron:3", 1.2), ("torchvision:Tv", 0.9),
                ("detectron:K", 0.3), new_column="kept out of the way"),
        records(("detectron:1", 0.02), device="GPU B"),  # another device: never mixed in
        records(("detectron:2", 0.5), width=1333),  # another input size: never mixed in
    ], ignore_index=True)
    found = settings(latest_speeds(store))
    assert found[0].models == 5 and found[0].label == "CPU A, 640×480, batch 1, fp32, random weights"
    table, machine = with_local_speeds(zoo, store)
    assert machine == found[0].label
    assert table.loc["detectron:1", "measured_s"] == 0.3
    assert table.loc["detectron:4", "projected_s"] == pytest.approx(0.15)
    assert table.loc["detectron:4", "projection_n"] == 4  # the person-only K is timed too: time has no scope
    assert math.isnan(table.loc["detectron2:5", "projected_s"])  # one measured model of its source: none
    assert table.loc["torchvision:Tv", "projected_s"] == 0.9  # measured here, so it has a local time
    other, label = with_local_speeds(zoo, store, "GPU B, 640×480, batch 1, fp32, random weights")
    assert label.startswith("GPU B") and other.loc["detectron:1", "measured_s"] == 0.02
    assert other["projected_s"].notna().sum() == 1


def test_projected_ranking_is_one_list_across_zoos(zoo: pd.DataFrame) -> None:
    store = records(("detectron:1", 0.3), ("detectron:2", 0.6), ("detectron:3", 1.2), ("torchvision:Tv", 0.37))
    table, machine = with_local_speeds(zoo, store)
    constraints = Constraints(speed="projected", machine=machine)
    ranked = rank_models(table, constraints)
    assert list(ranked["model_id"]) == ["4", "Tv", "1", "2", "3"]  # 166.7, 100 (AP 37), 100 (AP 30), 66.7, 35
    assert list(ranked["rank"]) == [1, 2, 3, 4, 5]  # across zoos: every time is for this machine
    view = ranking_view(ranked, constraints)
    assert view.set_index("model_id")["speed_source"].to_dict() == {
        "Tv": "measured", "4": "projected", "1": "measured", "2": "measured", "3": "measured"}
    assert set(view["hardware"]) == {machine}
    assert view.set_index("model_id").loc["4", "projection_n"] == 3
    sentence = recommend(table, constraints)
    assert f"Timed on this machine ({machine}): the fastest model is model 4" in sentence
    assert "projected (80 % interval 0.15–0.15, from 3 measured models)" in sentence
    measured = rank_models(table, Constraints(speed="measured", machine=machine))
    assert set(measured["model_id"]) == {"Tv", "1", "2", "3"} and set(measured["speed_source"]) == {"measured"}


def test_published_ranks_restart_per_hardware(zoo: pd.DataFrame) -> None:
    ranked = rank_models(zoo, Constraints())
    assert list(zip(ranked["timing"], ranked["rank"], strict=True)) == [
        ("Detectron on P100", 1), ("Detectron on P100", 2), ("Detectron on P100", 3), ("Detectron on P100", 4),
        ("Detectron2 on V100", 1)]
    assert set(ranked["speed_source"]) == {"published"}
    assert ranked.groupby("timing")["pareto"].any().all()  # a frontier within each source
    sentence = recommend(zoo, Constraints())
    assert "Timed by Detectron on P100: the fastest model is model 4" in sentence
    assert "Timed by Detectron2 on V100: the fastest model is model 5" in sentence
    assert "torchvision publishes no inference time, so its models have no published-speed rank" in sentence
    top = rank_models(zoo, Constraints(), top=1)
    assert list(top["model_id"]) == ["4", "5"]  # the best of each source


# ---- on the plot: measured solid, projected hollow with error bars -----------------------------------------

def test_plot_draws_measured_solid_and_projected_hollow_with_intervals(zoo: pd.DataFrame) -> None:
    from explorer.figures import zoo as plots
    store = records(("detectron:1", 0.3), ("detectron:2", 0.66), ("detectron:3", 1.1), ("torchvision:Tv", 0.37))
    table, machine = with_local_speeds(zoo, store)
    fig = plots.speed_accuracy_figure(table, "projected_s", "box_ap", machine=machine)
    models = [t for t in fig.data if t.meta and t.meta.get("role") == "models"]
    by_kind = {kind: [t for t in models if t.meta["speed_source"] == kind] for kind in ("measured", "projected")}
    assert {d[0] for t in by_kind["measured"] for d in t.customdata} == {"detectron:1", "detectron:2", "detectron:3",
                                                                         "torchvision:Tv"}
    (projected,) = by_kind["projected"]
    assert [d[0] for d in projected.customdata] == ["detectron:4"]
    assert all(symbol.endswith("-open") for symbol in projected.marker.symbol)
    assert not any(symbol.endswith("-open") for t in by_kind["measured"] for symbol in t.marker.symbol)
    assert all(t.error_x.array is None for t in by_kind["measured"])
    row = table.loc["detectron:4"]
    assert projected.error_x.array[0] == pytest.approx(row["projected_hi_s"] - row["projected_s"])
    assert projected.error_x.arrayminus[0] == pytest.approx(row["projected_s"] - row["projected_lo_s"])
    assert projected.error_x.array[0] > 0  # the residuals are not exact here
    assert "scale fitted on 3 measured models" in projected.text[0] and "%{text}" in projected.hovertemplate
    (front,) = [t for t in fig.data if t.meta and t.meta.get("role") == "frontier"]  # one machine: one frontier
    assert front.meta["zoo"] == "all" and {d[0].split(":")[0] for d in front.customdata} >= {"torchvision"}
    assert machine in fig.layout.title.text
    measured_only = plots.speed_accuracy_figure(table, "measured_s", "box_ap", machine=machine)
    kinds = {t.meta["speed_source"] for t in measured_only.data if t.meta and t.meta.get("role") == "models"}
    assert kinds == {"measured"}
