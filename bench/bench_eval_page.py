"""The Evaluation page in a real browser with a val2017-size results file: from upload to the summary table.

Issue 20 (Speed): "The Evaluation page with a val2017-size results file: from upload to the summary table in a
real browser, measured, and recorded."

What runs: the real app (`streamlit run app.py` on a free local port, caches in a temporary folder) and the
system Chromium driven by Playwright, as tests/browser does. The set is bench_tide's (tests/coco_factory
.bench_dataset: 5,000 images, ~36,500 objects, 100 detections per image with a box and an RLE mask, a ~160 MB
results file), written once (--data DIR keeps it for the next run). Each round opens a fresh browser context (a
new session; the server's caches are cleared between rounds by restarting it, so every round computes), then:

1. sets the annotation file and the results file on the two upload inputs and waits until Evaluate is enabled
   (both files are in the server's upload store): "upload";
2. presses Evaluate and waits until pycocotools' summary lines are shown: "evaluate to summary" ("of which
   evaluate()": the evaluation's own time, from the caption above the summary; the rest is the page: caches,
   the progress bar, sending the elements);
3. waits until the TIDE section (computed after the summary, on the same page) is shown, then until the script
   has stopped running: "summary to TIDE", "to idle".

    python bench/bench_eval_page.py [--images 5000] [--iou-type bbox] [--rounds 1] [--data DIR] [--before DIR]

Needs Chromium (`apt-get install chromium`) and playwright (requirements-dev.txt).
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]

from bench_tide import write_set  # noqa: E402

from tests.browser.conftest import CHROMIUM_ARGS, VIEWPORT, chromium_executable, free_port  # noqa: E402

UPLOAD_INPUT = '[data-testid="stFileUploaderDropzoneInput"]'
WAIT_MS = 900_000  # a val2017-size evaluation on 2 busy cores can take minutes


def start_server(folder: Path, code: Path) -> tuple[subprocess.Popen[bytes], str]:
    """`streamlit run app.py` of the checkout `code` on a free port."""
    port = free_port()
    env = {**os.environ, "EXPLORER_CACHE": str(folder / "explorer"), "TORCH_HOME": str(folder / "torch"),
           "PYTHONPATH": str(code)}
    log = (folder / f"streamlit-{port}.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless=true", f"--server.port={port}",
         "--server.address=127.0.0.1", "--browser.gatherUsageStats=false", "--server.fileWatcherType=none"],
        cwd=code, env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{base}/_stcore/health", timeout=2) as response:
                if response.read().decode().strip() == "ok":
                    return process, base
        except OSError:
            time.sleep(0.25)
    process.kill()
    raise SystemExit(f"streamlit did not start; see {log.name}")


def stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def one_round(browser: Any, base: str, gt_path: Path, dt_path: Path, iou_type: str) -> dict[str, float]:
    from playwright.sync_api import expect

    context = browser.new_context(viewport=VIEWPORT)
    page = context.new_page()
    page.set_default_timeout(WAIT_MS)
    try:
        page.goto(f"{base}/evaluation")
        inputs = page.locator(UPLOAD_INPUT)
        expect(inputs).to_have_count(2, timeout=60_000)
        if iou_type != "bbox":
            page.get_by_text({"segm": "Masks"}.get(iou_type, iou_type), exact=True).click()
        start = time.perf_counter()
        inputs.nth(0).set_input_files(str(gt_path))
        inputs.nth(1).set_input_files(str(dt_path))
        evaluate = page.get_by_role("button", name="Evaluate", exact=True)
        expect(evaluate).to_be_enabled(timeout=WAIT_MS)
        uploaded = time.perf_counter()
        evaluate.click()
        expect(page.locator('[data-testid="stCode"]').filter(has_text="Average Precision").first).to_be_visible(
            timeout=WAIT_MS)
        summary = time.perf_counter()
        caption = page.locator('[data-testid="stCaptionContainer"]').filter(has_text=" detections · ").first
        caption = caption.inner_text()
        found = re.search(r", ([\d.]+) s\s*$", caption)
        evaluation_s = float(found.group(1)) if found else float("nan")  # evaluate()'s own stage timings
        tide_csv = page.locator('[data-testid="stDownloadButton"]').filter(has_text="TIDE CSV")
        expect(tide_csv).to_be_visible(timeout=WAIT_MS)  # shown once the dAPs are computed
        tide = time.perf_counter()
        expect(page.locator('[data-test-script-state="notRunning"]')).to_have_count(1, timeout=WAIT_MS)
        idle = time.perf_counter()
        errors = page.locator('[data-testid="stException"], [data-testid="stAlertContentError"]').count()
        if errors:
            raise SystemExit(f"the page shows {errors} error(s)")
        return {"upload": uploaded - start, "evaluate to summary": summary - uploaded,
                "of which evaluate()": evaluation_s, "upload to summary": summary - start,
                "summary to TIDE dAPs": tide - summary, "to idle": idle - start}
    finally:
        context.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=5000)
    parser.add_argument("--dets", type=int, default=100)
    parser.add_argument("--iou-type", default="bbox", choices=("bbox", "segm"))
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--data", type=Path, help="folder to keep (and reuse) the generated JSON files in")
    parser.add_argument("--before", type=Path, help="a checkout of the code before a change (e.g. `git archive "
                        "<commit> | tar -x -C DIR`): its server and ours alternate, round by round")
    args = parser.parse_args()
    chromium = chromium_executable()
    if chromium is None:
        sys.exit("system Chromium not found (apt-get install -y chromium)")
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as scratch:
        gt_path, dt_path = write_set(args.data or Path(scratch) / "set", args.images, args.dets)
        print(f"{args.images} images, {args.dets} detections per image, {args.iou_type}; results file "
              f"{dt_path.stat().st_size / 1024**2:.0f} MB, annotations {gt_path.stat().st_size / 1024**2:.0f} MB")
        codes = {"this checkout": ROOT, **({"before": args.before} if args.before else {})}
        rows: dict[str, list[dict[str, float]]] = {name: [] for name in codes}
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=str(chromium), args=CHROMIUM_ARGS)
            for round_ in range(args.rounds):
                for name, code in (list(codes.items()) if round_ % 2 == 0 else list(codes.items())[::-1]):
                    process, base = start_server(Path(scratch), code)
                    try:
                        rows[name].append(one_round(browser, base, gt_path, dt_path, args.iou_type))
                    finally:
                        stop(process)
                    print(f"{name}: " + "  ".join(f"{k} {v:.1f} s" for k, v in rows[name][-1].items()), flush=True)
            browser.close()
        print(f"\n{'step':<22} " + " ".join(f"{name + ' s':>16}" for name in codes) + "  (median of rounds)")
        for key in rows["this checkout"][0]:
            print(f"{key:<22} " + " ".join(f"{statistics.median(row[key] for row in rows[name]):>16.1f}"
                                           for name in codes))


if __name__ == "__main__":
    main()
