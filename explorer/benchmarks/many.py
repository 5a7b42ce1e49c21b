"""Time many zoo models on this machine in one go, one after another, each stored as soon as it finishes.

A user asking "what will these models cost on my hardware?" wants the whole list, not one model per command,
and a run of thirty models must survive being stopped: every finished model is already in the store, and a
second run skips what is stored for the same setup (model, device, input size, batch, precision, weights
kind) unless told to time it again.

With random weights a detector's post-processing depends on how many detections it finds (the mask and
keypoint heads run once per detection), so a random-weight timing opens the test thresholds (score 0, no
NMS suppression) through the spec's `TestSettings`, which every family honours, and the model yields its
maximum number of detections per image; the record says so (`detections_held`, `detections_mean`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from explorer.benchmarks.store import MeasurementStore
from explorer.benchmarks.timing import BenchmarkResult, WeightsIdentity, benchmark_runner, weights_identity
from explorer.errors import ExplorerError
from explorer.models.catalog import ModelSpec, NotRunnableError, UnknownModelError, resolve_spec, spec_for_uid

#: How the weights of each model are chosen: the published file when it is cached or can be downloaded
#: (random otherwise, said in the report), the published file or an error, or random weights.
WEIGHTS_MODES: tuple[str, ...] = ("auto", "published", "random")


class BenchPlanError(ExplorerError, ValueError):
    """A model list or zoo/table choice that names nothing runnable; the message says what to pick."""


@dataclass(frozen=True)
class BenchSettings:
    """One setup every model of a run is timed with."""

    device: str = "cpu"
    width: int = 1333
    height: int = 800
    min_size: int | None = None  # None: each model's own test size
    max_size: int | None = None
    batch_size: int = 1
    runs: int = 10
    warmup: int = 2
    autocast: str | None = None
    weights: str = "auto"
    runtime: str = "torch"  # or an export runtime (explorer.runtimes): the CPU, fp32, parity checked first

    def __post_init__(self) -> None:
        if self.weights not in WEIGHTS_MODES:
            raise BenchPlanError(f"unknown weights mode {self.weights!r}; one of {', '.join(WEIGHTS_MODES)}")
        from explorer.runtimes import RUNTIMES

        if self.runtime not in RUNTIMES:
            raise BenchPlanError(f"unknown runtime {self.runtime!r}; one of {', '.join(RUNTIMES)}")
        if self.runtime != "torch" and self.device != "cpu":
            raise BenchPlanError(f"runtime {self.runtime} runs on the CPU here; use --device cpu")
        if self.runs < 1 or self.warmup < 0 or self.batch_size < 1 or min(self.width, self.height) < 1:
            raise BenchPlanError("runs, batch size and image size must be at least 1, warm-up at least 0")

    def sized(self, spec: ModelSpec) -> ModelSpec:
        if not self.min_size:
            return spec
        return spec.with_sizes(self.min_size, self.max_size or max(self.min_size, spec.preprocessing.max_size))


@dataclass
class BenchReport:
    """What a run did, in order: measured (stored), skipped as already stored, and failed or not runnable."""

    measured: list[BenchmarkResult] = field(default_factory=list)
    already: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # "uid: why"
    notes: list[str] = field(default_factory=list)
    interrupted: bool = False


def hold_max_detections(spec: ModelSpec) -> ModelSpec:
    """The spec with its test thresholds opened: every candidate scores above 0 and no NMS removes one,
    so each image yields the model's `detections_per_image` limit (kept as the family set it)."""
    return spec.with_test(score_thresh=0.0, nms_thresh=1.0)


def plan_models(table: pd.DataFrame, models: Sequence[str] = (), zoo: str | None = None,
                table_name: str | None = None) -> tuple[list[ModelSpec], list[str]]:
    """The specs to time, and the rows left out with why ("uid: reason").

    Named models must all exist and run (else BenchPlanError: nothing runs on a typo); a zoo (optionally
    one of its tables) takes its runnable plain rows and reports the others. Duplicates are timed once.
    """
    specs: list[ModelSpec] = []
    left_out: list[str] = []
    if models:
        for model in models:
            try:
                specs.append(resolve_spec(table, model))
            except (UnknownModelError, NotRunnableError) as error:
                raise BenchPlanError(str(error)) from error
    else:
        for row in _zoo_rows(table, zoo, table_name):
            try:
                specs.append(spec_for_uid(table, row["uid"]))
            except NotRunnableError as error:
                left_out.append(f"{row['uid']}: {error}")
    unique = list({spec.uid: spec for spec in specs}.values())
    return unique, left_out


def _zoo_rows(table: pd.DataFrame, zoo: str | None, table_name: str | None) -> list[dict[str, Any]]:
    from explorer.zoo.schema import ZOOS

    if zoo not in ZOOS:
        raise BenchPlanError(f"unknown zoo {zoo!r}; choose from {', '.join(ZOOS)}")
    rows = table[(table["zoo"] == zoo) & ~table["tta"].astype(bool)]
    if table_name:
        tables = sorted(pd.unique(rows["table"]))
        rows = rows[rows["table"].str.lower() == table_name.lower()]
        if rows.empty:
            raise BenchPlanError(f"{zoo} has no table {table_name!r}; its tables: {'; '.join(tables)}")
    return rows.to_dict("records")


def stored_setups(frame: pd.DataFrame) -> set[tuple[Any, ...]]:
    """The setups already measured, as keys `setup_key` compares with."""
    if frame.empty:
        return set()
    from explorer.zoo.local_speeds import runtimes

    columns = ["model_uid", "device_name", "image_width", "image_height", "min_size", "max_size", "batch_size",
               "autocast", "weights_kind", "weights_sha256", "runtime"]
    frame = frame.assign(runtime=runtimes(frame))
    return {tuple(_plain(v) for v in row) for row in frame[columns].itertuples(index=False)}


