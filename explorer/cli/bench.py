"""`python -m explorer bench`: time one model (`--model`) or many (`--models A B`, `--zoo Z [--table T]`).

Many models run one after another with a progress bar; each is stored as it finishes, so Ctrl-C keeps
what finished and a second run skips what is stored for the same setup unless `--again`.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from explorer.cli.model_options import add_model_options, load_runner_for
from explorer.errors import ExplorerError
from explorer.zoo.schema import ZOOS


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add `bench` to `subparsers` (argparse's add_subparsers() result); it sets `run`."""
    bench: argparse.ArgumentParser = subparsers.add_parser(
        "bench", help="time models on this machine and store the measurements")
    add_model_options(bench, model_required=False)
    bench.add_argument("--models", nargs="+", default=None, metavar="ID", help="time these models one after another")
    bench.add_argument("--zoo", default=None, help=f"time every runnable model of this zoo: {', '.join(ZOOS)}")
    bench.add_argument("--table", default=None, help="with --zoo: only this table of it (e.g. 'Mask R-CNN')")
    bench.add_argument("--again", action="store_true", help="time models already stored for this setup again")
    bench.add_argument("--runs", type=int, default=10)
    bench.add_argument("--warmup", type=int, default=2)
    bench.add_argument("--width", type=int, default=1333, help="test image width (default 1333)")
    bench.add_argument("--height", type=int, default=800, help="test image height (default 800)")
    bench.add_argument("--autocast", choices=("fp16", "bf16"), default=None, help="mixed precision on GPU")
    bench.set_defaults(run=run)
    return bench


def run(args: argparse.Namespace) -> str:
    chosen = [name for name, given in (("--model", args.model), ("--models", args.models), ("--zoo", args.zoo))
              if given]
    if len(chosen) != 1:
        raise ExplorerError("give exactly one of --model ID, --models ID [ID ...] or --zoo ZOO"
                       + (f" (got {' and '.join(chosen)})" if chosen else ""))
    if args.table and not args.zoo:
        raise ExplorerError("--table needs --zoo")
    if args.model:
        return _bench_one(args)
    if args.weights is not None:
        raise ExplorerError("--weights FILE is for one model (--model); many models use their published weights")
    return _bench_many(args)


def _bench_one(args: argparse.Namespace) -> str:
    """The single-model form: always measured, with the weights asked for (a file is recorded by its sha256)."""
    import numpy as np

    from explorer.benchmarks.store import MeasurementStore
    from explorer.benchmarks.timing import benchmark_runner, weights_identity

    runner, choice = _load_one(args)
    image = np.random.default_rng(0).integers(0, 256, (args.height, args.width, 3), dtype=np.uint8)
    result = benchmark_runner(runner, image, batch_size=args.batch_size, runs=args.runs, warmup=args.warmup,
                              autocast=args.autocast, weights=weights_identity(choice),
                              detections_held=bool(args.random_weights))
    store = MeasurementStore()
    store.add(result)
    memory = "" if result.peak_mem_mb is None else f", peak memory {result.peak_mem_mb:.0f} MB"
    return (f"{result.model_name} on {result.device_name} ({result.device}, {result.autocast}), "
            f"{result.image_width}x{result.image_height}, batch {result.batch_size}: median "
            f"{result.median_s * 1000:.1f} ms/image (p10 {result.p10_s * 1000:.1f}, p90 {result.p90_s * 1000:.1f}, "
            f"{result.runs} runs after {result.warmup} warm-up{memory}); weights {_weights_words(result)}; "
            f"torch {result.torch_version}; runtime {result.runtime} {result.runtime_version} "
            f"({result.execution_provider})\nstored in {store.path}\n")


def _load_one(args: argparse.Namespace) -> tuple[Any, Any]:
    """The runner `predict` would load, except that random weights hold the detections at the maximum."""
    from explorer.benchmarks.many import hold_max_detections

    return load_runner_for(args, adjust=hold_max_detections if args.random_weights else None)


def _weights_words(result: Any) -> str:
    if result.weights_kind == "file":
        return f"file {result.weights} (sha256 {result.weights_sha256[:12]}…)"
    held = ", detections held at the model's maximum" if result.detections_held else ""
    return result.weights_kind + held


def _bench_many(args: argparse.Namespace) -> str:
    from tqdm import tqdm

    from explorer.benchmarks.many import BenchSettings, plan_models, report_table, run_models
    from explorer.benchmarks.store import MeasurementStore
    from explorer.engine.runners import resolve_device
    from explorer.zoo.export import markdown_table
    from explorer.zoo.table import load_zoo

    specs, left_out = plan_models(load_zoo(), args.models or (), zoo=args.zoo, table_name=args.table)
    if not specs:
        raise ExplorerError(f"no runnable model in {args.zoo}" + (f" / {args.table}" if args.table else ""))
    device = "cpu" if args.runtime != "torch" and args.device == "auto" else args.device
    settings = BenchSettings(device=resolve_device(device), width=args.width, height=args.height,
                             min_size=args.min_size, max_size=args.max_size, batch_size=args.batch_size,
                             runs=args.runs, warmup=args.warmup, autocast=args.autocast,
                             weights="random" if args.random_weights else "auto", runtime=args.runtime)
    store = MeasurementStore()
    with tqdm(total=len(specs), unit="model", file=sys.stderr, dynamic_ncols=True) as bar:
        def progress(done: int, total: int, running: str) -> None:
            bar.n = done
            bar.set_postfix_str(running, refresh=True)

        report = run_models(specs, settings, store=store, again=args.again, progress=progress, echo=bar.write)
    lines = [f"skipped (not runnable): {line}" for line in left_out]
    lines += [f"skipped: {line}" for line in report.skipped] + [f"note: {line}" for line in report.notes]
    if report.already:
        lines.append(f"already stored for this setup (use --again to time again): {len(report.already)} models")
    table = report_table(report.measured)
    body = (markdown_table(table.astype(str).replace({"None": "", "nan": ""})) if not table.empty
            else "no model was timed\n")
    summary = body + "\n".join(lines) + ("\n" if lines else "") + f"stored in {store.path}\n"
    if report.interrupted:
        sys.stdout.write(summary)
        raise ExplorerError(f"interrupted: {len(report.measured)} of {len(specs)} models timed and stored; run the "
                            "same command again to time the rest")
    return summary
