"""The Detectron 12_2017 page parser: all 75 rows, values as printed, the page's quirks, the notes."""

from __future__ import annotations

from collections import Counter

import pytest

from explorer.zoo.schema import ZOO_COLUMNS
from explorer.zoo_build.sources.detectron_page import (
    config_from_url,
    parse_detectron_zoo,
    parse_tables,
    split_inference_time,
)
from tests.conftest import REFERENCE_DIR, needs_reference

ROW_HTML = """<tr>
<td align="left"><sup><sub>{backbone}</sub></sup></td>
<td align="left"><sup><sub>{type}</sub></sup></td>
<td align="left"><sup><sub>1x</sub></sup></td>
<td align="right"><sup><sub>2</sub></sup></td>
<td align="right"><sup><sub>8.6</sub></sup></td>
<td align="right"><sup><sub>0.897</sub></sup></td>
<td align="right"><sup><sub>44.9</sub></sup></td>
<td align="right"><sup><sub>{time}</sub></sup></td>
<td align="right"><sup><sub>38.6</sub></sup></td>
<td align="right"><sup><sub>34.5</sub></sup></td>
<td align="right"><sup><sub>-</sub></sup></td>
<td align="right"><sup><sub>-</sub></sup></td>
<td align="right"><sup><sub>{model_id}</sub></sup></td>
<td align="left"><sup><sub>{links}</sub></sup></td>
"""
URL = "https://example.invalid/detectron/1/12_2017_baselines/e2e_mask_rcnn_R-50-FPN_2x.yaml.08_00_00.ab/model_final.pkl"
LINKS = f'<a href="{URL[:40]}\n{URL[40:]}">model</a>&nbsp;|&nbsp;<a href="{URL}.boxes">boxes</a>'  # wrapped href


def tiny_page() -> str:
    """Two tables: one row missing its </tr>, then a TTA row followed by its 'without TTA' row."""
    e2e = ROW_HTML.format(backbone="R-50-FPN", type="Mask", time="0.099&nbsp;+&nbsp;0.018", model_id="1",
                          links=LINKS)  # no closing </tr>
    tta = ROW_HTML.format(backbone="X-152-32x8d-FPN-IN5k", type="Mask", time="12.100&nbsp;+&nbsp;0.046",
                          model_id="2", links=LINKS) + "</tr>"
    plain = ROW_HTML.format(backbone="[above without test-time aug.]", type="", time="0.325&nbsp;+&nbsp;0.018",
                            model_id="", links="") + "</tr>"
    return (
        "### End-to-End Faster & Mask R-CNN Baselines\n<table><tbody>\n<!-- START E2E TABLE -->\n"
        f"{e2e}<!-- END E2E TABLE -->\n</tbody></table>\n"
        "### Mask R-CNN with Bells & Whistles\n<table><tbody>\n<!-- START BELLS TABLE -->\n"
        f"{tta}{plain}<!-- END BELLS TABLE -->\n</tbody></table>\n"
    )


def test_inference_time_split_is_exact_decimal() -> None:
    assert split_inference_time("0.241 + 0.003") == ("0.241", "0.003", "0.244")
    assert split_inference_time("0.080") == ("0.080", "", "0.080")
    assert split_inference_time("0.099 + 0.018") == ("0.099", "0.018", "0.117")  # not 0.11699999
    assert split_inference_time("") == ("", "", "")


def test_config_name_comes_from_url() -> None:
    assert config_from_url(URL) == "e2e_mask_rcnn_R-50-FPN_2x"
    with pytest.raises(ValueError, match="no config name"):
        config_from_url("https://example.invalid/model_final.pkl")


def test_tiny_page_quirks() -> None:
    rows = parse_tables(tiny_page())
    assert [(r["model_id"], r["tta"]) for r in rows] == [("1", "false"), ("2", "true"), ("2", "false")]
    first, tta, plain = rows
    assert first["infer_s"] == "0.117" and first["kp_ap"] == "" and first["mask_ap"] == "34.5"
    assert first["boxes_url"] == URL + ".boxes" and first["config"] == "e2e_mask_rcnn_R-50-FPN_2x"
    assert first["model_url"] == URL  # the line break inside the href is gone
    # the 'without TTA' row inherits identity and training facts, keeps its own times and APs
    assert plain["backbone"] == "X-152-32x8d-FPN-IN5k" and plain["train_hours"] == "44.9"
    assert plain["infer_s_gpu"] == "0.325" and plain["infer_s"] == "0.343"
    assert tta["infer_s"] == "12.146"
    assert plain["boxes_url"] == "" and tta["boxes_url"]  # published results belong to the TTA run
    assert all(set(row) == set(ZOO_COLUMNS) for row in rows)


@pytest.fixture(scope="module")
def page_rows() -> list[dict[str, str]]:
    return parse_detectron_zoo((REFERENCE_DIR / "detectron" / "MODEL_ZOO.md").read_text("utf-8"))[0]


@needs_reference
def test_all_75_rows_in_8_tables(page_rows: list[dict[str, str]]) -> None:
    assert len(page_rows) == 75
    assert Counter(row["table"] for row in page_rows) == {
        "RPN Proposal Baselines": 5,
        "Fast & Mask R-CNN Baselines Using Precomputed RPN Proposals": 20,
        "End-to-End Faster & Mask R-CNN Baselines": 20,
        "RetinaNet Baselines": 8,
        "Mask R-CNN with Bells & Whistles": 2,
        "Person-Specific RPN Baselines": 4,
        "Keypoint-Only Mask R-CNN Baselines Using Precomputed RPN Proposals": 8,
        "End-to-End Keypoint-Only Mask R-CNN Baselines": 8,
    }
    assert len({row["model_id"] for row in page_rows}) == 74
    assert len({(row["model_id"], row["tta"]) for row in page_rows}) == 75
    assert len({row["name"] for row in page_rows}) == 75


