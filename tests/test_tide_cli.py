"""`explorer eval --tide / --tide-csv / --per-image`: what is printed, the CSVs' columns and rows, bad options."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import pytest

from explorer.cli.main import main
from explorer.evaluation.analyses.per_image import PER_IMAGE_COLUMNS
from explorer.evaluation.analyses.tide import ERRORS, tide
from tests.coco_factory import make_ground_truth, perfect_results
from tests.test_tide_reference import noisy_results


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    folder = tmp_path_factory.mktemp("tide_cli")
    gt = make_ground_truth(12, seed=21)
    noisy = noisy_results(gt, seed=5)
    paths = {"gt": folder / "instances.json", "noisy": folder / "noisy.json", "perfect": folder / "perfect.json"}
    paths["gt"].write_text(json.dumps(gt))
    paths["noisy"].write_text(json.dumps(noisy))
    paths["perfect"].write_text(json.dumps(perfect_results(gt, "bbox")))
    return {"folder": folder, "gt_data": gt, "noisy_data": noisy, **paths}


def run(capsys: pytest.CaptureFixture[str], *argv: Any) -> tuple[int, str, str]:
    code = main(["eval", *(str(a) for a in argv)])
    out, err = capsys.readouterr()
    return code, out, err


def rows(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    with path.open(newline="") as handle:
        reader = csv.DictReader(handle)
        return list(reader.fieldnames or []), list(reader)


@pytest.mark.parametrize("iou_type", ["bbox", "segm"])
def test_tide_csv_columns_rows_and_numbers(capsys, files, iou_type: str) -> None:
    out = files["folder"] / f"tide-{iou_type}.csv"
    code, printed, err = run(capsys, "--gt", files["gt"], "--dt", files["noisy"], "--iou-type", iou_type,
                             "--tide-csv", out)
    assert code == 0, err
    assert f"TIDE ({iou_type}, IoU 0.5, background 0.1)" in printed and f"wrote {out}" in printed
    header, table = rows(out)
    assert header == ["category_id", "category", "error", "dap"]
    overall = table[: len(ERRORS)]
    assert [r["error"] for r in overall] == list(ERRORS) and all(r["category_id"] == "" for r in overall)
    per_category = table[len(ERRORS):]
    ids = [c["id"] for c in files["gt_data"]["categories"]]
    assert len(per_category) == len(ids) * len(ERRORS)
    assert sorted({int(r["category_id"]) for r in per_category}) == sorted(ids)
    expected = tide(files["gt_data"], files["noisy_data"], iou_type).dap
    for r in overall:
        assert float(r["dap"]) == pytest.approx(expected[r["error"]], abs=0.006)  # two decimals, AP points
    assert float(overall[0]["dap"]) > 1  # the noisy set has class confusions
    absent = [r for r in per_category if r["category"] == "toothbrush"]
    assert all(r["dap"] == "" for r in absent)  # no objects: undefined, not 0


def test_per_image_csv(capsys, files) -> None:
    out = files["folder"] / "per_image.csv"
    code, _, err = run(capsys, "--gt", files["gt"], "--dt", files["perfect"], "--iou-type", "bbox",
                       "--per-image", out)
    assert code == 0, err
    header, table = rows(out)
    assert header == list(PER_IMAGE_COLUMNS)
    assert len(table) == len(files["gt_data"]["images"])
    assert {r["ap"] for r in table} == {"100.0"} and {r["fp"] for r in table} == {"0"}
    counts = {}
    for ann in files["gt_data"]["annotations"]:
        if not ann["iscrowd"]:
            counts[ann["image_id"]] = counts.get(ann["image_id"], 0) + 1
    assert {int(r["image_id"]): int(r["tp"]) for r in table} == {i["id"]: counts.get(i["id"], 0)
                                                                 for i in files["gt_data"]["images"]}


def test_per_image_score_threshold_turns_hits_into_misses(capsys, files) -> None:
    out = files["folder"] / "per_image_high.csv"
    code, _, err = run(capsys, "--gt", files["gt"], "--dt", files["perfect"], "--iou-type", "bbox",
                       "--per-image", out, "--per-image-score", "1.01")
    assert code == 0, err
    _, table = rows(out)
    assert {r["tp"] for r in table} == {"0"} and sum(int(r["fn"]) for r in table) > 0


def test_several_results_files_get_one_csv_each(capsys, files) -> None:
    out = files["folder"] / "t.csv"
    code, printed, err = run(capsys, "--gt", files["gt"], "--dt", files["noisy"], "--dt", files["perfect"],
                             "--iou-type", "bbox", "--tide", "--tide-csv", out)
    assert code == 0, err
    assert (files["folder"] / "t-noisy.csv").exists() and (files["folder"] / "t-perfect.csv").exists()
    assert printed.count("TIDE (bbox") == 2


def test_keypoints_are_refused_in_one_line(capsys, files) -> None:
    gt = make_ground_truth(3, seed=2, keypoints=True)
    path = files["folder"] / "kp.json"
    path.write_text(json.dumps(gt))
    results = files["folder"] / "kp_results.json"
    results.write_text(json.dumps(perfect_results(gt, "keypoints")))
    code, _, err = run(capsys, "--gt", path, "--dt", results, "--iou-type", "keypoints", "--tide")
    assert code == 2 and err.startswith("error: ") and "bbox or segm" in err and len(err.splitlines()) == 1
