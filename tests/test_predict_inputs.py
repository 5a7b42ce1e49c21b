"""`explorer predict`: every input its own outputs and a unique file_name, folders recursed, decoding per batch."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from explorer.cli.main import main

MODEL = "SSDLite320_MobileNet_V3_Large_Weights.COCO_V1"


def write_image(path: Path, seed: int = 0, size: tuple[int, int] = (40, 30)) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    pixels = np.random.default_rng(seed).integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
    Image.fromarray(pixels).save(path)
    return path


def predict(tmp_path: Path, *images: Path) -> tuple[int, Path]:
    out = tmp_path / "out"
    code = main(["predict", "--model", MODEL, "--images", *map(str, images), "--out", str(out), "--random-weights",
                 "--device", "cpu", "--batch-size", "2"])
    return code, out


def annotated(out: Path) -> list[str]:
    return sorted(path.relative_to(out / "annotated").as_posix() for path in (out / "annotated").rglob("*.png"))


def test_same_names_in_two_folders_and_two_suffixes_each_get_their_own_outputs(tmp_path: Path, capsys) -> None:
    write_image(tmp_path / "a" / "img.jpg", 1)
    write_image(tmp_path / "b" / "img.jpg", 2, size=(50, 20))
    write_image(tmp_path / "a" / "img.png", 3, size=(24, 24))
    code, out = predict(tmp_path, tmp_path / "a", tmp_path / "b")
    assert code == 0, capsys.readouterr().err
    images = json.loads((out / "images.json").read_text())
    assert [(i["id"], i["file_name"], i["width"]) for i in images] == [
        (1, "a/img.jpg", 40), (2, "img.png", 24), (3, "b/img.jpg", 50)]
    assert annotated(out) == ["a/img.jpg.png", "b/img.jpg.png", "img.png.png"]
    assert Image.open(out / "annotated" / "b" / "img.jpg.png").size == (50, 20)  # b's picture, not a's
    assert {r["image_id"] for r in json.loads((out / "results.json").read_text())} <= {1, 2, 3}


def test_a_folder_is_recursed_and_names_are_relative_to_it(tmp_path: Path, capsys) -> None:
    root = tmp_path / "coco"
    write_image(root / "val" / "000001.jpg", 1)
    write_image(root / "train" / "000001.jpg", 2)
    write_image(root / "top.jpg", 3)
    (root / "val" / "notes.txt").write_text("not an image")
    code, out = predict(tmp_path, root)
    assert code == 0, capsys.readouterr().err
    names = [image["file_name"] for image in json.loads((out / "images.json").read_text())]
    assert names == ["top.jpg", "train/000001.jpg", "val/000001.jpg"]
    assert annotated(out) == ["top.jpg.png", "train/000001.jpg.png", "val/000001.jpg.png"]


def test_help_says_folders_are_recursed(capsys) -> None:
    with pytest.raises(SystemExit):
        main(["predict", "--help"])
    assert "subfolders" in " ".join(capsys.readouterr().out.split())


def test_naming_rule_for_files_folders_and_repeats(tmp_path: Path) -> None:
    from explorer.inputs.predict_files import image_inputs

    one = write_image(tmp_path / "x" / "images" / "img.jpg")
    two = write_image(tmp_path / "y" / "images" / "img.jpg", 1)
    loose = write_image(tmp_path / "z" / "img.jpg", 2)
    inputs = image_inputs([tmp_path / "x" / "images", tmp_path / "y" / "images", loose, one])
    assert [(i.path, i.file_name) for i in inputs] == [
        (one, "images/img.jpg"), (two, "images~2/img.jpg"), (loose, "z/img.jpg")]  # `one` again: same input
    assert [i.file_name for i in image_inputs([loose])] == ["img.jpg"]


def test_images_are_decoded_per_batch_not_all_before_the_first_runs(tmp_path: Path, monkeypatch) -> None:
    """Decoding interleaves with inference: at most one batch of decoded images is alive at a time."""
    from explorer.engine.predict import predict_files
    from explorer.inputs import images as images_module

    paths = [write_image(tmp_path / "in" / f"{i}.png", i) for i in range(5)]
    events: list[str] = []
    real = images_module.load_image_file

    def decode(path: Path, **kwargs):
        events.append("decode")
        return real(path, **kwargs)

    class Runner:
        def predict(self, batch, autocast=None):
            from explorer.detections import Detections

            events.append(f"run {len(batch)}")
            return [Detections(width=image.shape[1], height=image.shape[0], boxes=np.zeros((0, 4), np.float32),
                               scores=np.zeros(0, np.float32), labels=np.zeros(0, np.int64), names=[])
                    for image in batch]

    monkeypatch.setattr(images_module, "load_image_file", decode)
    summary = predict_files(Runner(), paths, tmp_path / "out", batch_size=2)
    assert events == ["decode", "decode", "run 2", "decode", "decode", "run 2", "decode", "run 1"]
    assert len(json.loads(summary.images_path.read_text())) == 5
