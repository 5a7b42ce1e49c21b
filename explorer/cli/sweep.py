"""`python -m explorer sweep`: the argument parser and the command (Ray imported only when it runs).

Where the sweep's driver runs depends on `--address`: with none (a local Ray), `auto` or `HOST:PORT`
this process joins the cluster and drives Ray Data itself. A `ray://` address is a Ray Client
connection, from which Ray Data cannot drive a pipeline; the same driver then runs as a task inside the
cluster (paths are the cluster's, as for a Ray Job) and sends its progress back through a Ray queue.
"""

from __future__ import annotations

import argparse
import logging
import socket
import sys
from pathlib import Path
from typing import Any

from explorer.errors import ExplorerError
from explorer.sweep.plan import SweepPlanError
from explorer.tasks import EVALUATED

INSTALL_HINT = "pip install -r requirements-sweep.txt"
CLIENT_SCHEME = "ray://"


class SweepDependencyError(ExplorerError, RuntimeError):
    """Ray is not installed: the sweep is an optional extra."""


class SweepClusterError(ExplorerError, RuntimeError):
    """The Ray cluster named by `--address` could not be joined."""


def _require_ray() -> None:
    try:
        import ray  # noqa: F401
    except ImportError as error:
        raise SweepDependencyError(f"`explorer sweep` needs Ray, which is not installed here ({error}); install "
                                   f"it with `{INSTALL_HINT}`") from None


def _progress_bars() -> Any:
    """The `on_event` callback of one sweep: a bar of images per model, and each skipped image on a line above it."""
    from explorer.cli.progress import ProgressBars
    from explorer.sweep.run import SweepEvent

    bars = ProgressBars(unit="image")

    def draw(event: object) -> None:
        assert isinstance(event, SweepEvent)
        for error in event.errors:
            bars.write(f"skipped: {error}")
        bars.update(event.done, event.total, event.model_uid)

    return draw


def check_reachable(address: str, timeout_s: float = 5.0) -> None:
    """Fail fast when nothing listens at HOST:PORT: Ray itself keeps retrying such an address for minutes."""
    host, _, port = address.removeprefix(CLIENT_SCHEME).rpartition(":")
    if not host or not port.isdigit():
        if address == "auto":
            return
        raise SweepClusterError(f"--address {address} is not auto, HOST:PORT or ray://HOST:PORT")
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=timeout_s).close()
    except OSError as error:
        raise SweepClusterError(f"could not join the Ray cluster at {address}: nothing answers there "
                                f"({error.strerror or error}); is the head node running?") from None


def _download_bar(label: str) -> Any:
    from explorer.cli.progress import download_bar

    return download_bar(label=f"weights of {label}")


def _connect(address: str | None) -> None:
    """Join a cluster (`auto`, `HOST:PORT`, `ray://HOST:PORT`) or start a local Ray; remote workers get our package."""
    import ray

    logging.getLogger("ray.data").setLevel(logging.WARNING)  # the sweep reports its own progress
    if ray.is_initialized():
        return
    runtime_env = None
    if address:
        import explorer

        check_reachable(address)
        runtime_env = {"py_modules": [str(Path(explorer.__file__).parent)]}
    try:
        ray.init(address=address, include_dashboard=False, runtime_env=runtime_env, log_to_driver=False)
    except (ConnectionError, ValueError) as error:
        raise SweepClusterError(
            f"could not join the Ray cluster at {address}: {error}. Check that the cluster is running and reachable "
            "from here; a cluster with token authentication needs its token in RAY_AUTH_TOKEN (or "
            "~/.ray/auth_token); a ray:// address needs the Ray Client server on the head node.") from None


def chosen_specs(args: argparse.Namespace) -> list[Any]:
    """The models to sweep, resolved here from our zoo tables (a cluster's workers get only the package)."""
    from explorer.sweep.plan import select_specs
    from explorer.zoo.table import load_zoo

    return select_specs(load_zoo(), models=args.models or (), zoo=args.zoo, table_name=args.table,
                        min_size=args.min_size, max_size=args.max_size)


def chosen_items(args: argparse.Namespace) -> list[Any]:
    from explorer.sweep.plan import image_items

    return image_items(args.images, args.annotations, args.limit)


