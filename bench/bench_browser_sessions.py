"""Six real browser sessions press Run on the Detections page: a lone run vs six one after another vs six at once.

What a user sees, not what the queue sees (bench_queue.py measures the queue alone): the real
`streamlit run app.py`, headless Chromium (Debian's, as in tests/browser), one browser context per session
(its own cookies and Streamlit session), each with one small image uploaded, the same model with random
weights at the same input size. A run's time is from the click on Run to the annotated image and the
"done in" status shown in that page (the page notes the moment itself, so polling from here costs nothing).

The browsers (and this script, which drives them) run at the lowest CPU priority (`nice 19`) so that their
rendering yields to the server, as the issue's measurement did; the server runs at normal priority.

Targets (issue 21): all six at once within 1.1x the six one after another, and the first of the six within
1.5x a lone run (a lone run: one session's run while no other runs, i.e. each of the one-after-another runs;
six samples a round, steadier on a shared machine than one). Each round measures both ways next to each
other, in a rotating order; the medians of each round's own ratios are printed. With --baseline-repo (a
checkout of the code before, e.g. `git archive`d) and/or --baseline (Streamlit flags), a second server is
measured in the same rounds.

    python bench/bench_browser_sessions.py [--rounds 3] [--sessions 6] [--size 320]
        [--model torchvision:FasterRCNN_MobileNet_V3_Large_320_FPN_Weights.COCO_V1]
        [--baseline-repo DIR] [--baseline "--runner.postScriptGC=true"] [--baseline-env OMP_WAIT_POLICY=ACTIVE]
        [--profile OUT.txt|OUT.svg [--profile-gil]] (py-spy on the server during the first concurrent runs)
        [--cpu] (CPU time per run of the server, the browsers and the driver, from /proc)
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = next((p for p in (Path("/usr/lib/chromium/chromium"), Path("/usr/bin/chromium")) if p.exists()), None)
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
UPLOAD_INPUT = '[data-testid="stFileUploaderDropzoneInput"]'
IDLE_APP = '[data-testid="stApp"][data-test-script-state="notRunning"]'
TIMEOUT_MS = 600_000
#: Run in the page when Run is clicked: notes (Date.now()) when the annotated image and "done in" are shown
#: again (a session's earlier result stays on screen until the new run's status box replaces it). A
#: MutationObserver looks at each DOM commit as it happens, reading textContent (no layout): a 20 ms poll of
#: innerText in six pages at once made the starved (nice 19) renderers force six layouts every 20 ms, work a
#: user's browser does not do, and could miss the short "queued"/"running" state between two results. If the
#: frontend still commits the new result without ever drawing that state, the page is idle again with no
#: replacement seen: __missed says so within seconds instead of the wait running into the timeout, and the
#: round is measured again.
WATCH_DONE_JS = """() => {
  window.__doneAt = null;
  window.__resultMessageAt = null;
  window.__missed = false;
  const clicked = Date.now();
  const pattern = /: done in [0-9.]+ s on /;
  let replaced = false;
  let idleSince = null;
  const check = () => {
    if (!pattern.test(document.body.textContent)) { replaced = true; return; }
    if (replaced && document.querySelector('[data-testid="stImage"] img')) {
      window.__doneAt = Date.now();
      stop();
    }
  };
  const observer = new MutationObserver(check);
  observer.observe(document.body, {childList: true, subtree: true, characterData: true});
  const timer = setInterval(() => {
    const idle = document.querySelector('[data-testid="stApp"][data-test-script-state="notRunning"]');
    idleSince = idle && !replaced ? (idleSince ?? Date.now()) : null;
    if (idleSince !== null && Date.now() - idleSince > 3000 && Date.now() - clicked > 3000) {
      window.__missed = true;
      stop();
    }
  }, 250);
  function stop() { clearInterval(timer); observer.disconnect(); }
}"""


#: Installed in every page before the app loads: notes (Date.now()) when the websocket message that carries the
#: new result's "done in" status arrives, before the frontend has drawn it. A result's time then splits into
#: the server's part with the transport (click to that message) and the browser's drawing (message to the DOM
#: commit the watcher sees). Only messages that arrive while a watcher waits for them are read.
RESULT_MESSAGE_JS = """(() => {
  const Socket = window.WebSocket;
  const text = new TextDecoder('latin1');
  window.__resultMessageAt = undefined;
  window.WebSocket = function (...args) {
    const socket = new Socket(...args);
    socket.addEventListener('message', (event) => {
      if (window.__resultMessageAt === null && event.data instanceof ArrayBuffer
          && text.decode(event.data).includes(': done in ')) {
        window.__resultMessageAt = Date.now();
      }
    });
    return socket;
  };
  window.WebSocket.prototype = Socket.prototype;
  Object.assign(window.WebSocket, Socket);
})();"""


class MissedRun(RuntimeError):
    """A page finished its run without the watcher seeing the old result replaced: that run is not timed."""


#: (seconds of each run, or of the first and last result; the total; each page's seconds on the device, from its
#: "done in" status, page order; for each run, or the first result, (click to the result's message, message to
#: the result drawn) in seconds)
Timing = tuple[list[float], float, list[float], list[tuple[float, float]]]
DEVICE_JS = r"""() => {
  const found = document.body.innerText.match(/: done in ([0-9.]+) s on /);
  return found ? parseFloat(found[1]) : NaN;
}"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_server(root: Path, repo: Path, flags: list[str],
                 extra_env: dict[str, str] | None = None) -> tuple[subprocess.Popen[bytes], str]:
    """The app of the checkout `repo` as a user runs it (normal priority, its .streamlit/config.toml), caches in
    `root`, with extra Streamlit `flags` and environment variables; returns once /_stcore/health says ok."""
    root.mkdir(parents=True, exist_ok=True)
    port = free_port()
    env = {**os.environ, "EXPLORER_CACHE": str(root / "explorer"), "TORCH_HOME": str(root / "torch"),
           "PYTHONPATH": str(repo), **(extra_env or {})}
    log = (root / "streamlit.log").open("wb")
    process = subprocess.Popen([sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless=true",
                                f"--server.port={port}", "--server.address=127.0.0.1",
                                "--browser.gatherUsageStats=false", "--server.fileWatcherType=none", *flags],
                               cwd=repo, env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{base}/_stcore/health", timeout=2) as response:
                if response.read().decode().strip() == "ok":
                    return process, base
        except OSError:
            time.sleep(0.25)
    process.kill()
    raise SystemExit(f"server not healthy:\n{(root / 'streamlit.log').read_text()[-3000:]}")


def small_png(path: Path, index: int, size: int) -> Path:
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(index)
    Image.fromarray(rng.integers(0, 256, (size * 3 // 4, size, 3), dtype=np.uint8)).save(path)
    return path


def prepare(browser: Any, base: str, image: Path, model_uid: str, size: int) -> Any:
    """A new session on Detections: the image uploaded, the model picked by its link, random weights, the size.

    Returns the page with Run enabled and the script idle, so that the click starts the run at once.
    """
    import re

    from playwright.sync_api import expect

    context = browser.new_context(viewport={"width": 1280, "height": 1400})
    context.set_default_timeout(TIMEOUT_MS)
    context.add_init_script(RESULT_MESSAGE_JS)
    page = context.new_page()
    page.goto(f"{base}/detections")
    expect(page.get_by_text("Upload one or more images, pick a model, then press Run.")).to_be_visible(
        timeout=TIMEOUT_MS)
    page.locator(UPLOAD_INPUT).first.set_input_files(str(image))
    expect(page.get_by_text("Press Run to detect objects in the uploaded images.")).to_be_visible(timeout=TIMEOUT_MS)
    expect(page.locator(IDLE_APP)).to_have_count(1, timeout=TIMEOUT_MS)
    model = page.get_by_role("combobox", name="Model", exact=True)
    model.click()
    model.fill(model_uid.split(":", 1)[1].lower())  # the whole weights id: "..._FPN" alone also finds "..._FPN_V2"
    page.get_by_role("option").first.click()
    expect(page.locator(IDLE_APP)).to_have_count(1, timeout=TIMEOUT_MS)
    expander = page.locator('[data-testid="stExpander"]').filter(has_text="Run settings")
    expander.locator("summary").click()
    weights = page.locator('[data-testid="stRadioOption"]').filter(has_text=re.compile(r"^Random weights"))
    for _ in range(5):
        weights.click()
        try:
            expect(weights).to_have_attribute("data-selected", "true", timeout=20_000)
            break
        except AssertionError:
            continue
    slider = expander.get_by_role("slider", name="Input size (shorter side)")
    thumb = expander.locator('[data-testid="stSliderThumbValue"]')
    slider.press("Home")
    for _ in range(10):
        if thumb.inner_text().strip() == str(size):
            break
        slider.press("ArrowRight")
        page.wait_for_timeout(300)
    expect(thumb).to_have_text(str(size), timeout=TIMEOUT_MS)
    expect(page.locator(IDLE_APP)).to_have_count(1, timeout=TIMEOUT_MS)
    expect(page.get_by_role("button", name="Run", exact=True)).to_be_enabled(timeout=TIMEOUT_MS)
    page.wait_for_timeout(500)  # let the last widget change's rerun settle on the server too
    expect(page.locator(IDLE_APP)).to_have_count(1, timeout=TIMEOUT_MS)
    return page


def press_run(page: Any) -> float:
    """Click Run; the wall-clock time (ms since the epoch, as the page's Date.now()) of the click."""
    page.evaluate(WATCH_DONE_JS)
    clicked = time.time() * 1000
    page.get_by_role("button", name="Run", exact=True).click()
    return clicked


def done_at(page: Any) -> float:
    page.wait_for_function("() => window.__doneAt !== null || window.__missed", timeout=TIMEOUT_MS, polling=200)
    found = page.evaluate("() => window.__doneAt")
    if found is None:
        raise MissedRun("the run ended without its status box being seen to change")
    return float(found)


def split(page: Any, clicked: float, done: float) -> tuple[float, float]:
    """(click to the result's websocket message, that message to the result drawn), in seconds."""
    message = page.evaluate("() => window.__resultMessageAt")
    if message is None:
        return float("nan"), float("nan")
    return (message - clicked) / 1000, (done - message) / 1000


def one_after_another(pages: list[Any]) -> Timing:
    """Each session's run alone on the server, one after the other: (every run's own seconds, the total)."""
    runs, parts = [], []
    started = time.time() * 1000
    for page in pages:
        clicked = press_run(page)
        done = done_at(page)
        runs.append((done - clicked) / 1000)
        parts.append(split(page, clicked, done))
    return runs, (time.time() * 1000 - started) / 1000, [page.evaluate(DEVICE_JS) for page in pages], parts


def at_once(pages: list[Any]) -> Timing:
    """Run pressed in every session as fast as one driver can: ([first result, last result], the total).

    The first result is timed from the first click, as a lone run is timed from its click (not from before
    the script that watches the page is installed); the total from before the first page is touched, as
    the one-after-another total is.
    """
    started = time.time() * 1000
    clicks = [press_run(page) for page in pages]
    finished = [done_at(page) for page in pages]
    total = (max(finished) - started) / 1000
    first = finished.index(min(finished))
    return ([(finished[first] - clicks[0]) / 1000, total], total, [page.evaluate(DEVICE_JS) for page in pages],
            [split(pages[first], clicks[0], finished[first])])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="torchvision:FasterRCNN_MobileNet_V3_Large_320_FPN_Weights.COCO_V1")
    parser.add_argument("--size", type=int, default=320, help="input size (shorter side) and image width")
    parser.add_argument("--sessions", type=int, default=6)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--baseline-repo", type=Path, help="a checkout of the code before (e.g. `git archive` of "
                        "the commit before a change): a second server runs it in the same rounds")
    parser.add_argument("--baseline", default="", help="Streamlit flags of that second server (with no "
                        "--baseline-repo it runs this checkout), e.g. --runner.postScriptGC=true")
    parser.add_argument("--baseline-env", action="append", default=[], metavar="NAME=VALUE",
                        help="an environment variable of that second server only (repeatable), e.g. "
                        "OMP_WAIT_POLICY=ACTIVE or EXPLORER_TORCH_THREADS=1")
    parser.add_argument("--profile", type=Path, help="py-spy profile of the server during the first concurrent "
                        "runs: collapsed stacks (one per line, with its count), or a flame graph if it ends in .svg")
    parser.add_argument("--profile-gil", action="store_true", help="only samples where a thread holds the GIL")
    parser.add_argument("--py-spy", default=shutil.which("py-spy") or "py-spy")
    parser.add_argument("--cpu", action="store_true", help="also print the CPU time each group of processes "
                        "(the server, Chromium's renderers, its other processes, the driver) used per run, from /proc")
    args = parser.parse_args()
    if CHROMIUM is None:
        raise SystemExit("Debian chromium not found: apt-get install -y chromium")
    root = Path(tempfile.mkdtemp(prefix="bench_browser_sessions_"))
    configs = {"this app": (REPO_ROOT, [], {})}
    if args.baseline_repo or args.baseline or args.baseline_env:
        configs["before"] = ((args.baseline_repo or REPO_ROOT).resolve(), args.baseline.split(),
                             dict(pair.split("=", 1) for pair in args.baseline_env))
    servers = {name: start_server(root / f"server_{i}", repo, flags, extra_env)
               for i, (name, (repo, flags, extra_env)) in enumerate(configs.items())}
    os.nice(19)  # this script and the browsers it launches yield the CPU to the servers (started before this)
    images = [small_png(root / f"image_{i}.png", i, args.size) for i in range(args.sessions)]
    from playwright.sync_api import sync_playwright

    ways = {"one after another": one_after_another, "at once": at_once}
    results = {name: {way: [] for way in ways} for name in servers}
    server_pids = {process.pid: name for name, (process, _) in servers.items()}
    cpu: dict[tuple[str, str], Counter[str]] = defaultdict(Counter)
    attempts: Counter[tuple[str, str]] = Counter()  # CPU per run: a round measured again made its runs twice

    def attempt(sessions: list[Any], key: tuple[str, str]) -> Timing:
        attempts[key] += 1
        return ways[key[1]](sessions)
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
            pages = {name: [prepare(browser, base, image, args.model, args.size) for image in images]
                     for name, (_, base) in servers.items()}
            for name in servers:
                one_after_another(pages[name])  # warm-up: imports, the model's load, each session's first result
            for round_index in range(args.rounds):
                for name in rotated(list(servers), round_index):
                    for way in rotated(list(ways), round_index):
                        spy = None
                        if args.profile and way == "at once" and round_index == 0 and name == "this app":
                            spy = profiler(args, servers[name][0].pid)
                        before = cpu_ms_by_process(server_pids) if args.cpu else Counter()
                        results[name][way].append(measured(lambda sessions, key=(name, way): attempt(sessions, key),
                                                           pages[name]))
                        if args.cpu:
                            cpu[name, way].update(cpu_ms_by_process(server_pids) - before)
                        if spy is not None:
                            spy.send_signal(signal.SIGINT)  # py-spy writes its output on SIGINT
                            spy.wait(60)
                    (each, sequential, alone, _), ((first, _), together, shared, _) = (results[name][way][-1]
                                                                                       for way in ways)
                    print(f"round {round_index + 1} {name} (load {os.getloadavg()[0]:.1f}): one after another "
                          f"{sequential:.1f} s (each {', '.join(f'{t:.1f}' for t in each)}; on the device "
                          f"{', '.join(f'{t:.2f}' for t in alone)}), at once {together:.1f} s (first {first:.1f} s; "
                          f"on the device {', '.join(f'{t:.2f}' for t in shared)})", flush=True)
            browser.close()
    finally:
        for process, _ in servers.values():
            process.terminate()
            process.wait(30)
    print(f"{args.sessions} browser sessions, model {args.model} (random weights), input size {args.size}, "
          f"{args.rounds} rounds, load average {os.getloadavg()[0]:.1f} at the end")
    for name, (repo, flags, extra_env) in configs.items():
        setting = " ".join([*flags, *(f"{key}={value}" for key, value in extra_env.items())])
        report(f"{name} ({repo}{' ' + setting if setting else ''})", results[name])
        for way in ways if args.cpu else ():
            runs = attempts[name, way] * args.sessions
            used = ", ".join(f"{group} {ms / runs:.0f}" for group, ms in cpu[name, way].most_common())
            print(f"  CPU per run, {way} (ms): {used}")


def cpu_ms_by_process(server_pids: dict[int, str]) -> Counter[str]:
    """CPU time (user + system, ms) used so far by each group of processes: each server, Chromium's renderers,
    Chromium's other processes (browser, GPU, network), and the driver (this script and Playwright's node)."""
    tick_ms = 1000 / os.sysconf("SC_CLK_TCK")
    used: Counter[str] = Counter()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        pid = int(stat.parent.name)
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            executable = os.readlink(stat.parent / "exe")
            command = (stat.parent / "cmdline").read_bytes().replace(b"\0", b" ")
        except OSError:  # gone, or not ours to read
            continue
        if pid in server_pids:
            group = f"server ({server_pids[pid]})"
        elif pid == os.getpid() or Path(executable).name.startswith("node"):
            group = "driver"
        elif "chrom" in executable:
            group = "Chromium renderers" if b"--type=renderer" in command else "Chromium other processes"
        else:
            continue
        used[group] += (int(fields[11]) + int(fields[12])) * tick_ms
    return used


def measured(way: Any, pages: list[Any], tries: int = 3) -> Timing:
    """`way(pages)`, measured again (after every page has settled) when a run's end was not seen."""
    for attempt in range(tries):
        try:
            return way(pages)
        except MissedRun as missed:
            print(f"  (not timed: {missed}; measured again)", flush=True)
            for page in pages:
                page.wait_for_function("() => window.__doneAt !== null || window.__missed", timeout=TIMEOUT_MS,
                                       polling=200)
            if attempt == tries - 1:
                raise
    raise AssertionError("unreachable")


def rotated(items: list[str], by: int) -> list[str]:
    """`items` starting at `by`: each round measures them in another order, so drifting load hits all alike."""
    return items[by % len(items):] + items[:by % len(items)]


def profiler(args: argparse.Namespace, pid: int) -> subprocess.Popen[bytes]:
    """py-spy sampling the server (every thread, CPU time only) until it is sent SIGINT."""
    form = "flamegraph" if args.profile.suffix == ".svg" else "raw"
    command = [args.py_spy, "record", "--pid", str(pid), "--rate", "100", "--threads", "--format", form,
               "-o", str(args.profile), *(["--gil"] if args.profile_gil else [])]
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def report(title: str, results: dict[str, list[Timing]]) -> None:
    """Medians over rounds; a lone run is one session's run while no other runs (the one-after-another runs)."""
    rounds = list(zip(results["one after another"], results["at once"], strict=True))
    lone = [statistics.median(each) for (each, _, _, _), _ in rounds]
    sequential = [total for (_, total, _, _), _ in rounds]
    first = [first for _, ((first, _), _, _, _) in rounds]
    together = [total for _, (_, total, _, _) in rounds]
    device_alone = statistics.median(t for (_, _, alone, _), _ in rounds for t in alone)
    device_shared = statistics.median(t for _, (_, _, shared, _) in rounds for t in shared)
    lone_parts = [part for (_, _, _, parts), _ in rounds for part in parts]
    first_parts = [part for _, (_, _, _, parts) in rounds for part in parts]
    median = statistics.median
    print(f"\n{title}: medians over {len(rounds)} rounds")
    print(f"  lone run {median(lone):.2f} s (median of each round's one-after-another runs)")
    print(f"  one after another {median(sequential):.2f} s; at once {median(together):.2f} s, first result "
          f"{median(first):.2f} s")
    print(f"  a run's own time on the device (its 'done in'): {device_alone:.2f} s alone, {device_shared:.2f} s "
          "while the other sessions wait")
    for label, parts in (("a lone run", lone_parts), ("the first result", first_parts)):
        seen = [(m, d) for m, d in parts if m == m]  # NaN: the message was not seen (never so far)
        if not seen:
            continue
        message = median(m for m, _ in seen) * 1000
        drawn = median(d for _, d in seen) * 1000
        print(f"  {label}: its result's message reached the page after {message:.0f} ms (the server and the "
              f"transport), drawn {drawn:.0f} ms later (the browser) (medians)")
    all_ratio = median(t / s for t, s in zip(together, sequential, strict=True))
    first_ratio = median(f / lone_s for f, lone_s in zip(first, lone, strict=True))
    print(f"  median of per-round ratios: all/sequential {all_ratio:.2f}x (target <= 1.1x: "
          f"{'PASS' if all_ratio <= 1.1 else 'FAIL'}), first/lone {first_ratio:.2f}x (target <= 1.5x: "
          f"{'PASS' if first_ratio <= 1.5 else 'FAIL'})")


if __name__ == "__main__":
    main()
