"""The two Ray Data stages of a sweep: decoding images (tasks) and running one model (an actor pool).

Both are plain functions and classes over column batches (`dict[str, np.ndarray]`, Ray Data's "numpy"
format), so they run and test without Ray. Decoding is a task stage: reading and decoding the next
images overlaps inference on the current ones, and a bad file becomes a row with an `error`, never a
failed task. `ModelPredictor` builds its model once per actor, seeding torch first, so an actor that
Ray restarts after a crash rebuilds the same random weights and retried batches give the same results.
It takes the GPU Ray assigned it, if any (Ray sets CUDA_VISIBLE_DEVICES per actor).
"""

from __future__ import annotations

import json
import os
import socket
import time
from pathlib import Path

import numpy as np

from explorer.models.catalog import ModelSpec

Batch = dict[str, np.ndarray]
#: Stand-in pixels of a row whose file could not be decoded (Ray Data needs one array per row).
NO_PIXELS = np.zeros((0, 0, 3), dtype=np.uint8)


def decode_batch(batch: Batch, max_pixels: int | None = None) -> Batch:
    """Read and decode each row's `path`; adds `name`, `pixels` and `error` ('' when decoding worked)."""
    from explorer.inputs.images import ImageError, load_image_file

    names, pixels, errors = [], [], []
    for path in map(Path, batch["path"]):
        names.append(path.name)
        try:
            loaded = load_image_file(path, max_pixels=max_pixels)
        except ImageError as error:
            pixels.append(NO_PIXELS)
            errors.append(str(error))
            continue
        pixels.append(loaded.rgb)
        errors.append("")
    return {"shard": batch["shard"], "image_id": batch["image_id"], "name": np.array(names, dtype=object),
            "pixels": _ragged(pixels), "error": np.array(errors, dtype=object)}


def _ragged(arrays: list[np.ndarray]) -> np.ndarray:
    """An object array of arrays: numpy would otherwise try to stack images of equal size into one block."""
    column = np.empty(len(arrays), dtype=object)
    column[:] = arrays
    return column


class ModelPredictor:
    """One loaded model in one Ray actor; each call is one inference batch of decoded rows.

    Output rows carry what a shard file records: the image's size, its COCO results as a JSON string,
    its share of the batch's inference seconds, the batch's start and end (wall clock, for the pool's
    throughput) and which device and worker process ran it.
    """

    def __init__(self, spec: ModelSpec, *, random_weights: bool, weights: str | None, seed: int, threads: int,
                 score_thresh: float, autocast: str | None) -> None:
        import torch

        from explorer.benchmarks.timing import device_name
        from explorer.engine.runners import RANDOM_WEIGHTS, load_runner, resolve_device

        torch.set_num_threads(max(1, threads))
        torch.manual_seed(seed)
        self.device = resolve_device("auto")
        self.device_name = device_name(self.device)
        chosen = RANDOM_WEIGHTS if random_weights else (Path(weights) if weights else None)
        self.runner = load_runner(spec, self.device, chosen)
        self.score_thresh = score_thresh
        self.autocast = autocast if self.device != "cpu" else None
        self.worker = f"{socket.gethostname()}:{os.getpid()}"

    def __call__(self, batch: Batch) -> Batch:
        good = [i for i, error in enumerate(batch["error"]) if not error]
        started = time.time()
        found = self.runner.predict([batch["pixels"][i] for i in good], autocast=self.autocast) if good else []
        finished = time.time()
        results = [""] * len(batch["error"])
        for i, detections in zip(good, found, strict=True):
            image_id = int(batch["image_id"][i])
            results[i] = json.dumps(detections.filter(self.score_thresh).to_coco_results(image_id))
        rows = len(results)
        return {
            "shard": batch["shard"], "image_id": batch["image_id"], "name": batch["name"], "error": batch["error"],
            "width": np.array([pixels.shape[1] for pixels in batch["pixels"]]),
            "height": np.array([pixels.shape[0] for pixels in batch["pixels"]]),
            "results": np.array(results, dtype=object),
            "seconds": np.full(rows, (finished - started) / max(1, len(good))),
            "started": np.full(rows, started), "finished": np.full(rows, finished),
            "device_name": np.full(rows, self.device_name, dtype=object),
            "worker": np.full(rows, self.worker, dtype=object),
        }
