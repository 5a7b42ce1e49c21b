"""analyses.forked.Pending: the child's result, or the plain call's result and error when there is no child or
it fails; TIDE's mask matching gives the same classification with and without the fork."""

from __future__ import annotations

import multiprocessing
import os
import threading

import numpy as np
import pytest

from explorer.evaluation.analyses import forked, tide_matching
from explorer.evaluation.analyses.forked import Pending
from explorer.evaluation.analyses.tide import classify
from explorer.evaluation.inputs.ground_truth import check_ground_truth
from explorer.evaluation.inputs.result_checks import check_results
from tests.coco_factory import bench_dataset

needs_fork = pytest.mark.skipif((os.cpu_count() or 1) < 2 or "fork" not in multiprocessing.get_all_start_methods(),
                                reason="needs the fork start method and 2 cores")


@pytest.fixture(autouse=True)
def fork_switched_on(monkeypatch: pytest.MonkeyPatch) -> None:
    """EXPLORER_FORK=1, and the one-thread rule set aside: earlier tests (AppTest) may leave threads behind in
    this process, and these tests' children only run our own code."""
    monkeypatch.setenv("EXPLORER_FORK", "1")
    monkeypatch.setattr(forked, "single_threaded", lambda: True)


def test_a_process_running_other_threads_does_not_fork(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.undo()
    monkeypatch.setenv("EXPLORER_FORK", "1")
    ready, stop = threading.Event(), threading.Event()
    other = threading.Thread(target=lambda: (ready.set(), stop.wait(10)))
    other.start()
    try:
        ready.wait(10)
        assert not forked.can_fork()
        assert Pending(pid_and, 5).result() == (os.getpid(), 10)
    finally:
        stop.set()
        other.join()


def pid_and(value: int) -> tuple[int, int]:
    return os.getpid(), value * 2


def dies_in_the_child(parent: int) -> str:
    if os.getpid() != parent:
        os._exit(3)  # killed before it could answer
    return "computed here"


def fails(value: int) -> None:
    raise ValueError(f"bad {value}")


@needs_fork
def test_the_result_comes_from_a_child_process() -> None:
    with Pending(pid_and, 21) as pending:
        pid, value = pending.result()
    assert value == 42 and pid != os.getpid()


@needs_fork
def test_a_child_that_dies_is_replaced_by_the_plain_call() -> None:
    with Pending(dies_in_the_child, os.getpid()) as pending:
        assert pending.result() == "computed here"


def test_an_error_is_the_plain_calls_error() -> None:
    with Pending(fails, 7) as pending, pytest.raises(ValueError, match="bad 7"):
        pending.result()


@needs_fork
def test_the_environment_switch_keeps_the_work_here(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("EXPLORER_FORK")
    assert forked.can_fork()  # on by default
    monkeypatch.setenv("EXPLORER_FORK", "0")
    assert not forked.can_fork()
    assert Pending(pid_and, 2).result() == (os.getpid(), 4)


@needs_fork
def test_a_fork_that_fails_leaves_the_work_here(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_fork(self: object) -> None:
        raise OSError("Cannot allocate memory")

    monkeypatch.setattr(forked.multiprocessing.get_context("fork").Process, "start", no_fork)
    assert Pending(pid_and, 3).result() == (os.getpid(), 6)


def test_without_fork_the_call_runs_here(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(forked, "can_fork", lambda: False)
    assert Pending(pid_and, 1).result() == (os.getpid(), 2)


@needs_fork
@pytest.mark.parametrize("chunk_pairs", [500, 10_000_000])
def test_mask_matching_with_the_fork_is_the_matching_without(chunk_pairs: int,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    gt_data, results = bench_dataset(n_images=24, dets_per_image=40, seed=8)
    gt = check_ground_truth(gt_data)
    checked = check_results(results, gt.prepare("segm"))
    monkeypatch.setattr(tide_matching, "CHUNK_PAIRS", chunk_pairs)
    monkeypatch.setattr(tide_matching, "FORK_MIN_DETECTIONS", 10**9)
    alone = classify(gt, checked, "segm")
    calls = []
    monkeypatch.setattr(tide_matching, "FORK_MIN_DETECTIONS", 1)
    monkeypatch.setattr(tide_matching, "Pending", lambda *a: calls.append(a) or Pending(*a))
    split = classify(gt, checked, "segm")
    assert calls  # the second half of each chunk went to a child
    for field in ("det_label", "det_ignored", "det_target", "det_fixable", "gt_matched", "gt_missed"):
        assert np.array_equal(getattr(split, field), getattr(alone, field)), field
    assert len(set(alone.det_label.tolist())) >= 4


@needs_fork
def test_ground_truth_masks_converted_beside_the_results_read_are_the_plain_conversion(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from explorer.evaluation.analyses import tide
    from explorer.evaluation.masks import to_rle

    gt_data, results = bench_dataset(n_images=20, dets_per_image=5, seed=2)
    monkeypatch.setattr(tide, "FORK_MIN_MASKS", 1)
    calls = []
    monkeypatch.setattr(tide, "Pending", lambda *a: calls.append(a) or Pending(*a))
    gt, columns = tide.load_for_tide(gt_data, results, "segm")
    assert calls and len(columns) == 100
    sizes = {image["id"]: (image["height"], image["width"]) for image in gt_data["images"]}
    assert gt.rle_cache == {ann["id"]: to_rle(ann["segmentation"], *sizes[ann["image_id"]])
                            for ann in gt_data["annotations"]}
