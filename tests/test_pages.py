"""The dashboard, page by page, through app.py's navigation with Streamlit's AppTest (no browser)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import streamlit as st
from streamlit.proto.WidgetStates_pb2 import WidgetStates
from streamlit.testing.v1 import AppTest

from explorer.figures import zoo as plots
from explorer.views import loaders
from explorer.zoo import schedules
from explorer.zoo.paths import ZOO_DATA_DIR
from explorer.zoo.ranking import Constraints, rank_models, recommend
from explorer.zoo.table import load_configs, load_notes, load_zoo, load_zoo_text

REPO = Path(__file__).resolve().parents[1]
APP = REPO / "app.py"
TIMEOUT = 30
PAGES = {
    "zoo_tables": "Zoo tables",
    "speed_accuracy": "Speed vs accuracy",
    "pick_model": "Pick a model",
    "schedules": "Schedules & backbones",
    "model_card": "Model card",
}


@pytest.fixture(scope="module")
def zoo() -> pd.DataFrame:
    return load_zoo()


def open_page(page: str, **query: str) -> AppTest:
    """A fresh session on one page, with `?key=value` query parameters, run once."""
    at = AppTest.from_file(str(APP), default_timeout=TIMEOUT)
    at.query_params.update(query)
    at.switch_page(f"explorer/pages/{page}.py")
    return at.run()


def assert_ok(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]


def select_point(at: AppTest, uid: str) -> AppTest:
    """Rerun as the browser does after a click on the point of `uid`.

    AppTest has no Plotly interaction and refuses writes of a chart's selection through session state
    (Streamlit makes it read-only), so the click is sent the way the front end sends it: as the chart
    widget's state, a JSON selection whose point carries the figure's customdata.
    """
    chart = at.get("plotly_chart")[0]
    states: WidgetStates = at._tree.get_widget_states()
    state = states.widgets.add()
    state.id = chart.proto.id
    state.string_value = json.dumps({"selection": {
        "points": [{"curve_number": 0, "point_number": 0, "point_index": 0, "customdata": [uid]}],
        "point_indices": [0], "box": [], "lasso": []}})
    return at._run(states)


def chart_spec(at: AppTest, index: int = 0) -> dict[str, Any]:
    return json.loads(at.get("plotly_chart")[index].proto.spec)


def card_titles(at: AppTest) -> list[str]:
    return [header.value for header in at.subheader]


# ---- every page --------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("page", "title"), PAGES.items())
def test_every_page_runs(page: str, title: str) -> None:
    at = open_page(page)
    assert_ok(at)
    assert [t.value for t in at.title] == [title]


def test_the_root_url_opens_the_zoo_tables(zoo: pd.DataFrame) -> None:
    at = AppTest.from_file(str(APP), default_timeout=TIMEOUT).run()
    assert_ok(at)
    assert [t.value for t in at.title] == ["Zoo tables"]


# ---- zoo tables --------------------------------------------------------------------------------------------

def shown_count(at: AppTest) -> str:
    return next(m.value for m in at.markdown if m.value.endswith(" models**"))


def test_zoo_tables_show_every_row_and_filters_change_the_count(zoo: pd.DataFrame) -> None:
    at = open_page("zoo_tables")
    assert len(at.dataframe[0].value) == len(zoo)
    assert shown_count(at) == f"**{len(zoo)} of {len(zoo)} models**"

    at.multiselect(key="filter_zoo").set_value(["detectron"]).run()
    detectron = zoo[zoo["zoo"] == "detectron"]
    assert len(at.dataframe[0].value) == len(detectron) < len(zoo)
    assert shown_count(at) == f"**{len(detectron)} of {len(zoo)} models**"

    at.multiselect(key="filter_type").set_value(["Mask", "Kps"]).run()
    at.multiselect(key="filter_lr_schedule").set_value(["2x"]).run()
    expected = detectron[detectron["type"].isin(["Mask", "Kps"]) & (detectron["lr_schedule"] == "2x")]
    assert 0 < len(expected) < len(detectron)
    assert sorted(at.dataframe[0].value["model_id"]) == sorted(expected["model_id"])


def test_filters_and_plot_choices_survive_a_page_switch(zoo: pd.DataFrame) -> None:
    at = open_page("zoo_tables")
    at.multiselect(key="filter_zoo").set_value(["torchvision"]).run()
    at.switch_page("explorer/pages/speed_accuracy.py").run()
    at.selectbox(key="speed_y").set_value("mask_ap").run()
    at.switch_page("explorer/pages/zoo_tables.py").run()
    assert shown_count(at) == f"**{int((zoo['zoo'] == 'torchvision').sum())} of {len(zoo)} models**"
    at.switch_page("explorer/pages/speed_accuracy.py").run()
    assert at.selectbox(key="speed_y").value == "mask_ap"


@pytest.mark.parametrize("column", ["table", "backbone", "task"])
def test_each_other_filter_narrows_the_table(zoo: pd.DataFrame, column: str) -> None:
    value = zoo[column].value_counts().index[-1]
    at = open_page("zoo_tables")
    at.multiselect(key=f"filter_{column}").set_value([value]).run()
    assert_ok(at)
    assert len(at.dataframe[0].value) == int((zoo[column] == value).sum()) < len(zoo)


def test_zoo_tables_links_show_words_not_urls() -> None:
    at = open_page("zoo_tables")
    columns = json.loads(at.dataframe[0].proto.columns)
    for column in ("model_url", "boxes_url", "metrics_url"):
        assert columns[column]["type_config"]["type"] == "link"
        assert columns[column]["type_config"]["display_text"]
    assert at.dataframe[0].value["model_url"].str.startswith("https://").any()


def test_zoo_table_notes_follow_the_rows_shown(zoo: pd.DataFrame) -> None:
    notes = load_notes()["detectron"]
    table_note = notes["tables"]["RPN Proposal Baselines"][0]
    at = open_page("zoo_tables")
    (expander,) = at.expander
    text = "\n".join(m.value for m in expander.markdown)
    assert notes["common_settings"][0] in text
    assert table_note in text
    at.multiselect(key="filter_table").set_value(["RetinaNet Baselines"]).run()
    text = "\n".join(m.value for m in at.expander[0].markdown)
    assert notes["common_settings"][0] in text
    assert table_note not in text


# ---- speed vs accuracy -------------------------------------------------------------------------------------

def test_speed_plot_is_drawn_with_frontier_hardware_and_missing_count(zoo: pd.DataFrame) -> None:
    at = open_page("speed_accuracy")
    assert_ok(at)
    assert len(at.get("plotly_chart")) == 1
    spec = chart_spec(at)
    roles = [trace.get("meta", {}).get("role") for trace in spec["data"]]
    assert "models" in roles and "frontier" in roles
    assert "Detectron: P100 (2017)" in spec["layout"]["title"]["text"]
    coco = zoo[zoo["metric_scope"] == "coco"]  # the default scope; the default x is end to end
    hidden = plots.missing_counts(coco, "infer_s_e2e", "box_ap", log_x=True).hidden
    assert hidden >= int((coco["zoo"] == "torchvision").sum()) > 0
    notes = " ".join(annotation["text"] for annotation in spec["layout"]["annotations"])
    assert f"{hidden} of {len(coco)} models not shown" in notes  # said once, inside the figure
    assert spec["layout"]["xaxis"]["title"]["text"].startswith(plots.X_AXES["infer_s_e2e"])


def test_speed_controls_redraw_the_plot() -> None:
    at = open_page("speed_accuracy")
    assert chart_spec(at)["layout"]["xaxis"]["type"] == "log"
    at.toggle(key="speed_log_x").set_value(False).run()
    assert chart_spec(at)["layout"]["xaxis"]["type"] == "linear"
    at.selectbox(key="speed_x").set_value("train_gpu_hours").run()
    at.selectbox(key="speed_y").set_value("mask_ap").run()
    layout = chart_spec(at)["layout"]
    assert layout["xaxis"]["title"]["text"] == plots.X_AXES["train_gpu_hours"]
    assert layout["yaxis"]["title"]["text"] == plots.Y_AXES["mask_ap"]
    at.radio(key="speed_colour").set_value("zoo").run()
    names = {t["name"] for t in chart_spec(at)["data"] if t.get("meta", {}).get("role") == "models"}
    assert names == {"detectron"}  # torchvision has neither training hours nor mask AP


def test_clicking_a_point_opens_its_card_and_sets_the_link(zoo: pd.DataFrame) -> None:
    at = open_page("speed_accuracy")
    assert not card_titles(at)
    select_point(at, "detectron:35861858")
    assert_ok(at)
    assert at.session_state["selected_model"] == "detectron:35861858"
    assert at.query_params["model"] == "35861858"
    assert card_titles(at) == [f"{zoo.at['detectron:35861858', 'name']} — detectron 35861858"]
    rings = [t for t in chart_spec(at)["data"] if t.get("meta", {}).get("role") == "selected"]
    assert rings[0]["customdata"][0][0] == "detectron:35861858"
    at.run()  # later reruns keep the pick
    assert card_titles(at) == [f"{zoo.at['detectron:35861858', 'name']} — detectron 35861858"]


def test_a_stale_click_does_not_undo_a_later_choice() -> None:
    at = open_page("speed_accuracy")
    select_point(at, "detectron:35861858")
    neighbour = at.button[0]
    chosen = neighbour.key.split(":neighbour:")[1]
    neighbour.click()
    select_point(at, "detectron:35861858")  # the browser re-sends the old selection with the button click
    assert at.session_state["selected_model"] == chosen != "detectron:35861858"


def test_the_card_below_the_plot_follows_a_model_link(zoo: pd.DataFrame) -> None:
    at = open_page("speed_accuracy", model="37129812")
    assert at.session_state["selected_model"] == "detectron:37129812"
    assert card_titles(at)[0].endswith("detectron 37129812")


# ---- pick a model ------------------------------------------------------------------------------------------

def recommendation(at: AppTest) -> str:
    (banner,) = list(at.success) + list(at.warning)
    return banner.value


def test_pick_recommends_and_ranks_under_constraints(zoo: pd.DataFrame) -> None:
    at = open_page("pick_model")
    assert_ok(at)
    assert recommendation(at) == recommend(zoo, Constraints())
    assert len(at.dataframe[0].value) == len(rank_models(zoo, Constraints()))

    at.selectbox(key="pick_metric").set_value("mask_ap").run()
    at.number_input(key="pick_budget").set_value(0.2).run()
    constraints = Constraints(metric="mask_ap", max_infer_s=0.2)
    assert recommendation(at) == recommend(zoo, constraints)
    ranked = rank_models(zoo, constraints)
    assert list(at.dataframe[0].value["model_id"]) == list(ranked["model_id"])
    assert 0 < len(ranked) < len(rank_models(zoo, Constraints(metric="mask_ap")))


def test_pick_with_impossible_constraints_says_so() -> None:
    at = open_page("pick_model")
    at.number_input(key="pick_min").set_value(99.0).run()
    assert_ok(at)
    assert "relax a constraint" in recommendation(at)
    assert at.dataframe[0].value.empty


def test_choosing_a_model_keeps_it_for_the_other_pages(zoo: pd.DataFrame) -> None:
    at = open_page("pick_model")
    uid = list(at.selectbox(key="pick_choice").options)[1]
    at.selectbox(key="pick_choice").select_index(1).run()
    expected = plots_label(zoo, at.session_state["selected_model"])
    assert expected == uid
    chosen = at.session_state["selected_model"]
    assert at.query_params["model"] == zoo.at[chosen, "model_id"]
    at.switch_page("explorer/pages/model_card.py").run()
    assert card_titles(at)[0].endswith(f"{zoo.at[chosen, 'zoo']} {zoo.at[chosen, 'model_id']}")


def plots_label(zoo: pd.DataFrame, uid: str) -> str:
    """The selectbox's option label for a uid (what AppTest reports as an option)."""
    return f"{zoo.at[uid, 'name']} — {zoo.at[uid, 'zoo']} {zoo.at[uid, 'model_id']}"


