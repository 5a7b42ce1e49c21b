"""The model options `predict` and `bench` share (--model, --device, --weights, sizes, batch) and the runner they
load from them, so both commands resolve a model, its input size and its weights the same way."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any


def add_model_options(parser: argparse.ArgumentParser, model_required: bool = True) -> None:
    parser.add_argument("--model", required=model_required,
                        help="model id (e.g. 35861858), zoo:id, or torchvision builder")
    parser.add_argument("--device", default="auto", help="auto (CUDA if available), cpu or cuda")
    parser.add_argument("--weights", type=Path, default=None, help="a local weights file instead of downloading")
    parser.add_argument("--random-weights", action="store_true",
                        help="random weights, no download (to test the pipeline, not for real detections)")
    parser.add_argument("--min-size", type=int, default=None, help="resize shorter side to this (default: model's)")
    parser.add_argument("--max-size", type=int, default=None, help="cap on the longer side (default: model's)")
    parser.add_argument("--batch-size", type=int, default=1)
    add_runtime_option(parser)


def add_runtime_option(parser: argparse.ArgumentParser, default: str | None = "torch") -> None:
    from explorer.runtimes import RUNTIMES

    parser.add_argument("--runtime", choices=RUNTIMES if default else RUNTIMES[1:], default=default,
                        required=default is None,
                        help="torch (eager PyTorch, default) or a runtime the model is exported to and checked "
                             "against PyTorch first (the CPU, fp32; needs `pip install .[deploy]`)")


def load_runner_for(args: argparse.Namespace, adjust: Callable[[Any], Any] | None = None) -> tuple[Any, Any]:
    """(runner, weights choice) for the model options in `args`; `adjust` may change the spec before loading."""
    from explorer.cli.progress import download_bar
    from explorer.engine.runners import RANDOM_WEIGHTS, load_runner, resolve_device
    from explorer.models.catalog import resolve_spec
    from explorer.zoo.table import load_zoo

    spec = resolve_spec(load_zoo(), args.model)
    if args.min_size:
        spec = spec.with_sizes(args.min_size, args.max_size or max(args.min_size, spec.preprocessing.max_size))
    runtime = getattr(args, "runtime", "torch")
    device = resolve_device("cpu" if runtime != "torch" and args.device == "auto" else args.device)
    choice = RANDOM_WEIGHTS if args.random_weights else args.weights
    if adjust is not None:
        spec = adjust(spec)
    if runtime != "torch":
        from explorer.runtimes.backends import backend_for

        backend_for(runtime)  # a missing package is said before any download
    runner = load_runner(spec, device, choice, progress=download_bar())
    if runtime == "torch":
        return runner, choice
    from explorer.runtimes.export import export_runner

    exported = export_runner(runner, runtime)
    for line in exported.info.lines():
        print(line, file=sys.stderr)
    return exported, choice
