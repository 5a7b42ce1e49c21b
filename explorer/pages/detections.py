"""Detections: run any runnable zoo model on the user's own images and see boxes, masks and keypoints.

The model runs only when the user presses Run; its results stay in session state, so moving the score
slider, filtering classes or hiding masks only redraws (milliseconds), never re-runs the model.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import streamlit as st

from explorer.pages import common

RESULTS_KEY = "detections:runs"
DEFAULT_MODEL = "torchvision:MaskRCNN_ResNet50_FPN_Weights.COCO_V1"
INPUT_SIZES = (128, 320, 480, 640, 800, 1024)
WEIGHT_CHOICES = {
    "published": "Published weights (downloaded once, then cached)",
    "upload": "A weights file I upload",
    "random": "Random weights: tests the pipeline, detections are meaningless",
}
UPLOAD_TYPES = ["jpg", "jpeg", "png", "webp", "bmp", "tif", "tiff"]


@dataclass
class ModelRun:
    """One model's results on the uploaded images, kept across reruns."""

    uid: str
    name: str
    device: str
    detections: list[Any]  # explorer.detections.Detections, one per image
    seconds: float
    settings: dict[str, Any] = field(default_factory=dict)


def max_images_per_run() -> int:
    """How many uploaded images one run takes (EXPLORER_MAX_IMAGES, default 50): bounds a session's work."""
    return int(os.environ.get("EXPLORER_MAX_IMAGES", "50"))


@st.cache_resource(show_spinner=False)
def model_cache() -> Any:
    """One bounded model cache for the whole server: every session shares loaded models."""
    from explorer.engine import ModelCache

    return ModelCache()


@st.cache_data(show_spinner=False, max_entries=32)
def decode_uploads(files: tuple[tuple[str, bytes], ...]) -> tuple[list[Any], list[str]]:
    """Uploaded bytes -> decoded RGB images and one message per file that could not be used."""
    from explorer.images import load_images

    loaded, errors = load_images(files)
    return loaded, [str(error) for error in errors]


@st.cache_data(show_spinner=False)
def runnable_uids() -> list[str]:
    """Zoo rows some model family can run, TTA rows after their plain twin."""
    from explorer.models.catalog import is_runnable

    table = common.zoo_table()
    return [uid for uid, row in table.iterrows() if is_runnable(row.to_dict())]


def render() -> None:
    st.title("Detections on your images")
    table = common.zoo_table()
    common.sidebar_selection(table)
    options = runnable_uids()
    if not options:
        st.error("No zoo model can be run in this installation.")
        return
    files = st.file_uploader("Images (JPEG, PNG, WebP, BMP, TIFF)", type=UPLOAD_TYPES, accept_multiple_files=True,
                             key="detections:uploads")
    files = list(files or [])
    limit = max_images_per_run()
    if len(files) > limit:
        st.warning(f"{len(files)} images uploaded; one run takes at most {limit}, so the first {limit} are used. "
                   "Raise the limit with the EXPLORER_MAX_IMAGES environment variable.", icon=":material/filter:")
        files = files[:limit]
    images, errors = decode_uploads(tuple((f.name, f.getvalue()) for f in files))
    for error in errors:
        st.error(error, icon=":material/broken_image:")
    settings = _run_settings(table, options)
    compare = settings.pop("compare")
    if st.button("Run", type="primary", disabled=not images, key="detections:run"):
        st.session_state[RESULTS_KEY] = [run for uid in [settings["uid"], compare] if uid
                                         if (run := _run_model(table, uid, images, settings)) is not None]
    runs: list[ModelRun] = [run for run in st.session_state.get(RESULTS_KEY, [])
                            if len(run.detections) == len(images)]
    if not images:
        st.info("Upload one or more images, pick a model, then press Run.")
        return
    if not runs:
        st.caption("Press Run to detect objects in the uploaded images.")
        return
    _show_results(images, runs)
    from explorer.pages import eval_views

    eval_views.render_annotations_panel(images, runs, "detections:eval")
    _benchmark_section(table, settings, images)


