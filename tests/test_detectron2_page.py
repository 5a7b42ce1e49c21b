"""The Detectron2 zoo page parser: a hand-made mini page (always), and the real pages (when present)."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from explorer.zoo.schema import ZOO_COLUMNS
from explorer.zoo_build.sources.detectron2_page import (
    backbone_from_config,
    backbone_from_name,
    config_from_url,
    parse_detectron2_zoo,
    parse_html_table,
)

REFERENCE = Path(__file__).resolve().parents[1].parent / "shared" / "reference"
D2_REFERENCE = REFERENCE / "detectron2"
needs_reference = pytest.mark.skipif(
    not D2_REFERENCE.is_dir(),
    reason=f"Detectron2 reference pages not found at {D2_REFERENCE} (they sit beside the checkout in CI)",
)

# ---- a hand-made mini page ---------------------------------------------------------------------------------

URL_ROOT = "https://example.invalid/detectron2"
HEADERS = {
    "std": ["Name", "lr<br/>sched", "train<br/>time<br/>(s/iter)", "inference<br/>time<br/>(s/im)",
            "train<br/>mem<br/>(GB)", "box<br/>AP", "model id", "download"],
    "rpn": ["Name", "lr<br/>sched", "train<br/>time<br/>(s/iter)", "inference<br/>time<br/>(s/im)",
            "train<br/>mem<br/>(GB)", "box<br/>AP", "prop.<br/>AR", "model id", "download"],
    "mask": ["Name", "lr<br/>sched", "train<br/>time<br/>(s/iter)", "inference<br/>time<br/>(s/im)",
             "train<br/>mem<br/>(GB)", "box<br/>AP", "mask<br/>AP", "model id", "download"],
    "lsj": ["Name", "epochs", "train<br/>time<br/>(s/im)", "inference<br/>time<br/>(s/im)", "box<br/>AP",
            "mask<br/>AP", "model id", "download"],
    "kps": ["Name", "lr<br/>sched", "train<br/>time<br/>(s/iter)", "inference<br/>time<br/>(s/im)",
            "train<br/>mem<br/>(GB)", "box<br/>AP", "kp.<br/>AP", "model id", "download"],
    "cmp": ["Name", "lr<br/>sched", "train<br/>time<br/>(s/iter)", "inference<br/>time<br/>(s/im)",
            "train<br/>mem<br/>(GB)", "box<br/>AP", "mask<br/>AP", "kp.<br/>AP", "model id", "download"],
}


def model_url(folder: str, stem: str, model_id: str) -> str:
    return f"{URL_ROOT}/{folder}/{stem}/{model_id}/model_final_abc123.pkl"


def tr(name: str, values: list[str], folder: str, stem: str, model_id: str, close: bool = True) -> str:
    """One body row as the page writes it; `close=False` leaves out the </tr>."""
    url = model_url(folder, stem, model_id)
    cells = [f'<td align="left"><a href="configs/{folder}/{stem}.yaml">{name}</a></td>']
    cells += [f'<td align="center">{value}</td>' for value in [*values, model_id]]
    cells.append(f'<td align="center"><a href="{url}">model</a>&nbsp;|&nbsp;'
                 f'<a href="{url.rsplit("/", 1)[0]}/metrics.json">metrics</a></td>')
    return " <tr>" + "\n".join(cells) + ("\n</tr>\n" if close else "\n")


def table(kind: str, *rows: str) -> str:
    head = "\n".join(f'<th valign="bottom">{h}</th>' for h in HEADERS[kind])
    return f"<table><tbody>\n<!-- START TABLE -->\n{head}\n{''.join(rows)}</tbody></table>\n"


PROSE = (
    "# Mini zoo\n\nA few baselines trained with detectron2 in May-June, 2021.\n"
    "Numbers here come from servers with 4 NVIDIA P100 GPUs,\n"
    "trained with 16 images on 4 GPUs.\n"
    "Timing is done with batch size 2.\n"
    "* Models are trained on `train2017` and evaluated on `val2017`.\n"
    "* The 3x schedule (~37 COCO epochs) is the default; the 1x (~12 COCO epochs) is shorter.\n\n"
)
SECTIONS = {
    "#### Faster R-CNN:": table(
        "std",
        tr("X101-FPN", ["3x", "0.638", "0.098", "6.7", "43.0"], "COCO-Detection",
           "faster_rcnn_X_101_32x8d_FPN_3x", "11"),
        tr("X101-FPN + test-time aug.", ["3x", "", "1.500", "", "44.1"], "COCO-Detection",
           "faster_rcnn_X_101_32x8d_FPN_3x", "11"),
    ),
    "#### RetinaNet:": table("std", tr("R50", ["1x", "0.205", "0.041", "4.1", "37.4"], "COCO-Detection",
                                       "retinanet_R_50_FPN_1x", "12")),
    "#### RPN & Fast R-CNN:": table(
        "rpn",
        tr("RPN R50-C4", ["1x", "0.130", "0.034", "1.5", "", "51.6"], "COCO-Detection", "rpn_R_50_C4_1x",
           "13", close=False),
        tr("Fast R-CNN R50-FPN", ["1x", "0.140", "0.029", "2.6", "37.8", "-"], "COCO-Detection",
           "fast_rcnn_R_50_FPN_1x", "14"),
    ),
    "### COCO Instance Segmentation Baselines with Mask R-CNN": table(
        "mask", tr("R50-DC5", ["1x", "0.471", "0.076", "6.5", "38.3", "34.2"], "COCO-InstanceSegmentation",
                   "mask_rcnn_R_50_DC5_1x", "15")),
    "#### New baselines using Large-Scale Jitter and Longer Training Schedule": (
        "Here one epoch consists of training on 1000 COCO images.\n\n"
        + table("lsj", tr("regnety_4gf_dds_FPN", ["200", "0.487", "0.072", "47.8", "43.0"], "new_baselines",
                          "mask_rcnn_regnety_4gf_dds_FPN_200ep_LSJ", "16", close=False))
    ),
    "### COCO Person Keypoint Detection Baselines with Keypoint R-CNN": table(
        "kps", tr("R101-FPN", ["3x", "0.390", "0.076", "6.1", "56.4", "66.1"], "COCO-Keypoints",
                  "keypoint_rcnn_R_101_FPN_3x", "17")),
    "### COCO Panoptic Segmentation Baselines with Panoptic FPN": table(
        "mask", tr("R50-FPN", ["1x", "0.3", "0.06", "4.8", "37.6", "34.7"], "COCO-PanopticSegmentation",
                   "panoptic_fpn_R_50_1x", "99")),
}
COMPARISONS = (
    "Settings that mimic Detectron.\n\n"
    + table("cmp", tr("Mask R-CNN", ["1x", "0.273", "0.043", "3.4", "37.8", "34.9", ""],
                      "Detectron1-Comparisons", "mask_rcnn_R_50_FPN_noaug_1x", "18"))
    + "\n## Comparisons:\n\n* Mask R-CNN: Detectron's AP is box 37.7, mask 33.9. More words.\n"
)


def mini_page(sections: dict[str, str] = SECTIONS, prose: str = PROSE) -> str:
    return prose + "".join(f"{heading}\n<!--\n## a generator command, not a heading\n-->\n\n{body}\n"
                           for heading, body in sections.items())


def mini_rows() -> tuple[dict[str, dict[str, str]], dict[str, object]]:
    rows, notes = parse_detectron2_zoo(mini_page(), COMPARISONS)
    return {f"{row['model_id']}/{row['tta']}": row for row in rows}, notes


def test_html_table_survives_a_missing_closing_tr() -> None:
    unclosed = tr("R50", ["1x", "1", "2", "3", "4"], "d", "retinanet_R_50_FPN_1x", "1", close=False)
    closed = tr("R101", ["3x", "5", "6", "7", "8"], "d", "retinanet_R_101_FPN_3x", "2")
    parsed = parse_html_table(table("std", unclosed, closed))
    assert parsed.headers[:3] == ["Name", "lr sched", "train time (s/iter)"]
    assert [[cell.text for cell in row][:3] for row in parsed.rows] == [
        ["R50", "1x", "1"], ["R101", "3x", "5"]]
    assert [label for label, _ in parsed.rows[0][-1].links] == ["model", "metrics"]


def test_mini_page_rows_and_counts() -> None:
    rows, _ = mini_rows()
    assert Counter(row["table"] for row in rows.values()) == {
        "Faster R-CNN": 2, "RetinaNet": 1, "RPN & Fast R-CNN": 2, "Mask R-CNN": 1, "Mask R-CNN (LSJ)": 1,
        "Keypoint R-CNN": 1, "Detectron1 comparisons": 1,
    }  # the panoptic table is left out
    assert all(list(row) == list(ZOO_COLUMNS) for row in rows.values())
    assert all(isinstance(value, str) and value != "-" for row in rows.values() for value in row.values())


def test_mini_page_values() -> None:
    rows, _ = mini_rows()
    x101 = rows["11/false"]
    assert (x101["backbone"], x101["type"], x101["task"], x101["config"]) == (
        "X-101-32x8d-FPN", "Faster", "boxes", "faster_rcnn_X_101_32x8d_FPN_3x")
    assert (x101["infer_s"], x101["infer_s_gpu"], x101["infer_s_cpu"], x101["box_ap"]) == (
        "0.098", "0.098", "", "43.0")
    assert x101["metrics_url"] == f"{URL_ROOT}/COCO-Detection/faster_rcnn_X_101_32x8d_FPN_3x/11/metrics.json"
    tta = rows["11/true"]
    assert (tta["tta"], tta["train_s_per_iter"], tta["box_ap"]) == ("true", "", "44.1")
    assert tta["name"].endswith("TTA") and tta["config"] == x101["config"]
    assert rows["12/false"]["backbone"] == "R-50-FPN"  # the Name cell only says "R50"
    rpn, fast = rows["13/false"], rows["14/false"]
    assert (rpn["type"], rpn["task"], rpn["prop_ar"], rpn["box_ap"]) == ("RPN", "proposals", "51.6", "")
    assert (fast["type"], fast["prop_ar"]) == ("Fast", "")  # "-" on the page
    lsj = rows["16/false"]
    assert (lsj["backbone"], lsj["lr_schedule"], lsj["train_s_per_iter"], lsj["train_mem_gb"]) == (
        "RegNetY-4GF-FPN", "200ep", "", "")
    assert "0.487 s/im" in lsj["notes"]
    assert (rows["17/false"]["type"], rows["17/false"]["kp_ap"]) == ("Kps", "66.1")
    cmp = rows["18/false"]
    assert (cmp["table"], cmp["mask_ap"], cmp["kp_ap"]) == ("Detectron1 comparisons", "34.9", "")


def test_mini_page_facts_are_parsed_not_typed() -> None:
    rows, notes = mini_rows()
    assert {(r["hardware"], r["train_gpus"], r["ims_per_gpu"]) for r in rows.values()} == {("P100", "4", "4")}
    assert (notes["hardware"], notes["train_gpus"], notes["inference_batch_size"]) == ("P100", 4, 2)
    assert notes["year"] == 2021
    schedules = notes["schedules"]
    assert isinstance(schedules, dict)
    assert schedules["1x"] == {
        "epochs": 12, "epochs_approximate": True, "ims_per_batch": 16, "iterations": None}
    assert schedules["200ep"]["images_per_epoch"] == 1000 and schedules["200ep"]["epochs"] == 200
    assert "batch size 2 on P100" in rows["12/false"]["notes"]
    tables = notes["tables"]
    assert isinstance(tables, dict)
    detectron_ap = "Detectron's published AP for its Mask R-CNN: box 37.7, mask 33.9."
    assert detectron_ap in tables["Detectron1 comparisons"]
    json.dumps(notes)


def test_without_a_stated_batch_there_is_no_ims_per_gpu() -> None:
    rows, notes = parse_detectron2_zoo(mini_page(prose=PROSE.replace("with 16 images on 4 GPUs", "quickly")),
                                       COMPARISONS)
    assert {row["ims_per_gpu"] for row in rows} == {""}
    assert notes["schedules"]["3x"]["ims_per_batch"] is None  # type: ignore[index]


@pytest.mark.parametrize(("change", "message"), [
    (lambda page: page.replace("#### RetinaNet:", "#### RetinaNets:"), "section 'RetinaNet' not found"),
    (lambda page: page.replace("servers with 4 NVIDIA P100 GPUs", "servers"), "training/timing hardware"),
    (lambda page: page.replace("(~12 COCO epochs)", "").replace("(~37 COCO epochs)", ""), "COCO epochs"),
    (lambda page: page.replace("box<br/>AP", "box<br/>AP50", 1), "unknown header"),
    (lambda page: page.replace("faster_rcnn_X_101_32x8d_FPN_3x/11/", "faster_rcnn_X_101_32x8d_FPN_3x/12/", 1),
     "model URL says 12"),
    (lambda page: page.replace(">R50<", ">R101<", 1), "Name cell 'R101' says R-101"),
    (lambda page: page.replace('"center">0.205<', '"center">0,205<', 1), "expected a number"),
])
def test_page_changes_fail_loudly(change: object, message: str) -> None:
    assert callable(change)
    with pytest.raises(ValueError, match=message):
        parse_detectron2_zoo(change(mini_page()), COMPARISONS)


def test_comparisons_page_needs_its_table() -> None:
    with pytest.raises(ValueError, match=r"Detectron1-Comparisons\.md"):
        parse_detectron2_zoo(mini_page(), "no table here")


def test_duplicate_model_ids_fail() -> None:
    sections = dict(SECTIONS)
    clash = tr("R50", ["1x", "0.2", "0.04", "4.1", "37.4"], "COCO-Detection", "retinanet_R_50_FPN_1x", "11")
    sections["#### RetinaNet:"] = table("std", clash)
    with pytest.raises(ValueError, match="duplicate"):
        parse_detectron2_zoo(mini_page(sections), COMPARISONS)


def test_backbone_spellings() -> None:
    assert backbone_from_config("faster_rcnn_X_101_32x8d_FPN_3x") == "X-101-32x8d-FPN"
    assert backbone_from_config("mask_rcnn_R_50_DC5_1x") == "R-50-DC5"
    assert backbone_from_config("mask_rcnn_regnetx_4gf_dds_FPN_100ep_LSJ") == "RegNetX-4GF-FPN"
    assert backbone_from_name("X101-FPN") == "X-101-32x8d-FPN"
    assert backbone_from_name("RPN R50-C4") == "R-50-C4"
    assert backbone_from_name("R_101_FPN") == "R-101-FPN"
    assert backbone_from_name("R101") == "R-101"
    assert backbone_from_name("Faster R-CNN") == ""
    assert config_from_url(model_url("COCO-Detection", "rpn_R_50_C4_1x", "7")) == ("rpn_R_50_C4_1x", "7")
    with pytest.raises(ValueError, match="not shaped"):
        config_from_url("https://example.invalid/model.pkl")


# ---- the real pages ----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def parsed() -> tuple[list[dict[str, str]], dict[str, object]]:
    return parse_detectron2_zoo((D2_REFERENCE / "MODEL_ZOO.md").read_text("utf-8"),
                                (D2_REFERENCE / "Detectron1-Comparisons.md").read_text("utf-8"))


@pytest.fixture(scope="module")
def page_rows(parsed: tuple[list[dict[str, str]], dict[str, object]]) -> list[dict[str, str]]:
    return parsed[0]


@needs_reference
def test_row_counts_per_table(page_rows: list[dict[str, str]]) -> None:
    assert Counter(row["table"] for row in page_rows) == {
        "Faster R-CNN": 10,
        "RetinaNet": 3,
        "RPN & Fast R-CNN": 3,
        "Mask R-CNN": 10,
        "Mask R-CNN (LSJ)": 12,
        "Keypoint R-CNN": 4,
        "Detectron1 comparisons": 3,
    }
    assert len(page_rows) == 45


# model id -> values read off the pages by hand
SPOT_CHECKS: dict[str, dict[str, str]] = {
    "137257644": dict(table="Faster R-CNN", backbone="R-50-C4", type="Faster", lr_schedule="1x",
                      train_s_per_iter="0.551", infer_s="0.102", infer_s_gpu="0.102", train_mem_gb="4.8",
                      box_ap="35.7", config="faster_rcnn_R_50_C4_1x", task="boxes"),
    "139173657": dict(backbone="X-101-32x8d-FPN", lr_schedule="3x", train_s_per_iter="0.638", infer_s="0.098",
                      train_mem_gb="6.7", box_ap="43.0", config="faster_rcnn_X_101_32x8d_FPN_3x"),
    "190397773": dict(table="RetinaNet", backbone="R-50-FPN", type="RetinaNet", train_s_per_iter="0.205",
                      infer_s="0.041", train_mem_gb="4.1", box_ap="37.4", config="retinanet_R_50_FPN_1x"),
    "137258005": dict(table="RPN & Fast R-CNN", backbone="R-50-C4", type="RPN", task="proposals",
                      train_s_per_iter="0.130", infer_s="0.034", train_mem_gb="1.5", box_ap="",
                      prop_ar="51.6"),
    "137635226": dict(backbone="R-50-FPN", type="Fast", train_s_per_iter="0.140", infer_s="0.029",
                      train_mem_gb="2.6", box_ap="37.8", prop_ar=""),
    "137260431": dict(table="Mask R-CNN", backbone="R-50-FPN", type="Mask", task="masks", lr_schedule="1x",
                      train_s_per_iter="0.261", infer_s="0.043", train_mem_gb="3.4", box_ap="38.6",
                      mask_ap="35.2"),
    "42047764": dict(table="Mask R-CNN (LSJ)", backbone="R-50-FPN", lr_schedule="100ep", train_s_per_iter="",
                     train_mem_gb="", infer_s="0.069", box_ap="44.6", mask_ap="40.3",
                     config="mask_rcnn_R_50_FPN_100ep_LSJ"),
    "42025812": dict(backbone="R-101-FPN", lr_schedule="100ep", infer_s="0.073", box_ap="46.4",
                     mask_ap="41.6"),
    "137261548": dict(table="Keypoint R-CNN", backbone="R-50-FPN", type="Kps", task="keypoints",
                      train_s_per_iter="0.315", infer_s="0.072", train_mem_gb="5.0", box_ap="53.6",
                      kp_ap="64.0"),
    "137781195": dict(table="Detectron1 comparisons", type="Kps", lr_schedule="1x", train_s_per_iter="0.313",
                      infer_s="0.071", train_mem_gb="5.0", box_ap="53.1", mask_ap="", kp_ap="64.2"),
    "137781281": dict(type="Mask", backbone="R-50-FPN", train_s_per_iter="0.273", infer_s="0.043",
                      box_ap="37.8", mask_ap="34.9", config="mask_rcnn_R_50_FPN_noaug_1x"),
}


@needs_reference
@pytest.mark.parametrize("model_id", sorted(SPOT_CHECKS))
def test_spot_checks_against_the_page(page_rows: list[dict[str, str]], model_id: str) -> None:
    (row,) = [r for r in page_rows if r["model_id"] == model_id]
    assert {column: row[column] for column in SPOT_CHECKS[model_id]} == SPOT_CHECKS[model_id]
    assert (row["zoo"], row["tta"], row["hardware"], row["train_gpus"], row["infer_s_cpu"]) == (
        "detectron2", "false", "V100", "8", "")


@needs_reference
def test_every_row_is_well_formed(page_rows: list[dict[str, str]]) -> None:
    for row in page_rows:
        assert list(row) == list(ZOO_COLUMNS)
        assert all(isinstance(value, str) for value in row.values()), row["model_id"]
        assert "-" not in row.values() and "0" not in row.values(), row["model_id"]
        assert row["type"] in {"RPN", "Fast", "Faster", "RetinaNet", "Mask", "Kps"}
        assert row["backbone"] in {"R-50-C4", "R-50-DC5", "R-50-FPN", "R-101-C4", "R-101-DC5", "R-101-FPN",
                                   "X-101-32x8d-FPN", "RegNetX-4GF-FPN", "RegNetY-4GF-FPN"}
        assert row["model_url"] and row["config"] and row["config"] in row["model_url"]
        assert row["metrics_url"].endswith(f"/{row['model_id']}/metrics.json")
        assert row["infer_s"] == row["infer_s_gpu"] and row["infer_s"]
        assert row["ims_per_gpu"] == ""  # the page does not state images per GPU
        assert row["notes"]
    assert len({(row["model_id"], row["tta"]) for row in page_rows}) == len(page_rows)
    assert len({row["name"] for row in page_rows}) == len(page_rows)


@needs_reference
def test_notes(parsed: tuple[list[dict[str, str]], dict[str, object]]) -> None:
    rows, notes = parsed
    assert (notes["hardware"], notes["train_gpus"], notes["year"]) == ("V100", 8, 2019)
    schedules = notes["schedules"]
    assert isinstance(schedules, dict)
    assert {name: facts["epochs"] for name, facts in schedules.items()} == {
        "1x": 12, "3x": 37, "100ep": 100, "200ep": 200, "400ep": 400}
    assert schedules["400ep"]["images_per_epoch"] == 118000
    assert set(notes["tables"]) == {row["table"] for row in rows}  # type: ignore[arg-type]
    assert json.dumps(notes, sort_keys=True) == json.dumps(parsed_again()[1], sort_keys=True)


def parsed_again() -> tuple[list[dict[str, str]], dict[str, object]]:
    return parse_detectron2_zoo((D2_REFERENCE / "MODEL_ZOO.md").read_text("utf-8"),
                                (D2_REFERENCE / "Detectron1-Comparisons.md").read_text("utf-8"))


@needs_reference
def test_fast_rcnn_points_at_its_rpn(page_rows: list[dict[str, str]]) -> None:
    fast = [row for row in page_rows if row["type"] == "Fast"]
    assert [row["proposals_model_id"] for row in fast] == ["137258492"]  # the R50-FPN RPN of the same table
    assert all(row["proposals_model_id"] == "" for row in page_rows if row["type"] != "Fast")
