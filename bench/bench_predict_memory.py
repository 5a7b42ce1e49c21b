"""Benchmark `explorer predict`'s peak memory against the folder's size: it must stay flat from 50 to 500 images.

Each run is a fresh subprocess that calls `predict_files` (what `explorer predict` runs); its peak resident
set size is read from the kernel with `os.wait4` (`ru_maxrss`), so the figure includes every buffer. The
baseline, run in the same session on the same images, is the decode-everything-first loop `predict_files`
had before it streamed (reproduced below in `decode_all_first`): its peak grows by one decoded image per input.

`--model stub` (the default) runs a stand-in that finds nothing: decoding, drawing and writing are what is
measured, and a real model only adds a constant (torch and its weights). On the shared 2-core machine
SSDLite with random weights took about 3 s per image, too slow for 1,100 images; `--model ssdlite` runs it
(random weights, 0.5 score threshold inside the model so random scores do not flood NMS) where there is time.

Run: .venv/bin/python bench/bench_predict_memory.py [--counts 50 500] [--size 480x360] [--repeats 1] [--model stub]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # run from a checkout without installing

MODEL = "SSDLite320_MobileNet_V3_Large_Weights.COCO_V1"
BATCH = 4


def write_images(folder: Path, count: int, width: int, height: int) -> None:
    """Smooth random pictures (cheap to encode and decode), saved as JPEG."""
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for index in range(count):
        coarse = rng.integers(0, 256, (height // 16 + 1, width // 16 + 1, 3), dtype=np.uint8)
        picture = Image.fromarray(coarse).resize((width, height), Image.Resampling.BILINEAR)
        picture.save(folder / f"{index:05d}.jpg", quality=90)


class FindsNothing:
    """A runner that returns no detections: what remains is predict_files' own decoding, drawing and writing."""

    def predict(self, images, autocast=None):
        from explorer.detections import Detections

        return [Detections(width=image.shape[1], height=image.shape[0], boxes=np.zeros((0, 4), np.float32),
                           scores=np.zeros(0, np.float32), labels=np.zeros(0, np.int64), names=[]) for image in images]


def small_runner():
    if os.environ.get("BENCH_MODEL", "stub") == "stub":
        return FindsNothing()
    from explorer.engine.runners import RANDOM_WEIGHTS, load_runner
    from explorer.models.catalog import resolve_spec
    from explorer.zoo.table import load_zoo

    return load_runner(resolve_spec(load_zoo(), MODEL).with_test(score_thresh=0.5), "cpu", RANDOM_WEIGHTS)


def streamed(images: Path, out: Path) -> None:
    """Today's `predict_files`: decode one batch, run it, write it, next batch."""
    from explorer.engine.predict import image_inputs, predict_files

    predict_files(small_runner(), image_inputs([images]), out, batch_size=BATCH)


def decode_all_first(images: Path, out: Path) -> None:
    """The old `predict_files`: decode every image, then run them all, then draw and write (the baseline)."""
    import json

    from explorer.drawing.detections import RenderOptions, draw_detections, encode_png
    from explorer.engine.predict import image_paths
    from explorer.engine.runners import predict_images
    from explorer.inputs.images import load_image_file

    runner = small_runner()
    loaded = [load_image_file(path) for path in image_paths([images])]
    found = [d.filter(0.05) for d in predict_images(runner, [image.rgb for image in loaded], batch_size=BATCH)]
    (out / "annotated").mkdir(parents=True, exist_ok=True)
    results = []
    for index, (image, detections) in enumerate(zip(loaded, found, strict=True), start=1):
        (out / "annotated" / f"{image.name}.png").write_bytes(
            encode_png(draw_detections(image.rgb, detections, RenderOptions(score_thresh=0.5))))
        results.extend(detections.to_coco_results(index))
    (out / "results.json").write_text(json.dumps(results))


def peak_rss_mb(command: list[str]) -> float:
    """Run `command` to completion and return its peak resident set size in MB (Linux reports kB)."""
    process = subprocess.Popen(command, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    error = process.stderr.read().decode() if process.stderr else ""
    if process.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed ({process.returncode}):\n{error[-2000:]}")
    return usage.ru_maxrss / 1024


MODES = {"streamed (predict_files today)": streamed, "baseline: decode all first": decode_all_first}


def command(mode: str, images: Path, out: Path) -> list[str]:
    return [sys.executable, str(Path(__file__).resolve()), "--child", str(list(MODES).index(mode)), str(images),
            str(out)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--counts", type=int, nargs="+", default=[50, 500])
    parser.add_argument("--size", default="480x360", help="WIDTHxHEIGHT of the images")
    parser.add_argument("--model", choices=("stub", "ssdlite"), default="stub", help="what runs (see above)")
    parser.add_argument("--repeats", type=int, default=1, help="runs per cell (the median is shown)")
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        mode, images, out = args.child
        list(MODES.values())[int(mode)](Path(images), Path(out))
        return
    os.environ["BENCH_MODEL"] = args.model  # the children read it
    width, height = (int(part) for part in args.size.lower().split("x"))
    modes = list(MODES)
    peaks: dict[tuple[str, int], list[float]] = {}
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch)
        for count in args.counts:
            write_images(root / f"images{count}", count, width, height)
        for repeat in range(args.repeats):
            for count in args.counts:
                for mode in modes:  # alternate, so a busy moment on a shared machine hits both
                    out = root / f"out-{count}-{modes.index(mode)}-{repeat}"
                    peaks.setdefault((mode, count), []).append(peak_rss_mb(command(mode, root / f"images{count}",
                                                                                    out)))
    first, last = args.counts[0], args.counts[-1]
    decoded_mb = width * height * 3 / 1e6
    model = "a model that finds nothing" if args.model == "stub" else "SSDLite320 random weights, CPU"
    print(f"peak RSS (MB) of one process running `predict_files`, {model}, batch {BATCH}, "
          f"{width}x{height} JPEGs "
          f"({decoded_mb:.2f} MB each decoded), median of {args.repeats}")
    print("| mode | " + " | ".join(f"{count} images" for count in args.counts) + f" | {last} vs {first} |")
    print("|---|" + "---|" * (len(args.counts) + 1))
    for mode in modes:
        medians = [statistics.median(peaks[(mode, count)]) for count in args.counts]
        print(f"| {mode} | " + " | ".join(f"{m:.0f}" for m in medians) + f" | {medians[-1] - medians[0]:+.0f} MB "
              f"({medians[-1] / medians[0]:.2f}x) |")


if __name__ == "__main__":
    main()