# ---- schedules & backbones ---------------------------------------------------------------------------------

def test_schedules_table_and_charts(zoo: pd.DataFrame) -> None:
    at = open_page("schedules")
    assert_ok(at)
    pairs = schedules.schedule_pairs(zoo)
    assert len(at.dataframe[0].value) == len(pairs) > 0
    assert len(at.get("plotly_chart")) == 3  # gain vs hours, AP per backbone, cost per backbone
    gain = chart_spec(at, 0)
    drawn = sorted(x for trace in gain["data"] if "x" in trace for x in trace["x"])
    assert drawn == sorted(pairs["extra_hours"].dropna())  # pairs without training hours are listed, not drawn

    at.selectbox(key="sched_metric").set_value("box_ap").run()
    assert len(at.dataframe[0].value) == len(schedules.schedule_pairs(zoo, "box_ap"))


def test_backbones_at_a_fixed_type(zoo: pd.DataFrame) -> None:
    at = open_page("schedules")
    at.selectbox(key="bb_type").set_value("RetinaNet").run()
    assert_ok(at)
    where = at.selectbox(key="bb_table")
    assert where.value == "detectron · RetinaNet Baselines"  # most rows of that type: shown first
    assert "torchvision · torchvision detection weights" in where.options
    retinanet = zoo[zoo["type"] == "RetinaNet"]
    spec = chart_spec(at, 1)
    assert {x for trace in spec["data"] for x in trace["x"]} == set(
        retinanet.loc[retinanet["zoo"] == "detectron", "backbone"])
    assert spec["layout"]["barmode"] == "group"
    where.set_value("torchvision · torchvision detection weights").run()
    assert {x for trace in chart_spec(at, 1)["data"] for x in trace["x"]} == set(
        retinanet.loc[retinanet["zoo"] == "torchvision", "backbone"])
    assert at.info, "torchvision publishes no inference time: the page says so instead of an empty chart"


