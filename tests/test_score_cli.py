"""`explorer eval --operating-point / --calibration`: what is printed, the CSVs' columns and hand-worked numbers,
several --dt files, and bad options or scores with one `error:` line each."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import pytest

from explorer.cli.main import main
from explorer.evaluation.analyses.calibration import SUMMARY_COLUMNS
from explorer.evaluation.analyses.operating_point import OPTIMUM_COLUMNS
from tests import score_cases


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("score_cli")
    paths = {"folder": folder, "gt": folder / "instances.json", "dt": folder / "results.json",
             "other": folder / "other.json"}
    paths["gt"].write_text(json.dumps(score_cases.ground_truth()))
    paths["dt"].write_text(json.dumps(score_cases.results()))
    other = score_cases.results()
    other[2]["score"] = 0.99
    paths["other"].write_text(json.dumps(other))
    return paths


def run(capsys: pytest.CaptureFixture[str], *argv: Any) -> tuple[int, str, str]:
    code = main(["eval", *(str(a) for a in argv)])
    out, err = capsys.readouterr()
    return code, out, err


def rows(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    with path.open(newline="") as handle:
        reader = csv.DictReader(handle)
        return list(reader.fieldnames or []), list(reader)


def test_operating_point_csv(capsys, files) -> None:
    out = files["folder"] / "op.csv"
    code, printed, err = run(capsys, "--gt", files["gt"], "--dt", files["dt"], "--iou-type", "bbox",
                             "--operating-point", out)
    assert code == 0, err
    assert "IoU 0.50: score >= 0.3000  precision 0.571  recall 1.000  F1 0.727  (4 TP, 3 FP, 4 objects)" in printed
    assert "IoU 0.75: " in printed and f"wrote {out}" in printed
    header, table = rows(out)
    assert header == list(OPTIMUM_COLUMNS)
    assert [(r["iou"], r["category"]) for r in table] == [("0.5", "all categories"), ("0.5", "a"), ("0.5", "b"),
                                                         ("0.75", "all categories"), ("0.75", "a"), ("0.75", "b")]
    assert table[0]["category_id"] == "" and table[1]["category_id"] == "1"
    assert (float(table[1]["threshold"]), float(table[1]["f1"])) == pytest.approx((0.3, 0.75))
    assert (float(table[4]["threshold"]), float(table[4]["f1"])) == pytest.approx((0.9, 0.5))


def test_calibration_csv_and_reliability_lines(capsys, files) -> None:
    out = files["folder"] / "cal.csv"
    code, printed, err = run(capsys, "--gt", files["gt"], "--dt", files["dt"], "--iou-type", "bbox",
                             "--calibration", out, "--calibration-bins", "2", "--dece-bins", "2", "--score-iou", "0.6")
    assert code == 0, err
    assert f"IoU 0.50: ECE {(5 * 0.1 + 2 * 0.15) / 7:.4f}  MCE 0.1500" in printed
    assert "scores 0.50-1.00:       5 detections, mean score 0.700, true positives 0.600" in printed
    assert "IoU 0.60: " in printed
    header, table = rows(out)
    assert header == list(SUMMARY_COLUMNS)
    assert [r["iou"] for r in table] == ["0.5"] * 3 + ["0.6"] * 3
    assert float(table[0]["ece"]) == pytest.approx((5 * 0.1 + 2 * 0.15) / 7)


def test_several_results_files_get_one_csv_each(capsys, files) -> None:
    out = files["folder"] / "both.csv"
    code, printed, err = run(capsys, "--gt", files["gt"], "--dt", files["dt"], "--dt", files["other"],
                             "--iou-type", "bbox", "--operating-point", out)
    assert code == 0, err
    first, second = files["folder"] / "both-results.csv", files["folder"] / "both-other.csv"
    assert f"wrote {first}" in printed and f"wrote {second}" in printed
    assert (rows(first)[1][1]["threshold"], rows(second)[1][1]["threshold"]) == ("0.3", "0.9")  # category a


@pytest.mark.parametrize(("argv", "message"), [
    (["--iou-type", "keypoints"], "need --iou-type bbox or segm"),
    (["--score-iou", "1.5"], "--score-iou must be a number in (0, 1]"),
    (["--calibration-bins", "0"], "--calibration-bins must be a positive integer"),
])
def test_bad_options(capsys, files, argv: list[str], message: str) -> None:
    argv = ["--iou-type", "bbox", *argv] if argv[0] != "--iou-type" else argv
    code, _, err = run(capsys, "--gt", files["gt"], "--dt", files["dt"], "--calibration",
                       files["folder"] / "x.csv", *argv)
    assert code == 2
    assert err.startswith("error: ") and message in err and err.count("\n") == 1


def test_scores_above_one_refused_for_calibration_only(capsys, files) -> None:
    results = score_cases.results()
    results[0]["score"] = 1.7
    path = files["folder"] / "logits.json"
    path.write_text(json.dumps(results))
    code, _, err = run(capsys, "--gt", files["gt"], "--dt", path, "--iou-type", "bbox", "--calibration",
                       files["folder"] / "c.csv")
    assert code == 2 and "logits.json[0]: score 1.7 is above 1" in err and err.count("\n") == 1
    code, _, err = run(capsys, "--gt", files["gt"], "--dt", path, "--iou-type", "bbox", "--operating-point",
                       files["folder"] / "o.csv")
    assert code == 0, err


def test_negative_scores_refused(capsys, files) -> None:
    results = score_cases.results()
    results[3]["score"] = -1
    path = files["folder"] / "negative.json"
    path.write_text(json.dumps(results))
    code, _, err = run(capsys, "--gt", files["gt"], "--dt", path, "--iou-type", "bbox", "--operating-point",
                       files["folder"] / "o.csv")
    assert code == 2 and "negative.json[3]: score -1.0 is negative" in err
