"""A session's runs and speed benchmark as library calls (no Streamlit): what the Detections page's buttons do.

The models are scripted runners placed in the queues' model cache, so every test is fast and deterministic.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from explorer.benchmarks.queued import benchmark_on_queue, summary_text
from explorer.benchmarks.store import MeasurementStore
from explorer.detections import Detections
from explorer.drawing.detections import RenderOptions
from explorer.engine import session_runs
from explorer.engine.queue import InferenceQueues, RequestState
from explorer.engine.runners import RANDOM_WEIGHTS, ModelCache
from explorer.engine.session_runs import ModelRun, RunSettings
from explorer.zoo.table import load_zoo
from tests.deadlines import HANG_S

MODEL = "torchvision:FasterRCNN_MobileNet_V3_Large_320_FPN_Weights.COCO_V1"
MASK_MODEL = "torchvision:MaskRCNN_ResNet50_FPN_Weights.COCO_V1"
WAIT_S = HANG_S


def found(width: int = 16, height: int = 12, with_masks: bool = False) -> Detections:
    """Two detections, a person (score .9) and a dog (score .3)."""
    masks = np.zeros((2, height, width), bool) if with_masks else None
    if masks is not None:
        masks[0, 2:6, 2:8] = True
    return Detections(width=width, height=height, boxes=np.array([[1, 1, 8, 6], [4, 4, 12, 10]], np.float32),
                      scores=np.array([0.9, 0.3], np.float32), labels=np.array([1, 18]), names=["person", "dog"],
                      masks=masks)


class ScriptedRunner:
    """Stands in for a loaded model: two fixed detections per image, and a record of the calls."""

    def __init__(self, spec) -> None:
        self.spec, self.device, self.categories = spec, "cpu", ("__background__", "person")
        self.calls = 0
        self.while_predicting: list[object] = []
        self.queue = None

    def predict(self, images, autocast=None):
        self.calls += 1
        if self.queue is not None:
            self.while_predicting.append(self.queue.running())
        return [found(image.shape[1], image.shape[0]) for image in images]


@pytest.fixture(scope="module")
def table() -> pd.DataFrame:
    return load_zoo(["torchvision"]).set_index("uid", drop=False)


@pytest.fixture
def queues(table) -> Iterator[tuple[InferenceQueues, ScriptedRunner]]:
    cache = ModelCache()
    runner = ScriptedRunner(session_runs.sized_spec(table, MODEL, 128))
    cache.put(runner.spec, "cpu", RANDOM_WEIGHTS, runner)
    queues = InferenceQueues(cache)
    yield queues, runner
    queues.close()


def settings(**changes) -> RunSettings:
    return RunSettings(**{"uid": MODEL, "device": "cpu", "min_size": 128, "weights": "random", **changes})


def images(count: int = 2) -> list[np.ndarray]:
    return [np.zeros((12, 16, 3), np.uint8) for _ in range(count)]


class Upload:
    def __init__(self, name: str, data: bytes) -> None:
        self.name, self.data = name, data

    def getvalue(self) -> bytes:
        return self.data


# ---- settings, spec and weights ----------------------------------------------------------------------------

def test_sized_spec_sets_the_shorter_side_and_grows_the_cap_only_when_needed(table) -> None:
    small = session_runs.sized_spec(table, MODEL, 128)
    published = session_runs.sized_spec(table, MODEL, 800)
    huge = session_runs.sized_spec(table, MODEL, 4000)
    assert small.preprocessing.min_size == 128 and small.preprocessing.max_size == published.preprocessing.max_size
    assert huge.preprocessing.min_size == 4000 and huge.preprocessing.max_size == 4000


def test_weights_choice_random_published_and_uploaded() -> None:
    assert session_runs.weights_choice(settings()) is RANDOM_WEIGHTS
    assert session_runs.weights_choice(settings(weights="published")) is None
    with pytest.raises(ValueError, match="Choose a weights file"):
        session_runs.weights_choice(settings(weights="upload"))
    data = b"weights bytes"
    path = session_runs.weights_choice(settings(weights="upload", weights_upload=Upload("../model.pth", data)))
    assert isinstance(path, Path) and path.name == "model.pth" and path.read_bytes() == data
    assert path.parent.name == hashlib.sha256(data).hexdigest()  # stored by content, as the model cache keys it


def test_for_model_keeps_every_setting_but_the_model() -> None:
    upload = Upload("a.pth", b"x")
    other = settings(batch_size=3, weights_upload=upload).for_model(MASK_MODEL)
    assert (other.uid, other.batch_size, other.min_size, other.weights_upload) == (MASK_MODEL, 3, 128, upload)


def test_max_images_per_run_reads_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(session_runs.MAX_IMAGES_ENV, raising=False)
    assert session_runs.max_images_per_run() == session_runs.DEFAULT_MAX_IMAGES
    monkeypatch.setenv(session_runs.MAX_IMAGES_ENV, "3")
    assert session_runs.max_images_per_run() == 3


def test_runnable_uids_keeps_the_tables_order() -> None:
    table = load_zoo(["torchvision"]).set_index("uid", drop=False)
    uids = session_runs.runnable_uids(table)
    assert MODEL in uids and MASK_MODEL in uids
    assert uids == [uid for uid in table.index if uid in set(uids)]


# ---- queueing and collecting ----------------------------------------------------------------------------------

def test_a_queued_run_gives_a_model_run_without_the_uploaded_bytes(queues, table) -> None:
    queue_set, runner = queues
    run = session_runs.queue_run(queue_set, table, settings(), images(2), session="me")
    assert run.request.wait(WAIT_S) and run.request.session == "me"
    [result] = session_runs.finished_runs([run])
    assert isinstance(result, ModelRun) and result.uid == MODEL and result.name == table.loc[MODEL, "name"]
    assert len(result.detections) == 2 and result.device == "cpu" and result.seconds >= 0
    assert result.settings == settings() and result.settings.weights_upload is None
    assert runner.calls == 2  # batch size 1: one call per image
    label = session_runs.done_label(run)
    assert label.startswith(f"{result.name}: done in ") and " s on cpu" in label


def test_a_waiting_run_says_its_place_and_cancelling_every_run_keeps_old_results(queues, table) -> None:
    queue_set, runner = queues
    with queue_set.queue("cpu").hold("someone else"):  # the device is busy: our run must wait
        run = session_runs.queue_run(queue_set, table, settings(), images(1), session="me")
        status = session_runs.run_status(run, now=run.request.submitted_at + 3)
        assert status.waiting and status.fraction is None
        assert status.text == "1 run ahead of you" and status.label == f"{run.name}: 1 run ahead of you · 3 s"
        session_runs.cancel_runs([run])
    assert run.request.state is RequestState.CANCELLED and runner.calls == 0
    assert session_runs.finished_runs([run]) is None


def test_a_failed_run_is_dropped_from_the_results_but_not_the_others(queues, table) -> None:
    queue_set, _ = queues
    good = session_runs.queue_run(queue_set, table, settings(), images(1), session="me")
    bad = session_runs.queue_run(queue_set, table, settings(), images(1), session="me")
    assert good.request.wait(WAIT_S) and bad.request.wait(WAIT_S)
    bad.request.state = RequestState.FAILED  # as the worker marks a crash
    assert [run.uid for run in session_runs.finished_runs([good, bad])] == [MODEL]


def test_queueing_an_unavailable_device_raises_what_explain_words(queues, table, monkeypatch) -> None:
    from explorer.engine import runners

    queue_set, _ = queues
    monkeypatch.setattr(runners, "cuda_available", lambda: False)
    with pytest.raises(runners.DeviceError) as info:
        session_runs.queue_run(queue_set, table, settings(device="cuda"), images(1), session="me")
    assert session_runs.explain(info.value) == str(info.value)


def test_explain_words_errors_for_people() -> None:
    class OutOfMemoryError(RuntimeError):
        pass

    assert session_runs.explain(ValueError("Pick a file.")) == "Pick a file."
    assert "ran out of memory" in session_runs.explain(OutOfMemoryError("CUDA out of memory"))
    assert session_runs.explain(KeyError("x")) == "Running the model failed: KeyError: 'x'"


# ---- what the page shows ---------------------------------------------------------------------------------------

def test_results_json_numbers_images_in_upload_order() -> None:
    run = ModelRun(uid=MODEL, name="m", device="cpu", detections=[found(), found()], seconds=0.1)
    results = json.loads(session_runs.results_json(run))
    assert [entry["image_id"] for entry in results] == [1, 1, 2, 2]
    assert all(len(entry["bbox"]) == 4 for entry in results)


def test_run_contents_offers_mask_controls_only_when_some_result_has_masks() -> None:
    plain = ModelRun(uid=MODEL, name="m", device="cpu", detections=[found()], seconds=0.1)
    masked = ModelRun(uid=MASK_MODEL, name="n", device="cpu", detections=[found(with_masks=True)], seconds=0.1)
    assert session_runs.run_contents([plain]) == session_runs.RunContents(False, False, ["dog", "person"])
    assert session_runs.run_contents([plain, masked]).has_masks


def test_draw_result_counts_what_passes_the_threshold_and_times_the_draw() -> None:
    detections = found()
    drawn = session_runs.draw_result(np.zeros((12, 16, 3), np.uint8), detections, RenderOptions(score_thresh=0.5))
    assert drawn.image.shape == (12, 16, 3) and drawn.shown == 1
    assert list(drawn.table["score"]) == pytest.approx([0.9]) and "draw" in detections.timings
    assert drawn.timings.endswith(" ms") and "draw " in drawn.timings
    only_dogs = session_runs.draw_result(np.zeros((12, 16, 3), np.uint8), found(),
                                         RenderOptions(score_thresh=0.0, classes={"dog"}))
    assert only_dogs.shown == 1 and len(only_dogs.table) == 2


# ---- the speed benchmark --------------------------------------------------------------------------------------

def test_the_benchmark_times_with_the_device_to_itself_and_stores_the_result(queues, table, tmp_path) -> None:
    queue_set, runner = queues
    runner.queue = queue_set.queue("cpu")
    store = MeasurementStore(tmp_path / "measurements.sqlite")
    held: list[bool] = []
    result = benchmark_on_queue(queue_set, table, settings(), images(1)[0], 2, "me", store=store,
                                on_hold=lambda: held.append(True))
    assert held == [True] and runner.calls >= 2
    assert all(len(running) == 1 and running[0].job is None for running in runner.while_predicting)  # our hold
    assert runner.queue.running() == [] and runner.queue.waiting() == []  # handed back
    assert result.runs == 2 and result.model_uid == MODEL and result.weights_kind == "random"
    assert list(store.frame()["model_uid"]) == [MODEL]
    assert "median" in summary_text(result) and "Stored" in summary_text(result)


def test_the_benchmark_waits_behind_another_sessions_run(queues, table, tmp_path) -> None:
    queue_set, runner = queues
    places: list[str] = []
    seen = threading.Event()

    def on_wait(ticket) -> None:
        from explorer.engine.queue import status_text

        places.append(status_text(ticket))
        seen.set()

    outcome: list[object] = []
    with queue_set.queue("cpu").hold("someone else"):
        timing = threading.Thread(target=lambda: outcome.append(benchmark_on_queue(
            queue_set, table, settings(), images(1)[0], 1, "me", on_wait=on_wait,
            store=MeasurementStore(tmp_path / "m.sqlite"))))
        timing.start()
        assert seen.wait(WAIT_S) and runner.calls == 0
    timing.join(WAIT_S)
    assert outcome and "1 run ahead of you" in places
