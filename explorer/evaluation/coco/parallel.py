"""COCOeval on every core: the categories split into blocks, each block evaluated in its own worker process, the
accumulated arrays merged back by category.

Why by category: with useCats=1 (COCO's default) COCOeval's evaluateImg and accumulate never look across
categories: precision[:, :, k] and recall[:, k] depend only on category k's ground truth and detections, in
their original order. So evaluating a block of categories with only its own annotations and detections (order
kept) gives exactly that block's slices, and the summary numbers, per-category tables, PR curves, AP by size and
error breakdown, all computed from the merged arrays, are bit for bit the serial ones
(tests/test_evaluation_parallel.py).

Why processes: the per-pair IoU and matching work holds the GIL, so threads do not help (faster-coco-eval's own
thread pool was measured slower). Why plain subprocesses (`python -m explorer.evaluation.coco.worker`) and not
multiprocessing: its spawn and forkserver methods re-run the caller's main script in every worker (the
Streamlit command line, a user's unguarded script), and fork copies a threaded server. A worker gets its block
streamed on stdin as a pickle of plain containers, read by `BlockUnpickler`, which refuses every global but
numpy's scalar and dtype rebuilders, so nothing in it can name a function to call (a plain pickle could); the
worker reads while the parent still writes. It sends back only numbers (.npz, read without pickle). JSON was
tried: 2.5x slower to write and read than pickle at val2017 scale, and it cost the parallel evaluation a fifth
of its speed (bench/README.md). Each pool lives for one call, so nothing is shared between
sessions, and a worker may change its own process as it likes: it pauses the cyclic garbage collector (an
evaluation makes millions of small containers and no cycles; collections were 10-20% of the time) and points its
file descriptor 1 at /dev/null, so neither the server's garbage collection nor its stdout is touched. For the
same reason pycocotools, which can only print to stdout, runs in a worker whenever the server or the command line
asks it for something (`evaluate()`, and the keypoint analysis's matching through `WorkerPool.matches`).
"""

from __future__ import annotations

import contextlib
import gc
import io
import json
import os
import pickle
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, BinaryIO, Final, Literal

import numpy as np

from explorer.evaluation.coco.backends import Backend, EvalArrays, PycocotoolsBackend, get_backend
from explorer.evaluation.coco.kinds import IouType
from explorer.evaluation.errors import EvaluationInputError
from explorer.evaluation.inputs.ground_truth import PreparedGroundTruth

#: Below this many detections a pool's start-up (a second or so) costs more than it saves: evaluate in-process.
MIN_PARALLEL_DETECTIONS = 20_000

#: More workers than this only multiply memory (each holds its share of the data plus its indexes).
MAX_WORKERS = 8


@dataclass(frozen=True)
class Run:
    """One COCOeval evaluate + accumulate over the same detections: the ground truth plus `extra_annotations`
    (the error breakdown's ignored copies), with these parameters (None: COCO's defaults)."""

    extra_annotations: Sequence[dict[str, Any]] = ()
    iou_thresholds: Sequence[float] | None = None
    max_dets: Sequence[int] | None = None


@dataclass(frozen=True)
class Block:
    """What one worker evaluates: a block of categories with their annotations and detections, for each run.
    `task` "arrays": each run's accumulated arrays; "matches": the (detection id, ground-truth id) pairs the one
    run's matching leaves (area "all"), for analyses that follow COCOeval's matching."""

    backend: str
    iou_type: IouType
    images: list[dict[str, Any]]
    categories: list[dict[str, Any]]
    annotations: list[dict[str, Any]]
    results: list[dict[str, Any]]
    category_ids: list[int]
    kpt_sigmas: list[float] | None
    runs: list[Run] = field(default_factory=list)
    task: Literal["arrays", "matches"] = "arrays"


