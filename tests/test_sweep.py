"""`explorer sweep` on a local Ray: same results as `predict_files`, survives a killed actor, resumes, shows up.

One local Ray (2 CPUs) serves the whole module; two random-weight models at 96x128 input over 20 small
images keep it to about a minute on two cores. Skipped when Ray (the optional extra) is not installed.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from streamlit.testing.v1 import AppTest

from explorer.sweep.plan import image_items, slug
from explorer.sweep.summary import SUMMARY_NAME, read_summary, register_sweep, write_summary
from explorer.zoo.paths import REPO_ROOT
from tests.deadlines import APP_RUN_S
from tests.model_factory import torchvision_spec

ray = pytest.importorskip("ray", reason="Ray is an optional extra: pip install -r requirements-sweep.txt")

from explorer.sweep.run import SweepConfig, SweepEvent, run_sweep  # noqa: E402

MODELS = ("SSDLite320_MobileNet_V3_Large_Weights.COCO_V1", "FasterRCNN_MobileNet_V3_Large_320_FPN_Weights.COCO_V1")
N_IMAGES = 20
SEED = 7


def spec(model: str) -> Any:
    """The small test spec, every score kept: random-weight Faster R-CNN scores stay under the 0.05 default."""
    return torchvision_spec(model).with_test(score_thresh=0.0)


@pytest.fixture(scope="module", autouse=True)
def local_ray() -> Iterator[None]:
    ray.init(num_cpus=2, include_dashboard=False, _node_ip_address="127.0.0.1", log_to_driver=False,
             configure_logging=False)
    yield
    ray.shutdown()


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """20 noise images (64x48), one broken file, and COCO annotations with every COCO category id."""
    root = tmp_path_factory.mktemp("sweep_data")
    images_dir = root / "images"
    images_dir.mkdir()
    images, annotations = [], []
    for i in range(N_IMAGES):
        pixels = np.random.default_rng(i).integers(0, 256, (48, 64, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(images_dir / f"img{i:02d}.png")
        images.append({"id": 100 + i, "file_name": f"img{i:02d}.png", "width": 64, "height": 48})
        annotations.append({"id": i + 1, "image_id": 100 + i, "category_id": 1 + i % 3, "bbox": [8, 6, 30, 20],
                            "area": 600.0, "iscrowd": 0})
    (images_dir / "broken.png").write_bytes(b"not a png")
    images.append({"id": 999, "file_name": "broken.png", "width": 64, "height": 48})
    categories = [{"id": c, "name": f"class{c}", "supercategory": "thing"} for c in range(1, 91)]
    gt = root / "annotations.json"
    gt.write_text(json.dumps({"images": images, "annotations": annotations, "categories": categories}))
    return images_dir, gt


def config(dataset: tuple[Path, Path], out: Path, models: tuple[str, ...] = MODELS, **overrides: Any) -> SweepConfig:
    images_dir, gt = dataset
    settings: dict[str, Any] = {"annotations": gt, "batch_size": 2, "shard_size": 4, "workers": 2,
                                "random_weights": True, "seed": SEED, "score_thresh": 0.0, **overrides}
    return SweepConfig(specs=[spec(m) for m in models], items=image_items(images_dir, gt), out=out,
                       **settings)


@pytest.fixture(scope="module")
def swept(dataset: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One full sweep of both models, shared by the tests that only read it (registry in a temporary cache)."""
    out = tmp_path_factory.mktemp("sweep_out")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("EXPLORER_CACHE", str(tmp_path_factory.mktemp("sweep_cache")))
        result = run_sweep(config(dataset, out))
    assert result.shards_run == 2 * 6 and result.shards_resumed == 0
    return out


def by_file(results: list[dict[str, Any]], images: list[dict[str, Any]]) -> dict[str, list[tuple]]:
    """Results keyed by file name (the sweep numbers images from the annotations, predict_files from 1)."""
    names = {image["id"]: image["file_name"] for image in images}
    found: dict[str, list[tuple]] = {name: [] for name in names.values()}
    for entry in results:
        found[names[entry["image_id"]]].append((entry["category_id"], *entry["bbox"], entry["score"]))
    return found


