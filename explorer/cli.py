"""Command line: `python -m explorer <command>`, the same library calls the dashboard makes.

Errors a user can cause (unknown zoo, model id, metric) print one line to stderr and exit with 2;
they never print a traceback.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from explorer.zoo.schema import METRIC_TASK, TASKS, ZOOS

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
    from explorer.zoo.export import markdown_table, render
    from explorer.zoo.ranking import Constraints, rank_models, ranking_view, recommend
    from explorer.zoo.table import load_zoo

    constraints = Constraints(metric=args.metric, max_infer_s=args.max_infer_s, min_metric=args.min_metric,
                              task=args.task, zoos=(args.zoo,) if args.zoo else (), speed=args.speed)
    table = load_zoo()
    ranked = ranking_view(rank_models(table, constraints, top=args.top), constraints)
    if ranked.empty:
        raise CliError(recommend(table, constraints))
    frame = ranked.copy()
    per_s = frame.columns[7]
    frame[per_s] = frame[per_s].round(1)
    frame["pareto"] = frame["pareto"].map({True: "yes", False: ""})
    frame["tta"] = frame["tta"].map({True: "true", False: "false"})
    frame = frame.astype(str).replace("nan", "")
    if args.format == "markdown":
        return markdown_table(frame) + "\n" + recommend(table, constraints) + "\n"
    return render(frame, args.format)


def _card_command(args: argparse.Namespace) -> str:
    from explorer.zoo.card import model_card_markdown
    from explorer.zoo.table import find_model, load_configs, load_notes, load_zoo

    table = load_zoo()
    rows = find_model(table, args.model)
    return model_card_markdown(table, rows, load_configs(), load_notes())


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m explorer", description="Detectron Zoo Explorer")
    commands = parser.add_subparsers(dest="command", required=True)

    zoo = commands.add_parser("zoo", help="print the merged zoo table with derived columns")
    zoo.add_argument("--zoo", default="all", help=f"one of {', '.join(ZOOS)}, all (default: all)")
    zoo.add_argument("--format", default="csv", choices=("csv", "json", "markdown"))
    zoo.set_defaults(run=_zoo_command)

    rank = commands.add_parser("rank", help="rank models by accuracy per second under constraints")
    rank.add_argument("--metric", default="box_ap", help=f"one of {', '.join(METRIC_TASK)} (default: box_ap)")
    rank.add_argument("--max-infer-s", type=float, default=None, help="latency budget, seconds per image")
    rank.add_argument("--min-metric", type=float, default=None, help="minimum value of the metric")
    rank.add_argument("--task", default=None, help=f"models that output this: {', '.join(TASKS)}")
    rank.add_argument("--zoo", default=None, help=f"only this zoo: {', '.join(ZOOS)}")
    rank.add_argument("--speed", default="infer_s",
                      help="infer_s (published GPU + CPU, default), infer_s_gpu, or infer_s_e2e (adds proposal time)")
    rank.add_argument("--top", type=int, default=None, help="show only the best N")
    rank.add_argument("--format", default="markdown", choices=("csv", "json", "markdown"))
    rank.set_defaults(run=_rank_command)

    card = commands.add_parser("card", help="print one model's card (all fields, links, config, neighbours)")
    card.add_argument("model", help="model id, e.g. 35861858")
    card.set_defaults(run=_card_command)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    from explorer.zoo.ranking import RankingError
    from explorer.zoo.table import UnknownModelError, UnknownZooError

    try:
        output = args.run(args)
    except (CliError, RankingError, UnknownModelError, UnknownZooError, FileNotFoundError) as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_USAGE
    sys.stdout.write(output)
    return 0