# ---- model card and its link -------------------------------------------------------------------------------

def test_a_model_link_to_the_root_opens_the_card(zoo: pd.DataFrame) -> None:
    at = AppTest.from_file(str(APP), default_timeout=TIMEOUT)
    at.query_params["model"] = "35861858"
    at.run()
    assert_ok(at)
    assert [t.value for t in at.title] == ["Model card"]
    assert card_titles(at) == [f"{zoo.at['detectron:35861858', 'name']} — detectron 35861858"]
    assert not at.error


def test_card_page_shows_every_field_links_and_neighbours(zoo: pd.DataFrame) -> None:
    at = open_page("model_card", model="37129812")
    assert_ok(at)
    facts = at.table[0].value
    assert list(facts.columns) == ["without TTA", "with TTA"]  # both published evaluations
    assert facts.loc["mask AP", "with TTA"] == "41.5 (COCO, all categories)"  # the scope beside the number
    markdown = "\n".join(m.value for m in at.markdown)
    assert f"[model weights]({zoo.at['detectron:37129812', 'model_url']})" in markdown
    assert "Neighbours on the speed/accuracy frontier" in markdown
    assert at.button, "frontier neighbours can be opened"
    at.button[0].click().run()
    assert at.session_state["selected_model"] != "detectron:37129812"
    assert at.query_params["model"] == zoo.at[at.session_state["selected_model"], "model_id"]


