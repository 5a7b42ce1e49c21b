"""The confusion matrix on a val2017-size results file: the dict-per-detection implementation of a git revision
(the baseline) against ours, in one run, with the same numbers checked.

Ours reads the file once as typed columns and computes each image's IoUs once (`confusion_overlaps`), so a
slider move only re-matches (`ConfusionOverlaps.matrix`); the baseline re-reads and recomputes everything for
every (iou, score). Reported: first matrix (what the page shows after the upload) and each further slider
position, seconds, best of `--repeat`.

    PYTHONPATH=$PWD python bench/bench_confusion.py GT.json RESULTS.json [--iou-type bbox] [--baseline REV]
                                                    [--repeat 1]

A val2017-size set: `python bench/bench_eval_scale.py --images 5000 --keep DIR` leaves DIR/set-5000/{gt,results}.json.
"""

from __future__ import annotations

import argparse
import importlib.util
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

POSITIONS = [(0.5, 0.5), (0.5, 0.3), (0.75, 0.3), (0.5, 0.7)]


def baseline_module(rev: str) -> Any:
    """explorer.evaluation.analyses.confusion as it was at `rev`, imported under another name."""
    source = subprocess.run(["git", "show", f"{rev}:explorer/evaluation/analyses/confusion.py"], cwd=ROOT,
                            check=True, capture_output=True, text=True).stdout
    path = Path(tempfile.mkdtemp()) / "confusion_baseline.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location("confusion_baseline", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def same(a: Any, b: Any) -> bool:
    """Same counts and the same entries (NaNs equal)."""
    if not np.array_equal(a.counts, b.counts) or len(a.entries) != len(b.entries):
        return False
    for column in a.entries.columns:
        x, y = a.entries[column].tolist(), b.entries[column].tolist()
        if any(not (u == v or (isinstance(u, float) and isinstance(v, float) and u != u and v != v))
               for u, v in zip(x, y, strict=True)):
            return False
    return True


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("ground_truth", type=Path)
    parser.add_argument("results", type=Path)
    parser.add_argument("--iou-type", default="bbox", choices=("bbox", "segm"))
    parser.add_argument("--baseline", default="bf0224b", help="git revision of the baseline implementation")
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args()
    from explorer.evaluation.analyses.confusion import confusion_overlaps
    from explorer.evaluation.inputs.ground_truth import load_ground_truth

    old = baseline_module(args.baseline)
    gt = load_ground_truth(args.ground_truth)  # shared by both: the ground truth is read once on the page too
    rows = []
    for _ in range(args.repeat):
        times: dict[str, list[float]] = {"baseline": [], "ours": []}
        ours = []
        start = time.perf_counter()
        overlaps = confusion_overlaps(gt, args.results, args.iou_type)
        for iou, score in POSITIONS:
            ours.append(overlaps.matrix(iou, score))
            times["ours"].append(time.perf_counter() - start)
            start = time.perf_counter()
        for (iou, score), mine in zip(POSITIONS, ours, strict=True):
            start = time.perf_counter()
            theirs = old.confusion_matrix(gt, args.results, args.iou_type, iou=iou, score=score)
            times["baseline"].append(time.perf_counter() - start)
            if not same(theirs, mine):
                raise SystemExit(f"different matrices at iou {iou}, score {score}")
        rows.append(times)
    best = {name: np.min([r[name] for r in rows], axis=0) for name in ("baseline", "ours")}
    print(f"confusion matrix, {args.iou_type}, {args.results.name}: seconds (best of {args.repeat}); same numbers")
    print(f"{'iou, score':>12} {'baseline':>9} {'ours':>7} {'speed-up':>9}")
    for k, (iou, score) in enumerate(POSITIONS):
        what = "first" if k == 0 else "slider"
        print(f"{iou:.2f}, {score:.2f} {best['baseline'][k]:9.2f} {best['ours'][k]:7.2f} "
              f"{best['baseline'][k] / best['ours'][k]:8.1f}x  ({what})")


if __name__ == "__main__":
    main()
