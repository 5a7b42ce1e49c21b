"""bench/bench_eval_scale.py's generated sets: larger sets repeat the base images under new, unique ids, and the
streamed results file is one valid JSON list whose detections all point at images of the set."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

from explorer.evaluation.inputs.ground_truth import check_ground_truth
from explorer.evaluation.inputs.result_checks import check_results

SCRIPT = Path(__file__).resolve().parents[1] / "bench" / "bench_eval_scale.py"


def test_generated_set_repeats_the_base_under_new_ids(tmp_path: Path) -> None:
    spec = importlib.util.spec_from_file_location("bench_eval_scale", SCRIPT)
    assert spec is not None and spec.loader is not None
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    bench.generate(tmp_path, 25, 10, 4)  # 2.5 copies of 10 images, 4 detections each
    gt = json.loads((tmp_path / "gt.json").read_text())
    results = json.loads((tmp_path / "results.json").read_text())
    ids = [image["id"] for image in gt["images"]]
    assert len(ids) == len(set(ids)) == 25
    assert len({ann["id"] for ann in gt["annotations"]}) == len(gt["annotations"])
    assert {ann["image_id"] for ann in gt["annotations"]} <= set(ids)
    assert len(results) == 25 * 4 and {r["image_id"] for r in results} == set(ids)
    checked = check_results(results, check_ground_truth(gt).prepare("segm"))  # a set every evaluator accepts
    assert len(checked) == 100
    first, copy = gt["images"][0], gt["images"][10]
    assert [a["bbox"] for a in gt["annotations"] if a["image_id"] == first["id"]] == [
        a["bbox"] for a in gt["annotations"] if a["image_id"] == copy["id"]]
