"""app.py finds its pages beside itself, so `streamlit run /abs/path/app.py` works from any current directory."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from tests.deadlines import APP_RUN_S

APP = Path(__file__).resolve().parents[1] / "app.py"
PAGE_TITLES = {"zoo_tables": "Zoo tables", "schedules": "Schedules & backbones"}


@pytest.mark.parametrize("page", sorted(PAGE_TITLES))
def test_pages_run_when_the_current_directory_is_elsewhere(page: str, tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # no explorer/pages/ here: a cwd-relative page path would not be found
    at = AppTest.from_file(str(APP), default_timeout=APP_RUN_S)
    at.switch_page(f"explorer/pages/{page}.py")
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert not (tmp_path / "explorer").exists()
    assert any(PAGE_TITLES[page].split()[0] in title.value for title in at.title), [t.value for t in at.title]


def test_every_page_file_of_app_py_exists_beside_it() -> None:
    """The page files app.py registers, read from its source, all lie under its own folder."""
    source = APP.read_text()
    names = [line.split('PAGES_DIR / "', 1)[1].split('"', 1)[0] for line in source.splitlines()
             if 'PAGES_DIR / "' in line]
    assert len(names) == source.count("st.Page(") and names
    assert all((APP.parent / "explorer" / "pages" / name).is_file() for name in names)
