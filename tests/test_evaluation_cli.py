"""The `eval` command end to end: summary blocks, per-category CSVs, one-line errors with exit code 2."""

from __future__ import annotations

import argparse
import csv
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from explorer.cli.evaluate import add_parser, per_category_paths
from explorer.cli.main import build_parser, main
from explorer.evaluation.coco.results import CATEGORY_COLUMNS
from explorer.evaluation.errors import EvaluationInputError
from tests.coco_factory import ABSENT_CATEGORY_ID, make_ground_truth, perfect_results
from tests.deadlines import SUBPROCESS_S
from tests.test_evaluation import noisy_results, reference_eval

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Any]:
    folder = tmp_path_factory.mktemp("eval")
    gt = make_ground_truth(10, seed=41)
    paths = {"gt": folder / "instances.json", "perfect": folder / "perfect.json", "noisy": folder / "noisy.json"}
    paths["gt"].write_text(json.dumps(gt))
    paths["perfect"].write_text(json.dumps(perfect_results(gt, "bbox")))
    noisy = noisy_results(gt, "bbox", seed=3)
    paths["noisy"].write_text(json.dumps(noisy))
    return {"folder": folder, "gt_data": gt, "noisy_data": noisy, **paths}


def run(capsys: pytest.CaptureFixture[str], *argv: Any) -> tuple[int, str, str]:
    code = main(["eval", *(str(a) for a in argv)])
    out, err = capsys.readouterr()
    return code, out, err


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


def test_summary_is_pycocotools_and_csv_has_the_promised_columns(capsys, files) -> None:
    out_csv = files["folder"] / "per_category.csv"
    code, out, err = run(capsys, "--gt", files["gt"], "--dt", files["noisy"], "--iou-type", "bbox",
                         "--per-category", out_csv, "--backend", "pycocotools")
    assert code == 0, err
    _, printed = reference_eval(files["gt_data"], files["noisy_data"], "bbox")
    lines = out.splitlines()
    assert lines[0].startswith("noisy.json: bbox, 10 images")
    assert "\n".join(lines[1:13]) + "\n" == printed
    assert lines[-1] == f"wrote {out_csv}"
    with out_csv.open() as handle:
        assert handle.readline().strip() == ",".join(CATEGORY_COLUMNS)
    rows = read_csv(out_csv)
    assert [int(r["category_id"]) for r in rows] == [c["id"] for c in files["gt_data"]["categories"]]
    absent = next(r for r in rows if int(r["category_id"]) == ABSENT_CATEGORY_ID)
    assert [absent[c] for c in CATEGORY_COLUMNS[2:]] == [""] * 7
    person = rows[0]
    assert person["category"] == "person"
    for column in CATEGORY_COLUMNS[2:]:
        value = person[column]
        assert value == "" or (value.count(".") == 1 and len(value.split(".")[1]) == 1 and 0 <= float(value) <= 100)


def test_several_results_files_one_block_and_one_csv_each(capsys, files) -> None:
    out_csv = files["folder"] / "cmp.csv"
    code, out, err = run(capsys, "--gt", files["gt"], "--dt", files["perfect"], "--dt", files["noisy"],
                         "--iou-type", "bbox", "--per-category", out_csv)
    assert code == 0, err
    assert out.count("Average Precision  (AP) @[ IoU=0.50:0.95 | area=   all | maxDets=100 ]") == 2
    assert "perfect.json: bbox" in out and "noisy.json: bbox" in out
    perfect = read_csv(files["folder"] / "cmp-perfect.csv")
    noisy = read_csv(files["folder"] / "cmp-noisy.csv")
    assert list(perfect[0]) == list(CATEGORY_COLUMNS) == list(noisy[0])
    assert perfect[0]["ap"] == "100.0"
    assert float(noisy[0]["ap"]) < 100.0


