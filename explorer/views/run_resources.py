"""What pages share to run models: one model cache and one inference queue per device for the whole server,
and the id that tells the queues whose run is whose.

These live in an imported module, not in a page file: Streamlit executes a page file afresh on each run
under its own module name, so a resource defined there is not the one other pages (or a test) would get.
"""

from __future__ import annotations

import uuid
from typing import Any

import streamlit as st

SESSION_ID_KEY = "explorer:session_id"


@st.cache_resource(show_spinner=False)
def model_cache() -> Any:
    """One bounded model cache for the whole server: every session shares loaded models."""
    from explorer.engine.runners import ModelCache

    return ModelCache()


@st.cache_resource(show_spinner=False)
def inference_queues() -> Any:
    """One inference queue per device for the whole server, over the shared model cache (see inference_queue)."""
    from explorer.engine.queue import InferenceQueues

    return InferenceQueues(model_cache())


def session_id() -> str:
    """This browser session's id for the queues: a random id kept in its session state (public API only)."""
    return st.session_state.setdefault(SESSION_ID_KEY, uuid.uuid4().hex)
