"""Detectron2 rows downstream of the family: `predict`, `verify`, `card` and the projection of their V100 times.

The model runs from a zoo-format pkl the test writes (tests.detectron2_factory) for a Mask R-CNN R-50-FPN row
whose config facts are narrowed with real Detectron2 config keys (widths, detections, test size), so each run
takes a second; the weights go through the same `--weights` path a user's file takes.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from explorer.cli.main import main
from explorer.models.detectron.coco import COCO_CATEGORIES
from explorer.models.detectron2.arch import arch_from_config
from explorer.models.detectron2.netconfig import adapt
from explorer.zoo import table as zoo_table
from tests.detectron2_factory import write_checkpoint
from tests.test_detectron2_arch import mask_fpn_row

MODEL_ID = "137260431"  # Mask R-CNN R-50-FPN 1x
UID = f"detectron2:{MODEL_ID}"
#: The row's facts at test size: every change is a key Detectron2's config has (score threshold 0: random
#: weights score every class about equally, far under the real 0.05).
SMALL_FACTS = mask_fpn_row(
    resnet_res2_out_channels="32", resnet_stem_out_channels="8", resnet_width_per_group="8", fpn_out_channels="16",
    box_head_fc_dim="32", mask_head_conv_dim="16", detections_per_image="5", rpn_pre_nms_topk_test="200",
    rpn_post_nms_topk_test="50", min_size_test="64", max_size_test="96", roi_score_thresh_test="0.0")


@pytest.fixture
def small_model(monkeypatch, tmp_path) -> Path:
    """The zoo table with the narrowed row, and a random-weight pkl of that architecture; returns the pkl."""
    real_load_zoo = zoo_table.load_zoo

    def load_zoo(*args, **kwargs) -> pd.DataFrame:
        table = real_load_zoo(*args, **kwargs)
        table.loc[table.index == UID, "config_facts"] = json.dumps(SMALL_FACTS)
        return table

    monkeypatch.setattr(zoo_table, "load_zoo", load_zoo)
    monkeypatch.setenv("EXPLORER_CACHE", str(tmp_path / "cache"))
    pkl = tmp_path / "model_final_small.pkl"
    write_checkpoint(pkl, adapt(arch_from_config(SMALL_FACTS)))
    return pkl


def _images(folder: Path, sizes: dict[int, tuple[int, int]]) -> Path:
    folder.mkdir(parents=True)
    for image_id, (height, width) in sizes.items():
        pixels = np.random.default_rng(image_id).integers(0, 256, (height, width, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(folder / f"{image_id:012d}.png")
    return folder


def test_predict_runs_a_detectron2_checkpoint_on_an_image(small_model: Path, tmp_path: Path, capsys) -> None:
    images = _images(tmp_path / "images", {1: (60, 80)})
    out = tmp_path / "out"
    code = main(["predict", "--model", MODEL_ID, "--weights", str(small_model), "--images", str(images),
                 "--out", str(out), "--device", "cpu", "--score-thresh", "0"])
    stdout, stderr = capsys.readouterr()
    assert code == 0, stderr
    results = json.loads((out / "results.json").read_text())
    assert 0 < len(results) <= 5  # the row's (narrowed) detection cap
    assert all(r["image_id"] == 1 and "segmentation" in r for r in results)
    assert Image.open(out / "annotated" / "000000000001.png.png").size == (80, 60)
    assert "000000000001.png:" in stdout


def test_predict_refuses_a_checkpoint_of_another_architecture(small_model: Path, tmp_path: Path, capsys) -> None:
    other = tmp_path / "other.pkl"
    write_checkpoint(other, adapt(arch_from_config({**SMALL_FACTS, "fpn_out_channels": "8"})))
    images = _images(tmp_path / "images", {1: (60, 80)})
    code = main(["predict", "--model", MODEL_ID, "--weights", str(other), "--images", str(images),
                 "--out", str(tmp_path / "out"), "--device", "cpu"])
    err = capsys.readouterr().err
    assert code != 0 and "backbone.fpn_lateral2.weight is (8, 32, 1, 1), expected (16, 32, 1, 1)" in err
    assert not (tmp_path / "out" / "results.json").exists()


def test_verify_runs_a_detectron2_model_against_its_published_ap(small_model: Path, tmp_path: Path,
                                                                 capsys) -> None:
    sizes = {1: (60, 80), 2: (50, 70)}
    folder = _images(tmp_path / "images", sizes)
    gt = tmp_path / "instances.json"
    gt.write_text(json.dumps({
        "images": [{"id": i, "file_name": f"{i:012d}.png", "height": h, "width": w} for i, (h, w) in sizes.items()],
        "annotations": [{"id": i, "image_id": i, "category_id": 3, "bbox": [5.0, 6.0, 30.0, 20.0], "area": 600.0,
                         "iscrowd": 0, "segmentation": [[5, 6, 35, 6, 35, 26, 5, 26]]} for i in sizes],
        "categories": [{"id": cid, "name": name, "supercategory": ""} for cid, name in COCO_CATEGORIES]}))
    code = main(["verify", "--model", MODEL_ID, "--weights", str(small_model), "--images", str(folder),
                 "--annotations", str(gt), "--device", "cpu"])
    stdout, stderr = capsys.readouterr()
    assert code == 0, stderr
    assert "on 2 of 2 images" in stdout
    assert "published  35.2" in stdout  # Detectron2's box AP for this row, next to the AP found here


def test_card_of_a_detectron2_row_shows_its_counts_and_config(capsys) -> None:
    assert main(["card", MODEL_ID]) == 0
    out = capsys.readouterr().out
    assert "Mask R-50-FPN 1x" in out and "V100" in out
    assert "GFLOPs and parameters are not published: computed here" in out
    assert "131.375" in out  # complexity.csv's count of this config


def test_three_measured_detectron2_models_project_the_others_v100_times() -> None:
    from explorer.zoo.local_speeds import with_local_speeds

    zoo = zoo_table.load_zoo()
    measured = {"detectron2:137849458": 2.6, "detectron2:137849600": 3.1, "detectron2:190397829": 3.0}
    base = {"device_name": "CPU A", "image_width": 171, "image_height": 128, "batch_size": 1, "autocast": "",
            "weights": "random", "p90_s": np.nan, "torch_version": "2.x"}
    store = pd.DataFrame([{**base, "model_uid": uid, "median_s": s} for uid, s in measured.items()])
    table, machine = with_local_speeds(zoo, store)
    assert machine.startswith("CPU A")
    detectron2 = table[table["zoo"] == "detectron2"]
    others = detectron2["infer_s"].notna() & ~detectron2.index.isin(list(measured))
    assert others.sum() == 42
    assert detectron2.loc[others, "projected_s"].notna().all()  # every other V100-timed row is projected
    assert (detectron2.loc[others, "projection_n"] == 3).all()
    assert table.loc["detectron2:137849621", "projected_s"] > 0
    assert table[table["zoo"] == "detectron"]["projected_s"].isna().all()  # never lent to Detectron's P100 times
    scale = np.exp(np.mean([np.log(s / zoo.loc[uid, "infer_s"]) for uid, s in measured.items()]))
    assert table.loc["detectron2:137257644", "projected_s"] == pytest.approx(scale * zoo.loc["detectron2:137257644",
                                                                                                "infer_s"], rel=0.2)
