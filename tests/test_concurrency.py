"""Several sessions on one server: shared cached models, identical results, bounded memory, OOM fallback."""

from __future__ import annotations

import threading

import numpy as np
import pytest
import torch

from explorer.detections import empty_detections
from explorer.engine.runners import RANDOM_WEIGHTS, ModelCache, predict_images, predict_with_fallback
from tests.model_factory import random_image, torchvision_spec

MODEL = "FasterRCNN_MobileNet_V3_Large_320_FPN_Weights.COCO_V1"


def test_threads_sharing_one_cached_model_match_a_sequential_run() -> None:
    torch.manual_seed(0)
    cache = ModelCache(max_models=1)
    spec = torchvision_spec(MODEL, detections=20).with_test(score_thresh=0.0)
    images = [random_image(seed=seed) for seed in range(6)]
    runner = cache.get(spec, "cpu", RANDOM_WEIGHTS)
    sequential = predict_images(runner, images)
    outputs: dict[int, list] = {}
    errors: list[BaseException] = []

    def session(index: int) -> None:
        try:
            shared = cache.get(spec, "cpu", RANDOM_WEIGHTS)
            outputs[index] = predict_images(shared, images[index:] + images[:index])
        except BaseException as error:  # a failure in a thread must fail the test
            errors.append(error)

    threads = [threading.Thread(target=session, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors and len(outputs) == 4
    assert cache.loads == 1 and len(cache.loaded()) == 1  # one model in memory for every session
    for index, found in outputs.items():
        rotated = sequential[index:] + sequential[:index]
        for got, expected in zip(found, rotated, strict=True):
            np.testing.assert_allclose(got.boxes, expected.boxes, atol=1e-4)
            np.testing.assert_array_equal(got.labels, expected.labels)


class OutOfMemoryError(RuntimeError):
    """Stands in for torch.cuda.OutOfMemoryError (same class name, which is what the engine checks)."""


class GreedyRunner:
    """Runs out of memory on the 'GPU' for batches larger than `fits` (or always, when fits=0)."""

    def __init__(self, spec, device: str, fits: int) -> None:
        self.spec, self.device, self.categories, self.fits = spec, device, ("__background__",), fits
        self.batches: list[int] = []

    def predict(self, images, autocast=None):
        self.batches.append(len(images))
        if self.device == "cuda" and len(images) > self.fits:
            raise OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return [empty_detections(image.shape[1], image.shape[0]) for image in images]


def cache_with(fits: int) -> tuple[ModelCache, dict[str, GreedyRunner]]:
    made: dict[str, GreedyRunner] = {}

    def loader(spec, device, weights, progress):
        made[device] = GreedyRunner(spec, device, fits)
        return made[device]

    return ModelCache(max_models=2, loader=loader), made


def test_oom_falls_back_to_batch_one_then_cpu() -> None:
    images = [random_image() for _ in range(4)]
    spec = torchvision_spec(MODEL)
    cache, made = cache_with(fits=1)
    found, report = predict_with_fallback(cache, spec, "cuda", RANDOM_WEIGHTS, images, batch_size=4)
    assert len(found) == 4 and (report.device, report.batch_size) == ("cuda", 1)
    assert made["cuda"].batches == [4, 1, 1, 1, 1]
    assert report.notes == ["cuda ran out of memory at batch size 4; retried on cuda with batch size 1."]

    cache, made = cache_with(fits=0)
    found, report = predict_with_fallback(cache, spec, "cuda", RANDOM_WEIGHTS, images, batch_size=4)
    assert (report.device, report.batch_size) == ("cpu", 1) and len(found) == 4
    assert len(report.notes) == 2 and "retried on cpu" in report.notes[1]


def test_other_errors_are_not_swallowed() -> None:
    class Broken(GreedyRunner):
        def predict(self, images, autocast=None):
            raise ValueError("bad input")

    cache = ModelCache(loader=lambda spec, device, weights, progress: Broken(spec, device, 1))
    with pytest.raises(ValueError, match="bad input"):
        predict_with_fallback(cache, torchvision_spec(MODEL), "cuda", RANDOM_WEIGHTS, [random_image()])


def test_model_cache_bound_holds_under_many_models() -> None:
    cache = ModelCache(max_models=2)
    for model in (MODEL, "SSDLite320_MobileNet_V3_Large_Weights.COCO_V1", MODEL):
        cache.get(torchvision_spec(model), "cpu", RANDOM_WEIGHTS)
        assert len(cache.loaded()) <= 2


def test_concurrent_app_sessions_share_one_model_and_agree() -> None:
    """Three AppTest sessions run the Detections page at once: one model load, identical detections."""
    from streamlit.testing.v1 import AppTest

    from explorer.views import run_resources
    from explorer.zoo.paths import REPO_ROOT
    from tests.test_detections_page import PAGE, choose_random_small_model, png_bytes

    run_resources.model_cache().clear()
    torch.manual_seed(0)
    sessions = []
    for _ in range(3):
        at = AppTest.from_file(str(REPO_ROOT / "app.py"), default_timeout=180)
        at.switch_page(PAGE)
        at.run()
        at.file_uploader(key="detections:uploads").set_value([("a.png", png_bytes(seed=5), "image/png")])
        choose_random_small_model(at, "torchvision:SSDLite320_MobileNet_V3_Large_Weights.COCO_V1")
        at.run()
        sessions.append(at)
    loads_before = run_resources.model_cache().loads
    errors: list[BaseException] = []

    def press_run(at: AppTest) -> None:
        try:
            at.button(key="detections:run").click().run()
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=press_run, args=(at,)) for at in sessions]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    assert not errors and all(not at.exception for at in sessions)
    assert run_resources.model_cache().loads - loads_before <= 1  # loaded once for all three sessions
    results = [at.session_state["detections:runs"][0].detections[0] for at in sessions]
    for other in results[1:]:
        np.testing.assert_allclose(other.boxes, results[0].boxes, atol=1e-4)
        np.testing.assert_array_equal(other.labels, results[0].labels)
