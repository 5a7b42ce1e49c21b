"""`python -m explorer zoo|rank|card` on the committed zoo_data: outputs and one-line errors."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys

import pytest

from explorer.cli.main import main
from explorer.zoo.schema import CORE_COLUMNS
from tests.deadlines import SUBPROCESS_S


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_zoo_csv_has_the_promised_columns(capsys) -> None:
    code, out, _ = run(capsys, "zoo", "--zoo", "detectron", "--format", "csv")
    assert code == 0
    rows = list(csv.DictReader(io.StringIO(out)))
    assert len(rows) == 75
    assert tuple(rows[0])[: len(CORE_COLUMNS)] == CORE_COLUMNS
    rpn = next(r for r in rows if r["model_id"] == "35998814")
    assert (rpn["infer_s"], rpn["infer_s_gpu"], rpn["infer_s_cpu"], rpn["prop_ar"]) == ("0.080", "0.080", "", "57.2")
    tta = [r for r in rows if r["model_id"] == "37129812"]
    assert sorted(r["tta"] for r in tta) == ["false", "true"]
    fast = next(r for r in rows if r["model_id"] == "36224013")
    assert (fast["infer_s_gpu"], fast["infer_s_cpu"], fast["infer_s"]) == ("0.241", "0.003", "0.244")
    assert fast["box_ap_per_s"] == "141" and fast["train_gpu_hours"] == "182.4"


def test_zoo_all_zoos_json_and_markdown(capsys) -> None:
    code, out, _ = run(capsys, "zoo", "--format", "json")
    records = json.loads(out)
    assert code == 0 and {r["zoo"] for r in records} >= {"detectron", "torchvision"}
    assert len({(r["zoo"], r["model_id"], r["tta"]) for r in records}) == len(records)
    torchvision = [r for r in records if r["zoo"] == "torchvision"]
    assert len(torchvision) >= 13 and all(r["infer_s"] is None for r in torchvision)
    code, out, _ = run(capsys, "zoo", "--zoo", "torchvision", "--format", "markdown")
    assert code == 0 and out.startswith("| zoo | table | model_id |") and out.count("\n") == len(torchvision) + 2


def test_rank_marks_the_frontier(capsys) -> None:
    code, out, _ = run(capsys, "rank", "--metric", "mask_ap", "--max-infer-s", "0.2", "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(out)))
    assert code == 0 and rows and all(float(r["infer_s_e2e"]) <= 0.2 for r in rows)  # end to end by default
    for timing in {r["timing"] for r in rows}:  # ranked within each timing source
        per_s = [float(r["mask_ap_per_s"]) for r in rows if r["timing"] == timing]
        assert per_s == sorted(per_s, reverse=True)
    assert any(r["pareto"] == "yes" for r in rows) and any(r["pareto"] == "" for r in rows)


def test_rank_markdown_ends_with_a_recommendation(capsys) -> None:
    code, out, _ = run(capsys, "rank", "--metric", "kp_ap", "--task", "keypoints", "--top", "3", "--scope", "person")
    table_lines = [line for line in out.splitlines() if line.startswith("| ")]
    assert code == 0 and len(table_lines) == 1 + 3 + 3  # header and the top 3 of Detectron and of Detectron2
    assert "Timed by Detectron on P100: the fastest model" in out


def test_card(capsys) -> None:
    code, out, _ = run(capsys, "card", "35861858")
    assert code == 0 and out.startswith("# Mask R-101-FPN 2x — detectron 35861858")
    assert "- mask AP: 36.4" in out and "model_final.pkl" in out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (("zoo", "--zoo", "yolo"), "error: unknown zoo 'yolo'"),
        (("rank", "--metric", "ap50"), "error: unknown metric 'ap50'"),
        (("rank", "--task", "faces"), "error: unknown task 'faces'"),
        (("rank", "--metric", "mask_ap", "--min-metric", "99"), "error: No model with mask AP ≥ 99"),
        (("card", "123"), "error: unknown model id '123'"),
    ],
)
def test_user_errors_are_one_line(capsys, argv: tuple[str, ...], message: str) -> None:
    code, out, err = run(capsys, *argv)
    assert code == 2 and out == ""
    assert err.startswith(message) and err.count("\n") == 1


def test_module_entry_point_exits_non_zero_without_traceback() -> None:
    done = subprocess.run([sys.executable, "-m", "explorer", "card", "nope"], capture_output=True, text=True,
                          timeout=SUBPROCESS_S)
    assert done.returncode == 2
    assert done.stderr.strip() == "error: unknown model id 'nope'; `python -m explorer zoo` lists them"
    assert "Traceback" not in done.stderr
