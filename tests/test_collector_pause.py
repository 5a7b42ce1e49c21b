"""The cyclic garbage collector pauses while an evaluation builds its inputs (explorer/evaluation/collector.py)."""

from __future__ import annotations

import gc
import threading

import pytest

from explorer.evaluation.collector import collector_paused
from tests.coco_factory import make_ground_truth, perfect_results


@pytest.fixture(autouse=True)
def collector_on():
    assert gc.isenabled()
    yield
    gc.enable()


def test_paused_inside_and_back_after_even_on_error() -> None:
    with collector_paused():
        assert not gc.isenabled()
    assert gc.isenabled()
    with pytest.raises(ValueError), collector_paused():
        raise ValueError("boom")
    assert gc.isenabled()


def test_a_collector_switched_off_before_stays_off() -> None:
    gc.disable()
    with collector_paused():
        pass
    assert not gc.isenabled()


def test_overlapping_pauses_of_two_threads_resume_only_after_the_last() -> None:
    first_in, second_done = threading.Event(), threading.Event()
    seen = {}

    def first() -> None:
        with collector_paused():
            first_in.set()
            second_done.wait(10)
            seen["after the other ended"] = gc.isenabled()

    thread = threading.Thread(target=first)
    thread.start()
    first_in.wait(10)
    with collector_paused():
        pass
    second_done.set()
    thread.join(10)
    assert seen == {"after the other ended": False} and gc.isenabled()


def test_evaluate_and_tide_read_their_inputs_with_the_collector_paused(monkeypatch) -> None:
    from explorer.evaluation.analyses import tide as tide_module
    from explorer.evaluation.coco import pipeline

    states = []
    real_load = pipeline.load_ground_truth

    def watching_load(*args, **kwargs):
        states.append(gc.isenabled())
        return real_load(*args, **kwargs)

    monkeypatch.setattr(pipeline, "load_ground_truth", watching_load)
    monkeypatch.setattr(tide_module, "load_ground_truth", watching_load)
    gt = make_ground_truth(n_images=4, seed=3)
    results = perfect_results(gt)
    pipeline.evaluate(gt, results, "bbox")
    tide_module.tide(gt, results, "bbox")
    assert states == [False, False] and gc.isenabled()
