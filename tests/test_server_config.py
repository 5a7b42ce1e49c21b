"""Server settings in `.streamlit/config.toml` that the app's behaviour under load depends on."""

from __future__ import annotations

import tomllib
from pathlib import Path

CONFIG = Path(__file__).resolve().parents[1] / ".streamlit" / "config.toml"


def test_no_full_garbage_collection_after_every_script_run() -> None:
    """Streamlit's default `gc.collect(2)` after each script run walks every object of a server that has torch,
    pandas and plotly loaded while holding the GIL, once per rerun of every session, and so stalls the model
    run in progress (bench/bench_browser_sessions.py, bench/README.md). The option must exist and be off."""
    from streamlit import config

    config.get_option("runner.postScriptGC")  # raises if Streamlit renamed or dropped the option
    assert tomllib.loads(CONFIG.read_text())["runner"]["postScriptGC"] is False
