"""`python -m explorer sweep`: the argument parser and the command (Ray imported only when it runs)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from explorer.sweep.plan import SweepPlanError

INSTALL_HINT = "pip install -r requirements-sweep.txt"


class SweepDependencyError(RuntimeError):
    """Ray is not installed: the sweep is an optional extra."""


def _require_ray() -> None:
    try:
        import ray  # noqa: F401
    except ImportError as error:
        raise SweepDependencyError(f"`explorer sweep` needs Ray, which is not installed here ({error}); install "
                                   f"it with `{INSTALL_HINT}`") from None


def _progress(event: object) -> None:
    from explorer.sweep.run import SweepEvent

    assert isinstance(event, SweepEvent)
    for error in event.errors:
        print(f"\nskipped: {error}", file=sys.stderr)
    print(f"\r{event.model_uid}: {event.done}/{event.total} images", end="\n" if event.done == event.total else "",
          file=sys.stderr, flush=True)


def _connect(address: str | None) -> None:
    """Join a cluster (`auto`, `ray://host:port`) or start a local one; remote workers get our package."""
    import ray

    if ray.is_initialized():
        return
    runtime_env = None
    if address:
        import explorer

        runtime_env = {"py_modules": [str(Path(explorer.__file__).parent)]}
    ray.init(address=address, include_dashboard=False, runtime_env=runtime_env, log_to_driver=False)


def sweep_command(args: argparse.Namespace) -> str:
    _require_ray()
    from explorer.sweep.plan import image_items, select_specs
    from explorer.sweep.run import SweepConfig, run_sweep
    from explorer.zoo.table import load_zoo

    if not args.models and not args.zoo:
        raise SweepPlanError("choose models with --models ID ... or --zoo NAME [--table TABLE]")
    specs = select_specs(load_zoo(), models=args.models or (), zoo=args.zoo, table_name=args.table,
                         min_size=args.min_size, max_size=args.max_size)
    items = image_items(args.images, args.annotations, args.limit)
    _connect(args.address)
    config = SweepConfig(specs=specs, items=items, out=args.out, annotations=args.annotations,
                         batch_size=args.batch_size, shard_size=args.shard_size, workers=args.workers,
                         gpus_per_model=args.gpus_per_model, random_weights=args.random_weights, seed=args.seed,
                         score_thresh=args.score_thresh, autocast=args.autocast)
    result = run_sweep(config, on_event=_progress)
    lines = [f"{row['model_uid']} on {row['device_name']}: {row['images']} images, {row['errors']} skipped, "
             f"{row['images_per_s']:.2f} images/s per worker, box AP {row['box_ap']:.1f}" for row in result.rows]
    lines += [f"note: {note}" for note in result.notes]
    lines += [f"{result.shards_run} shards run, {result.shards_resumed} resumed from {args.out}; "
              f"summary: {result.summary_path}"]
    return "\n".join(lines) + "\n"


def add_sweep_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register `sweep` on the CLI's subparsers; sets `run=sweep_command`."""
    sweep = subparsers.add_parser("sweep", help="run many models over an image folder on Ray; evaluate; summarise")
    chosen = sweep.add_mutually_exclusive_group(required=True)
    chosen.add_argument("--models", nargs="+", help="model ids, zoo:id uids or torchvision builder names")
    chosen.add_argument("--zoo", help="every runnable model of this zoo")
    sweep.add_argument("--table", help="with --zoo: only this table of the zoo page")
    sweep.add_argument("--images", type=Path, required=True, help="folder of images")
    sweep.add_argument("--annotations", type=Path, default=None, help="COCO annotations: evaluate each model")
    sweep.add_argument("--out", type=Path, required=True, help="output folder (rerun with it to resume)")
    sweep.add_argument("--address", default=None, help="Ray cluster: auto or ray://HOST:PORT (default: local)")
    sweep.add_argument("--batch-size", type=int, default=4)
    sweep.add_argument("--shard-size", type=int, default=16, help="images per shard file (the unit of resuming)")
    sweep.add_argument("--workers", type=int, default=None, help="actors per model (default: fill the cluster)")
    sweep.add_argument("--gpus-per-model", type=float, default=None,
                       help="GPU share of each actor, e.g. 0.5 for two per GPU (default: 1 with GPUs, else 0)")
    sweep.add_argument("--limit", type=int, default=None, help="only the first N images")
    sweep.add_argument("--random-weights", action="store_true", help="random weights (pipeline tests)")
    sweep.add_argument("--seed", type=int, default=0, help="torch seed of every actor (random weights)")
    sweep.add_argument("--min-size", type=int, default=None, help="resize shorter side to this (default: model's)")
    sweep.add_argument("--max-size", type=int, default=None, help="cap on the longer side (default: model's)")
    sweep.add_argument("--score-thresh", type=float, default=0.05, help="keep detections at or above this")
    sweep.add_argument("--autocast", choices=("fp16", "bf16"), default=None, help="mixed precision on GPU")
    sweep.set_defaults(run=sweep_command)
    return sweep