def setup_key(spec: ModelSpec, settings: BenchSettings, device_name: str, weights: WeightsIdentity,
              ) -> tuple[Any, ...]:
    pre = spec.preprocessing
    return (spec.uid, device_name, settings.width, settings.height, pre.min_size, pre.max_size, settings.batch_size,
            settings.autocast or "fp32", weights.kind, weights.sha256, settings.runtime)


def _plain(value: Any) -> Any:
    """SQLite/pandas values as the Python values a key holds (numpy ints, NaN -> '')."""
    if isinstance(value, (np.integer,)):
        return int(value)
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return ""
    return value


ProgressCallback = Callable[[int, int, str], None]  # (done, total, what is running now)


def run_models(specs: Sequence[ModelSpec], settings: BenchSettings, *, store: MeasurementStore,
               again: bool = False, progress: ProgressCallback | None = None,
               loader: Callable[..., Any] | None = None, echo: Callable[[str], None] | None = None) -> BenchReport:
    """Time each spec in turn and store each result as it completes; Ctrl-C keeps the finished ones.

    `loader(spec, device, weights)` builds a runner (default: `explorer.engine.runners.load_runner`); a model that
    cannot be loaded or run is reported and the run goes on with the next.
    """
    from explorer.benchmarks.timing import device_name as name_of_device

    report = BenchReport()
    machine = name_of_device(settings.device)
    stored = set() if again else stored_setups(store.frame())
    image = np.random.default_rng(0).integers(0, 256, (settings.height, settings.width, 3), dtype=np.uint8)
    say = echo or (lambda _line: None)
    try:
        for done, spec in enumerate(specs):
            if progress is not None:
                progress(done, len(specs), spec.name)
            _time_one(settings.sized(spec), settings, image, machine, stored, store, report, loader, say)
    except KeyboardInterrupt:
        report.interrupted = True
        return report
    if progress is not None:
        progress(len(specs), len(specs), "")
    return report


def _time_one(spec: ModelSpec, settings: BenchSettings, image: np.ndarray, machine: str,
              stored: set[tuple[Any, ...]], store: MeasurementStore, report: BenchReport,
              loader: Callable[..., Any] | None, say: Callable[[str], None]) -> None:
    from explorer.engine.runners import RANDOM_WEIGHTS, is_out_of_memory
    from explorer.weights.errors import WeightsError

    choice: Any = RANDOM_WEIGHTS if settings.weights == "random" else None
    if setup_key(spec, settings, machine, weights_identity(choice)) in stored:
        report.already.append(spec.uid)
        return
    try:
        try:
            runner = _load(loader, _held(spec, choice), settings, choice)
        except WeightsError as error:
            if settings.weights != "auto":
                raise
            choice = RANDOM_WEIGHTS
            report.notes.append(f"{spec.uid}: published weights not available ({_first_line(error)}); "
                                "timed with random weights")
            if setup_key(spec, settings, machine, weights_identity(choice)) in stored:
                report.already.append(spec.uid)
                return
            runner = _load(loader, _held(spec, choice), settings, choice)
        random = choice is RANDOM_WEIGHTS
        result = benchmark_runner(runner, image, batch_size=settings.batch_size, runs=settings.runs,
                                  warmup=settings.warmup, autocast=settings.autocast,
                                  weights=weights_identity(choice), detections_held=random)
    except KeyboardInterrupt:
        raise
    except Exception as error:  # one model's failure (unreadable weights, out of memory) must not end the run
        why = "out of memory" if is_out_of_memory(error) else _first_line(error)
        report.skipped.append(f"{spec.uid}: {why}")
        say(f"skipped {spec.name}: {why}")
        return
    finally:
        _release(settings.device)
    store.add(result)
    report.measured.append(result)
    say(f"{result.model_name}: median {result.median_s * 1000:.1f} ms/image, p90 {result.p90_s * 1000:.1f}")


def _held(spec: ModelSpec, choice: Any) -> ModelSpec:
    from explorer.engine.runners import RandomWeights

    return hold_max_detections(spec) if isinstance(choice, RandomWeights) else spec


def _load(loader: Callable[..., Any] | None, spec: ModelSpec, settings: BenchSettings, choice: Any) -> Any:
    """The runner to time: eager, or exported to `settings.runtime` (parity checked; a failure skips the model)."""
    from explorer.engine.runners import load_runner

    runner = (loader or load_runner)(spec, settings.device, choice)
    if settings.runtime == "torch":
        return runner
    from explorer.runtimes.export import export_runner

    return export_runner(runner, settings.runtime)


def _release(device: str) -> None:
    if device.startswith("cuda"):
        import torch

        torch.cuda.empty_cache()


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def report_table(results: Iterable[BenchmarkResult]) -> pd.DataFrame:
    """The measured models as a small table (ms per image, memory, weights, detections per image)."""
    rows = [{"model": r.model_name, "uid": r.model_uid, "median_ms": round(r.median_s * 1000, 1),
             "p90_ms": round(r.p90_s * 1000, 1),
             "peak_mem_mb": None if r.peak_mem_mb is None else round(r.peak_mem_mb, 1),
             "weights": r.weights_kind, "input": f"{r.min_size}/{r.max_size}" if r.min_size else "fixed",
             "detections": None if r.detections_mean is None else round(r.detections_mean, 1),
             "held": "yes" if r.detections_held else ""} for r in results]
    return pd.DataFrame(rows, columns=["model", "uid", "median_ms", "p90_ms", "peak_mem_mb", "weights", "input",
                                       "detections", "held"])