def _run_settings(table: pd.DataFrame, options: list[str]) -> dict[str, Any]:
    """Model, comparison model, device, weights, input size and batch size from the widgets."""
    selected = common.selected_model(table)
    default = selected if selected in options else DEFAULT_MODEL if DEFAULT_MODEL in options else options[0]
    label = lambda uid: common.model_label(table, uid)  # noqa: E731
    left, right = st.columns(2)
    uid = left.selectbox("Model", options, index=options.index(default), format_func=label, key="detections:model")
    compare = right.selectbox("Compare side by side with (optional)", [None, *options], format_func=lambda u: (
        "—" if u is None else label(u)), key="detections:compare")
    with st.expander("Run settings", expanded=False):
        cols = st.columns(4)
        device = cols[0].selectbox("Device", ["auto", "cpu", "cuda"], key="detections:device",
                                   help="auto: the GPU when there is one, else the CPU")
        min_size = cols[1].select_slider("Input size (shorter side)", INPUT_SIZES, value=800, key="detections:size",
                                         help="The zoo's numbers use 800; smaller runs faster on a CPU")
        batch_size = cols[2].number_input("Batch size", 1, 16, 1, key="detections:batch")
        autocast = cols[3].selectbox("Precision (GPU)", ["fp32", "fp16", "bf16"], key="detections:autocast")
        weights = st.radio("Weights", list(WEIGHT_CHOICES), format_func=WEIGHT_CHOICES.get, key="detections:weights")
        upload = None
        if weights == "upload":
            upload = st.file_uploader("Weights file (.pth state dict, or a Detectron .pkl)", type=["pth", "pt", "pkl"],
                                      key="detections:wfile")
    return {"uid": uid, "compare": compare, "device": device, "min_size": int(min_size),
            "batch_size": int(batch_size), "autocast": None if autocast == "fp32" else autocast,
            "weights": weights, "weights_upload": upload}


def _weights_choice(settings: dict[str, Any]) -> Any:
    """What the engine should load: random, an uploaded file (saved to the cache dir) or the published file."""
    from explorer.engine import RANDOM_WEIGHTS
    from explorer.weights import explorer_cache_dir

    if settings["weights"] == "random":
        return RANDOM_WEIGHTS
    if settings["weights"] == "upload":
        upload = settings["weights_upload"]
        if upload is None:
            raise ValueError("Choose a weights file to upload, or pick another weights option.")
        target = explorer_cache_dir() / "uploads" / Path(upload.name).name  # never a path from the browser
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(upload.getvalue())
        return target
    return None


def _run_model(table: pd.DataFrame, uid: str, images: list[Any], settings: dict[str, Any]) -> ModelRun | None:
    """Load (once per server) and run one model on every image, with progress; errors are shown, not raised."""
    from explorer.engine import predict_with_fallback, resolve_device
    from explorer.models.catalog import spec_for

    name = str(table.at[uid, "name"])
    status = st.status(f"Running {name}", expanded=True)
    try:
        spec = spec_for(table.loc[uid].to_dict())
        spec = spec.with_sizes(settings["min_size"], max(spec.preprocessing.max_size, settings["min_size"]))
        device = resolve_device(settings["device"])
        download = status.progress(0.0, text="Loading the model")

        def downloaded(done: int, total: int | None) -> None:
            if total:
                download.progress(min(done / total, 1.0), text=f"Downloading weights: {done / 1e6:.0f} of "
                                  f"{total / 1e6:.0f} MB")

        weights = _weights_choice(settings)
        model_cache().get(spec, device, weights, downloaded)
        download.progress(1.0, text=f"Model loaded on {device}")
        bar = status.progress(0.0, text=f"0 of {len(images)} images")

        def ran(done: int, total: int) -> None:
            bar.progress(done / total, text=f"{done} of {total} images")

        started = time.perf_counter()
        found, report = predict_with_fallback(model_cache(), spec, device, weights, [image.rgb for image in images],
                                              batch_size=settings["batch_size"], autocast=settings["autocast"],
                                              progress=ran)
        for note in report.notes:
            st.warning(note, icon=":material/memory:")
        device = report.device
    except Exception as error:  # any failure is shown to the user; the app keeps running
        status.update(label=f"{name}: failed", state="error")
        st.error(_explain(error), icon=":material/error:")
        return None
    status.update(label=f"{name}: done in {time.perf_counter() - started:.2f} s on {device}", state="complete",
                  expanded=False)
    return ModelRun(uid=uid, name=name, device=device, detections=found, seconds=time.perf_counter() - started,
                    settings={k: v for k, v in settings.items() if k != "weights_upload"})


def _explain(error: Exception) -> str:
    """A user-facing message: ours are written for people; anything else gets its type for a bug report."""
    from explorer.engine import DeviceError
    from explorer.models.catalog import NotRunnableError
    from explorer.weights import WeightsError

    if isinstance(error, (WeightsError, DeviceError, NotRunnableError, ValueError)):
        return str(error)
    if type(error).__name__ == "OutOfMemoryError":
        return f"The device ran out of memory ({error}); try a smaller batch, a smaller input size or the CPU."
    return f"Running the model failed: {type(error).__name__}: {error}"