def reference(model: str, images_dir: Path, out: Path) -> dict[str, list[tuple]]:
    """What `explorer predict` gives in one process: same seed, one thread as in each actor."""
    import torch

    from explorer.engine.predict import image_paths, predict_files
    from explorer.engine.runners import RANDOM_WEIGHTS, load_runner

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        torch.manual_seed(SEED)
        runner = load_runner(spec(model), "cpu", RANDOM_WEIGHTS)
        summary = predict_files(runner, image_paths([images_dir]), out, batch_size=2, score_thresh=0.0)
    finally:
        torch.set_num_threads(threads)
    assert len(summary.errors) == 1 and "broken.png" in summary.errors[0]
    return by_file(json.loads(summary.results_path.read_text()), json.loads(summary.images_path.read_text()))


def swept_results(out: Path, model: str) -> dict[str, list[tuple]]:
    model_dir = out / slug(torchvision_spec(model).uid)
    return by_file(json.loads((model_dir / "results.json").read_text()),
                   json.loads((model_dir / "images.json").read_text()))


def assert_same(found: dict[str, list[tuple]], expected: dict[str, list[tuple]]) -> None:
    assert found.keys() == expected.keys()
    for name, rows in expected.items():
        assert len(found[name]) == len(rows), name
        assert np.allclose(np.array(found[name]), np.array(rows), atol=1e-4), name


@pytest.mark.parametrize("model", MODELS)
def test_sweep_matches_single_process_predict(swept: Path, dataset: tuple[Path, Path], model: str,
                                              tmp_path: Path) -> None:
    expected = reference(model, dataset[0], tmp_path)
    assert sum(len(rows) for rows in expected.values()) > 0  # the comparison is not vacuous
    assert_same(swept_results(swept, model), expected)


def test_summary_has_one_row_per_model_with_evaluation(swept: Path) -> None:
    summary = read_summary(swept)
    assert sorted(summary["model_uid"]) == sorted(torchvision_spec(m).uid for m in MODELS)
    assert (summary["images"] == N_IMAGES).all() and (summary["errors"] == 1).all()  # broken.png skipped
    assert (summary["median_s"] > 0).all() and (summary["images_per_s"] > 0).all()
    assert summary["box_ap"].between(0, 100).all()
    assert (summary["image_width"] == 64).all() and (summary["weights"] == "random").all()
    per_category = pd.read_csv(swept / summary.loc[0, "per_category"])
    assert set(per_category["iou_type"]) == {"bbox"} and len(per_category) == 90


def test_killed_actor_is_restarted_and_the_sweep_completes(dataset: tuple[Path, Path], swept: Path,
                                                            tmp_path: Path) -> None:
    killed: list[int] = []

    def kill_first(event: SweepEvent) -> None:
        if not killed and event.done < event.total:  # mid-run: images are still waiting for the pool
            killed.append(int(event.workers[0].rsplit(":", 1)[1]))
            os.kill(killed[0], signal.SIGKILL)  # a crash, as the OOM killer does it

    result = run_sweep(config(dataset, tmp_path, MODELS[:1]), on_event=kill_first)
    assert killed and result.shards_run == 6
    with pytest.raises(ProcessLookupError):
        os.kill(killed[0], 0)  # that worker really died; Ray restarted the actor and retried its batches
    assert_same(swept_results(tmp_path, MODELS[0]), swept_results(swept, MODELS[0]))


