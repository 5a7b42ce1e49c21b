"""The sweep's Ray Data stages and shard files, run as plain Python (no Ray needed)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from explorer.sweep.plan import ImageItem
from explorer.sweep.shards import ShardStore
from explorer.sweep.stages import ModelPredictor, decode_batch
from tests.model_factory import torchvision_spec


@pytest.fixture()
def images(tmp_path: Path) -> list[Path]:
    paths = []
    for i, (height, width) in enumerate([(30, 40), (30, 40), (50, 20)]):
        path = tmp_path / f"im{i}.png"
        Image.fromarray(np.full((height, width, 3), 40 * i, dtype=np.uint8)).save(path)
        paths.append(path)
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"\xff\xd8 not really a jpeg")
    return [paths[0], broken, paths[1], paths[2]]


def rows(paths: list[Path]) -> dict[str, np.ndarray]:
    return {"shard": np.zeros(len(paths), dtype=np.int64), "image_id": np.arange(1, len(paths) + 1),
            "path": np.array([str(path) for path in paths], dtype=object)}


def test_decode_batch_keeps_every_row_and_reports_the_bad_file(images: list[Path]) -> None:
    decoded = decode_batch(rows(images))
    assert list(decoded["image_id"]) == [1, 2, 3, 4] and list(decoded["name"])[1] == "broken.jpg"
    assert [bool(error) for error in decoded["error"]] == [False, True, False, False]
    assert "broken.jpg" in decoded["error"][1]
    assert [pixels.shape for pixels in decoded["pixels"]] == [(30, 40, 3), (0, 0, 3), (30, 40, 3), (50, 20, 3)]
    assert decoded["pixels"][2][0, 0, 0] == 40  # the pixels of that file, not a copy of the neighbour's


def test_decode_batch_applies_the_pixel_limit(images: list[Path]) -> None:
    decoded = decode_batch(rows(images[:1]), max_pixels=100)
    assert "pixels" in decoded["error"][0] and decoded["pixels"][0].size == 0


def test_model_predictor_runs_decoded_rows_and_passes_skipped_ones_through(images: list[Path]) -> None:
    spec = torchvision_spec("SSDLite320_MobileNet_V3_Large_Weights.COCO_V1").with_test(score_thresh=0.0)
    predictor = ModelPredictor(spec, random_weights=True, weights=None, seed=3, threads=1, score_thresh=0.0,
                               autocast=None)
    out = predictor(decode_batch(rows(images)))
    assert list(out["width"]) == [40, 0, 40, 20] and list(out["height"]) == [30, 0, 30, 50]
    assert out["results"][1] == "" and out["error"][1]
    found = [json.loads(text) for i, text in enumerate(out["results"]) if i != 1]
    assert all(found) and {entry["image_id"] for entry in found[2]} == {4}
    assert (out["seconds"] > 0).all() and (out["finished"] >= out["started"]).all()
    assert len(set(out["worker"])) == 1 and ":" in out["worker"][0]


def test_remove_stale_deletes_shards_outside_the_plan_and_crash_leftovers(tmp_path: Path) -> None:
    store = ShardStore(tmp_path / "model")
    items = [ImageItem(str(tmp_path / "a.png"), 1)]
    for index in range(4):
        store.write(index, items, {"images": [], "errors": [], "results": []})
    store.path(1).with_suffix(".json.tmp").write_text("{")
    removed = store.remove_stale(2)
    assert sorted(path.name for path in removed) == ["shard-00001.json.tmp", "shard-00002.json", "shard-00003.json"]
    assert sorted(path.name for path in store.shard_dir.iterdir()) == ["shard-00000.json", "shard-00001.json"]
    assert store.is_done(1, items)
