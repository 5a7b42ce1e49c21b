"""The whole runnable zoo under each runtime: eager PyTorch fp32 vs ONNX Runtime vs OpenVINO, per row, on this CPU.

Issue 22: "Record the whole runnable zoo under each runtime (random weights, a small input)". For every row of
the Detectron, Detectron2 and torchvision zoos: eager s/im, ONNX Runtime s/im and OpenVINO s/im (with their ratio
to eager), the export seconds (ONNX export, OpenVINO's conversion and the parity check), and the parity verdict
(passed with the worst box / score difference, or the ParityError line), or the one-line reason a row cannot run
under a runtime (NotExportableError) or at all.

How it fits in minutes: random weights (seeded), a small input (160 px shorter side, a 4:3 image), the
thresholds opened as `explorer bench --random-weights` opens them (score 0, no NMS) with the detections held at
10 per image (so the mask / keypoint heads run on 10 RoIs, not 100), and two rounds timed in alternation (eager,
ORT, OV, one image each; one round where an eager image takes over 3 s) after the parity checks have run each
of them on that image. Rows whose networks are identical at test time (the same architecture, test settings and
input; they differ only in their training schedule, e.g. 1x vs 2x) are measured once, and the table lists every
row that measurement stands for. Each export's parity check (the library's, unchanged) runs on the timed image
itself: one image rather than the library's default two, which would double the check's share of the run. Each
part's ONNX graph is exported once and serves both runtimes (`explorer.runtimes.export.sharing_onnx`: keyed by
the part's weights and settings, so no wrong graph is served).

Every measured group is appended to a CSV as soon as it finishes; `--resume FILE` skips the groups that file
already holds, so a stopped run goes on where it stopped. A row that fails is recorded with its one-line error
and the run goes on. The markdown table is printed at the end, from the CSV.

    python bench/bench_runtimes_zoo.py [--only detectron|detectron2|torchvision] [--resume FILE | --csv FILE]
                                       [--size 160] [--rounds 2] [--models UID ...] [--table-only]
"""

from __future__ import annotations

import argparse
import copy
import csv
import dataclasses
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

RUNTIMES = ("onnxruntime", "openvino")
SHORT = {"onnxruntime": "ort", "openvino": "ov"}
COLUMNS = ("zoo", "uid", "name", "stands_for", "size", "detections", "rounds", "eager_s", "ort_s", "ov_s",
           "ort_export_s", "ov_export_s", "ort_parity", "ov_parity", "ort_error", "ov_error", "error")
#: Fields of a family config that only name it (the config file) and change nothing in the network.
NAME_FIELDS = ("config",)


def test_time_signature(spec: Any) -> str:
    """What decides a row's network and outputs at test time with random weights: the family, the architecture
    (its config file's name left out), the input, the test settings and the outputs. Two rows with the same
    signature run the same computation; a row whose config differs in anything else keeps its own."""
    config = spec.family_config
    if dataclasses.is_dataclass(config):
        config = {field.name: _unnamed(getattr(config, field.name)) for field in dataclasses.fields(config)}
    builder = spec.builder if spec.family == "torchvision" else ""
    return repr((spec.family, builder, spec.preprocessing, spec.test, sorted(spec.outputs), config))


