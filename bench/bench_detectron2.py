"""Benchmark Detectron2's Mask R-CNN R-50-FPN through our engine against torchvision's maskrcnn_resnet50_fpn.

Same input (a 640x480 image, shorter side resized to 800), random weights, score threshold 0 on both sides so
both run the mask head on their full 100 detections (random weights would otherwise keep none). Each side
runs in a fresh child process, alternating ours / torchvision `--rounds` times; a child loads its model, runs
one warm-up and `--runs` timed images, and reports the median seconds per image; its peak resident set size
comes from the kernel (`os.wait4`), so it counts every buffer.

Checkpoint load: a random-weight Detectron2 `model_final.pkl` (the zoo's format, read through the restricted
unpickler, checked and loaded into the network with norms folded) against torchvision's `torch.load` +
`load_state_dict` of its own `.pth` of the same model, alternating, median of `--load-runs`.

Run: .venv/bin/python bench/bench_detectron2.py [--runs 3] [--rounds 2] [--load-runs 3]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # run from a checkout without installing


def _image() -> np.ndarray:
    rng = np.random.default_rng(0)
    from PIL import Image

    coarse = rng.integers(0, 256, (31, 41, 3), dtype=np.uint8)
    return np.asarray(Image.fromarray(coarse).resize((640, 480), Image.Resampling.BILINEAR))


def _ours():
    from explorer.models.catalog import ModelSpec
    from explorer.models.detectron2.checkpoint.loading import build_model
    from explorer.models.detectron2.inference.pipeline import Pipeline, TestSettings
    from explorer.models.detectron2.netconfig import NetConfig
    from explorer.models.detectron2.runner import Detectron2Runner

    config = NetConfig("COCO-InstanceSegmentation/mask_rcnn_R_50_FPN_3x", mask_on=True)
    spec = ModelSpec(uid="detectron2:bench", zoo="detectron2", model_id="bench", name="Mask R50-FPN",
                     family="detectron2", builder=config.config, outputs=config.outputs)
    settings = TestSettings(800, 1333, score_thresh=0.0, nms_thresh=0.5, detections_per_image=100)
    return Detectron2Runner(spec, "cpu", Pipeline(build_model(config, None, "cpu"), settings))


class _Torchvision:
    """torchvision's model called as its own docs show: a float [0, 1] RGB tensor in, dict out."""

    def __init__(self) -> None:
        from torchvision.models.detection import maskrcnn_resnet50_fpn

        self.model = maskrcnn_resnet50_fpn(weights=None, weights_backbone=None, box_score_thresh=0.0).eval()

    def predict(self, images, autocast=None):
        import torch

        with torch.inference_mode():
            tensors = [torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1).float() / 255 for image in images]
            outputs = self.model(tensors)
            return [{key: value.numpy() for key, value in output.items()} for output in outputs]


def child(side: str, runs: int) -> None:
    import torch

    torch.manual_seed(0)
    runner = _ours() if side == "ours" else _Torchvision()
    image = _image()
    if side == "ours":
        from explorer.engine.runners import predict_images

        def run() -> int:
            return len(predict_images(runner, [image])[0])
    else:
        def run() -> int:
            return len(runner.predict([image])[0]["boxes"])
    run()
    seconds, found = [], 0
    for _ in range(runs):
        started = time.perf_counter()
        found = run()
        seconds.append(time.perf_counter() - started)
    print(json.dumps({"median": statistics.median(seconds), "detections": found}))


def run_child(side: str, runs: int) -> tuple[float, int, float]:
    process = subprocess.Popen([sys.executable, __file__, "--child", side, "--runs", str(runs)], cwd=REPO,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(process.pid, 0)
    out = process.stdout.read().decode() if process.stdout else ""
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{side} failed:\n{process.stderr.read().decode()[-3000:] if process.stderr else ''}")
    result = json.loads(out.strip().splitlines()[-1])
    return result["median"], result["detections"], usage.ru_maxrss / 1024


def load_times(runs: int) -> tuple[list[float], list[float]]:
    import torch
    from torchvision.models.detection import maskrcnn_resnet50_fpn

    sys.path.insert(0, str(REPO / "tests"))
    from detectron2_factory import write_checkpoint

    from explorer.models.detectron2.checkpoint.loading import build_model, load_weights
    from explorer.models.detectron2.netconfig import NetConfig

    config = NetConfig("COCO-InstanceSegmentation/mask_rcnn_R_50_FPN_3x", mask_on=True)
    ours, theirs = [], []
    with tempfile.TemporaryDirectory() as folder:
        pkl, pth = Path(folder) / "model_final.pkl", Path(folder) / "maskrcnn.pth"
        write_checkpoint(pkl, config)
        torch.save(maskrcnn_resnet50_fpn(weights=None, weights_backbone=None).state_dict(), pth)
        for _ in range(runs):
            started = time.perf_counter()
            build_model(config, load_weights(pkl, config), "cpu")
            ours.append(time.perf_counter() - started)
            started = time.perf_counter()
            model = maskrcnn_resnet50_fpn(weights=None, weights_backbone=None)
            model.load_state_dict(torch.load(pth, map_location="cpu", weights_only=True))
            model.eval()
            theirs.append(time.perf_counter() - started)
    return ours, theirs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="timed images per child process")
    parser.add_argument("--rounds", type=int, default=2, help="child processes per side, alternating")
    parser.add_argument("--load-runs", type=int, default=3)
    parser.add_argument("--child", choices=("ours", "torchvision"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.runs)
        return
    results: dict[str, list[tuple[float, int, float]]] = {"ours": [], "torchvision": []}
    for _ in range(args.rounds):
        for side in ("ours", "torchvision"):
            results[side].append(run_child(side, args.runs))
    print("| model (640x480 -> 800x1067, random weights, 100 detections) | median s/image | peak RSS MB |")
    print("|---|---|---|")
    medians = {}
    for side, label in (("ours", "Detectron2 Mask R-CNN R-50-FPN, our engine"),
                        ("torchvision", "torchvision maskrcnn_resnet50_fpn")):
        seconds = statistics.median(r[0] for r in results[side])
        memory = max(r[2] for r in results[side])
        medians[side] = (seconds, memory)
        print(f"| {label} ({results[side][-1][1]} detections) | {seconds:.3f} | {memory:.0f} |")
    time_ratio = medians["ours"][0] / medians["torchvision"][0]
    memory_ratio = medians["ours"][1] / medians["torchvision"][1]
    print(f"\ntime ratio ours / torchvision: {time_ratio:.2f}x (target <= 1.1x: "
          f"{'pass' if time_ratio <= 1.1 else 'FAIL'})")
    print(f"peak memory ratio: {memory_ratio:.2f}x (target <= 1.1x: {'pass' if memory_ratio <= 1.1 else 'FAIL'})")
    ours, theirs = load_times(args.load_runs)
    load_ratio = statistics.median(ours) / statistics.median(theirs)
    print(f"\ncheckpoint load: ours {statistics.median(ours):.2f} s (pkl read, checked, loaded, folded) vs "
          f"torchvision {statistics.median(theirs):.2f} s (torch.load + load_state_dict): {load_ratio:.2f}x "
          f"(target < 2x: {'pass' if load_ratio < 2 else 'FAIL'})")


if __name__ == "__main__":
    main()
