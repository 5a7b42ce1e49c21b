"""`python -m explorer export`: export a model to ONNX Runtime or OpenVINO, check it against PyTorch, cache it.

Prints what runs in the runtime, what stays in PyTorch and why, the export time (or that it came from the cache)
and the parity check's worst differences. A failed check or a model that cannot be exported is one error line.
"""

from __future__ import annotations

import argparse
from typing import Any

from explorer.cli.model_options import add_model_options


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add `export` to `subparsers` (argparse's add_subparsers() result); it sets `run`."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "export", help="export a model to ONNX Runtime or OpenVINO, checked against PyTorch, cached")
    add_model_options(parser)
    parser.set_defaults(run=run)
    return parser


def run(args: argparse.Namespace) -> str:
    from explorer.cli.model_options import load_runner_for
    from explorer.errors import ExplorerError

    if args.runtime == "torch":
        raise ExplorerError("give --runtime onnxruntime or --runtime openvino (torch is the eager model itself)")
    runner, _ = load_runner_for(args)
    folders = "\n".join(f"  {folder}" for folder in runner.info.folders)
    return f"{runner.spec.name} ({runner.spec.uid}) exported to {runner.info.label}; cached in:\n{folders}\n"
