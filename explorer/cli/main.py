"""Command line: `python -m explorer <command>`, the same library calls the dashboard makes.

Errors a user can cause (unknown zoo, model id, metric) print one line to stderr and exit with 2;
they never print a traceback.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from explorer.tasks import METRICS, TASK_NAMES
from explorer.zoo.schema import ZOOS

EXIT_USAGE = 2


class CliError(Exception):
    """A user error, reported as one line."""


def _zoo_command(args: argparse.Namespace) -> str:
    from explorer.zoo.export import export_frame, render
    from explorer.zoo.table import load_zoo, load_zoo_text

    zoos = [args.zoo]
    table = load_zoo(zoos)
    return render(export_frame(table, load_zoo_text(zoos)), args.format)


def _rank_command(args: argparse.Namespace) -> str:
    from explorer.zoo.derived import PER_SECOND
    from explorer.zoo.export import markdown_table, render
    from explorer.zoo.ranking import Constraints, rank_models, ranking_view, recommend
    from explorer.zoo.table import load_zoo

    constraints = Constraints(metric=args.metric, max_infer_s=args.max_infer_s, min_metric=args.min_metric,
                              task=args.task, zoos=(args.zoo,) if args.zoo else (), speed=args.speed,
                              scope=args.scope)
    constraints.check()
    table = load_zoo()
    if constraints.local:
        table, constraints = _with_local_speeds(table, constraints, args.measured_on)
    ranked = ranking_view(rank_models(table, constraints, top=args.top), constraints)
    if ranked.empty:
        raise CliError(recommend(table, constraints))
    frame = ranked.copy()
    per_s = PER_SECOND[constraints.metric]
    frame[per_s] = frame[per_s].round(1)
    frame["pareto"] = frame["pareto"].map({True: "yes", False: ""})
    frame["tta"] = frame["tta"].map({True: "true", False: "false"})
    frame = frame.astype(str).replace(["nan", "<NA>"], "")
    if args.format == "markdown":
        return markdown_table(frame) + "\n" + recommend(table, constraints) + "\n"
    return render(frame, args.format)


def _with_local_speeds(table: Any, constraints: Any, setting: str | None) -> tuple[Any, Any]:
    """The zoo with the speeds measured (and projected) here, from the measurement store."""
    import dataclasses

    from explorer.benchmarks.store import MeasurementStore
    from explorer.zoo.local_speeds import with_local_speeds

    table, machine = with_local_speeds(table, MeasurementStore().frame(), setting)
    if not machine:
        raise CliError("no speeds measured on this machine yet: time some models with "
                       "`python -m explorer bench --model ID` first")
    return table, dataclasses.replace(constraints, machine=machine)


def _card_command(args: argparse.Namespace) -> str:
    from explorer.zoo.card import model_card_markdown
    from explorer.zoo.table import find_model, load_configs, load_notes, load_zoo

    table = load_zoo()
    rows = find_model(table, args.model)
    return model_card_markdown(table, rows, load_configs(), load_notes())


def _runner_for(args: argparse.Namespace) -> Any:
    """Resolve the model, device and weights the way `predict` and `bench` share."""
    from explorer.engine.predict import resolve_spec
    from explorer.engine.runners import RANDOM_WEIGHTS, load_runner, resolve_device
    from explorer.weights import cli_progress
    from explorer.zoo.table import load_zoo

    spec = resolve_spec(load_zoo(), args.model)
    if args.min_size:
        spec = spec.with_sizes(args.min_size, args.max_size or max(args.min_size, spec.preprocessing.max_size))
    device = resolve_device(args.device)
    weights = RANDOM_WEIGHTS if args.random_weights else args.weights
    return load_runner(spec, device, weights, progress=cli_progress())


def _predict_command(args: argparse.Namespace) -> str:
    from explorer.engine.predict import image_inputs, predict_files

    runner = _runner_for(args)
    paths = image_inputs(args.images)
    if not paths:
        raise CliError("no images found in the given paths")
    summary = predict_files(runner, paths, args.out, batch_size=args.batch_size, score_thresh=args.score_thresh,
                            draw_thresh=args.draw_thresh, progress=_count_progress("images"))
    for error in summary.errors:
        print(f"skipped: {error}", file=sys.stderr)
    if not summary.counts:
        raise CliError(f"none of the {len(paths)} images could be read")
    lines = [f"{name}: {count} detections" for name, count in summary.counts.items()]
    lines += [f"wrote {summary.results_path}, {summary.images_path} and {len(summary.annotated)} annotated images"]
    return "\n".join(lines) + "\n"


def _count_progress(unit: str) -> Any:
    def report(done: int, total: int) -> None:
        print(f"\r{done}/{total} {unit}", end="\n" if done == total else "", file=sys.stderr, flush=True)

    return report


def _add_model_options(parser: argparse.ArgumentParser, model_required: bool = True) -> None:
    parser.add_argument("--model", required=model_required,
                        help="model id (e.g. 35861858), zoo:id, or torchvision builder")
    parser.add_argument("--device", default="auto", help="auto (CUDA if available), cpu or cuda")
    parser.add_argument("--weights", type=Path, default=None, help="a local weights file instead of downloading")
    parser.add_argument("--random-weights", action="store_true",
                        help="random weights, no download (to test the pipeline, not for real detections)")
    parser.add_argument("--min-size", type=int, default=None, help="resize shorter side to this (default: model's)")
    parser.add_argument("--max-size", type=int, default=None, help="cap on the longer side (default: model's)")
    parser.add_argument("--batch-size", type=int, default=1)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m explorer", description="Detectron Zoo Explorer")
    commands = parser.add_subparsers(dest="command", required=True)

    zoo = commands.add_parser("zoo", help="print the merged zoo table with derived columns")
    zoo.add_argument("--zoo", default="all", help=f"one of {', '.join(ZOOS)}, all (default: all)")
    zoo.add_argument("--format", default="csv", choices=("csv", "json", "markdown"))
    zoo.set_defaults(run=_zoo_command)

    rank = commands.add_parser("rank", help="rank models by accuracy per second under constraints")
    rank.add_argument("--metric", default="box_ap", help=f"one of {', '.join(METRICS)} (default: box_ap)")
    rank.add_argument("--max-infer-s", type=float, default=None, help="latency budget, seconds per image")
    rank.add_argument("--min-metric", type=float, default=None, help="minimum value of the metric")
    rank.add_argument("--task", default=None, help=f"models that output this: {', '.join(TASK_NAMES)}")
    rank.add_argument("--zoo", default=None, help=f"only this zoo: {', '.join(ZOOS)}")
    rank.add_argument("--speed", default="e2e",
                      help="e2e (published, image to detections: precomputed-proposal rows add their RPN; default), "
                           "published (as printed), gpu (published GPU part), measured (on this machine), "
                           "projected (measured, else projected from the published time for this machine)")
    rank.add_argument("--scope", default="coco", choices=("coco", "person"),
                      help="compare AP/AR over all COCO categories (default) or the person-only figures of the "
                           "keypoint models and person RPNs")
    rank.add_argument("--measured-on", default=None, metavar="SETTING",
                      help="with --speed measured/projected: which measurement setting (device, input, batch, "
                           "precision, weights) as the output names it; default: the one with most models")
    rank.add_argument("--top", type=int, default=None, help="show only the best N")
    rank.add_argument("--format", default="markdown", choices=("csv", "json", "markdown"))
    rank.set_defaults(run=_rank_command)

    card = commands.add_parser("card", help="print one model's card (all fields, links, config, neighbours)")
    card.add_argument("model", help="model id, e.g. 35861858")
    card.set_defaults(run=_card_command)

    predict = commands.add_parser("predict", help="run a model on images; write annotated PNGs and results.json")
    _add_model_options(predict)
    predict.add_argument("--images", type=Path, nargs="+", required=True,
                         help="image files or folders; a folder's subfolders are read too, and each image is named "
                              "by its path relative to the folder given (sub/img.jpg) in images.json and annotated/")
    predict.add_argument("--out", type=Path, required=True, help="output folder")
    predict.add_argument("--score-thresh", type=float, default=0.05, help="keep detections at or above this")
    predict.add_argument("--draw-thresh", type=float, default=0.5, help="draw detections at or above this")
    predict.set_defaults(run=_predict_command)

    from explorer.cli.bench import add_bench_parser
    from explorer.cli.detectron import add_convert_parser, add_verify_parser
    from explorer.cli.evaluate import add_eval_parser
    from explorer.cli.sweep import add_sweep_parser

    add_bench_parser(commands, _add_model_options)
    add_eval_parser(commands)
    add_convert_parser(commands)
    add_verify_parser(commands)
    add_sweep_parser(commands)
    return parser


def _user_errors() -> tuple[type[BaseException], ...]:
    """Exceptions that mean bad input or environment, reported as one line (others are bugs: traceback)."""
    from explorer.benchmarks.many import BenchPlanError
    from explorer.cli.detectron import VerifyError
    from explorer.cli.sweep import SweepClusterError, SweepDependencyError
    from explorer.evaluation.errors import EvaluationInputError
    from explorer.models.catalog import NotRunnableError
    from explorer.sweep.plan import SweepPlanError
    from explorer.weights import WeightsError
    from explorer.zoo.ranking import RankingError
    from explorer.zoo.table import UnknownModelError, UnknownZooError

    errors: list[type[BaseException]] = [CliError, RankingError, UnknownModelError, UnknownZooError,
                                         FileNotFoundError, NotRunnableError, EvaluationInputError, VerifyError,
                                         WeightsError, SweepDependencyError, SweepClusterError, SweepPlanError,
                                         BenchPlanError]
    if "explorer.engine.runners" in sys.modules:  # these modules import torch: only when a model ran
        from explorer.engine.runners import DeviceError
        from explorer.models.torchvision_zoo import WeightsMismatchError

        errors += [DeviceError, WeightsMismatchError]
    return tuple(errors)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        output = args.run(args)
    except _user_errors() as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_USAGE
    sys.stdout.write(output)
    return 0
