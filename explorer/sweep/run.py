"""Orchestrate a sweep: for each model a pool of Ray actors works through the shards not yet written.

Models run one after another, each with the whole cluster, so every model's throughput is measured
without the others competing. Within a model, at most two shards per actor are in flight: while an actor
runs one, the next is being read and decoded by a decode task. The driver writes each finished shard
file, so a stopped sweep resumes from what is on disk. An actor that dies is restarted by Ray
(`max_restarts`) and its shard retried; if it stays dead, the driver replaces it and requeues the shard.
"""

from __future__ import annotations

import dataclasses
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import ray

from explorer.models.catalog import ModelSpec
from explorer.sweep.actors import decode_shard, worker_class
from explorer.sweep.plan import ImageItem, shard_items, slug
from explorer.sweep.shards import ShardStore
from explorer.sweep.summary import model_rows, register_sweep, write_summary

#: How often one shard may fail with a dead actor before the sweep gives up on it.
MAX_SHARD_ATTEMPTS = 4
IOU_TYPES: dict[str, str] = {"boxes": "bbox", "masks": "segm", "keypoints": "keypoints"}
METRIC_OF: dict[str, str] = {"bbox": "box_ap", "segm": "mask_ap", "keypoints": "kp_ap"}


@dataclass
class SweepConfig:
    """Everything a sweep needs; `plan.py` builds `specs` and `items` from the command line."""

    specs: list[ModelSpec]
    items: list[ImageItem]
    out: Path
    annotations: Path | None = None
    batch_size: int = 4
    shard_size: int = 16
    workers: int | None = None  # actors per model; None: one per GPU share, or one per CPU
    gpus_per_model: float | None = None  # GPU share of each actor; None: 1 when the cluster has GPUs, else 0
    random_weights: bool = False
    weights: Path | None = None
    seed: int = 0
    score_thresh: float = 0.05
    autocast: str | None = None
    max_pixels: int | None = None


@dataclass
class SweepEvent:
    """A finished shard (or a skipped image): what progress reporting and tests see."""

    model_uid: str
    done: int
    total: int
    shard: int | None = None
    errors: list[str] = field(default_factory=list)
    actors: list[Any] = field(default_factory=list)


@dataclass
class SweepResult:
    summary_path: Path
    rows: list[dict[str, Any]]
    shards_run: int
    shards_resumed: int
    notes: list[str]


def cluster_layout(gpus_per_model: float | None, workers: int | None) -> tuple[float, int]:
    """(GPU share per actor, actors per model) from the cluster's resources when not given."""
    resources = ray.cluster_resources()
    gpus = float(resources.get("GPU", 0))
    share = gpus_per_model if gpus_per_model is not None else (1.0 if gpus else 0.0)
    if workers is None:
        workers = int(gpus / share) if share else int(resources.get("CPU", 1))
    return share, max(1, workers)


def run_sweep(config: SweepConfig, on_event: Callable[[SweepEvent], None] | None = None) -> SweepResult:
    share, workers = cluster_layout(config.gpus_per_model, config.workers)
    shards = shard_items(config.items, config.shard_size)
    rows: list[dict[str, Any]] = []
    notes: list[str] = []
    run_count = resumed = 0
    meta = {"created": datetime.now(UTC).isoformat(timespec="seconds"), "images": len(config.items),
            "shard_size": config.shard_size, "batch_size": config.batch_size, "workers": workers,
            "gpus_per_model": share, "annotations": str(config.annotations or ""),
            "models": [spec.uid for spec in config.specs], "cluster": ray.cluster_resources()}
    for spec in config.specs:
        store = ShardStore(config.out / slug(spec.uid))
        todo = [i for i, items in enumerate(shards) if not store.is_done(i, items)]
        resumed += len(shards) - len(todo)
        wall, images_run = _run_model(spec, config, store, shards, todo, share, workers, on_event) if todo else (
            None, 0)
        run_count += len(todo)
        results_path, _, records = store.merge(len(shards))
        metrics, per_category, model_notes = _evaluate(spec, config, store.model_dir, results_path, records)
        notes += model_notes
        rows += model_rows(model_uid=spec.uid, model_name=spec.name, records=records, workers=workers,
                           batch_size=config.batch_size, autocast=config.autocast,
                           weights="random" if config.random_weights else (config.weights.name if config.weights
                                                                           else "published"),
                           wall_s=wall, images_run=images_run, metrics=metrics,
                           per_category=per_category, results=str(results_path.relative_to(config.out)))
        summary_path = write_summary(config.out, rows, meta)  # after each model: a partial summary is usable
    register_sweep(config.out)
    return SweepResult(summary_path=summary_path, rows=rows, shards_run=run_count, shards_resumed=resumed,
                       notes=notes)