def cpu_count() -> int:
    """CPUs this process may use (its affinity, not the machine's total)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def default_workers(n_detections: int) -> int:
    """How many worker processes `evaluate(workers=None)` uses: one per CPU for large evaluations, else 1."""
    return 1 if n_detections < MIN_PARALLEL_DETECTIONS else max(1, min(cpu_count(), MAX_WORKERS))


def split_categories(weights: dict[int, float], n_blocks: int, detected: set[int]) -> list[list[int]]:
    """Categories into at most `n_blocks` blocks of about equal total weight (largest first into the lightest
    block), each block sorted and holding at least one `detected` category (the evaluators need detections to
    evaluate: a block without any joins the first)."""
    blocks: list[list[int]] = [[] for _ in range(max(1, min(n_blocks, len(weights))))]
    loads = [0.0] * len(blocks)
    for category_id in sorted(weights, key=lambda c: (-weights[c], c)):
        lightest = loads.index(min(loads))
        blocks[lightest].append(category_id)
        loads[lightest] += weights[category_id]
    kept = [block for block in blocks if detected.intersection(block)]
    for block in blocks:
        if not detected.intersection(block):
            kept[0].extend(block)
    return [sorted(block) for block in kept]


def make_blocks(backend: str, truth: PreparedGroundTruth, results: list[dict[str, Any]], splits: list[list[int]],
                runs: Sequence[Run]) -> list[Block]:
    """The per-worker inputs: each block's annotations (base and per run) and detections, in their order."""
    dataset = truth.dataset
    where = {c: b for b, block in enumerate(splits) for c in block}
    annotations: list[list[dict[str, Any]]] = [[] for _ in splits]
    detections: list[list[dict[str, Any]]] = [[] for _ in splits]
    for ann in dataset["annotations"]:
        if ann["category_id"] in where:
            annotations[where[ann["category_id"]]].append(_for_transfer(ann))
    for det in results:
        detections[where[det["category_id"]]].append(det)
    extras: list[list[list[dict[str, Any]]]] = [[[] for _ in runs] for _ in splits]
    for r, run in enumerate(runs):
        for ann in run.extra_annotations:
            extras[where[ann["category_id"]]][r].append(_for_transfer(ann))
    sigmas = None if truth.kpt_sigmas is None else [float(s) for s in truth.kpt_sigmas]
    return [Block(backend=backend, iou_type=truth.iou_type, images=dataset["images"],
                  categories=[c for c in dataset["categories"] if c["id"] in set(block)],
                  annotations=annotations[b], results=detections[b], category_ids=block, kpt_sigmas=sigmas,
                  runs=[Run(extras[b][r], run.iou_thresholds, run.max_dets) for r, run in enumerate(runs)])
            for b, block in enumerate(splits)]


def _for_transfer(ann: dict[str, Any]) -> dict[str, Any]:
    """An annotation with its mask sent once, as the compressed RLE both evaluators read (pycocotools'
    annToRLE returns a compressed RLE unchanged; faster-coco-eval reads `rle`)."""
    if "rle" in ann:
        return dict(ann, segmentation=ann["rle"])
    return ann


def evaluate_block(block: Block) -> dict[str, np.ndarray]:
    """Worker side: one block's task, in this (worker) process, as the arrays of its reply."""
    gc.disable()  # this process's own collector: see the module docstring
    sigmas = None if block.kpt_sigmas is None else np.asarray(block.kpt_sigmas)
    if block.task == "matches":
        return {"pairs": np.asarray(_matches(block, sigmas), dtype=np.int64).reshape(-1, 2)}
    backend = get_backend(block.backend)
    return arrays_fields(list(iter_runs(backend, block.iou_type, _dataset(block), block.results,
                                        block.category_ids, block.runs, sigmas)))


def _matches(block: Block, kpt_sigmas: np.ndarray | None) -> list[tuple[int, int]]:
    backend = PycocotoolsBackend()  # the reference matching; it prints, so only ever in a worker
    gt = backend.coco(_dataset(block))
    dt = backend.load_results(gt, block.results, block.iou_type)
    run = block.runs[0]
    return backend.matches(gt, dt, block.iou_type, category_ids=block.category_ids,
                           iou_threshold=float(run.iou_thresholds[0]), max_dets=int(run.max_dets[-1]),
                           kpt_sigmas=kpt_sigmas)


def _dataset(block: Block) -> dict[str, Any]:
    return {"images": block.images, "categories": block.categories, "annotations": block.annotations}


