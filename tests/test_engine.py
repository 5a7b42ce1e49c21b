"""The model catalog and the engine, on random-weight torchvision models and small images."""

from __future__ import annotations

import threading
import time

import numpy as np
import pandas as pd
import pytest
import torch

from explorer.engine.runners import (
    RANDOM_WEIGHTS,
    DeviceError,
    ModelCache,
    batches,
    load_runner,
    predict_images,
    resolve_device,
)
from explorer.models.catalog import NotRunnableError, is_runnable, spec_for_uid
from explorer.models.torchvision_zoo import WeightsMismatchError
from explorer.zoo.table import load_zoo
from tests.deadlines import SUBPROCESS_S
from tests.model_factory import random_image, torchvision_spec

MASK = "MaskRCNN_ResNet50_FPN_Weights.COCO_V1"
KEYPOINT = "KeypointRCNN_ResNet50_FPN_Weights.COCO_V1"
SSDLITE = "SSDLite320_MobileNet_V3_Large_Weights.COCO_V1"


@pytest.fixture(scope="module")
def mask_runner():
    torch.manual_seed(0)
    return load_runner(torchvision_spec(MASK), "cpu", RANDOM_WEIGHTS)


def test_every_torchvision_row_has_a_spec() -> None:
    table = load_zoo(["torchvision"])
    specs = [spec_for_uid(table, uid) for uid in table["uid"]]
    assert len(specs) == len(table) >= 13
    mask = next(s for s in specs if s.model_id == MASK)
    assert mask.outputs == {"boxes", "masks"} and mask.builder == "maskrcnn_resnet50_fpn"
    assert mask.weights is not None and mask.weights.url.endswith(".pth")
    assert next(s for s in specs if s.model_id == KEYPOINT).outputs == {"boxes", "keypoints"}


def test_rows_no_family_handles_are_refused_clearly() -> None:
    row = {"uid": "elsewhere:1", "zoo": "elsewhere", "model_id": "1", "name": "mystery", "type": "YOLO"}
    assert not is_runnable(row)
    with pytest.raises(NotRunnableError, match="mystery"):
        spec_for_uid(pd.DataFrame([row]), "elsewhere:1")


def test_device_resolution() -> None:
    assert resolve_device("cpu") == "cpu"
    assert resolve_device("auto") == ("cuda" if torch.cuda.is_available() else "cpu")
    if not torch.cuda.is_available():
        with pytest.raises(DeviceError, match="no GPU is available"):
            resolve_device("cuda")
    with pytest.raises(DeviceError, match="unknown device 'tpu'"):
        resolve_device("tpu")


def test_mask_model_returns_full_size_masks(mask_runner) -> None:
    image = random_image(70, 90)
    [found] = predict_images(mask_runner, [image])
    assert (found.width, found.height) == (90, 70)
    assert len(found) == 8 and found.masks is not None and found.masks.shape == (8, 70, 90)
    assert found.masks.dtype == bool and found.keypoints is None
    assert all(name == mask_runner.categories[label] for name, label in zip(found.names, found.labels, strict=True))
    assert set(found.timings) == {"preprocess", "model", "postprocess"}
    assert (found.boxes[:, 2] <= 90.01).all() and (found.boxes[:, 3] <= 70.01).all()


def test_batches_give_the_same_results_as_single_images(mask_runner) -> None:
    images = [random_image(seed=1), random_image(seed=2), random_image(seed=3)]
    one_by_one = predict_images(mask_runner, images, batch_size=1)
    done: list[tuple[int, int]] = []
    batched = predict_images(mask_runner, images, batch_size=2, progress=lambda d, t: done.append((d, t)))
    assert done == [(2, 3), (3, 3)]
    for single, batch in zip(one_by_one, batched, strict=True):
        np.testing.assert_allclose(single.boxes, batch.boxes, atol=1e-3)
        np.testing.assert_array_equal(single.labels, batch.labels)


def test_keypoint_model_returns_17_keypoints() -> None:
    torch.manual_seed(0)
    runner = load_runner(torchvision_spec(KEYPOINT, detections=3), "cpu", RANDOM_WEIGHTS)
    [found] = runner.predict([random_image()])
    assert found.keypoints is not None and found.keypoints.shape == (len(found), 17, 2)
    assert found.keypoint_scores is not None and found.keypoint_scores.shape == (len(found), 17)


