"""The Ray side of a sweep: image decoding tasks and the model worker actor (imports Ray).

Decoding runs as its own tasks so that reading and decoding the next shard overlaps inference on the
current one. A `ModelWorker` builds its model once, in its constructor, seeding torch first: a restarted
actor (after a crash or `ray.kill`) rebuilds the same random weights, so retried shards give the same
results. It takes the GPU Ray assigned it, if any (Ray sets CUDA_VISIBLE_DEVICES per actor).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import ray

from explorer.models.catalog import ModelSpec

Decoded = dict[str, Any]  # {"images": [(image_id, name, rgb)], "errors": [str]}


@ray.remote(num_cpus=0, max_retries=2)
def decode_shard(items: list[tuple[int, str]], max_pixels: int | None = None) -> Decoded:
    """Read and decode one shard's files; a bad file becomes an error line, never a failed task."""
    from explorer.images import ImageError, load_image

    images, errors = [], []
    for image_id, path in items:
        try:
            data = Path(path).read_bytes()
            loaded = load_image(data, Path(path).name) if max_pixels is None else load_image(
                data, Path(path).name, max_pixels=max_pixels)
            images.append((image_id, loaded.name, loaded.rgb))
        except (ImageError, OSError) as error:
            errors.append(str(error) if isinstance(error, ImageError) else f"{path}: {error}")
    return {"images": images, "errors": errors}


class ModelWorker:
    """One loaded model in one Ray actor; `predict` turns a decoded shard into a shard record."""

    def __init__(self, spec: ModelSpec, *, random_weights: bool, weights: str | None, seed: int, threads: int,
                 batch_size: int, score_thresh: float, autocast: str | None) -> None:
        import torch

        from explorer.benchmark import device_name
        from explorer.engine import RANDOM_WEIGHTS, load_runner, resolve_device

        torch.set_num_threads(max(1, threads))
        torch.manual_seed(seed)
        self.device = resolve_device("auto")
        self.device_name = device_name(self.device)
        chosen = RANDOM_WEIGHTS if random_weights else (Path(weights) if weights else None)
        self.runner = load_runner(spec, self.device, chosen)
        self.batch_size = batch_size
        self.score_thresh = score_thresh
        self.autocast = autocast if self.device != "cpu" else None
        self.shards = 0

    def ready(self) -> str:
        return self.device_name

    def predict(self, index: int, decoded: Decoded) -> dict[str, Any]:
        from explorer.engine import predict_images

        images = decoded["images"]
        start = time.perf_counter()
        found = predict_images(self.runner, [rgb for _, _, rgb in images], batch_size=self.batch_size,
                               autocast=self.autocast)
        seconds = time.perf_counter() - start
        self.shards += 1
        results: list[dict[str, Any]] = []
        meta = []
        for (image_id, name, rgb), detections in zip(images, found, strict=True):
            results.extend(detections.filter(self.score_thresh).to_coco_results(image_id))
            meta.append({"id": image_id, "file_name": name, "width": int(rgb.shape[1]), "height": int(rgb.shape[0])})
        return {"images": meta, "errors": decoded["errors"], "results": results, "seconds": seconds,
                "device_name": self.device_name, "device": self.device,
                "worker": ray.get_runtime_context().get_actor_id()}


def worker_class(gpus: float, cpus: float, max_restarts: int = 3) -> Any:
    """The actor class with its resources: a fraction of a GPU shares one card between several actors."""
    return ray.remote(num_cpus=cpus, num_gpus=gpus, max_restarts=max_restarts,
                      max_task_retries=max_restarts)(ModelWorker)