def _run_model(spec: ModelSpec, config: SweepConfig, store: ShardStore, shards: list[list[ImageItem]],
               todo: list[int], share: float, workers: int,
               on_event: Callable[[SweepEvent], None] | None) -> tuple[float, int]:
    """Run the shards `todo` of one model; returns (wall seconds, images done) for its throughput."""
    actor_class = worker_class(gpus=share, cpus=1)
    options = {"random_weights": config.random_weights, "weights": str(config.weights) if config.weights else None,
               "seed": config.seed, "threads": 1, "batch_size": config.batch_size,
               "score_thresh": config.score_thresh, "autocast": config.autocast}

    def new_actor() -> Any:
        return actor_class.remote(spec, **options)

    actors = [new_actor() for _ in range(min(workers, len(todo)))]
    ray.get([actor.ready.remote() for actor in actors])  # load time is not inference time
    total = sum(len(items) for items in shards)
    done = total - sum(len(shards[i]) for i in todo)
    queue, attempts = deque(todo), dict.fromkeys(todo, 0)
    in_flight: dict[Any, tuple[int, int]] = {}  # ref -> (shard, actor slot)
    load = [0] * len(actors)
    start, images_run = time.perf_counter(), 0
    try:
        while queue or in_flight:
            while queue and len(in_flight) < 2 * len(actors):
                index, slot = queue.popleft(), min(range(len(actors)), key=load.__getitem__)
                decoded = decode_shard.remote([(item.image_id, item.path) for item in shards[index]], config.max_pixels)
                in_flight[actors[slot].predict.remote(index, decoded)] = (index, slot)
                load[slot] += 1
            ready, _ = ray.wait(list(in_flight), num_returns=1)
            index, slot = in_flight.pop(ready[0])
            load[slot] -= 1
            try:
                record = ray.get(ready[0])
            except ray.exceptions.RayActorError:
                attempts[index] += 1
                if attempts[index] >= MAX_SHARD_ATTEMPTS:
                    raise
                ray.kill(actors[slot], no_restart=True)
                actors[slot] = new_actor()
                queue.appendleft(index)
                continue
            store.write(index, shards[index], record)
            done += len(shards[index])
            images_run += len(record["images"])
            if on_event is not None:
                on_event(SweepEvent(spec.uid, done, total, index, list(record["errors"]), actors))
        wall = time.perf_counter() - start
    finally:  # a stopped sweep (error, Ctrl-C, a callback raising) must not leave actors holding the cluster
        for actor in actors:
            ray.kill(actor, no_restart=True)
    return wall, images_run


def _evaluate(spec: ModelSpec, config: SweepConfig, model_dir: Path, results_path: Path,
              records: list[dict[str, Any]]) -> tuple[dict[str, float], str, list[str]]:
    """AP per output kind with our evaluation library, and the per-category table as a CSV file."""
    if config.annotations is None:
        return {}, "", []
    import pandas as pd

    from explorer.evaluation.errors import EvaluationInputError
    from explorer.evaluation.pipeline import evaluate, load_ground_truth

    gt = load_ground_truth(config.annotations)
    image_ids = [image["id"] for record in records for image in record["images"]]
    metrics: dict[str, float] = {}
    tables: list[pd.DataFrame] = []
    notes: list[str] = []
    for output, iou_type in IOU_TYPES.items():
        if output not in spec.outputs:
            continue
        try:
            evaluation = evaluate(gt, results_path, iou_type, image_ids=image_ids)
        except EvaluationInputError as error:
            notes.append(f"{spec.uid}: no {iou_type} evaluation: {error}")
            continue
        metrics[METRIC_OF[iou_type]] = 100 * evaluation.stats[0] if evaluation.stats[0] >= 0 else float("nan")
        table = pd.DataFrame([dataclasses.asdict(c) for c in evaluation.categories])
        table.insert(0, "iou_type", iou_type)
        tables.append(table)
    if not tables:
        return metrics, "", notes
    path = model_dir / "per_category.csv"
    pd.concat(tables, ignore_index=True).to_csv(path, index=False)
    return metrics, str(path.relative_to(config.out)), notes