# (model id, tta) -> values read off the page by hand
SPOT_CHECKS = {
    ("35998355", "false"): dict(backbone="R-50-C4", type="RPN", lr_schedule="1x", ims_per_gpu="2",
                                train_mem_gb="4.3", train_s_per_iter="0.187", train_hours="4.7",
                                infer_s_gpu="0.113", infer_s_cpu="", infer_s="0.113", prop_ar="51.6", box_ap=""),
    ("36224013", "false"): dict(backbone="R-50-C4", type="Fast", ims_per_gpu="1", train_mem_gb="6.0",
                                train_s_per_iter="0.456", train_hours="22.8", infer_s_gpu="0.241",
                                infer_s_cpu="0.003", infer_s="0.244", box_ap="34.4", mask_ap=""),
    ("35859007", "false"): dict(backbone="R-50-FPN", type="Mask", lr_schedule="2x", train_mem_gb="8.6",
                                train_s_per_iter="0.897", train_hours="44.9", infer_s="0.117", box_ap="38.6",
                                mask_ap="34.5", config="e2e_mask_rcnn_R-50-FPN_2x"),
    ("35861858", "false"): dict(backbone="R-101-FPN", type="Mask", infer_s_gpu="0.126", infer_s_cpu="0.017",
                                box_ap="40.9", mask_ap="36.4", train_hours="49.7"),
    ("36768636", "false"): dict(backbone="R-50-FPN", type="RetinaNet", train_mem_gb="6.8",
                                train_s_per_iter="0.483", train_hours="12.1", infer_s="0.125", box_ap="35.7"),
    ("37129812", "true"): dict(backbone="X-152-32x8d-FPN-IN5k", lr_schedule="s1x", ims_per_gpu="1",
                               infer_s_gpu="12.100", infer_s_cpu="0.046", box_ap="48.1", mask_ap="41.5",
                               config="e2e_mask_rcnn_X-152-32x8d-FPN-IN5k_1.44x"),
    ("37129812", "false"): dict(backbone="X-152-32x8d-FPN-IN5k", train_hours="85.8", infer_s_gpu="0.325",
                                infer_s_cpu="0.018", infer_s="0.343", box_ap="45.2", mask_ap="39.7"),
    ("35998996", "false"): dict(backbone="R-50-FPN", type="RPN", train_s_per_iter="0.391", infer_s="0.082",
                                prop_ar="64.0", config="rpn_person_only_R-50-FPN_1x"),
    ("37732318", "false"): dict(backbone="X-101-32x8d-FPN", type="Kps", lr_schedule="s1x", train_mem_gb="14.2",
                                train_s_per_iter="1.408", train_hours="50.8", infer_s="0.311", box_ap="56.9",
                                kp_ap="67.0", task="keypoints"),
}


@needs_reference
@pytest.mark.parametrize("key", sorted(SPOT_CHECKS))
def test_spot_checks_against_the_page(page_rows: list[dict[str, str]], key: tuple[str, str]) -> None:
    row = next(r for r in page_rows if (r["model_id"], r["tta"]) == key)
    assert {column: row[column] for column in SPOT_CHECKS[key]} == SPOT_CHECKS[key]


@needs_reference
def test_links_and_configs(page_rows: list[dict[str, str]]) -> None:
    config_dir = REFERENCE_DIR / "detectron" / "configs_12_2017_baselines"
    for row in page_rows:
        assert row["model_url"].endswith("/model_final.pkl"), row["model_id"]
        urls = [row[c] for c in ZOO_COLUMNS if c.endswith("_url") and row[c]]
        assert all(url.startswith("https://") and not any(ch.isspace() for ch in url) for url in urls)
        assert (config_dir / f"{row['config']}.yaml").exists(), row["config"]
        assert row["model_id"] in row["model_url"]
        assert "-" not in {row[c] for c in ZOO_COLUMNS}, row["model_id"]
    rpn = [r for r in page_rows if r["type"] == "RPN"]
    assert len(rpn) == 9 and all(r["proposals_minival_url"].endswith("rpn_proposals.pkl") for r in rpn)
    assert sum(bool(r["masks_url"]) for r in page_rows) == 21
    assert sum(bool(r["kps_url"]) for r in page_rows) == 16


@needs_reference
def test_precomputed_rows_point_at_their_rpn(page_rows: list[dict[str, str]]) -> None:
    by_id = {r["model_id"]: r for r in page_rows}
    chained = [r for r in page_rows if r["proposals_model_id"]]
    assert len(chained) == 28  # 20 Fast/Mask + 8 keypoint rows on precomputed proposals
    for row in chained:
        rpn = by_id[row["proposals_model_id"]]
        assert rpn["type"] == "RPN" and rpn["backbone"] == row["backbone"]
        assert ("person_only" in rpn["config"]) == (row["type"] == "Kps")


@needs_reference
def test_notes_carry_hardware_and_schedules() -> None:
    notes = parse_detectron_zoo((REFERENCE_DIR / "detectron" / "MODEL_ZOO.md").read_text("utf-8"))[1]
    assert (notes["hardware"], notes["train_gpus"], notes["cuda"], notes["cudnn"]) == ("P100", 8, "8.0", "6.0.21")
    assert notes["year"] == 2017
    assert notes["schedules"]["1x"]["epochs"] == notes["schedule_epochs_stated"]["1x"] == 12.17
    assert notes["schedules"]["2x"]["iterations_at_batch_16"] == 180000
    assert notes["schedules"]["s1x"]["lr_steps_at_batch_16"] == [100000, 120000]
    assert "person" in " ".join(notes["tables"]["End-to-End Keypoint-Only Mask R-CNN Baselines"])