def _render_options(runs: list[ModelRun]) -> Any:
    """Drawing options from the widgets; changing them redraws without re-running any model.

    Mask and keypoint controls appear only when some result has masks or keypoints.
    """
    from explorer.render import RenderOptions

    found = [detections for run in runs for detections in run.detections]
    has_masks = any(d.masks is not None for d in found)
    has_keypoints = any(d.keypoints is not None for d in found)
    classes = sorted({name for d in found for name in d.names})
    cols = st.columns([2, 2, 3])
    score = cols[0].slider("Score threshold", 0.0, 1.0, 0.5, 0.05, key="detections:score")
    keypoint = (cols[1].slider("Keypoint score threshold", -5.0, 10.0, 0.05, 0.05, key="detections:kp")
                if has_keypoints else 0.05)
    chosen = cols[2].multiselect("Classes (empty: all)", classes, key="detections:classes")
    toggles = iter(st.columns(2 + has_masks + has_keypoints))
    show_boxes = next(toggles).toggle("Boxes", True, key="detections:boxes")
    show_masks = next(toggles).toggle("Masks", True, key="detections:masks") if has_masks else False
    show_keypoints = next(toggles).toggle("Keypoints", True, key="detections:kps") if has_keypoints else False
    show_labels = next(toggles).toggle("Labels", True, key="detections:labels")
    return RenderOptions(score_thresh=score, keypoint_thresh=keypoint, classes=set(chosen) or None,
                         show_boxes=show_boxes, show_masks=show_masks, show_keypoints=show_keypoints,
                         show_labels=show_labels)


def _show_results(images: list[Any], runs: list[ModelRun]) -> None:
    from explorer.render import draw_detections, encode_png

    options = _render_options(runs)
    for index, image in enumerate(images):
        st.markdown(f"#### {image.name} · {image.width}×{image.height}")
        for note in image.notes:
            st.caption(note)
        columns = st.columns(len(runs))
        for column, run in zip(columns, runs, strict=True):
            found = run.detections[index]
            started = time.perf_counter()
            drawn = draw_detections(image.rgb, found, options)
            found.timings["draw"] = time.perf_counter() - started
            with column:
                shown = int(found.keep_mask(options.score_thresh, options.classes).sum())
                st.image(drawn, caption=f"{run.name} · {shown} shown of {len(found)}",
                         width="stretch" if image.width > 640 else "content")  # small images stay sharp
                st.caption(" · ".join(f"{stage} {seconds * 1000:.0f} ms" for stage, seconds in found.timings.items()))
                st.download_button("Annotated image (PNG)", encode_png(drawn), f"{image.name}.{run.uid}.png",
                                   "image/png", key=f"detections:png:{index}:{run.uid}")
                frame = found.to_frame()
                st.dataframe(frame[frame["score"] >= options.score_thresh], hide_index=True, height=200)
    for run in runs:
        st.download_button(f"COCO results json — {run.name}", _results_json(images, run), "results.json",
                           "application/json", key=f"detections:json:{run.uid}")
    st.caption("Image ids in the results json: " + ", ".join(f"{i + 1} = {image.name}"
                                                              for i, image in enumerate(images)))


def _results_json(images: list[Any], run: ModelRun) -> str:
    from explorer.predict import coco_results

    results, _ = coco_results(run.detections)
    return json.dumps(results)


def _benchmark_section(table: pd.DataFrame, settings: dict[str, Any], images: list[Any]) -> None:
    """Time the chosen model on this device and keep the measurement for the speed/accuracy plot."""
    with st.expander("Measure this model's speed on this machine"):
        runs = st.number_input("Timed runs", 1, 100, 5, key="detections:bench_runs")
        if not st.button("Benchmark", key="detections:bench"):
            return
        from explorer.benchmark import benchmark_runner, weights_identity
        from explorer.engine import resolve_device
        from explorer.models.catalog import spec_for
        from explorer.store import MeasurementStore

        try:
            spec = spec_for(table.loc[settings["uid"]].to_dict())
            spec = spec.with_sizes(settings["min_size"], max(spec.preprocessing.max_size, settings["min_size"]))
            weights = _weights_choice(settings)
            runner = model_cache().get(spec, resolve_device(settings["device"]), weights)
            with st.spinner("Timing…"):
                result = benchmark_runner(runner, images[0].rgb, batch_size=settings["batch_size"], runs=int(runs),
                                          autocast=settings["autocast"], weights=weights_identity(weights))
            MeasurementStore().add(result)
        except Exception as error:  # shown to the user; the page keeps working
            st.error(_explain(error))
            return
        st.success(f"{result.model_name}: median {result.median_s * 1000:.0f} ms/image on {result.device_name} "
                   f"(p10 {result.p10_s * 1000:.0f}, p90 {result.p90_s * 1000:.0f} ms; {result.runs} runs). "
                   "Stored; the speed vs accuracy page can show it beside the published times.")


if __name__ == "__main__":
    render()
