"""Loading and checking a ground-truth file for masks: the column path against the item-by-item path, side by side.

Issue 20 (TIDE on masks at 10x tidecv): every TIDE or evaluate call on a file path reads the JSON, checks every
image, annotation and polygon, and normalises the annotations before any evaluation starts. This times
`load_ground_truth(path).prepare("segm")` (CPU seconds of this process) two ways, alternating in one process:

- columns: as the library runs it (msgspec parse, whole-column checks, annotations normalised in place);
- items: the path before it (json.loads, each entry checked one by one, annotations copied), which the library
  still takes when a column check fails, to name the first bad entry.

    python bench/bench_ground_truth.py [--gt /work/tide_data/gt.json] [--rounds 4]

--gt defaults to bench_tide's generated val2017-size set (`bench/bench_tide.py --data /work/tide_data`).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import statistics
import sys
import time
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


@contextlib.contextmanager
def item_by_item() -> Iterator[None]:
    """The library with its column paths switched off: json.loads, the per-entry checks, copied annotations."""
    from explorer.evaluation.inputs import ground_truth, loading

    saved = (loading.msgspec.json.decode, ground_truth.images_pass, ground_truth.annotations_pass,
             ground_truth.GroundTruth._masks_pass, ground_truth.check_ground_truth)
    copying = ground_truth.check_ground_truth

    def refuse(data: bytes) -> None:
        raise ValueError("switched off")

    loading.msgspec.json.decode = refuse
    ground_truth.images_pass = ground_truth.annotations_pass = lambda *args: False
    ground_truth.GroundTruth._masks_pass = lambda self: False
    ground_truth.check_ground_truth = lambda data, what="ground truth", owned=False: copying(data, what)
    try:
        yield
    finally:
        (loading.msgspec.json.decode, ground_truth.images_pass, ground_truth.annotations_pass,
         ground_truth.GroundTruth._masks_pass, ground_truth.check_ground_truth) = saved


def timed(path: Path) -> tuple[float, int]:
    from explorer.evaluation.inputs.ground_truth import load_ground_truth

    start = time.process_time()
    gt = load_ground_truth(path)
    gt.prepare("segm")
    return time.process_time() - start, len(gt.annotations)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gt", type=Path, default=Path("/work/tide_data/gt.json"))
    parser.add_argument("--rounds", type=int, default=4)
    args = parser.parse_args()
    if not args.gt.exists():
        sys.exit(f"{args.gt} not found: make it with `python bench/bench_tide.py --data {args.gt.parent}`")
    json.loads(args.gt.read_bytes())  # page the file in before either variant is timed
    runs: dict[str, list[float]] = {"columns": [], "items": []}
    for _ in range(args.rounds):
        for name in ("columns", "items", "items", "columns"):  # both orders each round
            with item_by_item() if name == "items" else contextlib.nullcontext():
                seconds, n = timed(args.gt)
            runs[name].append(seconds)
    columns, items = (statistics.median(runs[k]) for k in ("columns", "items"))
    print(f"{args.gt} ({n} annotations): load_ground_truth + prepare('segm'), CPU seconds, median of "
          f"{2 * args.rounds} runs each")
    print(f"{'columns s':>10} {'items s':>8} {'items / columns':>16}")
    print(f"{columns:10.3f} {items:8.3f} {items / columns:15.2f}x")


if __name__ == "__main__":
    main()
