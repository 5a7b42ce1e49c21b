"""The zoo table is one object shared by every session (st.cache_resource), so no page may change it."""

from __future__ import annotations

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from explorer.views import loaders
from explorer.zoo.paths import REPO_ROOT
from tests.deadlines import APP_RUN_S

APP = REPO_ROOT / "app.py"
PAGES = sorted(path.stem for path in (REPO_ROOT / "explorer" / "pages").glob("*.py") if path.stem != "__init__")


def test_every_rerun_gets_the_same_table_not_a_copy() -> None:
    """No unpickled copy per rerun: that copy was half the CPU of a Detections page rerun."""
    assert loaders.zoo_table() is loaders.zoo_table()


@pytest.mark.parametrize("page", PAGES)
def test_no_page_changes_the_shared_table(page: str, monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("EXPLORER_CACHE", str(tmp_path))
    shared = loaders.zoo_table()
    before = shared.copy(deep=True)
    at = AppTest.from_file(str(APP), default_timeout=APP_RUN_S)
    at.switch_page(f"explorer/pages/{page}.py")
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    at.run()  # a second rerun reads the table again
    assert loaders.zoo_table() is shared
    pd.testing.assert_frame_equal(shared, before)
