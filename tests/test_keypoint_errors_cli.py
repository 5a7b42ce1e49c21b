"""`explorer eval --iou-type keypoints --keypoint-errors OUT.csv`: the CSV's columns and rows, the printed
summary, custom sigmas, and one-line errors with exit code 2."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import pytest

from explorer.cli.main import main
from tests.coco_factory import make_ground_truth, perfect_results
from tests.test_keypoint_errors import ANIMAL, ANIMAL_SIGMAS, NAMES, detection, people_gt, person_points


def run(capsys: pytest.CaptureFixture[str], *argv: Any) -> tuple[int, str, str]:
    code = main(["eval", *(str(a) for a in argv)])
    out, err = capsys.readouterr()
    return code, out, err


def write(folder: Path, name: str, data: Any) -> Path:
    path = folder / name
    path.write_text(json.dumps(data))
    return path


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    miss = person_points(50)
    miss[NAMES.index("left_ankle")] = (300.0, 390.0)
    return {"gt": write(tmp_path, "people.json", people_gt()),
            "dt": write(tmp_path, "dets.json", [detection(miss), detection(person_points(450), 0.8)]),
            "folder": tmp_path}


def test_csv_has_the_promised_columns_and_one_row_per_keypoint(capsys, files) -> None:
    out_csv = files["folder"] / "kpt.csv"
    code, out, err = run(capsys, "--gt", files["gt"], "--dt", files["dt"], "--iou-type", "keypoints",
                         "--keypoint-errors", out_csv)
    assert code == 0, err
    with out_csv.open(newline="") as handle:
        assert handle.readline().strip() == "image_id,gt_id,dt_id,keypoint,error"
    with out_csv.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 34
    assert [r["keypoint"] for r in rows[:17]] == NAMES
    assert {(r["gt_id"], r["dt_id"]) for r in rows} == {("101", "1"), ("202", "2")}
    assert [r for r in rows if r["error"] != "good"] == [
        {"image_id": "1", "gt_id": "101", "dt_id": "1", "keypoint": "left_ankle", "error": "miss"}]
    assert "Keypoint errors (Ronchi & Perona): 2 of 2 detections matched at OKS .1, 34 labelled keypoints" in out
    assert "  miss         2.9%  (1)" in out
    assert "  misses corrected       1.000  (+0.075)" in out
    assert out.rstrip().endswith(f"wrote {out_csv}")


def test_several_results_files_get_one_csv_each(capsys, tmp_path) -> None:
    gt = make_ground_truth(6, seed=5, keypoints=True)
    gt_path = write(tmp_path, "gt.json", gt)
    a = write(tmp_path, "a.json", perfect_results(gt, "keypoints"))
    b = write(tmp_path, "b.json", perfect_results(gt, "keypoints", seed=2))
    code, _, err = run(capsys, "--gt", gt_path, "--dt", a, "--dt", b, "--iou-type", "keypoints",
                         "--keypoint-errors", tmp_path / "kpt.csv")
    assert code == 0, err
    for stem in ("a", "b"):
        with (tmp_path / f"kpt-{stem}.csv").open(newline="") as handle:
            rows = list(csv.DictReader(handle))
        assert rows and {r["error"] for r in rows} == {"good"}


def test_custom_category_with_sigmas_on_the_command_line(capsys, tmp_path) -> None:
    gt_path = write(tmp_path, "animals.json", people_gt(ANIMAL, n=6))
    points = person_points(50, n=6)
    points[1], points[2] = points[2], points[1]
    dt_path = write(tmp_path, "dets.json", [detection(points, category_id=7)])
    out_csv = tmp_path / "kpt.csv"
    code, _, err = run(capsys, "--gt", gt_path, "--dt", dt_path, "--iou-type", "keypoints",
                         "--kpt-sigmas", ",".join(map(str, ANIMAL_SIGMAS)), "--keypoint-errors", out_csv)
    assert code == 0, err
    with out_csv.open(newline="") as handle:
        errors = {r["keypoint"]: r["error"] for r in csv.DictReader(handle)}
    assert errors["l_ear"] == errors["r_ear"] == "inversion"


@pytest.mark.parametrize(("extra", "message"), [
    (["--kpt-sigmas", "0.1,0.2"], "error: kpt_sigmas: 2 value(s) given, but category 'person' has 17 keypoints"),
    (["--kpt-sigmas", "0.1,zero"], "error: kpt sigmas: value 2 'zero' is not a number"),
    (["--flip-pairs", "left_eye:nose_tip"], "error: flip pair keypoint 'nose_tip' is not a keypoint of category"),
])
def test_bad_keypoint_options_are_one_line_and_exit_2(capsys, files, extra, message) -> None:
    code, _, err = run(capsys, "--gt", files["gt"], "--dt", files["dt"], "--iou-type", "keypoints",
                         "--keypoint-errors", files["folder"] / "kpt.csv", *extra)
    assert code == 2
    assert err.startswith(message) and err.count("\n") == 1
    assert not (files["folder"] / "kpt.csv").exists()


def test_keypoint_errors_need_keypoint_evaluation(capsys, tmp_path) -> None:
    gt = make_ground_truth(3, seed=1)
    gt_path = write(tmp_path, "instances.json", gt)
    dt_path = write(tmp_path, "boxes.json", perfect_results(gt, "bbox"))
    code, _, err = run(capsys, "--gt", gt_path, "--dt", dt_path, "--iou-type", "bbox",
                       "--keypoint-errors", tmp_path / "kpt.csv")
    assert code == 2 and "--keypoint-errors needs --iou-type keypoints" in err
    code, _, err = run(capsys, "--gt", gt_path, "--dt", dt_path, "--iou-type", "keypoints",
                       "--keypoint-errors", tmp_path / "kpt.csv")
    assert code == 2 and "no category with 'keypoints' names" in err


def test_keypoint_options_with_boxes_are_refused(capsys, tmp_path) -> None:
    gt = make_ground_truth(3, seed=1)
    gt_path = write(tmp_path, "instances.json", gt)
    dt_path = write(tmp_path, "boxes.json", perfect_results(gt, "bbox"))
    code, _, err = run(capsys, "--gt", gt_path, "--dt", dt_path, "--iou-type", "bbox", "--kpt-sigmas", "0.1")
    assert code == 2 and err.startswith("error: --kpt-sigmas applies only to --iou-type keypoints")
