"""GFLOPs and parameters: the counting method against torchvision's published figures, and complexity.csv."""

from __future__ import annotations

import csv

import pandas as pd
import pytest
from torchvision.models import get_model_weights

from explorer.figures import zoo as plots
from explorer.models.detectron.family import arch_for_row
from explorer.zoo.card import build_card
from explorer.zoo.paths import ZOO_DATA_DIR
from explorer.zoo.table import find_model, load_configs, load_notes, load_zoo, load_zoo_text
from explorer.zoo_build.complexity import COMPLEXITY_COLUMNS, complexity_rows, detectron2_complexity_rows
from explorer.zoo_build.counting import detectron_complexity, torchvision_complexity

#: Stated tolerances: GFLOPs within 0.1 %; parameters within 0.2 % (a weight-less torchvision build uses trainable
#: batch norm, whose 2 parameters per channel the trained builds keep as frozen buffers).
GFLOPS_TOLERANCE = 1e-3
PARAMS_TOLERANCE = 2e-3
#: Rows whose published figure depends on what torchvision's own count found in its test image, not on the
#: architecture alone: the MobileNet RPNs drop proposals under a score threshold of 0.05 (so fewer RoIs reached
#: the box head), and these two counted their mask/keypoint heads on the detections they happened to make.
CONTENT_DEPENDENT = {
    "FasterRCNN_MobileNet_V3_Large_320_FPN_Weights.COCO_V1", "FasterRCNN_MobileNet_V3_Large_FPN_Weights.COCO_V1",
    "MaskRCNN_ResNet50_FPN_V2_Weights.COCO_V1", "KeypointRCNN_ResNet50_FPN_Weights.COCO_V1",
}


def torchvision_rows() -> list[dict[str, str]]:
    table = load_zoo_text(["torchvision"])
    return [row for row in table.to_dict("records") if row["model_id"] not in CONTENT_DEPENDENT]


@pytest.mark.parametrize("row", torchvision_rows(), ids=lambda row: row["model_id"])
def test_the_method_gives_torchvisions_published_gflops(row: dict[str, str]) -> None:
    member = row["model_id"].partition(".")[2]
    meta = get_model_weights(row["config"])[member].meta
    extra = {"num_keypoints": len(meta["keypoint_names"])} if "keypoint_names" in meta else {}
    counted = torchvision_complexity(row["config"], num_classes=len(meta["categories"]), **extra)
    assert counted.gflops == pytest.approx(meta["_ops"], rel=GFLOPS_TOLERANCE)
    assert counted.params_m == pytest.approx(meta["num_params"] / 1e6, rel=PARAMS_TOLERANCE)


def test_content_dependent_rows_are_the_ones_that_differ() -> None:
    """Exempting a row is only honest while it really differs (and the others above really agree)."""
    table = load_zoo_text(["torchvision"])
    row = table[table["model_id"] == "MaskRCNN_ResNet50_FPN_V2_Weights.COCO_V1"].iloc[0]
    published = get_model_weights(row["config"])["COCO_V1"].meta["_ops"]
    plain = torchvision_complexity(row["config"])
    with_heads = torchvision_complexity(row["config"], detections=100)
    assert plain.gflops < published < plain.gflops + with_heads.detection_heads_gflops  # some detections counted


def committed() -> dict[str, dict[str, str]]:
    with open(ZOO_DATA_DIR / "complexity.csv", encoding="utf-8", newline="") as handle:
        return {row["uid"]: row for row in csv.DictReader(handle)}


#: One row of each kind: RPN, C4, FPN mask, keypoints, RetinaNet, Fast R-CNN on precomputed proposals.
SUBSET = ["35998355", "35857197", "35858933", "37697547", "36768636", "36225401"]


def test_complexity_csv_has_every_detectron_row_and_regenerates_exactly() -> None:
    rows = committed()
    detectron = load_zoo_text(["detectron"])
    assert list(rows)[:len(detectron)] == list(detectron.index)  # every row, in the zoo's order
    assert list(next(iter(rows.values()))) == list(COMPLEXITY_COLUMNS)
    configs = load_configs().to_dict("records")
    chosen = [row for row in detectron.to_dict("records") if row["model_id"] in SUBSET and row["tta"] == "false"]
    for record in complexity_rows(chosen, configs):
        assert record == rows[record["uid"]]


def test_counts_follow_the_architecture() -> None:
    rows = committed()
    mask, faster = rows["detectron:35858933"], rows["detectron:35857345"]  # Mask / Faster R-50-FPN 1x
    assert mask["gflops"] == faster["gflops"] and float(mask["detection_heads_gflops"]) > 0
    assert faster["detection_heads_gflops"] == "" and float(mask["params_m"]) > float(faster["params_m"])
    assert rows["detectron:35857197"]["rois"] == "1000"  # the box head counted on the RPN's 1000 proposals
    tta, plain = rows["detectron:37129812:tta"], rows["detectron:37129812"]
    assert float(tta["gflops"]) > 10 * float(plain["gflops"])  # identity, flip and 8 scales with flips
    assert tta["params_m"] == plain["params_m"]


