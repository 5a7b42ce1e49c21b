"""Time on this machine: measure a chosen set of zoo models here, one after another, with progress.

The same run as `python -m explorer bench --models ...`: each model is stored as it finishes, what is stored
for the same setup is skipped unless asked to time it again, and the speed pages can then use the figures.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
import streamlit as st

from explorer.views import loaders

INPUT_SIZES = (64, 128, 320, 480, 640, 800)
WEIGHTS = {
    "auto": "Published weights where cached or downloadable, else random",
    "random": "Random weights (detections held at each model's maximum)",
}


def _choices(table: pd.DataFrame) -> dict[str, Any]:
    runnable = table[table["runnable"] & ~table["tta"].astype(bool)]
    zoo = st.selectbox("Zoo", sorted(pd.unique(runnable["zoo"])), key="time_here:zoo")
    rows = runnable[runnable["zoo"] == zoo]
    names = dict(zip(rows.index, rows["name"], strict=True))
    models = st.multiselect("Models to time", list(names), format_func=lambda uid: names.get(uid, uid),
                            key="time_here:models", help="Timed one after another; each is stored as it finishes")
    cols = st.columns(4)
    device = cols[0].selectbox("Device", ["auto", "cpu", "cuda"], key="time_here:device")
    size = cols[1].select_slider("Input size (shorter side)", INPUT_SIZES, value=320, key="time_here:size",
                                 help="The test image is this tall and 4:3 wide; each model resizes it to this size")
    batch = cols[2].number_input("Batch size", 1, 16, 1, key="time_here:batch")
    precision = cols[3].selectbox("Precision (GPU)", ["fp32", "fp16", "bf16"], key="time_here:precision")
    cols = st.columns(4)
    runs = cols[0].number_input("Timed runs", 1, 100, 5, key="time_here:runs")
    warmup = cols[1].number_input("Warm-up runs", 0, 20, 1, key="time_here:warmup")
    weights = cols[2].selectbox("Weights", list(WEIGHTS), format_func=WEIGHTS.get, key="time_here:weights")
    again = cols[3].checkbox("Time again what is stored", key="time_here:again")
    runtime = _runtime_choice()
    return {"models": models, "device": device, "size": int(size), "batch": int(batch), "runs": int(runs),
            "warmup": int(warmup), "precision": None if precision == "fp32" else precision, "weights": weights,
            "again": again, "runtime": runtime}


def _runtime_choice() -> str:
    from explorer.views.runtime_choice import runtime_choice

    return runtime_choice("time_here:runtime", "Eager PyTorch, or the model exported to ONNX Runtime / OpenVINO "
                          "(the CPU, fp32), checked against PyTorch before it is timed. Each runtime is its own "
                          "setup, never ranked together with another.")


def _settings(choice: dict[str, Any]) -> Any:
    from explorer.benchmarks.many import BenchSettings
    from explorer.engine.runners import resolve_device

    size = choice["size"]
    runtime = choice.get("runtime", "torch")
    device = resolve_device(choice["device"]) if runtime == "torch" else "cpu"
    return BenchSettings(device=device, runtime=runtime, width=round(size * 4 / 3), height=size,
                         min_size=size, max_size=round(size * 4 / 3), batch_size=choice["batch"],
                         runs=choice["runs"], warmup=choice["warmup"],
                         autocast=choice["precision"] if runtime == "torch" else None,
                         weights=choice["weights"])


def _run(table: pd.DataFrame, choice: dict[str, Any]) -> None:
    from explorer.benchmarks.many import report_table, run_models
    from explorer.benchmarks.store import MeasurementStore
    from explorer.models.catalog import spec_for_uid

    try:
        settings = _settings(choice)
    except ValueError as error:  # an unavailable device, bad settings: one line, nothing lost
        st.error(str(error))
        return
    specs = [spec_for_uid(table, uid) for uid in choice["models"]]
    bar = st.progress(0.0, text=f"Timing {len(specs)} models")

    def progress(done: int, total: int, running: str) -> None:
        text = f"Timing {running} ({done + 1} of {total})" if running else f"Timed {total} models"
        bar.progress(done / total, text=text)

    report = run_models(specs, settings, store=MeasurementStore(), again=choice["again"], progress=progress)
    loaders.measurements.clear()  # the speed pages read the new figures now, not in 10 s
    if not report.measured and not report.already:
        st.warning("No model was timed.")
    if report.measured:
        st.dataframe(report_table(report.measured), hide_index=True, key="time_here:timed")
    if report.already:
        st.info(f"{len(report.already)} models were already stored for this setup and were not timed again "
                "(tick “Time again what is stored” to measure them anew).")
    for line in report.skipped:
        st.error(f"Skipped {line}")
    for line in report.notes:
        st.caption(line)


def _stored(machine: str) -> None:
    from explorer.benchmarks.store import latest_measurements

    stored = latest_measurements(loaders.measurements(), device_name=machine)
    st.subheader("Measured on this machine")
    if stored.empty:
        st.caption("Nothing yet.")
        return
    names = loaders.zoo_table()["name"]
    stored = stored.assign(model=stored["uid"].map(names).fillna(stored["uid"]),
                           median_ms=(stored["median_s"] * 1000).round(1), p90_ms=(stored["p90_s"] * 1000).round(1))
    st.dataframe(stored[["model", "median_ms", "p90_ms", "runtime", "runtime_version", "execution_provider",
                         "peak_mem_mb", "weights_kind", "input_size", "batch", "precision", "detections_held",
                         "device", "measured_at"]], hide_index=True,
                 key="time_here:stored")
    st.caption("Peak memory is CUDA's max allocated on a GPU and the resident-set growth on the CPU. Random-weight "
               "timings hold each model at its maximum of detections; only published-weight timings are drawn at "
               "the published accuracy on the speed pages.")


def render() -> None:
    st.title("Time on this machine")
    st.caption("Published times come from 2017–2019 datacenter GPUs. Time the models you are considering here, "
               "on this machine, with one setup; the speed pages then show these figures beside the published ones.")
    table = loaders.zoo_table()
    choice = _choices(table)
    if st.button("Time these models", key="time_here:run", disabled=not choice["models"], type="primary"):
        _run(table, choice)
    _stored(_machine(choice["device"]))


def _machine(requested: str) -> str:
    from explorer.benchmarks.timing import device_name
    from explorer.engine.runners import DeviceError, resolve_device

    try:
        return device_name(resolve_device(requested))
    except DeviceError:
        return device_name("cpu")


if __name__ == "__main__":
    render()