def test_coco_results_round_trip_through_pycocotools(mask_runner) -> None:
    from pycocotools.coco import COCO

    image = random_image(64, 80)
    [found] = mask_runner.predict([image])
    results = found.to_coco_results(image_id=7)
    gt = COCO()
    gt.dataset = {"images": [{"id": 7, "width": 80, "height": 64}],
                  "categories": [{"id": i, "name": n} for i, n in enumerate(mask_runner.categories) if i],
                  "annotations": []}
    gt.createIndex()
    loaded = gt.loadRes(results)
    assert len(loaded.anns) == len(found)
    ann = loaded.anns[1]
    assert ann["image_id"] == 7 and ann["category_id"] == int(found.labels[0])
    x, y, w, h = ann["bbox"]
    assert [x, y, x + w, y + h] == pytest.approx(found.boxes[0].tolist(), abs=0.01)
    np.testing.assert_array_equal(loaded.annToMask(ann).astype(bool), found.masks[0])


def test_weights_of_another_architecture_are_refused(tmp_path) -> None:
    other = load_runner(torchvision_spec(SSDLITE), "cpu", RANDOM_WEIGHTS)
    path = tmp_path / "ssdlite.pth"
    torch.save(other.model.state_dict(), path)
    with pytest.raises(WeightsMismatchError, match="does not fit fasterrcnn_mobilenet_v3_large_320_fpn"):
        load_runner(torchvision_spec("FasterRCNN_MobileNet_V3_Large_320_FPN_Weights.COCO_V1"), "cpu", path)
    reloaded = load_runner(torchvision_spec(SSDLITE), "cpu", path)  # the right architecture loads
    image = random_image()
    np.testing.assert_allclose(other.predict([image])[0].scores, reloaded.predict([image])[0].scores, atol=1e-5)


class FakeRunner:
    def __init__(self, spec, device):
        self.spec, self.device, self.categories = spec, device, ("__background__",)


def test_model_cache_is_bounded_and_lru() -> None:
    specs = [torchvision_spec(MASK), torchvision_spec(KEYPOINT), torchvision_spec(SSDLITE)]
    cache = ModelCache(max_models=2, loader=lambda spec, device, weights, progress: FakeRunner(spec, device))
    first = cache.get(specs[0], "cpu")
    cache.get(specs[1], "cpu")
    assert cache.get(specs[0], "cpu") is first  # a hit refreshes it
    cache.get(specs[2], "cpu")  # evicts specs[1], the least recently used
    assert [key[0] for key in cache.loaded()] == [specs[0].uid, specs[2].uid]
    assert cache.loads == 3
    cache.get(specs[1], "cpu")
    assert cache.loads == 4 and len(cache.loaded()) == 2


def test_concurrent_sessions_load_a_model_once() -> None:
    calls = []

    def slow_loader(spec, device, weights, progress):
        calls.append(spec.uid)
        time.sleep(0.2)
        return FakeRunner(spec, device)

    cache = ModelCache(max_models=2, loader=slow_loader)
    spec = torchvision_spec(MASK)
    got = []
    threads = [threading.Thread(target=lambda: got.append(cache.get(spec, "cpu"))) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert calls == [spec.uid] and len({id(runner) for runner in got}) == 1


def test_batches_helper() -> None:
    assert batches([1, 2, 3, 4, 5], 2) == [[1, 2], [3, 4], [5]]
    with pytest.raises(ValueError, match="at least 1"):
        batches([1], 0)


def test_autocast_on_cpu_is_refused(mask_runner) -> None:
    with pytest.raises(ValueError, match="autocast"):
        mask_runner.predict([random_image()], autocast="fp16")


def test_oversized_local_checkpoint_is_refused(tmp_path, monkeypatch) -> None:
    from explorer.weights.errors import LocalWeightsError

    monkeypatch.setenv("EXPLORER_MAX_CHECKPOINT_MB", "0.001")  # 1 kB
    path = tmp_path / "big.pth"
    path.write_bytes(b"\0" * 5000)
    with pytest.raises(LocalWeightsError, match="over the 0 MB checkpoint limit; raise it with EXPLORER_MAX_CH"):
        load_runner(torchvision_spec(SSDLITE), "cpu", path)


def test_every_family_registers_whatever_was_imported_first() -> None:
    import subprocess
    import sys

    code = ("import explorer.models.torchvision_zoo; from explorer.zoo.table import load_zoo; "
            "from explorer.models.catalog import spec_for_uid; t = load_zoo(['detectron']); "
            "print(spec_for_uid(t, 'detectron:35998355').family)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=SUBPROCESS_S)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "detectron"
