"""`python -m explorer rank`: models ranked by accuracy per second under constraints, with a recommendation.

`--speed measured|projected` ranks by the speeds timed on this machine (`bench` stores them); with none
stored the command says how to measure some instead of printing an empty table.
"""

from __future__ import annotations

import argparse
import dataclasses
from typing import Any

from explorer.errors import ExplorerError
from explorer.tasks import METRICS, TASK_NAMES
from explorer.zoo.schema import ZOOS


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add `rank` to `subparsers` (argparse's add_subparsers() result); it sets `run`."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "rank", help="rank models by accuracy per second under constraints")
    parser.add_argument("--metric", default="box_ap", help=f"one of {', '.join(METRICS)} (default: box_ap)")
    parser.add_argument("--max-infer-s", type=float, default=None, help="latency budget, seconds per image")
    parser.add_argument("--min-metric", type=float, default=None, help="minimum value of the metric")
    parser.add_argument("--task", default=None, help=f"models that output this: {', '.join(TASK_NAMES)}")
    parser.add_argument("--zoo", default=None, help=f"only this zoo: {', '.join(ZOOS)}")
    parser.add_argument("--speed", default="e2e",
                        help="e2e (published, image to detections: precomputed-proposal rows add their RPN; "
                             "default), published (as printed), gpu (published GPU part), measured (on this "
                             "machine), projected (measured, else projected from the published time for this "
                             "machine)")
    parser.add_argument("--scope", default="coco", choices=("coco", "person"),
                        help="compare AP/AR over all COCO categories (default) or the person-only figures of the "
                             "keypoint models and person RPNs")
    parser.add_argument("--measured-on", default=None, metavar="SETTING",
                        help="with --speed measured/projected: which measurement setting (device, input, batch, "
                             "precision, weights) as the output names it; default: the one with most models")
    parser.add_argument("--top", type=int, default=None, help="show only the best N")
    parser.add_argument("--format", default="markdown", choices=("csv", "json", "markdown"))
    parser.set_defaults(run=run)
    return parser


def run(args: argparse.Namespace) -> str:
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
        raise ExplorerError(recommend(table, constraints))
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
    from explorer.benchmarks.store import MeasurementStore
    from explorer.zoo.local_speeds import with_local_speeds

    table, machine = with_local_speeds(table, MeasurementStore().frame(), setting)
    if not machine:
        raise ExplorerError("no speeds measured on this machine yet: time some models with "
                            "`python -m explorer bench --model ID` first")
    return table, dataclasses.replace(constraints, machine=machine)
