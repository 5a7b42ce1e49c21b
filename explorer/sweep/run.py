"""Orchestrate a sweep on Ray Data: per model, a dataset of the images whose shards are not yet written.

The pipeline is `from_items` (one block per shard) -> `decode_batch` tasks -> `ModelPredictor` actor pool
-> this driver, which collects the rows of each shard and writes its file as soon as the shard is complete,
so a stopped sweep resumes from what is on disk. Ray Data schedules, streams and backpressures; an actor
that dies is restarted by Ray and its batches retried (Ray Data's actor pools restart without limit).
Models run one after another, each with the whole cluster, so every model's throughput is measured
without the others competing.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import ray

from explorer.models.catalog import ModelSpec
from explorer.sweep.plan import ImageItem, shard_items, slug
from explorer.sweep.shards import ShardStore
from explorer.sweep.stages import ModelPredictor, decode_batch
from explorer.sweep.summary import model_rows, register_sweep, write_meta, write_summary
from explorer.tasks import EVALUATED


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
    #: label -> progress callback for the driver's own download of published weights (the CLI draws a bar)
    download_progress: Callable[[str], Callable[[int, int | None], None]] | None = None


@dataclass
class SweepEvent:
    """Rows of one model came back: what progress reporting and tests see.

    `done` counts images (decoded or skipped) of this model, resumed shards included; `shards` are the
    shard files written by this event, `errors` the images skipped in them, `workers` the worker
    processes ("host:pid") that ran the rows.
    """

    model_uid: str
    done: int
    total: int
    shards: list[int] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    workers: list[str] = field(default_factory=list)


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


def configure_ray_data() -> None:
    """Quiet Ray Data: the sweep reports its own progress, per image, through `on_event`."""
    context = ray.data.DataContext.get_current()
    context.enable_progress_bars = False
    context.print_on_execution_start = False
    context.execution_options.verbose_progress = False


def run_sweep(config: SweepConfig, on_event: Callable[[SweepEvent], None] | None = None) -> SweepResult:
    share, workers = cluster_layout(config.gpus_per_model, config.workers)
    configure_ray_data()
    shards = shard_items(config.items, config.shard_size)
    rows: list[dict[str, Any]] = []
    notes: list[str] = []
    run_count = resumed = 0
    meta = {"created": datetime.now(UTC).isoformat(timespec="seconds"), "images": len(config.items),
            "shard_size": config.shard_size, "batch_size": config.batch_size, "workers": workers,
            "gpus_per_model": share, "annotations": str(config.annotations or ""),
            "models": [spec.uid for spec in config.specs], "cluster": ray.cluster_resources(),
            "shards": len(shards), "model_dirs": {spec.uid: slug(spec.uid) for spec in config.specs}}
    write_meta(config.out, meta)
    register_sweep(config.out)  # listed on the Sweeps page while it runs, with its progress
    for spec in config.specs:
        store = ShardStore(config.out / slug(spec.uid))
        store.remove_stale(len(shards))
        todo = [i for i, items in enumerate(shards) if not store.is_done(i, items)]
        resumed += len(shards) - len(todo)
        if todo and not config.random_weights and config.weights is None:
            prefetch_weights(spec, config.download_progress)
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


def prefetch_weights(spec: ModelSpec,
                     progress: Callable[[str], Callable[[int, int | None], None]] | None = None) -> list[Path]:
    """Fetch the published checkpoint (and its proposal model's) here, before any actor starts.

    One download with progress in the user's terminal instead of a silent one per actor; on this machine
    the actors then find it cached (on other nodes each node fetches its own copy, once, by the cache's
    lock). Unavailable weights fail the sweep here with the weights manager's message, not as a crash
    loop of actors.
    """
    from explorer.weights.model_files import fetch_model_files

    return list(fetch_model_files(spec, progress=progress).values())


def model_dataset(spec: ModelSpec, config: SweepConfig, shards: list[list[ImageItem]], todo: list[int],
                  share: float, workers: int) -> ray.data.Dataset:
    """The Ray Data pipeline of one model over the shards `todo`: one input block per shard.

    Decoding gets a bounded task pool: unbounded zero-CPU tasks make Ray start a worker process per task,
    which on a small machine costs more than the decoding. On CPU the model actors hold the cores, so
    decoding reserves none and one decoder per actor keeps up; with GPUs each decoder reserves a CPU (so
    Ray spreads them over the nodes) and two per actor feed a GPU that infers faster than one core decodes.
    """
    decoders, decode_cpus = (workers, 0.0) if share == 0 else (2 * workers, 1.0)
    if decode_cpus and ray.cluster_resources().get("CPU", 0) < workers + decoders:
        decode_cpus = 0.0  # too few CPUs to reserve: decoders that wait for a core would stall the GPUs
    rows = [{"shard": index, "image_id": item.image_id, "path": item.path} for index in todo for item in shards[index]]
    predictor_options = {"random_weights": config.random_weights, "seed": config.seed,
                         "weights": str(config.weights) if config.weights else None, "threads": 1,
                         "score_thresh": config.score_thresh, "autocast": config.autocast}
    return (ray.data.from_items(rows, override_num_blocks=len(todo))
            .map_batches(decode_batch, fn_kwargs={"max_pixels": config.max_pixels}, batch_size=config.batch_size,
                         compute=ray.data.TaskPoolStrategy(size=decoders), num_cpus=decode_cpus)
            .map_batches(ModelPredictor, fn_constructor_args=(spec,), fn_constructor_kwargs=predictor_options,
                         batch_size=config.batch_size, compute=ray.data.ActorPoolStrategy(size=workers), num_cpus=1,
                         num_gpus=share))


def _run_model(spec: ModelSpec, config: SweepConfig, store: ShardStore, shards: list[list[ImageItem]],
               todo: list[int], share: float, workers: int,
               on_event: Callable[[SweepEvent], None] | None) -> tuple[float, int]:
    """Run the shards `todo` of one model; returns (pool seconds, images done) for its throughput.

    The pool's seconds run from the first batch's start to the last batch's end inside the actors, so
    starting actors and loading the model are not counted as inference time.
    """
    dataset = model_dataset(spec, config, shards, todo, share, min(workers, len(todo)))
    total = sum(len(items) for items in shards)
    done = total - sum(len(shards[i]) for i in todo)
    pending: dict[int, dict[str, dict[str, Any]]] = {}  # shard -> file name -> row
    written: set[int] = set()
    first, last, images_run = float("inf"), 0.0, 0
    batches = dataset.iter_batches(batch_size=None, batch_format="numpy")
    try:
        for batch in batches:
            event = SweepEvent(spec.uid, done, total)
            for row in _rows(batch):
                if row["shard"] in written:
                    continue  # a retried batch can deliver a row twice; the shard file already has it
                first, last = min(first, row["started"]), max(last, row["finished"])
                shard = pending.setdefault(row["shard"], {})
                done += row["name"] not in shard  # a repeat of a pending row is no new progress
                shard[row["name"]] = row
                event.workers.append(row["worker"])
                if len(shard) == len(shards[row["shard"]]):
                    record = _shard_record(list(pending.pop(row["shard"]).values()), shards[row["shard"]])
                    store.write(row["shard"], shards[row["shard"]], record)
                    written.add(row["shard"])
                    event.shards.append(row["shard"])
                    event.errors += record["errors"]
                    images_run += len(record["images"])
            event.done = done
            event.workers = sorted(set(event.workers))
            if on_event is not None:
                on_event(event)
    finally:  # a stopped sweep (error, Ctrl-C, a callback raising) must release the actors at once
        _close(batches)
    if pending:  # every planned image comes back as a row, decoded or not; anything else is a bug to report
        raise RuntimeError(f"{spec.uid}: the pipeline returned no rows for some images of shards {sorted(pending)}; "
                           "their shard files were not written, run the same command again to redo them")
    return last - first, images_run


def _rows(batch: dict[str, Any]) -> Iterator[dict[str, Any]]:
    columns = list(batch)
    for values in zip(*(batch[name] for name in columns), strict=True):
        row = dict(zip(columns, values, strict=True))
        yield {**row, "shard": int(row["shard"]), "image_id": int(row["image_id"]), "name": str(row["name"]),
               "started": float(row["started"]), "finished": float(row["finished"])}


def _shard_record(rows: list[dict[str, Any]], items: list[ImageItem]) -> dict[str, Any]:
    """The shard file's content, in the plan's image order (rows arrive in any order)."""
    order = {item.name: position for position, item in enumerate(items)}
    rows = sorted(rows, key=lambda row: order[row["name"]])
    decoded = [row for row in rows if not row["error"]]
    return {
        "images": [{"id": row["image_id"], "file_name": str(row["name"]), "width": int(row["width"]),
                    "height": int(row["height"])} for row in decoded],
        "errors": [str(row["error"]) for row in rows if row["error"]],
        "results": [entry for row in decoded for entry in json.loads(row["results"])],
        "seconds": sum(float(row["seconds"]) for row in decoded),
        "device_name": str(rows[0]["device_name"]),  # skipped images pass through the actor too
        "workers": sorted({str(row["worker"]) for row in rows}),
    }


def _close(batches: Any) -> None:
    """Stop the streaming execution behind an iterator the loop left early (its actors go with it)."""
    close = getattr(batches, "close", None)
    if close is not None:
        close()


def _evaluate(spec: ModelSpec, config: SweepConfig, model_dir: Path, results_path: Path,
              records: list[dict[str, Any]]) -> tuple[dict[str, float], str, list[str]]:
    """AP per output kind with our evaluation library, and the per-category table as a CSV file."""
    if config.annotations is None:
        return {}, "", []
    import pandas as pd

    from explorer.evaluation.coco.pipeline import evaluate
    from explorer.evaluation.errors import EvaluationInputError
    from explorer.evaluation.inputs.ground_truth import load_ground_truth

    gt = load_ground_truth(config.annotations)
    image_ids = [image["id"] for record in records for image in record["images"]]
    metrics: dict[str, float] = {}
    tables: list[pd.DataFrame] = []
    notes: list[str] = []
    for task in EVALUATED:
        if task.name not in spec.outputs:
            continue
        try:
            evaluation = evaluate(gt, results_path, task.iou_type, image_ids=image_ids)
        except EvaluationInputError as error:
            notes.append(f"{spec.uid}: no {task.iou_type} evaluation: {error}")
            continue
        metrics[task.metric] = 100 * evaluation.stat(task.measure)  # NaN where undefined, like the zoo's blanks
        table = pd.DataFrame([dataclasses.asdict(c) for c in evaluation.categories])
        table.insert(0, "iou_type", task.iou_type)
        tables.append(table)
    if not tables:
        return metrics, "", notes
    path = model_dir / "per_category.csv"
    pd.concat(tables, ignore_index=True).to_csv(path, index=False)
    return metrics, str(path.relative_to(config.out)), notes
