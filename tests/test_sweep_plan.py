"""The sweep's plan: which images, with which ids, and the one-line errors for a wrong folder or file."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from explorer.sweep.plan import SweepPlanError, image_items, shard_items


@pytest.fixture()
def folder(tmp_path: Path) -> Path:
    images = tmp_path / "images"
    images.mkdir()
    for name in ("b.png", "a.png", "c.jpg"):
        Image.fromarray(np.zeros((4, 4, 3), dtype=np.uint8)).save(images / name)
    (images / "notes.txt").write_text("not an image")
    return images


def test_images_are_sorted_and_numbered_from_one(folder: Path) -> None:
    items = image_items(folder)
    assert [(item.name, item.image_id) for item in items] == [("a.png", 1), ("b.png", 2), ("c.jpg", 3)]
    assert [len(shard) for shard in shard_items(items, 2)] == [2, 1]


def test_annotations_give_the_ids_and_choose_the_images(folder: Path, tmp_path: Path) -> None:
    gt = tmp_path / "gt.json"
    gt.write_text(json.dumps({"images": [{"id": 42, "file_name": "val/c.jpg"}, {"id": 7, "file_name": "a.png"}]}))
    assert [(item.name, item.image_id) for item in image_items(folder, gt, limit=5)] == [("a.png", 7), ("c.jpg", 42)]


@pytest.mark.parametrize(("content", "message"), [
    (None, "cannot read --annotations"),
    ("{not json", "is not JSON"),
    (json.dumps({"annotations": []}), "needs an 'images' list"),
    (json.dumps({"images": [{"id": "x", "file_name": "a.png"}]}), "integer 'id'"),
    (json.dumps({"images": [["a.png"]]}), "needs an 'images' list"),
])
def test_bad_annotations_are_one_clear_error(folder: Path, tmp_path: Path, content: str | None,
                                             message: str) -> None:
    gt = tmp_path / "gt.json"
    if content is not None:
        gt.write_text(content)
    with pytest.raises(SweepPlanError, match=message):
        image_items(folder, gt)


def test_a_missing_folder_or_an_empty_selection_is_one_clear_error(folder: Path, tmp_path: Path) -> None:
    with pytest.raises(SweepPlanError, match="is not a folder"):
        image_items(tmp_path / "missing")
    gt = tmp_path / "gt.json"
    gt.write_text(json.dumps({"images": [{"id": 1, "file_name": "other.png"}]}))
    with pytest.raises(SweepPlanError, match=r"that gt\.json annotates"):
        image_items(folder, gt)