def test_rerun_resumes_from_written_shards(dataset: tuple[Path, Path], swept: Path, tmp_path: Path) -> None:
    class Stop(Exception):
        pass

    def stop_after_two(event: SweepEvent) -> None:
        if event.done >= 8:
            raise Stop

    with pytest.raises(Stop):
        run_sweep(config(dataset, tmp_path, MODELS[:1]), on_event=stop_after_two)
    shard_dir = tmp_path / slug(torchvision_spec(MODELS[0]).uid) / "shards"
    written = {path.name: path.stat().st_mtime_ns for path in shard_dir.glob("shard-*.json")}
    assert 2 <= len(written) < 6
    result = run_sweep(config(dataset, tmp_path, MODELS[:1]))
    assert result.shards_resumed == len(written) and result.shards_run == 6 - len(written)
    assert all(shard_dir.joinpath(name).stat().st_mtime_ns == mtime for name, mtime in written.items())
    assert_same(swept_results(tmp_path, MODELS[0]), swept_results(swept, MODELS[0]))
    again = run_sweep(config(dataset, tmp_path, MODELS[:1]))
    assert again.shards_run == 0 and again.shards_resumed == 6


def test_cli_sweep_runs_and_reports(dataset: tuple[Path, Path], tmp_path: Path,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    from explorer.cli import sweep

    parser = argparse.ArgumentParser()
    sweep.add_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["sweep", "--models", MODELS[0], "--images", str(dataset[0]), "--out", str(tmp_path),
                              "--random-weights", "--min-size", "96", "--max-size", "128", "--batch-size", "2",
                              "--shard-size", "8", "--workers", "1", "--limit", "10"])
    output = args.run(args)
    assert "9 images, 1 skipped" in output and "2 shards run, 0 resumed" in output  # broken.png sorts first
    assert re.search(rf"{re.escape(MODELS[0])}: 100%\|[^\r\n]*\| 10/10 \[", capsys.readouterr().err)  # its bar ended
    assert (tmp_path / SUMMARY_NAME).is_file()


def test_sweeps_page_lists_the_sweep_and_overlays_published_weights(swept: Path, tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch,
                                                                    tmp_path_factory: pytest.TempPathFactory) -> None:
    monkeypatch.setenv("EXPLORER_SWEEPS_ROOT", str(tmp_path_factory.getbasetemp()))  # both sweeps lie under it
    published = read_summary(swept).assign(weights="published", device_name="Sweep GPU")
    write_summary(tmp_path, published.to_dict("records"), {"images": N_IMAGES})
    register_sweep(swept)
    register_sweep(tmp_path)  # newest first: the page opens this one
    at = AppTest.from_file(str(REPO_ROOT / "app.py"), default_timeout=APP_RUN_S)
    at.switch_page("explorer/pages/sweeps.py").run()
    assert not at.exception
    assert at.selectbox(key="sweep_choice").options == [str(tmp_path.resolve()), str(swept.resolve())]
    specs = [chart.proto.spec for chart in at.get("plotly_chart")]
    assert any("measured here: Sweep GPU" in spec for spec in specs)  # measured speed at published accuracy
    assert any("measured by this sweep" in spec for spec in specs)  # measured AP beside the published AP
    assert at.radio(key="sweep_metric").options == ["box AP"]  # only what the sweep evaluated
    at.selectbox(key="sweep_choice").select(str(swept.resolve())).run()
    assert not at.exception
    shown = at.dataframe[0].value
    assert sorted(shown["model_uid"]) == sorted(torchvision_spec(m).uid for m in MODELS)
    assert any("random weights" in info.value for info in at.info)


