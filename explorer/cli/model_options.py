"""The model options `predict` and `bench` share (--model, --device, --weights, sizes, batch) and the runner they
load from them, so both commands resolve a model, its input size and its weights the same way."""

from __future__ import annotations

import argparse
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


def load_runner_for(args: argparse.Namespace, adjust: Callable[[Any], Any] | None = None) -> tuple[Any, Any]:
    """(runner, weights choice) for the model options in `args`; `adjust` may change the spec before loading."""
    from explorer.cli.progress import download_bar
    from explorer.engine.runners import RANDOM_WEIGHTS, load_runner, resolve_device
    from explorer.models.catalog import resolve_spec
    from explorer.zoo.table import load_zoo

    spec = resolve_spec(load_zoo(), args.model)
    if args.min_size:
        spec = spec.with_sizes(args.min_size, args.max_size or max(args.min_size, spec.preprocessing.max_size))
    device = resolve_device(args.device)
    choice = RANDOM_WEIGHTS if args.random_weights else args.weights
    if adjust is not None:
        spec = adjust(spec)
    return load_runner(spec, device, choice, progress=download_bar()), choice