def iter_runs(backend: Backend, iou_type: IouType, dataset: dict[str, Any], results: list[dict[str, Any]],
              category_ids: Sequence[int], runs: Sequence[Run], kpt_sigmas: np.ndarray | None, *,
              on_accumulate: Callable[[], None] | None = None) -> Iterator[EvalArrays]:
    """Each run's arrays, computed as they are asked for, with one detection index for all runs and one
    ground-truth index per distinct ground truth (the main one built once). `results` are written into (ids,
    areas) as loadRes does."""
    main_index = backend.coco(dataset)
    dt_index = backend.load_results(main_index, results, iou_type)
    for i, run in enumerate(runs):
        index = main_index if not run.extra_annotations else backend.coco(
            dict(dataset, annotations=dataset["annotations"] + list(run.extra_annotations)))
        yield backend.run(index, dt_index, iou_type, category_ids=category_ids, iou_thresholds=run.iou_thresholds,
                          max_dets=run.max_dets, kpt_sigmas=kpt_sigmas,
                          on_accumulate=on_accumulate if i == 0 else None)


def merge(parts: Sequence[EvalArrays]) -> EvalArrays:
    """One run's block arrays as the serial evaluation's: categories concatenated, then in sorted id order."""
    ids = [c for part in parts for c in part.category_ids]
    order = np.argsort(ids, kind="stable")
    first = parts[0]
    return EvalArrays(precision=np.concatenate([p.precision for p in parts], axis=2)[:, :, order],
                      recall=np.concatenate([p.recall for p in parts], axis=1)[:, order],
                      iou_thresholds=first.iou_thresholds, recall_thresholds=first.recall_thresholds,
                      area_labels=first.area_labels, max_dets=first.max_dets,
                      category_ids=tuple(int(ids[i]) for i in order))


