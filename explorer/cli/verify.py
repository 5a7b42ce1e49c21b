"""`python -m explorer verify`: run a zoo model on annotated images and compare its COCO AP with the published one.

    python -m explorer verify --model 35858933 --images val2017/ --annotations instances_val2017.json \\
        [--limit 50] [--device auto] [--weights FILE] [--runtime onnxruntime|openvino]

With --runtime, the same images also run with the network exported to that runtime (the CPU, parity checked
first), and the AP difference the export makes is printed per kind.

The work is explorer.engine.verify.verify_model; this module parses the options and prints its report.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from explorer.cli.model_options import add_runtime_option


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add `verify` to `subparsers` (argparse's add_subparsers() result); it sets `run`."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "verify", help="run a zoo model on COCO images and compare its AP with the published one")
    parser.add_argument("--model", required=True, help="model id (e.g. 35858933) or uid (detectron:37129812:tta)")
    parser.add_argument("--images", type=Path, required=True, help="folder with the annotation file's images")
    parser.add_argument("--annotations", type=Path, required=True, help="COCO annotation file (instances/keypoints)")
    parser.add_argument("--limit", type=int, default=None, help="evaluate only the first N images (by image id)")
    parser.add_argument("--device", default="auto", help="auto (CUDA if available), cpu or cuda")
    parser.add_argument("--weights", type=Path, default=None, help="a local weights file instead of downloading")
    add_runtime_option(parser)
    parser.set_defaults(run=run)
    return parser


def run(args: argparse.Namespace) -> str:
    from explorer.cli.progress import download_bar
    from explorer.engine.verify import verify_model
    from explorer.zoo.table import load_zoo

    report = verify_model(load_zoo(), args.model, args.images, args.annotations, limit=args.limit,
                          device=args.device, weights=args.weights, progress=download_bar(), runtime=args.runtime)
    lines = [f"{report.model_name} on {report.images_run} of {report.images_annotated} images "
             f"({report.seconds_per_image:.2f} s/image)"]
    lines += [f"skipped: {problem}" for problem in report.skipped]
    lines += [f"{result.kind:9s} {result.measure} {result.measured:5.1f}  published {result.published:5.1f}  "
              f"difference {result.difference:+.1f}" for result in report.results]
    if report.runtime != "torch":
        from explorer.runtimes import RUNTIME_LABELS

        label = RUNTIME_LABELS[report.runtime]
        lines += [f"{result.kind:9s} {result.measure} under {label} {result.runtime:5.1f}  PyTorch "
                  f"{result.measured:5.1f}  difference {result.runtime_difference:+.2f}" for result in report.results]
        lines += report.runtime_lines
    if report.subset:
        lines.append("note: a subset's AP differs from the published (full minival) AP by chance; use all images "
                     "to compare")
    return "\n".join(lines) + "\n"
