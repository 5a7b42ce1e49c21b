"""Evaluation changes nothing process-wide (issue 11, item 7), and its workers read only plain-data pickles.

The server runs many sessions in one process: swapping `sys.stdout` to silence pycocotools (what
`contextlib.redirect_stdout` does) makes every other thread's prints vanish while it lasts, and pausing the garbage
collector pauses it for everyone. A thread prints numbered lines for as long as an evaluation runs; every line
must arrive, and nothing pycocotools prints may arrive with them.
"""

from __future__ import annotations

import ast
import gc
import io
import os
import pickle
import sys
import threading
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from explorer.evaluation.analyses.keypoint_errors import analyse_keypoint_errors
from explorer.evaluation.coco.backends import available_backends
from explorer.evaluation.coco.parallel import Block, Run, decode_block, encode_block
from explorer.evaluation.coco.pipeline import evaluate
from tests.coco_factory import make_ground_truth
from tests.test_evaluation import noisy_results

EVALUATION = Path(__file__).resolve().parents[1] / "explorer" / "evaluation"


def printed_while(run: Callable[[], Any], capsys: pytest.CaptureFixture[str]) -> tuple[int, list[str]]:
    """(lines a second thread printed while `run` ran, the lines stdout received)."""
    stop = threading.Event()
    printed = [0]

    def chatter() -> None:
        while not stop.is_set() or printed[0] < 50:
            print(f"line {printed[0]}")
            printed[0] += 1
            time.sleep(0.0002)  # often enough to land inside any short stdout swap

    thread = threading.Thread(target=chatter)
    capsys.readouterr()
    thread.start()
    try:
        run()
    finally:
        stop.set()
        thread.join()
    return printed[0], capsys.readouterr().out.splitlines()


@pytest.fixture(scope="module")
def instances() -> dict[str, Any]:
    return make_ground_truth(6, seed=3)


@pytest.fixture(scope="module")
def people() -> dict[str, Any]:
    return make_ground_truth(12, seed=4, keypoints=True)


@pytest.mark.parametrize("backend", available_backends())
@pytest.mark.parametrize("workers", [1, 2])
def test_a_thread_printing_during_an_evaluation_keeps_all_its_output(instances, backend, workers, capsys) -> None:
    results = noisy_results(instances, "segm", seed=1)
    n, lines = printed_while(lambda: evaluate(instances, results, "segm", backend=backend, analysis=True,
                                              workers=workers), capsys)
    assert lines == [f"line {i}" for i in range(n)]  # every line, in order, and nothing pycocotools printed


def test_a_thread_printing_during_the_keypoint_analysis_keeps_all_its_output(people, capsys) -> None:
    results = noisy_results(people, "keypoints", seed=2)
    n, lines = printed_while(lambda: analyse_keypoint_errors(people, results, backend="pycocotools"), capsys)
    assert lines == [f"line {i}" for i in range(n)]


def test_an_evaluation_leaves_gc_and_warning_filters_as_they_were(instances) -> None:
    filters = list(warnings.filters)
    stdout = sys.stdout
    assert gc.isenabled()
    evaluate(instances, noisy_results(instances, "bbox", seed=3), "bbox", analysis=True, workers=2)
    assert gc.isenabled() and warnings.filters == filters and sys.stdout is stdout


def test_a_block_travels_exactly() -> None:
    block = Block(backend="pycocotools", iou_type="segm", images=[{"id": 1, "height": 4, "width": 5}],
                  categories=[{"id": 3, "name": "c"}],
                  annotations=[{"id": 1, "image_id": 1, "category_id": 3, "area": 0.1 + 0.2, "iscrowd": 0,
                                "rle": {"size": [4, 5], "counts": b"0<1"}, "segmentation": [[1, 1, 2, 2, 3, 1]]}],
                  results=[{"image_id": 1, "category_id": 3, "score": np.float32(0.3),
                            "segmentation": {"size": [4, 5], "counts": "0<1"}}],
                  category_ids=[3], kpt_sigmas=None,
                  runs=[Run(), Run([{"id": 9, "category_id": 3, "area": -1.0}], [0.1], [100])])
    stream = io.BytesIO()
    encode_block(block, stream)
    stream.seek(0)
    back = decode_block(stream)
    assert back.annotations == block.annotations and back.annotations[0]["rle"]["counts"] == b"0<1"
    assert back.annotations[0]["area"] == 0.1 + 0.2  # floats arrive bit for bit
    assert back.results[0]["score"] == float(np.float32(0.3))
    assert back.results[0]["segmentation"]["counts"] == "0<1"  # a string stays a string
    assert [(list(r.extra_annotations), r.iou_thresholds, r.max_dets) for r in back.runs] == [
        ([], None, None), ([{"id": 9, "category_id": 3, "area": -1.0}], [0.1], [100])]
    assert (back.backend, back.iou_type, back.category_ids, back.task) == ("pycocotools", "segm", [3], "arrays")


class _RunsCommand:
    """Unpickling this calls os.system: the classic pickle exploit."""

    def __reduce__(self) -> tuple:
        return (os.system, ("echo pwned",))


@pytest.mark.parametrize("payload", [_RunsCommand(), {"results": [_RunsCommand()]}, print, Path("x")],
                         ids=["os.system", "nested call", "a builtin", "a class"])
def test_a_block_that_names_any_other_global_is_refused_unrun(payload: object) -> None:
    with pytest.raises(pickle.UnpicklingError, match="may not name"):
        decode_block(io.BytesIO(pickle.dumps({"runs": [], "x": payload})))


def test_numpy_numbers_in_a_block_are_allowed() -> None:
    fields = {"runs": [], "backend": "pycocotools", "iou_type": "bbox", "images": [], "categories": [],
              "annotations": [], "results": [{"score": np.float64(0.25), "area": np.float32(2.5)}],
              "category_ids": [1], "kpt_sigmas": None, "task": "arrays"}
    block = decode_block(io.BytesIO(pickle.dumps(fields)))
    assert block.results[0] == {"score": 0.25, "area": np.float32(2.5)}


def test_no_evaluation_module_reads_a_plain_pickle() -> None:
    """Only BlockUnpickler reads pickles here: no pickle.load / loads / Unpickler(...).load elsewhere."""
    users = []
    for path in EVALUATION.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            call = node.func if isinstance(node, ast.Call) else None
            if isinstance(call, ast.Attribute) and call.attr in ("load", "loads", "Unpickler") and (
                    isinstance(call.value, ast.Name) and call.value.id in ("pickle", "cloudpickle", "dill")):
                users.append(f"{path.relative_to(EVALUATION)}:{node.lineno}")
    assert users == []
