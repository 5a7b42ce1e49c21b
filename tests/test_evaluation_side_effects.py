"""Evaluation changes nothing process-wide (issue 11, item 7), and reads no pickle.

The server runs many sessions in one process: swapping `sys.stdout` to silence pycocotools (what
`contextlib.redirect_stdout` does) makes every other thread's prints vanish while it lasts, and pausing the garbage
collector pauses it for everyone. A thread prints numbered lines for as long as an evaluation runs; every line
must arrive, and nothing pycocotools prints may arrive with them (it runs in the caller's process, its `print`
made a no-op for its own functions only: explorer.evaluation.coco.backends).
"""

from __future__ import annotations

import ast
import gc
import sys
import threading
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from explorer.evaluation.analyses.keypoint_errors import analyse_keypoint_errors
from explorer.evaluation.coco.backends import available_backends
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
def test_a_thread_printing_during_an_evaluation_keeps_all_its_output(instances, backend, capsys) -> None:
    results = noisy_results(instances, "segm", seed=1)
    n, lines = printed_while(lambda: evaluate(instances, results, "segm", backend=backend, analysis=True), capsys)
    assert lines == [f"line {i}" for i in range(n)]  # every line, in order, and nothing pycocotools printed


def test_a_thread_printing_during_the_keypoint_analysis_keeps_all_its_output(people, capsys) -> None:
    results = noisy_results(people, "keypoints", seed=2)
    n, lines = printed_while(lambda: analyse_keypoint_errors(people, results, backend="pycocotools"), capsys)
    assert lines == [f"line {i}" for i in range(n)]


def test_pycocotools_itself_still_prints_outside_our_calls(instances, capsys) -> None:
    """The silencing is ours only: a user's own pycocotools in the same process prints as always."""
    from pycocotools.coco import COCO

    evaluate(instances, noisy_results(instances, "bbox", seed=3), "bbox", backend="pycocotools")
    capsys.readouterr()
    index = COCO()
    index.dataset = instances
    index.createIndex()
    assert "index created" in capsys.readouterr().out


def test_an_evaluation_leaves_gc_and_warning_filters_as_they_were(instances) -> None:
    filters = list(warnings.filters)
    stdout = sys.stdout
    assert gc.isenabled()
    for backend in available_backends():
        evaluate(instances, noisy_results(instances, "bbox", seed=3), "bbox", backend=backend, analysis=True)
    assert gc.isenabled() and warnings.filters == filters and sys.stdout is stdout


def test_no_evaluation_module_reads_a_plain_pickle() -> None:
    """No pickle.load / loads / Unpickler anywhere in evaluation: nothing there can run code hidden in data."""
    users = []
    for path in EVALUATION.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            call = node.func if isinstance(node, ast.Call) else None
            if isinstance(call, ast.Attribute) and call.attr in ("load", "loads", "Unpickler") and (
                    isinstance(call.value, ast.Name) and call.value.id in ("pickle", "cloudpickle", "dill")):
                users.append(f"{path.relative_to(EVALUATION)}:{node.lineno}")
    assert users == []