def test_card_page_shows_a_detectron2_models_config_facts() -> None:
    at = open_page("model_card", model="42045954")  # Mask R-CNN RegNetY-4GF LSJ 400ep
    assert_ok(at)
    assert any(m.value == "**Config** `mask_rcnn_regnety_4gf_dds_FPN_400ep_LSJ`" for m in at.markdown)
    config = at.table[1].value["value"]
    assert config["config_file"] == "new_baselines/mask_rcnn_regnety_4gf_dds_FPN_400ep_LSJ.py"
    assert config["regnet_stage_widths"] == "128;192;512;1088" and config["mask_head_norm"] == "NaiveSyncBN"


def test_card_page_picker_selects_any_model(zoo: pd.DataFrame) -> None:
    at = open_page("model_card")
    assert not card_titles(at)
    picker = at.selectbox(key="card_choice")
    assert len(picker.options) == len(zoo)
    picker.set_value("torchvision:FCOS_ResNet50_FPN_Weights.COCO_V1").run()
    assert_ok(at)
    assert card_titles(at)[0].endswith("FCOS_ResNet50_FPN_Weights.COCO_V1")
    assert at.query_params["model"] == "FCOS_ResNet50_FPN_Weights.COCO_V1"


def test_unknown_model_id_is_an_error_not_a_crash() -> None:
    at = open_page("model_card", model="no-such-model")
    assert_ok(at)
    assert len(at.error) == 1 and "no-such-model" in at.error[0].value
    assert at.selectbox(key="card_choice").value is None  # the page still works: pick another model
    at.selectbox(key="card_choice").set_value("detectron:35861858").run()
    assert card_titles(at)[0].endswith("detectron 35861858")


# ---- no torch ----------------------------------------------------------------------------------------------

