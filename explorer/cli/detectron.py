"""`python -m explorer convert` and `python -m explorer verify`: Detectron checkpoints on the command line.

    python -m explorer convert --pkl model_final.pkl --model-id 35858933 --out mask_r50_fpn.pt [--ignore-unknown]
    python -m explorer verify --model 35858933 --images val2017/ --annotations instances_val2017.json \\
        [--limit 50] [--device auto] [--weights FILE]

`convert` reads the pickle with the restricted unpickler, fills every tensor of the model's architecture from
its blob and writes a `torch.save` checkpoint that `predict --weights` (and the page) load without
conversion. `verify` runs a zoo model on annotated images and COCO-evaluates it (explorer.evaluation), next
to the zoo's published AP. Both set `run` on their parser; errors a user can cause derive from
`explorer.weights.WeightsError`, `explorer.zoo.table.UnknownModelError`, `explorer.models.catalog.NotRunnableError`,
`explorer.evaluation.EvaluationInputError` or `VerifyError` below, plus FileNotFoundError.
"""

from __future__ import annotations

import argparse
import math
import time
from pathlib import Path
from typing import Any

from explorer.tasks import EVALUATED


class VerifyError(ValueError):
    """`verify` cannot evaluate this model or these images; the message says why."""


def add_convert_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add `convert` to `subparsers` (argparse's add_subparsers() result)."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "convert", help="convert a Detectron model_final.pkl to a PyTorch checkpoint (safely, checked blob by blob)")
    parser.add_argument("--pkl", type=Path, required=True, help="Detectron checkpoint (model_final.pkl)")
    parser.add_argument("--model-id", required=True, help="Detectron zoo model id whose architecture it has")
    parser.add_argument("--out", type=Path, required=True, help="where to write the converted checkpoint (.pt)")
    parser.add_argument("--ignore-unknown", action="store_true",
                        help="convert even if the pickle holds blobs the architecture does not use")
    parser.set_defaults(run=run_convert)
    return parser


def add_verify_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add `verify` to `subparsers`."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "verify", help="run a zoo model on COCO images and compare its AP with the published one")
    parser.add_argument("--model", required=True, help="model id (e.g. 35858933) or uid (detectron:37129812:tta)")
    parser.add_argument("--images", type=Path, required=True, help="folder with the annotation file's images")
    parser.add_argument("--annotations", type=Path, required=True, help="COCO annotation file (instances/keypoints)")
    parser.add_argument("--limit", type=int, default=None, help="evaluate only the first N images (by image id)")
    parser.add_argument("--device", default="auto", help="auto (CUDA if available), cpu or cuda")
    parser.add_argument("--weights", type=Path, default=None, help="a local weights file instead of downloading")
    parser.set_defaults(run=run_verify)
    return parser


def _arch_for_model_id(model_id: str) -> Any:
    from explorer.models.detectron.family import _zoo_rows, arch_for_row
    from explorer.zoo.table import UnknownModelError

    rows = _zoo_rows()
    if model_id not in rows:
        raise UnknownModelError(f"unknown Detectron model id {model_id!r}; `python -m explorer zoo --zoo detectron` "
                                "lists them")
    return arch_for_row(rows[model_id])


def run_convert(args: argparse.Namespace) -> str:
    from explorer.models.detectron.checkpoint.convert import convert_pickle, save_converted

    if not args.pkl.is_file():
        raise FileNotFoundError(f"no such checkpoint: {args.pkl}")
    arch = _arch_for_model_id(str(args.model_id))
    started = time.perf_counter()
    converted = convert_pickle(args.pkl, arch, strict=not args.ignore_unknown)
    save_converted(converted, args.out, source=args.pkl)
    report = converted.report
    details = report.summary() if report is not None else ""
    weights = ", ".join(f"{w:g}" for w in converted.bbox_reg_weights)
    return (f"converted {args.pkl} ({arch.config}) to {args.out} in {time.perf_counter() - started:.1f} s: "
            f"{details}; box regression weights ({weights})\n")


def _images_to_run(ground_truth: Any, folder: Path, limit: int | None) -> list[tuple[int, Path]]:
    if not folder.is_dir():
        raise FileNotFoundError(f"no such image folder: {folder}")
    found = [(int(image["id"]), folder / str(image["file_name"])) for image in ground_truth.images
             if (folder / str(image["file_name"])).is_file()]
    found.sort()
    if not found:
        raise FileNotFoundError(f"none of the annotation file's images is in {folder}")
    return found[:limit] if limit else found


def run_verify(args: argparse.Namespace) -> str:
    from explorer.engine.predict import resolve_spec
    from explorer.engine.runners import load_runner, resolve_device
    from explorer.evaluation import evaluate, load_ground_truth
    from explorer.inputs.images import ImageError, load_image_file
    from explorer.weights import cli_progress
    from explorer.zoo.table import load_zoo

    table = load_zoo()
    spec = resolve_spec(table, args.model) if ":" not in args.model else _spec_by_uid(table, args.model)
    tasks = [task for task in EVALUATED if task.name in spec.outputs]
    if not tasks:
        raise VerifyError(f"{spec.name} outputs proposals only; verify evaluates boxes, masks and keypoints")
    ground_truth = load_ground_truth(args.annotations)
    todo = _images_to_run(ground_truth, args.images, args.limit)
    runner = load_runner(spec, resolve_device(args.device), args.weights, progress=cli_progress())
    results: list[dict[str, Any]] = []
    ids: list[int] = []
    skipped: list[str] = []
    started = time.perf_counter()
    for image_id, path in todo:
        try:
            image = load_image_file(path)
        except ImageError as error:
            skipped.append(str(error))
            continue
        results.extend(runner.predict([image.rgb])[0].to_coco_results(image_id))
        ids.append(image_id)
    if not ids:
        raise VerifyError(f"none of the {len(todo)} images could be read: {skipped[0]}")
    seconds = time.perf_counter() - started
    row = table[table["uid"] == spec.uid].iloc[0]
    lines = [f"{spec.name} on {len(ids)} of {len(ground_truth.images)} images ({seconds / len(ids):.2f} s/image)"]
    lines += [f"skipped: {problem}" for problem in skipped]
    for task in tasks:
        evaluation = evaluate(ground_truth, results, task.iou_type, image_ids=ids)
        measured = evaluation.stat(task.measure) * 100
        published = float(row[task.metric]) if task.metric in row else math.nan
        lines.append(f"{task.iou_type:9s} {task.measure} {measured:5.1f}  published {published:5.1f}  "
                     f"difference {measured - published:+.1f}")
    if len(ids) < len(ground_truth.images):
        lines.append("note: a subset's AP differs from the published (full minival) AP by chance; use all images "
                     "to compare")
    return "\n".join(lines) + "\n"


def _spec_by_uid(table: Any, uid: str) -> Any:
    from explorer.models.catalog import spec_for
    from explorer.zoo.table import UnknownModelError

    rows = table[table["uid"] == uid]
    if rows.empty:
        raise UnknownModelError(f"unknown model {uid!r}; `python -m explorer zoo` lists model ids")
    return spec_for(rows.iloc[0].to_dict())
