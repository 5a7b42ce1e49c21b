"""The runtime a page runs or times a model under: eager PyTorch, or ONNX Runtime / OpenVINO when installed.

Shared by the Detections page (Run settings) and the Time on this machine page. Only runtimes whose packages
import here are offered; the missing ones are named with the command that adds them.
"""

from __future__ import annotations

import streamlit as st


@st.cache_resource(show_spinner=False)
def available_runtimes() -> tuple[str, ...]:
    """Eager PyTorch and every export runtime whose package imports here (checked once per server)."""
    from explorer.runtimes import RUNTIMES
    from explorer.runtimes.backends import is_available

    return tuple(runtime for runtime in RUNTIMES if runtime == "torch" or is_available(runtime))


def runtime_choice(key: str, help_text: str) -> str:
    """A Runtime select box (state under `key`), with a caption for runtimes not installed; returns the choice."""
    from explorer.runtimes import EXPORT_RUNTIMES, RUNTIME_LABELS
    from explorer.runtimes.backends import INSTALL_HINT

    offered = available_runtimes()
    runtime = st.selectbox("Runtime", offered, format_func=RUNTIME_LABELS.get, key=key, help=help_text)
    missing = [RUNTIME_LABELS[name] for name in EXPORT_RUNTIMES if name not in offered]
    if missing:
        st.caption(f"{' and '.join(missing)} not installed here: add with `{INSTALL_HINT}`.")
    if runtime != "torch":
        st.caption("Runs on the CPU in fp32. The first use exports the model and checks it against PyTorch on fixed "
                   "images (a minute or more for a large model; a failed check is an error, never a silent switch); "
                   "later uses take the cached export.")
    return str(runtime)
