"""`python -m explorer predict` and `bench` end to end, with random weights on small images."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from explorer.benchmarks.store import MeasurementStore
from explorer.cli.main import main
from explorer.zoo.table import load_zoo
from tests.deadlines import SUBPROCESS_S

MODEL = "MaskRCNN_ResNet50_FPN_Weights.COCO_V1"


@pytest.fixture
def caches(monkeypatch, tmp_path):
    monkeypatch.setenv("EXPLORER_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    return tmp_path


def write_images(folder, count: int = 2) -> list:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(count):
        pixels = np.random.default_rng(i).integers(0, 256, (60, 80, 3), dtype=np.uint8)
        path = folder / f"img{i}.jpg"
        Image.fromarray(pixels).save(path)
        paths.append(path)
    return paths


def test_predict_writes_annotated_images_and_coco_results(caches, capsys) -> None:
    write_images(caches / "images")
    (caches / "images" / "notes.txt").write_text("not an image")  # ignored: not an image suffix
    (caches / "images" / "broken.png").write_bytes(b"\x89PNG broken")
    out = caches / "out"
    code = main(["predict", "--model", MODEL, "--images", str(caches / "images"), "--out", str(out),
                 "--random-weights", "--min-size", "96", "--max-size", "128", "--batch-size", "2"])
    stdout, stderr = capsys.readouterr()
    assert code == 0, stderr
    assert "skipped: broken.png:" in stderr
    assert sorted(p.name for p in (out / "annotated").iterdir()) == ["img0.jpg.png", "img1.jpg.png"]
    assert Image.open(out / "annotated" / "img0.jpg.png").size == (80, 60)
    images = json.loads((out / "images.json").read_text())
    assert [(i["id"], i["file_name"]) for i in images] == [(1, "img0.jpg"), (2, "img1.jpg")]
    results = json.loads((out / "results.json").read_text())
    assert results and {r["image_id"] for r in results} <= {1, 2}
    assert all(r["score"] >= 0.05 and "segmentation" in r for r in results)
    assert "img0.jpg:" in stdout and "detections" in stdout


def test_bench_prints_and_stores_a_measurement(caches, capsys) -> None:
    code = main(["bench", "--model", "SSDLite320_MobileNet_V3_Large_Weights.COCO_V1", "--random-weights",
                 "--device", "cpu", "--runs", "2", "--warmup", "1", "--width", "64", "--height", "48"])
    stdout, stderr = capsys.readouterr()
    assert code == 0, stderr
    assert "median" in stdout and "ms/image" in stdout
    stored = MeasurementStore().frame()
    assert list(stored["model_uid"]) == ["torchvision:SSDLite320_MobileNet_V3_Large_Weights.COCO_V1"]
    assert stored.loc[0, "runs"] == 2 and stored.loc[0, "weights"] == "random"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["predict", "--model", "nope", "--images", "x.jpg", "--out", "o"], "error: unknown model 'nope'"),
        (["predict", "--model", MODEL, "--device", "tpu", "--images", "x.jpg", "--out", "o"],
         "error: unknown device 'tpu'"),
    ],
)
def test_predict_user_errors(caches, capsys, argv, message) -> None:
    code = main(argv)
    _, stderr = capsys.readouterr()
    assert code == 2 and stderr.startswith(message), stderr


def test_a_model_that_cannot_run_is_one_line(caches, capsys, monkeypatch) -> None:
    """Every zoo row runs today; a Detectron2 row without its config facts cannot, and says so on one line."""
    from explorer.zoo import table as zoo_table

    full = zoo_table.load_zoo()
    stripped = full.assign(config_facts=full["config_facts"].where(full["zoo"] != "detectron2", ""))
    monkeypatch.setattr(zoo_table, "load_zoo", lambda: stripped)
    code = main(["bench", "--model", "137257644", "--random-weights"])
    _, stderr = capsys.readouterr()
    assert code == 2 and stderr.startswith("error: detectron2 model 137257644"), stderr
    assert len(stderr.strip().splitlines()) == 1


def test_offline_without_weights_names_the_file_and_url(caches) -> None:
    write_images(caches / "images", 1)
    env = {"EXPLORER_CACHE": str(caches / "cache"), "TORCH_HOME": str(caches / "torch"), "EXPLORER_OFFLINE": "1",
           "PATH": "/usr/bin:/bin"}
    done = subprocess.run([sys.executable, "-m", "explorer", "predict", "--model", MODEL, "--images",
                           str(caches / "images"), "--out", str(caches / "out")], capture_output=True, text=True,
                          env=env, timeout=SUBPROCESS_S)
    url = load_zoo(["torchvision"]).set_index("model_id").at[MODEL, "model_url"]
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert url in done.stderr  # the message says what to download ...
    assert str(caches / "torch" / "hub" / "checkpoints" / url.rsplit("/", 1)[1]) in done.stderr  # ... and where


def test_cuda_without_gpu(caches, capsys) -> None:
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    code = main(["bench", "--model", MODEL, "--device", "cuda", "--random-weights"])
    assert code == 2 and "no GPU is available" in capsys.readouterr().err