def test_fewer_detections_count_less_in_the_heads() -> None:
    arch = arch_for_row(load_zoo(["detectron"]).loc["detectron:35858933"].to_dict())
    full, half = detectron_complexity(arch), detectron_complexity(arch, detections=50)
    assert full.gflops == half.gflops
    assert half.detection_heads_gflops == pytest.approx(full.detection_heads_gflops / 2)


def test_zoo_table_offers_them_as_an_axis_and_on_the_card() -> None:
    table = load_zoo()
    detectron = table[table["zoo"] == "detectron"]
    assert detectron["gflops"].notna().all() and detectron["params_m"].notna().all()
    assert table.loc["detectron:35858933", "gflops"] == pytest.approx(131.379)
    published = table[table["zoo"] == "torchvision"]
    raw = pd.read_csv(ZOO_DATA_DIR / "torchvision.csv")
    assert sorted(published["gflops"]) == sorted(raw["gflops"])  # a published figure is never replaced
    fig = plots.speed_accuracy_figure(table, "gflops", "box_ap")
    placed = {point[0] for trace in fig.data if trace.meta and trace.meta.get("role") == "models"
              for point in trace.customdata}
    assert "detectron:35858933" in placed
    card = build_card(table, find_model(table, "35858933"), load_configs(), load_notes())
    assert any("GFLOPs and parameters are not published: computed here" in note for note in card.notes)
    assert card.rows[0]["GFLOPs"] == "131.379"


# ---- Detectron2 ------------------------------------------------------------------------------------------------

#: One Detectron2 row of each kind: Faster C4, Mask FPN, RetinaNet, Fast R-CNN on proposals, Keypoint, LSJ RegNetY.
DETECTRON2_SUBSET = ["137257644", "137849600", "190397829", "137635226", "137849621", "42073830"]


def test_complexity_csv_has_every_detectron2_row_and_regenerates_exactly() -> None:
    rows = committed()
    detectron2 = load_zoo_text(["detectron2"])
    assert [uid for uid in rows if uid.startswith("detectron2:")] == list(detectron2.index)
    configs = load_configs(name="detectron2_configs.csv").to_dict("records")
    chosen = [row for row in detectron2.to_dict("records") if row["model_id"] in DETECTRON2_SUBSET]
    assert len(chosen) == len(DETECTRON2_SUBSET)
    for record in detectron2_complexity_rows(chosen, configs):
        assert record == rows[record["uid"]]


def test_detectron2_counts_follow_the_architecture() -> None:
    rows = {uid.removeprefix("detectron2:"): row for uid, row in committed().items() if uid.startswith("detectron2:")}
    faster, mask = rows["137849458"], rows["137849600"]  # Faster / Mask R-50-FPN 3x
    assert faster["gflops"] == mask["gflops"] and faster["detection_heads_gflops"] == ""
    assert float(mask["detection_heads_gflops"]) > 0 and float(mask["params_m"]) > float(faster["params_m"])
    c4 = rows["137849525"]  # Mask R-50-C4 3x: res5 runs on the 1000 RoIs
    assert float(c4["gflops"]) > 5 * float(mask["gflops"]) and c4["rois"] == "1000"
    assert rows["137635226"]["rois"] == "1000" and float(rows["137635226"]["params_m"]) < float(mask["params_m"])
    retina = rows["190397829"]
    assert retina["rois"] == "" and retina["detection_heads_gflops"] == ""
    x, y = rows["42047771"], rows["42047784"]  # RegNetX-4GF and RegNetY-4GF LSJ: both "4GF" backbones
    assert abs(float(x["gflops"]) - float(y["gflops"])) < 0.05 * float(x["gflops"])
    assert rows["42047764"]["gflops"] == rows["42047638"]["gflops"] == rows["42019571"]["gflops"]  # 100/200/400ep


def test_zoo_table_shows_detectron2_counts_as_computed_here() -> None:
    table = load_zoo()
    detectron2 = table[table["zoo"] == "detectron2"]
    assert len(detectron2) == 45
    assert detectron2["gflops"].notna().all() and detectron2["params_m"].notna().all()
    assert set(detectron2["gflops_source"]) == {"computed here"}
    assert set(detectron2["params_m_source"]) == {"computed here"}
    row = table.loc["detectron2:137849600"]
    assert row["gflops"] == pytest.approx(float(committed()["detectron2:137849600"]["gflops"]))
    assert "GFLOPs and parameters are not published: computed here" in row["notes"]
    fig = plots.speed_accuracy_figure(table, "gflops", "box_ap")
    placed = {point[0] for trace in fig.data if trace.meta and trace.meta.get("role") == "models"
              for point in trace.customdata}
    assert "detectron2:137849600" in placed
    card = build_card(table, find_model(table, "137849600"), load_configs(), load_notes())
    assert card.rows[0]["GFLOPs"] == committed()["detectron2:137849600"]["gflops"]
