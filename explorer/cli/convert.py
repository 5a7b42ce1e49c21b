"""`python -m explorer convert`: a Detectron model_final.pkl to a PyTorch checkpoint, checked blob by blob.

    python -m explorer convert --pkl model_final.pkl --model-id 35858933 --out mask_r50_fpn.pt [--ignore-unknown]

The pickle is read with the restricted unpickler and every tensor of the model's architecture is filled from its
blob (explorer.models.detectron.checkpoint.convert); the `torch.save` checkpoint written here is what
`predict --weights` (and the Detections page) load without converting again. This module finds the
architecture of the zoo model id, calls the converter and prints what it did.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

from explorer.errors import MissingPathError


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add `convert` to `subparsers` (argparse's add_subparsers() result); it sets `run`."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "convert", help="convert a Detectron model_final.pkl to a PyTorch checkpoint (safely, checked blob by blob)")
    parser.add_argument("--pkl", type=Path, required=True, help="Detectron checkpoint (model_final.pkl)")
    parser.add_argument("--model-id", required=True, help="Detectron zoo model id whose architecture it has")
    parser.add_argument("--out", type=Path, required=True, help="where to write the converted checkpoint (.pt)")
    parser.add_argument("--ignore-unknown", action="store_true",
                        help="convert even if the pickle holds blobs the architecture does not use")
    parser.set_defaults(run=run)
    return parser


def _arch_for_model_id(model_id: str) -> Any:
    from explorer.models.catalog import spec_for_uid
    from explorer.models.detectron.config import detectron_config
    from explorer.zoo.table import load_zoo

    return detectron_config(spec_for_uid(load_zoo(["detectron"]), f"detectron:{model_id}")).arch


def run(args: argparse.Namespace) -> str:
    from explorer.models.detectron.checkpoint.convert import convert_pickle, save_converted

    if not args.pkl.is_file():
        raise MissingPathError(f"no such checkpoint: {args.pkl}")
    arch = _arch_for_model_id(str(args.model_id))
    started = time.perf_counter()
    converted = convert_pickle(args.pkl, arch, strict=not args.ignore_unknown)
    save_converted(converted, args.out, source=args.pkl)
    report = converted.report
    details = report.summary() if report is not None else ""
    weights = ", ".join(f"{w:g}" for w in converted.bbox_reg_weights)
    return (f"converted {args.pkl} ({arch.config}) to {args.out} in {time.perf_counter() - started:.1f} s: "
            f"{details}; box regression weights ({weights})\n")