def test_pages_never_import_torch() -> None:
    """Run every page in a fresh interpreter (other tests' imports cannot hide or fake an import)."""
    script = textwrap.dedent(f"""
        import json, sys
        from streamlit.testing.v1 import AppTest
        at = AppTest.from_file({str(APP)!r}, default_timeout={TIMEOUT}).run()
        ran = [at.title[0].value]
        for page in {list(PAGES)!r}:
            at.switch_page(f"explorer/pages/{{page}}.py").run()
            assert not at.exception, (page, [e.value for e in at.exception])
            ran.append(at.title[0].value)
        at.query_params["model"] = "35861858"
        at.switch_page("explorer/pages/model_card.py").run()
        ran.append(at.subheader[0].value)
        print(json.dumps({{"ran": ran, "torch": sorted(m for m in sys.modules
                                                     if m.split(".")[0] in ("torch", "torchvision"))}}))
    """)
    done = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True,
                          timeout=120, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["ran"][1:6] == list(PAGES.values())
    assert report["ran"][-1].endswith("detectron 35861858")
    assert report["torch"] == []


# ---- a second timed zoo (detectron2 is still empty in zoo_data/) -------------------------------------------

@pytest.fixture
def with_detectron2(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[pd.DataFrame]:
    """zoo_data/ plus detectron2 rows timed on V100, one sharing a Detectron model id."""
    for source in ZOO_DATA_DIR.iterdir():
        shutil.copy(source, tmp_path / source.name)
    text = load_zoo_text(["detectron"])
    rows = text[(text["table"] == "End-to-End Faster & Mask R-CNN Baselines")
                & text["backbone"].isin(["R-50-FPN", "R-101-FPN"])].copy()
    rows["zoo"], rows["hardware"], rows["table"] = "detectron2", "V100", "COCO Object Detection Baselines"
    rows["lr_schedule"] = rows["lr_schedule"].replace({"2x": "3x"})
    rows["model_id"] = "9" + rows["model_id"]
    rows.iloc[0, rows.columns.get_loc("model_id")] = "35861858"  # the same id as a Detectron model
    rows.iloc[1, rows.columns.get_loc("train_hours")] = ""
    rows[["proposals_model_id"]] = ""
    rows.to_csv(tmp_path / "detectron2.csv", index=False)
    notes = json.loads((tmp_path / "notes.json").read_text("utf-8"))
    notes["detectron2"] = {"hardware": "V100", "year": 2019, "common_settings": ["Timed on 8 V100 GPUs."],
                           "tables": {"COCO Object Detection Baselines": ["Detectron2 table note."]}}
    (tmp_path / "notes.json").write_text(json.dumps(notes), "utf-8")
    monkeypatch.setattr(loaders, "load_zoo", partial(load_zoo, data_dir=tmp_path))
    monkeypatch.setattr(loaders, "load_notes", partial(load_notes, data_dir=tmp_path))
    monkeypatch.setattr(loaders, "load_configs", partial(load_configs, data_dir=tmp_path))
    st.cache_data.clear()
    st.cache_resource.clear()
    yield load_zoo(data_dir=tmp_path)
    st.cache_data.clear()
    st.cache_resource.clear()


def test_pages_handle_a_second_timed_zoo(with_detectron2: pd.DataFrame) -> None:
    zoo = with_detectron2
    for page in PAGES:
        assert_ok(open_page(page))
    at = open_page("speed_accuracy")
    spec = chart_spec(at)
    assert ("Detectron: P100 (2017) · Detectron2: V100 (2019) — times across zoos are not comparable"
            in spec["layout"]["title"]["text"])
    frontiers = {t["meta"]["zoo"] for t in spec["data"] if t.get("meta", {}).get("role") == "frontier"}
    assert frontiers == {"detectron", "detectron2"}

    at = open_page("zoo_tables")
    at.multiselect(key="filter_zoo").set_value(["detectron2"]).run()
    assert len(at.dataframe[0].value) == int((zoo["zoo"] == "detectron2").sum())
    assert "Detectron2 table note." in "\n".join(m.value for m in at.expander[0].markdown)

    at = open_page("schedules")
    assert len(at.dataframe[0].value) == len(schedules.schedule_pairs(zoo))
    assert any("no training hours" in c.value for c in at.caption)


def test_a_model_id_two_zoos_share_links_by_uid(with_detectron2: pd.DataFrame) -> None:
    at = open_page("model_card", model="35861858")
    assert at.session_state["selected_model"] == "detectron:35861858"  # a bare id means the first zoo's
    at.selectbox(key="card_choice").set_value("detectron2:35861858").run()
    assert_ok(at)
    assert at.query_params["model"] == "detectron2:35861858"
    assert card_titles(at)[0].endswith("detectron2 35861858")
    fresh = open_page("model_card", model="detectron2:35861858")
    assert card_titles(fresh)[0].endswith("detectron2 35861858")