def execute(args: argparse.Namespace, specs: list[Any], items: list[Any] | None = None,
            on_event: Any = None, download_progress: Any = None) -> str:
    """Run and summarise the sweep in this process (already connected to Ray); lists the images if not given."""
    from explorer.sweep.run import SweepConfig, run_sweep

    items = items if items is not None else chosen_items(args)
    config = SweepConfig(specs=specs, items=items, out=args.out, annotations=args.annotations,
                         batch_size=args.batch_size, shard_size=args.shard_size, workers=args.workers,
                         gpus_per_model=args.gpus_per_model, random_weights=args.random_weights, seed=args.seed,
                         score_thresh=args.score_thresh, autocast=args.autocast,
                         download_progress=download_progress)
    result = run_sweep(config, on_event=on_event)
    lines = []
    for row in result.rows:
        scores = ", ".join(f"{task.label} {row[task.metric]:.1f}" for task in EVALUATED
                           if row[task.metric] == row[task.metric])  # NaN: not evaluated
        lines.append(f"{row['model_uid']} on {row['device_name']}: {row['images']} images, {row['errors']} skipped, "
                     f"{row['images_per_s']:.2f} images/s per worker" + (f", {scores}" if scores else ""))
    lines += [f"note: {note}" for note in result.notes]
    lines += [f"{result.shards_run} shards run, {result.shards_resumed} resumed from {args.out}; "
              f"summary: {result.summary_path}"]
    return "\n".join(lines) + "\n"


def _execute_in_cluster(args: argparse.Namespace, specs: list[Any], events: Any) -> str:
    """The driver as a Ray task (for Ray Client users): progress goes to the client through `events`."""
    return execute(args, specs, on_event=events.put)


def run_in_cluster(args: argparse.Namespace, specs: list[Any], on_event: Any = None, poll_s: float = 0.2) -> str:
    """Run `execute` as a task in the cluster, relaying its progress events here until it returns."""
    import queue

    import ray
    from ray.util.queue import Queue

    events = Queue(actor_options={"num_cpus": 0})
    task = ray.remote(num_cpus=0, max_retries=0)(_execute_in_cluster).remote(args, specs, events)
    try:
        while True:
            finished, _ = ray.wait([task], timeout=poll_s)
            while True:
                try:
                    event = events.get_nowait()
                except queue.Empty:
                    break
                if on_event is not None:
                    on_event(event)
            if finished:
                try:
                    return ray.get(task)
                except ray.exceptions.RayTaskError as error:  # bad input stays a one-line message, not a trace
                    cause = error.cause
                    if isinstance(cause, ExplorerError | FileNotFoundError):
                        raise SweepClusterError(f"the sweep stopped in the cluster: {cause}") from None
                    raise
    finally:
        ray.kill(events.actor)


def note_if_not_served(out: Path) -> None:
    """The Sweeps page opens only sweeps under the sweeps root: say so before the sweep runs, not after."""
    from explorer.sweep.served import ENV_SWEEPS_ROOT, is_served, sweeps_root

    if not is_served(out):
        print(f"note: {out} is outside the sweeps root {sweeps_root()}, so the dashboard's Sweeps page will not show "
              f"this sweep; choose --out under it or set {ENV_SWEEPS_ROOT}", file=sys.stderr)


def run(args: argparse.Namespace) -> str:
    _require_ray()
    if not args.models and not args.zoo:
        raise SweepPlanError("choose models with --models ID ... or --zoo NAME [--table TABLE]")
    specs = chosen_specs(args)
    if args.address and args.address.startswith(CLIENT_SCHEME):  # the images are listed where they are read
        _connect(args.address)
        plain = argparse.Namespace(**{key: value for key, value in vars(args).items() if key != "run"})
        return run_in_cluster(plain, specs, on_event=_progress_bars())
    items = chosen_items(args)  # before starting Ray: a wrong folder fails at once
    note_if_not_served(args.out)
    _connect(args.address)
    return execute(args, specs, items, on_event=_progress_bars(), download_progress=_download_bar)


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add `sweep` to `subparsers` (argparse's add_subparsers() result); it sets `run`."""
    sweep: argparse.ArgumentParser = subparsers.add_parser(
        "sweep", help="run many models over an image folder on Ray; evaluate; summarise")
    chosen = sweep.add_mutually_exclusive_group(required=True)
    chosen.add_argument("--models", nargs="+", help="model ids, zoo:id uids or torchvision builder names")
    chosen.add_argument("--zoo", help="every runnable model of this zoo")
    sweep.add_argument("--table", help="with --zoo: only this table of the zoo page")
    sweep.add_argument("--images", type=Path, required=True, help="folder of images")
    sweep.add_argument("--annotations", type=Path, default=None, help="COCO annotations: evaluate each model")
    sweep.add_argument("--out", type=Path, required=True,
                       help="output folder (rerun with it to resume); the Sweeps page shows it when it lies under "
                            "EXPLORER_SWEEPS_ROOT (default $EXPLORER_CACHE/sweeps)")
    sweep.add_argument("--address", default=None,
                       help="Ray cluster: auto, HOST:PORT or ray://HOST:PORT (default: a local Ray); with ray:// the "
                            "paths are the cluster's")
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
    sweep.set_defaults(run=run)
    return sweep
