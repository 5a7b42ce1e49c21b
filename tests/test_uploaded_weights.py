"""Uploaded weights are content-addressed: same name, other bytes, other session -> another model, never a stale one."""

from __future__ import annotations

import io
import threading
from pathlib import Path

import numpy as np
import pytest
import torch
from streamlit.testing.v1 import AppTest

from explorer.engine.runners import RANDOM_WEIGHTS, ModelCache, cache_key, load_runner
from explorer.zoo.paths import REPO_ROOT
from tests.model_factory import torchvision_spec

SSD = "SSDLite320_MobileNet_V3_Large_Weights.COCO_V1"
SSD_UID = f"torchvision:{SSD}"


def recording_cache() -> tuple[ModelCache, list[Path | None]]:
    """A cache whose loader records which weights it was asked for and returns a fresh object per load."""
    asked: list[Path | None] = []

    def loader(spec, device, weights, progress):
        asked.append(weights)
        return object()

    return ModelCache(loader=loader), asked


def test_a_rewritten_weights_file_is_a_new_model(tmp_path: Path) -> None:
    """The cache is keyed by what the file holds, not where it lies: the same path with new bytes loads again."""
    spec = torchvision_spec(SSD)
    path = tmp_path / "model.pth"
    path.write_bytes(b"first weights")
    cache, asked = recording_cache()
    first = cache.get(spec, "cpu", path)
    assert cache.get(spec, "cpu", path) is first and len(asked) == 1  # unchanged file: reused
    path.write_bytes(b"second weights, other bytes")
    second = cache.get(spec, "cpu", path)
    assert second is not first and len(asked) == 2
    assert cache_key(spec, "cpu", path) != cache_key(spec, "cpu", RANDOM_WEIGHTS)


def test_same_name_other_bytes_are_two_files_and_two_models() -> None:
    from explorer.inputs.uploads import save_uploaded_weights

    spec = torchvision_spec(SSD)
    first = save_uploaded_weights("model_final.pth", b"weights of session one")
    second = save_uploaded_weights("model_final.pth", b"weights of session two")
    assert first != second and first.name == second.name == "model_final.pth"
    assert first.read_bytes() == b"weights of session one" and second.read_bytes() == b"weights of session two"
    cache, asked = recording_cache()
    assert cache.get(spec, "cpu", first) is not cache.get(spec, "cpu", second) and asked == [first, second]
    again = save_uploaded_weights("renamed.pth", b"weights of session one")  # same bytes: same model
    assert cache.get(spec, "cpu", again) is cache.get(spec, "cpu", first) and len(asked) == 2


@pytest.mark.parametrize("name", ["../../escape.pth", "/etc/passwd", "..", "", "dir\\win.pth"])
def test_upload_names_never_leave_the_upload_folder(name: str) -> None:
    from explorer.inputs.uploads import save_uploaded_weights, uploads_dir

    path = save_uploaded_weights(name, b"some bytes")
    assert path.resolve().is_relative_to(uploads_dir().resolve()) and path.read_bytes() == b"some bytes"


def test_an_empty_upload_is_refused() -> None:
    from explorer.inputs.uploads import save_uploaded_weights
    from explorer.weights.errors import LocalWeightsError

    with pytest.raises(LocalWeightsError, match="empty"):
        save_uploaded_weights("model.pth", b"")


def test_an_oversize_upload_is_refused_before_it_is_written(monkeypatch: pytest.MonkeyPatch) -> None:
    from explorer.inputs.uploads import save_uploaded_weights, uploads_dir
    from explorer.weights.errors import LocalWeightsError

    monkeypatch.setenv("EXPLORER_MAX_CHECKPOINT_MB", "0.001")  # 1000 bytes
    with pytest.raises(LocalWeightsError, match="checkpoint limit"):
        save_uploaded_weights("big.pth", b"x" * 2000)
    assert not uploads_dir().exists() or not any(uploads_dir().rglob("big.pth"))


# ---- through the page: two browser sessions, one file name ---------------------------------------------------

def state_dict_bytes(seed: int) -> tuple[bytes, dict[str, torch.Tensor]]:
    """A random SSDLite state dict; every float tensor gets seeded noise (its heads start out constant)."""
    generator = torch.Generator().manual_seed(seed)
    state = load_runner(torchvision_spec(SSD), "cpu", RANDOM_WEIGHTS).model.state_dict()
    state = {name: tensor + 0.05 * torch.randn(tensor.shape, generator=generator)
             if tensor.is_floating_point() and "running_var" not in name else tensor
             for name, tensor in state.items()}
    buffer = io.BytesIO()
    torch.save(state, buffer)
    return buffer.getvalue(), state


def session_with_weights(data: bytes) -> AppTest:
    from tests.test_detections_page import PAGE, png_bytes

    at = AppTest.from_file(str(REPO_ROOT / "app.py"), default_timeout=180)
    at.switch_page(PAGE)
    at.run()
    at.file_uploader(key="detections:uploads").set_value([("a.png", png_bytes(seed=3), "image/png")])
    at.selectbox(key="detections:model").set_value(SSD_UID)
    at.select_slider(key="detections:size").set_value(128)
    at.radio(key="detections:weights").set_value("upload")
    at.run()
    at.file_uploader(key="detections:wfile").set_value([("model.pth", data, "application/octet-stream")])
    at.run()
    assert not at.exception, at.exception
    return at


def page_spec():
    """The spec the page runs for SSDLite at input size 128 (the page's own resizing rule)."""
    from explorer.engine.session_runs import sized_spec
    from explorer.zoo.table import load_zoo

    table = load_zoo(["torchvision"])
    return sized_spec(table, SSD_UID, 128)


def test_two_sessions_uploading_the_same_file_name_each_get_their_own_model(tmp_path: Path) -> None:
    from explorer.inputs.images import load_image
    from explorer.views import run_resources
    from tests.test_detections_page import png_bytes

    run_resources.model_cache().clear()
    uploads = [state_dict_bytes(1)[0], state_dict_bytes(2)[0]]
    sessions = [session_with_weights(data) for data in uploads]
    errors: list[BaseException] = []

    def press_run(at: AppTest) -> None:
        try:
            at.button(key="detections:run").click().run()
        except BaseException as error:  # reported below, in the test's thread
            errors.append(error)

    for at in sessions:  # one after the other, then both at once: neither order may mix them up
        press_run(at)
    threads = [threading.Thread(target=press_run, args=(at,)) for at in sessions]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    assert not errors and all(not at.exception for at in sessions), (errors, [at.exception for at in sessions])
    assert all(not at.error for at in sessions), [e.value for at in sessions for e in at.error]
    image = load_image(png_bytes(seed=3), "a.png").rgb
    expected = []
    for index, data in enumerate(uploads):  # what each session's own file gives, loaded outside the page
        own = tmp_path / f"own{index}.pth"
        own.write_bytes(data)
        expected.append(load_runner(page_spec(), "cpu", own).predict([image])[0])
    assert len(expected[0]) and not np.array_equal(expected[0].scores, expected[1].scores)
    for at, reference in zip(sessions, expected, strict=True):
        [run] = at.session_state["detections:runs"]
        np.testing.assert_allclose(run.detections[0].scores, reference.scores, atol=1e-5)
        np.testing.assert_allclose(run.detections[0].boxes, reference.boxes, atol=1e-3)
