"""Dashboard speed: cold AppTest run of the speed-vs-accuracy page, and a widget-change rerun.

Targets (issue 2), on the 2-core development machine: cold run <= 1.5 s, widget-change rerun <= 150 ms.
"Cold" means a fresh Python process: the timed run includes importing pandas and plotly through the
page, loading zoo_data/ and building the figure (streamlit itself is imported before timing, as a
running server would have it). Each cold sample is its own subprocess.

    python bench/bench_pages.py [--cold 5] [--reruns 20]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PAGE = "explorer/pages/speed_accuracy.py"

COLD = f"""
import json, time
from streamlit.testing.v1 import AppTest
started = time.perf_counter()
at = AppTest.from_file({str(REPO / "app.py")!r}, default_timeout=60)
at.switch_page({PAGE!r})
at.run()
assert not at.exception and at.get("plotly_chart"), at.exception
print(json.dumps({{"cold_s": time.perf_counter() - started}}))
"""

RERUNS = f"""
import json, time
from streamlit.testing.v1 import AppTest
at = AppTest.from_file({str(REPO / "app.py")!r}, default_timeout=60)
at.switch_page({PAGE!r})
at.run()
changes, plain = [], []
for i in range({{reruns}}):
    started = time.perf_counter()
    at.toggle(key="speed_log_x").set_value(i % 2 == 0).run()
    changes.append(time.perf_counter() - started)
    started = time.perf_counter()
    at.selectbox(key="speed_y").set_value(["box_ap", "mask_ap"][i % 2]).run()
    changes.append(time.perf_counter() - started)
    started = time.perf_counter()
    at.run()
    plain.append(time.perf_counter() - started)
    assert not at.exception
print(json.dumps({{"changes": changes, "plain": plain}}))
"""


def run_python(code: str) -> dict:
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cold", type=int, default=5, help="fresh-process cold runs")
    parser.add_argument("--reruns", type=int, default=20, help="widget changes (each is two reruns)")
    args = parser.parse_args()
    cold = [run_python(COLD)["cold_s"] for _ in range(args.cold)]
    warm = run_python(RERUNS.replace("{reruns}", str(args.reruns)))
    rows = [
        ("cold run of the speed page", statistics.median(cold), max(cold), 1.5),
        ("widget change rerun", statistics.median(warm["changes"]), max(warm["changes"]), 0.150),
        ("plain rerun (no change)", statistics.median(warm["plain"]), max(warm["plain"]), None),
    ]
    print(f"python {sys.version.split()[0]}; {args.cold} cold processes, {len(warm['changes'])} widget changes")
    print(f"{'measure':<30}{'median s':>10}{'max s':>10}{'target s':>10}  result")
    for name, median, worst, target in rows:
        verdict = "" if target is None else ("PASS" if median <= target else "FAIL")
        print(f"{name:<30}{median:>10.3f}{worst:>10.3f}{'' if target is None else f'{target:.3f}':>10}  {verdict}")


if __name__ == "__main__":
    main()