def test_rows_delivered_twice_are_written_once_and_missing_rows_are_an_error(tmp_path: Path,
                                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """Ray Data may deliver a retried batch's rows again; a shard must neither double nor lose images."""
    from explorer.sweep import run
    from explorer.sweep.plan import ImageItem
    from explorer.sweep.shards import ShardStore

    items = [ImageItem(f"/data/im{i}.png", 10 + i) for i in range(4)]
    shards = [items[:2], items[2:]]

    def batch(indices: list[int]) -> dict[str, np.ndarray]:
        n = len(indices)
        return {"shard": np.array([i // 2 for i in indices]), "image_id": np.array([10 + i for i in indices]),
                "name": np.array([f"im{i}.png" for i in indices], dtype=object),
                "error": np.array([""] * n, dtype=object),
                "width": np.full(n, 8), "height": np.full(n, 6),
                "results": np.array([json.dumps([{"image_id": 10 + i, "category_id": 1, "bbox": [0, 0, 1, 1],
                                                  "score": 0.5}]) for i in indices], dtype=object),
                "seconds": np.full(n, 0.1), "started": np.full(n, 1.0), "finished": np.full(n, 2.0),
                "device_name": np.array(["cpu"] * n, dtype=object), "worker": np.array(["h:1"] * n, dtype=object)}

    class FakeDataset:
        def __init__(self, batches: list[list[int]]) -> None:
            self.batches = batches

        def iter_batches(self, **_: Any) -> Iterator[dict[str, np.ndarray]]:
            return (batch(indices) for indices in self.batches)

    spec_ = torchvision_spec(MODELS[0])
    config_ = SweepConfig(specs=[spec_], items=items, out=tmp_path, shard_size=2)
    store = ShardStore(tmp_path / "model")
    monkeypatch.setattr(run, "model_dataset", lambda *args: FakeDataset([[1, 0], [0, 3], [2, 3], [1]]))
    events: list[SweepEvent] = []
    wall, images = run._run_model(spec_, config_, store, shards, [0, 1], 0.0, 1, events.append)
    assert images == 4 and wall == 1.0
    assert [event.done for event in events] == [2, 3, 4, 4]  # repeats are no progress
    for index in (0, 1):
        record = store.read(index)
        assert [image["id"] for image in record["images"]] == [10 + 2 * index, 11 + 2 * index]  # plan order
        assert len(record["results"]) == 2
    monkeypatch.setattr(run, "model_dataset", lambda *args: FakeDataset([[0, 1], [2]]))
    with pytest.raises(RuntimeError, match=r"no rows for some images of shards \[1\]"):
        run._run_model(spec_, config_, ShardStore(tmp_path / "other"), shards, [0, 1], 0.0, 1, None)


def test_published_weights_are_fetched_once_by_the_driver_before_any_actor(dataset: tuple[Path, Path], tmp_path: Path,
                                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """Unavailable weights stop the sweep with the weights manager's message before Ray Data starts actors."""
    from explorer.sweep import run
    from explorer.weights.errors import WeightsUnavailableError

    def no_dataset(*args: Any) -> None:
        raise AssertionError("actors were started although the weights are unavailable")

    monkeypatch.setattr(run, "model_dataset", no_dataset)
    monkeypatch.setenv("EXPLORER_OFFLINE", "1")
    with pytest.raises(WeightsUnavailableError, match="offline mode is on"):
        run_sweep(config(dataset, tmp_path, MODELS[:1], random_weights=False))
    assert not (tmp_path / slug(torchvision_spec(MODELS[0]).uid) / "shards").exists()


def test_prefetch_downloads_the_checkpoint_into_the_cache_with_progress(tmp_path: Path,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    import dataclasses
    import hashlib
    from http.server import BaseHTTPRequestHandler

    from explorer.sweep.run import prefetch_weights
    from explorer.weights.sources import torchvision_source
    from tests.local_http import LocalServer, private_weights_caches, serving

    payload = b"checkpoint bytes " * 1000
    name = f"tiny-{hashlib.sha256(payload).hexdigest()[:8]}.pth"

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

    private_weights_caches(tmp_path, monkeypatch)
    seen: list[tuple[str, int]] = []
    with serving(LocalServer, Handler) as server:
        spec_ = dataclasses.replace(torchvision_spec(MODELS[0]), weights=torchvision_source(server.url(name), "t"))
        paths = prefetch_weights(spec_, lambda label: lambda done, total: seen.append((label, done)))
    assert paths == [spec_.weights.path] and paths[0].read_bytes() == payload
    assert seen and seen[-1] == (spec_.name, len(payload))
