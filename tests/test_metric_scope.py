"""Metric scope: every AP/AR knows whether it covers all COCO categories or people only, and none is mixed.

The scope is generated into zoo_data/ from the sources' own words (the Detectron tables' notes, the
Detectron2 section heading, torchvision's category list); rankings, frontiers, sentences, schedule pairs,
plots and the card then only ever compare figures of one scope.
"""

from __future__ import annotations

import pandas as pd
import pytest

from explorer.figures import zoo as plots
from explorer.zoo import schedules
from explorer.zoo.card import build_card
from explorer.zoo.ranking import Constraints, rank_models, recommend
from explorer.zoo.schema import SCOPES
from explorer.zoo.table import load_configs, load_notes, load_zoo
from explorer.zoo_build.sources.detectron_page import metric_scope as detectron_scope
from explorer.zoo_build.sources.torchvision_weights import metric_scope as torchvision_scope

PERSON_TABLES = {
    ("detectron", "Person-Specific RPN Baselines"),
    ("detectron", "Keypoint-Only Mask R-CNN Baselines Using Precomputed RPN Proposals"),
    ("detectron", "End-to-End Keypoint-Only Mask R-CNN Baselines"),
    ("detectron2", "Keypoint R-CNN"),
}


@pytest.fixture(scope="module")
def zoo() -> pd.DataFrame:
    return load_zoo()


def test_every_row_has_a_scope_from_its_source(zoo: pd.DataFrame) -> None:
    assert set(zoo["metric_scope"]) == set(SCOPES)
    person = zoo[zoo["metric_scope"] == "person"]
    assert set(zip(person["zoo"], person["table"], strict=True)) == PERSON_TABLES | {
        ("detectron2", "Detectron1 comparisons"), ("torchvision", "torchvision detection weights")}
    assert (zoo.loc[zoo["type"] == "Kps", "metric_scope"] == "person").all()  # every keypoint model, every zoo
    assert set(person.loc[person["zoo"] == "torchvision", "config"]) == {"keypointrcnn_resnet50_fpn"}
    assert set(person["type"]) == {"Kps", "RPN"}
    rpn = zoo[zoo["type"] == "RPN"]
    assert (rpn["metric_scope"] == rpn["table"].eq("Person-Specific RPN Baselines").map(
        {True: "person", False: "coco"})).all()


def test_detectron_scope_reads_the_note_under_its_own_table() -> None:
    body = "<table>rows</table>\n\n**Notes:**\n\n- *Metrics are for the person category only.*\n"
    assert detectron_scope(body, body.index("</table>")) == "person"
    # the keypoint section's common settings sit after the previous table: not that table's note
    before_heading = ("<table>rows</table>\n\n## Keypoint Detection Baselines\n\n"
                      "- Metrics are for the person category only.")
    assert detectron_scope(before_heading, before_heading.index("</table>")) == "coco"


def test_torchvision_scope_follows_the_weights_categories() -> None:
    assert torchvision_scope(["no person", "person"]) == "person"
    assert torchvision_scope(["__background__", "person", "bicycle", "car"]) == "coco"


def test_rankings_and_sentences_keep_to_one_scope(zoo: pd.DataFrame) -> None:
    for metric in ("box_ap", "mask_ap", "kp_ap", "prop_ar"):
        for scope in SCOPES:
            constraints = Constraints(metric=metric, scope=scope)
            ranked = rank_models(zoo, constraints)
            assert set(ranked["metric_scope"]) <= {scope}
            assert ranked["pareto"].any() or ranked.empty
            sentence = recommend(zoo, constraints)
            named = [uid for uid in zoo.index
                     if f"({zoo.at[uid, 'zoo']} {zoo.at[uid, 'model_id']})" in sentence]
            assert set(zoo.loc[named, "metric_scope"]) <= {scope}, (metric, scope)
    coco = recommend(zoo, Constraints(metric="box_ap"))
    assert coco.startswith("Comparing box AP over all COCO categories.")
    assert "Kps" not in coco  # 57.3 person-only box AP is not the "most accurate" any more
    person = recommend(zoo, Constraints(metric="box_ap", scope="person"))
    assert person.startswith("Comparing box AP over the person category only.") and "Kps" in person


def test_keypoint_ap_in_the_coco_scope_points_at_the_person_scope(zoo: pd.DataFrame) -> None:
    sentence = recommend(zoo, Constraints(metric="kp_ap"))
    assert sentence.startswith("No model") and "choose the scope 'person'" in sentence


def test_schedule_pairs_compare_one_scope(zoo: pd.DataFrame) -> None:
    coco, person = schedules.schedule_pairs(zoo, "box_ap"), schedules.schedule_pairs(zoo, "box_ap", "person")
    assert not coco.empty and not person.empty
    for pairs, scope in ((coco, "coco"), (person, "person")):
        assert set(pairs["metric_scope"]) == {scope}
        assert set(zoo.loc[pairs["uid_base"], "metric_scope"]) == set(zoo.loc[pairs["uid_long"], "metric_scope"]) \
            == {scope}


def test_plot_series_and_frontiers_are_one_scope_each(zoo: pd.DataFrame) -> None:
    def scopes_of(trace) -> set[str]:
        return {zoo.at[data[0], "metric_scope"] for data in trace.customdata}

    for scope in SCOPES:
        fig = plots.speed_accuracy_figure(zoo, "infer_s_e2e", "box_ap", scope=scope)
        drawn = [t for t in fig.data if t.meta and t.meta.get("role") in ("models", "frontier")]
        assert drawn and all(scopes_of(t) == {scope} for t in drawn)
    both = plots.speed_accuracy_figure(zoo, "infer_s_e2e", "box_ap", scope="both")
    for trace in both.data:
        if trace.meta and trace.meta.get("role") in ("models", "frontier"):
            assert scopes_of(trace) == {trace.meta["scope"]}  # never a series mixing the two
            person = trace.meta["scope"] == "person"
            assert ("person only" in trace.name) == person
            if trace.meta["role"] == "models":
                assert (trace.marker.line.color == plots.PERSON_OUTLINE["color"]) == person  # visibly apart
    fronts = {(t.meta["zoo"], t.meta["scope"]) for t in both.data if t.meta and t.meta.get("role") == "frontier"}
    assert {("detectron", "person"), ("detectron", "coco"), ("detectron2", "person")} <= fronts


def test_card_says_the_scope_beside_each_number(zoo: pd.DataFrame) -> None:
    kps = zoo[(zoo["zoo"] == "detectron2") & (zoo["type"] == "Kps")].iloc[[0]]
    card = build_card(zoo, kps, load_configs(), load_notes())
    assert card.rows[0]["box AP"].endswith("(person only)") and card.rows[0]["keypoint AP"].endswith("(person only)")
    assert set(zoo.loc[card.neighbours.index, "metric_scope"]) <= {"person"}
    mask = zoo.loc[["detectron:35861858"]]
    facts = build_card(zoo, mask, load_configs(), load_notes()).rows[0]
    assert facts["mask AP"] == "36.4 (COCO, all categories)"