class WorkerPool:
    """One worker process per block for one call: started at once (they import the evaluators while the parent
    checks the input), handed their block on stdin, read back from stdout, stopped when the call ends (also when
    it fails or is interrupted)."""

    def __init__(self, workers: int) -> None:
        env = dict(os.environ)
        root = str(Path(__file__).resolve().parents[3])  # the folder holding the explorer package
        env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH", "")) if p)
        self.processes = [subprocess.Popen([sys.executable, "-m", "explorer.evaluation.coco.worker"], env=env,
                                           stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
                          for _ in range(workers)]

    def evaluate(self, blocks: Sequence[Block], on_block: Callable[[float], None] | None = None
                 ) -> list[EvalArrays]:
        """Every run, merged over blocks (at most one block per worker)."""
        parts = [arrays_from_fields(fields) for fields in self._exchange(blocks, on_block)]
        return [merge([part[r] for part in parts]) for r in range(len(parts[0]))]

    def matches(self, block: Block) -> list[tuple[int, int]]:
        """(detection id, ground-truth id) of each detection the block's one run matches to an object it does not
        ignore (area "all"), in COCOeval's order: by category, then image."""
        (fields,) = self._exchange([replace(block, task="matches")], None)
        return [(int(d), int(g)) for d, g in fields["pairs"]]

    def _exchange(self, blocks: Sequence[Block], on_block: Callable[[float], None] | None
                  ) -> list[dict[str, np.ndarray]]:
        if len(blocks) > len(self.processes):
            raise ValueError(f"{len(blocks)} blocks for {len(self.processes)} workers")
        outputs: list[tuple[bytes, bytes] | None] = [None] * len(blocks)
        finished = threading.Semaphore(0)

        def talk(i: int) -> None:
            process = self.processes[i]
            try:
                # The worker writes nothing before it has read its whole block, so writing all of stdin before
                # reading stdout cannot deadlock.
                with contextlib.suppress(BrokenPipeError):  # a worker that died: its exit status says why
                    encode_block(blocks[i], process.stdin)
                    process.stdin.flush()
                outputs[i] = process.communicate()
            finally:
                finished.release()

        threads = [threading.Thread(target=talk, args=(i,), daemon=True) for i in range(len(blocks))]
        for thread in threads:
            thread.start()
        for done in range(len(blocks)):
            finished.acquire()
            if on_block:
                on_block((done + 1) / len(blocks))
        for thread in threads:
            thread.join()
        return [read_reply(output, self.processes[i].returncode) for i, output in enumerate(outputs)]

    def close(self) -> None:
        for process in self.processes:  # only our own children, by their handles
            if process.poll() is None:
                process.kill()
            process.wait()
            for stream in (process.stdin, process.stdout, process.stderr):
                if stream:
                    stream.close()

    def __enter__(self) -> WorkerPool:
        return self

    def __exit__(self, *_: Any) -> None:
        self.close()


#: The only globals a block's pickle may name: numpy's rebuilders of a scalar and of its dtype (a score or an area
#: that stayed a numpy number). Every other global, and so every callable a pickle could run, is refused.
_ALLOWED_GLOBALS: Final[frozenset[tuple[str, str]]] = frozenset({
    ("numpy", "dtype"), ("numpy.core.multiarray", "scalar"), ("numpy._core.multiarray", "scalar"),
})


class BlockUnpickler(pickle.Unpickler):
    """Reads a block its parent wrote: plain dicts, lists, strings, bytes and numbers, plus numpy scalars."""

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in _ALLOWED_GLOBALS:
            raise pickle.UnpicklingError(f"an evaluation block may not name {module}.{name}")
        return super().find_class(module, name)


def encode_block(block: Block, stream: BinaryIO) -> None:
    """Write a block to `stream` (a worker's stdin) as a pickle of plain containers (floats bit for bit)."""
    fields = {name: getattr(block, name) for name in ("backend", "iou_type", "images", "categories", "annotations",
                                                       "results", "category_ids", "kpt_sigmas", "task")}
    fields["runs"] = [{"extra_annotations": list(run.extra_annotations), "iou_thresholds": run.iou_thresholds,
                       "max_dets": run.max_dets} for run in block.runs]
    pickle.Pickler(stream, protocol=pickle.HIGHEST_PROTOCOL).dump(fields)


def decode_block(stream: BinaryIO) -> Block:
    """Worker side: the Block `encode_block` wrote, read with `BlockUnpickler` as it arrives."""
    fields = BlockUnpickler(stream).load()
    runs = [Run(**run) for run in fields.pop("runs")]
    return Block(**fields, runs=runs)


def arrays_fields(arrays: Sequence[EvalArrays]) -> dict[str, np.ndarray]:
    """The runs' arrays as named numpy arrays, for one .npz reply (numbers and strings only)."""
    fields: dict[str, np.ndarray] = {"runs": np.array(len(arrays))}
    for r, a in enumerate(arrays):
        fields.update({f"{r}.precision": a.precision, f"{r}.recall": a.recall, f"{r}.iou": a.iou_thresholds,
                       f"{r}.rec": a.recall_thresholds, f"{r}.areas": np.array(a.area_labels),
                       f"{r}.max_dets": np.array(a.max_dets), f"{r}.categories": np.array(a.category_ids)})
    return fields


def arrays_from_fields(data: dict[str, np.ndarray]) -> list[EvalArrays]:
    return [EvalArrays(precision=data[f"{r}.precision"], recall=data[f"{r}.recall"],
                       iou_thresholds=data[f"{r}.iou"], recall_thresholds=data[f"{r}.rec"],
                       area_labels=tuple(str(a) for a in data[f"{r}.areas"]),
                       max_dets=tuple(int(m) for m in data[f"{r}.max_dets"]),
                       category_ids=tuple(int(c) for c in data[f"{r}.categories"]))
            for r in range(int(data["runs"]))]


def write_reply(stream: BinaryIO, fields: dict[str, np.ndarray]) -> None:
    """Worker side: the reply's arrays as one .npz (the parent unpickles nothing)."""
    buffer = io.BytesIO()
    np.savez(buffer, **fields)
    stream.write(b"OK" + buffer.getvalue())


def read_reply(output: tuple[bytes, bytes] | None, returncode: int | None) -> dict[str, np.ndarray]:
    """Parent side: a worker's arrays, or its error raised here (same type where it is one of ours)."""
    stdout, stderr = output or (b"", b"")
    if stdout.startswith(b"ER"):
        error = json.loads(stdout[2:])
        kind = {"ValueError": ValueError, "EvaluationInputError": EvaluationInputError}.get(error["type"],
                                                                                          RuntimeError)
        raise kind(error["message"])
    if not stdout.startswith(b"OK"):
        tail = stderr.decode("utf-8", "replace").strip().splitlines()[-1:] or ["no output"]
        raise RuntimeError(f"evaluation worker stopped (exit status {returncode}): {tail[0]}")
    with np.load(io.BytesIO(stdout[2:]), allow_pickle=False) as data:
        return {name: data[name] for name in data.files}


def warm_up() -> None:
    """Import the evaluators (a worker does this before its block arrives)."""
    with contextlib.suppress(ImportError):
        import pycocotools.cocoeval  # noqa: F401
    with contextlib.suppress(ImportError):
        import faster_coco_eval  # noqa: F401