def _unnamed(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        names = {field.name for field in dataclasses.fields(value)}
        return dataclasses.replace(value, **{name: "" for name in NAME_FIELDS if name in names})
    return value


@dataclasses.dataclass
class Group:
    """Rows measured once: the first one is loaded, all are listed."""

    zoo: str
    uids: list[str]
    names: list[str]
    spec: Any = None  # the first row's spec; None when the row cannot run at all
    error: str = ""


def plan(table: Any, zoos: Iterable[str], models: Iterable[str] = ()) -> list[Group]:
    """The groups to measure, in zoo order, rows of one test-time signature together."""
    from explorer.errors import ExplorerError
    from explorer.models.catalog import spec_for_uid

    wanted = set(models)
    groups: dict[str, Group] = {}
    for zoo in zoos:
        for row in table[table["zoo"] == zoo].to_dict("records"):
            if wanted and row["uid"] not in wanted and str(row["model_id"]) not in wanted:
                continue
            try:
                spec = spec_for_uid(table, row["uid"])
            except ExplorerError as error:
                groups[row["uid"]] = Group(zoo, [row["uid"]], [str(row["name"])], error=one_line(error))
                continue
            key = f"{zoo}|{test_time_signature(spec)}"
            if key in groups:
                groups[key].uids.append(spec.uid)
                groups[key].names.append(spec.name)
            else:
                groups[key] = Group(zoo, [spec.uid], [spec.name], spec)
    return list(groups.values())


def one_line(error: BaseException) -> str:
    text = (str(error).strip().splitlines() or [""])[0] or type(error).__name__
    return text if isinstance(error, Exception) and type(error).__module__.startswith("explorer") else \
        f"{type(error).__name__}: {text}"


def measure(group: Group, size: int, detections: int, rounds: int, log: Callable[[str], None]) -> dict[str, Any]:
    """One CSV row for the group: times, export seconds, parity or the error of each runtime. Exports go to a
    fresh folder (each export time is a real one), removed afterwards (a hundred models' exports fill a disk)."""
    with tempfile.TemporaryDirectory(prefix="runtimes_zoo_") as root:
        return _measure(group, size, detections, rounds, Path(root), log)


def _measure(group: Group, size: int, detections: int, rounds: int, root: Path,
             log: Callable[[str], None]) -> dict[str, Any]:
    row: dict[str, Any] = {"zoo": group.zoo, "uid": group.uids[0], "name": group.names[0],
                           "stands_for": "; ".join(group.names[1:]), "size": size, "detections": detections,
                           "rounds": rounds}
    if group.spec is None:
        return {**row, "error": group.error}
    import numpy as np
    import torch

    from explorer.benchmarks.many import hold_max_detections
    from explorer.engine.runners import RANDOM_WEIGHTS, load_runner
    from explorer.runtimes.export import export_runner, sharing_onnx

    spec = hold_max_detections(group.spec.with_sizes(size, size * 2)).with_test(detections_per_image=detections)
    image = np.random.default_rng(0).integers(0, 256, (size, size * 4 // 3, 3), dtype=np.uint8)
    try:
        torch.manual_seed(0)
        runners: dict[str, Any] = {"torch": load_runner(spec, "cpu", RANDOM_WEIGHTS)}
    except Exception as error:  # a row that cannot even load is recorded, and the run goes on
        return {**row, "error": one_line(error)}
    with sharing_onnx():
        for runtime in RUNTIMES:
            started = time.perf_counter()
            try:
                runner = export_runner(copy.deepcopy(runners["torch"]), runtime, root=root, images=[image])
            except Exception as error:  # NotExportableError / ParityError / anything: its line, then go on
                row[f"{SHORT[runtime]}_error"] = one_line(error)
                log(f"  {runtime}: {row[f'{SHORT[runtime]}_error']}")
                continue
            row[f"{SHORT[runtime]}_export_s"] = f"{time.perf_counter() - started:.1f}"
            worst = runner.info.parity.worst
            row[f"{SHORT[runtime]}_parity"] = f"passed: {worst['box_px']:.2g} px, {worst['score']:.2g}"
            runners[runtime] = runner
    try:
        times = _time(runners, image, rounds)
    except Exception as error:
        return {**row, "error": f"timing: {one_line(error)}"}
    for name, seconds in times.items():
        row["eager_s" if name == "torch" else f"{SHORT[name]}_s"] = f"{seconds:.4f}"
    return row


#: An eager image slower than this is timed in one round only (the C4 rows: res5 on 1,000 RoIs, several seconds
#: an image at any input size): run-to-run noise is small against such a time, and a second round of the three
#: setups would cost the whole zoo run minutes.
ONE_ROUND_S = 3.0


def _time(runners: dict[str, Any], image: Any, rounds: int) -> dict[str, float]:
    """Median seconds per image of each runner, `rounds` rounds in alternation (one when eager's first image took
    over ONE_ROUND_S). No separate warm-up: each export's parity check has just run eager PyTorch (a copy of the
    same network: oneDNN's kernels for these shapes are built) and the runtime on this very image."""
    times: dict[str, list[float]] = {name: [] for name in runners}
    for done in range(rounds):
        if done and times["torch"][0] > ONE_ROUND_S:
            break
        for name, runner in runners.items():
            started = time.perf_counter()
            runner.predict([image])
            times[name].append(time.perf_counter() - started)
    return {name: statistics.median(values) for name, values in times.items()}


def read_rows(path: Path) -> list[dict[str, str]]:
    if not path.exists():
        return []
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


def append_row(path: Path, row: dict[str, Any]) -> None:
    """Append one finished group (the header first when the file is new), flushed, so a stop loses nothing."""
    path.parent.mkdir(parents=True, exist_ok=True)
    new = not path.exists() or path.stat().st_size == 0
    with path.open("a", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=COLUMNS)
        if new:
            writer.writeheader()
        writer.writerow({column: row.get(column, "") for column in COLUMNS})


def markdown(rows: list[dict[str, str]]) -> str:
    """The table: one line per measured group, every row it stands for named."""
    lines = ["| zoo | model (and the rows the same measurement stands for) | eager s/im | ONNX Runtime s/im (× eager) "
             "| OpenVINO s/im (× eager) | export s (ORT / OV) | parity ORT | parity OV |",
             "|---|---|---|---|---|---|---|---|"]
    for row in rows:
        name = row["name"] + (f" (also: {row['stands_for']})" if row["stands_for"] else "")
        if row["error"]:
            lines.append(f"| {row['zoo']} | {name} | not run: {_cell(row['error'])} | | | | | |")
            continue
        cells = [_ratio(row, runtime) for runtime in RUNTIMES]
        exports = " / ".join(row[f"{SHORT[r]}_export_s"] or "—" for r in RUNTIMES)
        parity = [_cell(row[f"{SHORT[r]}_parity"] or row[f"{SHORT[r]}_error"]) for r in RUNTIMES]
        lines.append(f"| {row['zoo']} | {name} | {_seconds(row['eager_s'])} | {cells[0]} | {cells[1]} | {exports} | "
                     f"{parity[0]} | {parity[1]} |")
    return "\n".join(lines)


def summary(rows: list[dict[str, str]]) -> str:
    """Counts: rows covered, groups measured, and per runtime how many passed parity and how fast they ran."""
    covered = sum(1 + bool(row["stands_for"]) * len(row["stands_for"].split("; ")) for row in rows)
    parts = [f"{covered} zoo rows in {len(rows)} measurements"]
    for runtime in RUNTIMES:
        ratios = [float(row["eager_s"]) / float(row[f"{SHORT[runtime]}_s"]) for row in rows
                  if row["eager_s"] and row[f"{SHORT[runtime]}_s"]]
        failed = sum(bool(row[f"{SHORT[runtime]}_error"]) for row in rows)
        median = f", median {statistics.median(ratios):.2f}× eager" if ratios else ""
        parts.append(f"{runtime}: {len(ratios)} passed parity and timed{median}, {failed} not usable")
    return "; ".join(parts)


def _ratio(row: dict[str, str], runtime: str) -> str:
    value = row[f"{SHORT[runtime]}_s"]
    if not value:
        return "—"
    return f"{float(value):.3f} ({float(row['eager_s']) / float(value):.2f}×)"


def _seconds(value: str) -> str:
    return f"{float(value):.3f}" if value else "—"


def _cell(text: str) -> str:
    return text.replace("|", "/").replace("\n", " ")[:160]


def main(argv: list[str] | None = None) -> None:
    from explorer.zoo.schema import ZOOS

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=ZOOS, help="one zoo (default: all three)")
    parser.add_argument("--models", nargs="+", default=[], help="only these uids / model ids")
    parser.add_argument("--resume", type=Path, help="a CSV of an earlier run: skip what it holds, append to it")
    parser.add_argument("--csv", type=Path, help="where to write (default: a new file under bench/results/)")
    parser.add_argument("--size", type=int, default=160, help="min_size (shorter side); the image is 4:3")
    parser.add_argument("--detections", type=int, default=10,
                        help="detections per image, held there by opened thresholds (the mask / keypoint heads run "
                             "on this many RoIs)")
    parser.add_argument("--rounds", type=int, default=2, help="timed rounds (the parity checks warmed each setup up)")
    parser.add_argument("--table-only", action="store_true", help="print the table of --resume FILE and stop")
    args = parser.parse_args(argv)

    path = args.resume or args.csv or Path(tempfile.gettempdir()) / f"runtimes_zoo_{time.strftime('%Y%m%d_%H%M%S')}.csv"
    if not args.table_only:
        run(path, [args.only] if args.only else list(ZOOS), args.models, args.size, args.detections, args.rounds)
    rows = read_rows(path)
    print(markdown(rows))
    print(f"\n{summary(rows)}; CSV: {path}")


def run(path: Path, zoos: list[str], models: list[str], size: int, detections: int, rounds: int) -> None:
    import torch

    from explorer.zoo.table import load_zoo

    done = {row["uid"] for row in read_rows(path)}
    groups = [group for group in plan(load_zoo(), zoos, models) if group.uids[0] not in done]
    print(f"{len(groups)} measurements to take ({len(done)} already in {path}); torch threads "
          f"{torch.get_num_threads()}, input {size * 4 // 3}x{size}, {rounds} rounds", flush=True)
    started = time.perf_counter()
    for index, group in enumerate(groups, 1):
        began, cpu = time.perf_counter(), time.process_time()
        row = measure(group, size, detections, rounds, lambda line: print(line, flush=True))
        append_row(path, row)
        print(f"[{index}/{len(groups)}] {group.uids[0]} ({len(group.uids)} row(s)) in "
              f"{time.perf_counter() - began:.0f} s ({time.process_time() - cpu:.0f} s CPU), "
              f"{time.perf_counter() - started:.0f} s so far, about "
              f"{(time.perf_counter() - started) / index * len(groups) / 60:.0f} min for all"
              f"{': ' + row['error'] if row.get('error') else ''}", flush=True)


if __name__ == "__main__":
    main()