def test_csv_names_for_repeated_stems() -> None:
    assert per_category_paths(Path("o.csv"), [Path("a/r.json")]) == [Path("o.csv")]
    assert per_category_paths(Path("o.csv"), [Path("a/r.json"), Path("b/r.json")]) == [Path("o-1.csv"),
                                                                                         Path("o-2.csv")]


def test_breakdown_option(capsys, files) -> None:
    code, out, _ = run(capsys, "--gt", files["gt"], "--dt", files["noisy"], "--iou-type", "bbox", "--breakdown")
    assert code == 0
    assert "Error breakdown" in out
    for label in ("C75", "C50", "Loc", "Sim", "Oth", "BG", "FN"):
        assert f"  {label}" in out


@pytest.mark.parametrize(("case", "expected"), [
    ("missing", "not found"),
    ("broken", "not valid JSON: Expecting value at line 1, column 2"),
    ("another", "another dataset"),
    ("bad_box", "bad_box.json[0]: bbox must be 4 numbers"),
])
def test_bad_input_is_one_line_and_exit_2(capsys, files, case, expected) -> None:
    path = files["folder"] / f"{case}.json"
    if case == "broken":
        path.write_text("[}")
    elif case == "another":
        path.write_text(json.dumps([{"image_id": 7, "category_id": 1, "bbox": [1, 2, 3, 4], "score": 0.5}]))
    elif case == "bad_box":
        path.write_text(json.dumps([{"image_id": 1000, "category_id": 1, "bbox": [1, 2, 3], "score": 0.5}]))
    # the bad file comes second: checked before the first is evaluated
    code, out, err = run(capsys, "--gt", files["gt"], "--dt", files["noisy"], "--dt", path, "--iou-type", "bbox")
    assert code == 2
    assert out == ""
    assert err.startswith("error: ") and err.count("\n") == 1 and "Traceback" not in err
    assert expected in err


def test_run_function_raises_the_error_type(files) -> None:
    parser = argparse.ArgumentParser()
    commands = parser.add_subparsers(dest="command", required=True)
    add_parser(commands)
    args = parser.parse_args(["eval", "--gt", str(files["gt"]), "--dt", str(files["gt"]), "--iou-type", "bbox"])
    with pytest.raises(EvaluationInputError, match="is this the ground-truth file"):
        args.run(args)
    ok = parser.parse_args(["eval", "--gt", str(files["gt"]), "--dt", str(files["perfect"]), "--iou-type", "segm"])
    with pytest.raises(EvaluationInputError, match=r"perfect.json\[0\] has no 'segmentation'"):
        ok.run(ok)


def test_module_runs_as_a_program(files) -> None:
    done = subprocess.run([sys.executable, "-m", "explorer", "eval", "--gt", str(files["gt"]), "--dt",
                           str(files["perfect"]), "--iou-type", "bbox"], cwd=ROOT, capture_output=True, text=True,
                          timeout=SUBPROCESS_S)
    assert done.returncode == 0, done.stderr
    assert "maxDets=100 ] = 1.000" in done.stdout
    bad = subprocess.run([sys.executable, "-m", "explorer", "eval", "--gt", str(files["perfect"]), "--dt",
                          str(files["perfect"]), "--iou-type", "bbox"], cwd=ROOT, capture_output=True, text=True,
                         timeout=SUBPROCESS_S)
    assert bad.returncode == 2
    assert bad.stderr.startswith("error: ") and "Traceback" not in bad.stderr


def test_wired_into_the_explorer_cli(capsys, files) -> None:
    """`eval` is a command of the one command line (there is no second entry point), listed in its parser."""
    choices = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction)).choices
    assert "eval" in choices
    assert main(["eval", "--gt", str(files["gt"]), "--dt", str(files["perfect"]), "--iou-type", "bbox"]) == 0
    assert "= 1.000" in capsys.readouterr().out
    assert main(["eval", "--gt", str(files["gt"]), "--dt", str(files["gt"]), "--iou-type", "bbox"]) == 2
    assert capsys.readouterr().err.startswith("error: ")
