"""explorer as an installed package: the wheel carries its data, and `explorer zoo|rank` work from any directory.

The wheel is built from a copy of the checkout (the build leaves `build/` and `*.egg-info` where it runs, which must
not land in the checkout) without build isolation, so nothing is fetched: the build backend is setuptools from
requirements-dev.txt. It is installed with --no-deps into a fresh venv that borrows this environment's third-party
packages through a `.pth` file (`--system-site-packages` would lend the base interpreter's, not this venv's); a
`.pth` only appends folders to sys.path, so the venv's own copy of explorer comes first and any editable install
of the checkout stays unseen.
"""

from __future__ import annotations

import csv
import io
import os
import re
import shutil
import subprocess
import sys
import tomllib
import zipfile
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

from explorer.cli.main import main
from explorer.zoo.paths import ZOO_DATA, ZOO_DATA_DIR
from tests.deadlines import SUBPROCESS_S

REPO_ROOT: Path = Path(__file__).resolve().parents[1]
PROJECT: dict = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text("utf-8"))["project"]
#: Never copied into the build folder: version control, environments, caches and earlier build outputs.
NOT_SOURCES = shutil.ignore_patterns(".git", ".venv", "__pycache__", "*.pyc", ".pytest_cache", ".ruff_cache",
                                     "build", "dist", "*.egg-info", "test-artifacts")
#: The backend named in pyproject's [build-system]; older setuptools needs the `wheel` package besides.
MIN_SETUPTOOLS = Version("70.1")
RANK = ["rank", "--metric", "mask_ap", "--max-infer-s", "0.2", "--format", "csv"]
#: No subprocess may ask an index anything (pip's own version check included).
OFFLINE_PIP = {"PIP_NO_INDEX": "1", "PIP_DISABLE_PIP_VERSION_CHECK": "1", "PIP_NO_INPUT": "1"}


def _setuptools_missing() -> str | None:
    """Why the wheel cannot be built offline here, or None when it can."""
    try:
        found = Version(version("setuptools"))
    except PackageNotFoundError:
        return "setuptools is not installed (requirements-dev.txt pins it): the wheel cannot be built offline"
    if found < MIN_SETUPTOOLS:
        return f"setuptools {found} is older than {MIN_SETUPTOOLS} (requirements-dev.txt pins a newer one)"
    return None


def _run(command: list[str], cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=SUBPROCESS_S, check=False)
    assert done.returncode == 0, f"{command} failed:\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}"
    return done


def _clean_env() -> dict[str, str]:
    """This process's environment without anything that would put the checkout on sys.path, pip kept offline."""
    env = {key: value for key, value in os.environ.items() if key not in ("PYTHONPATH", "PYTHONHOME")}
    return {**env, **OFFLINE_PIP}


def _site_folders() -> list[str]:
    """The folders this process imports third-party packages from (never the checkout, which is no site folder)."""
    return [entry for entry in sys.path if Path(entry).name in ("site-packages", "dist-packages")]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The project's wheel, built offline from a copy of the checkout."""
    reason = _setuptools_missing()
    if reason:
        pytest.skip(reason)
    root = tmp_path_factory.mktemp("package")
    source = root / "source"
    shutil.copytree(REPO_ROOT, source, ignore=NOT_SOURCES)
    _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-w", str(root / "wheels"),
          str(source)], cwd=source, env=_clean_env())
    (built,) = (root / "wheels").glob("*.whl")
    return built


@pytest.fixture(scope="module")
def venv(wheel: Path) -> Path:
    """A fresh venv with the wheel installed, this environment's dependencies borrowed."""
    venv = wheel.parent.parent / "venv"
    _run([sys.executable, "-m", "venv", "--without-pip", str(venv)], cwd=venv.parent)
    python = venv / "bin" / "python"
    purelib = _run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                   cwd=venv.parent).stdout.strip()
    (Path(purelib) / "borrowed_dependencies.pth").write_text("\n".join(_site_folders()) + "\n", "utf-8")
    _run([sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", str(wheel)],
         cwd=venv.parent, env=_clean_env())
    return venv


def _explorer(venv: Path, *args: str, cwd: Path) -> str:
    """`explorer ARGS` through the venv's console script, run in `cwd`; its standard output."""
    return _run([str(venv / "bin" / "explorer"), *args], cwd=cwd, env=_clean_env()).stdout


def _csv_rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def test_the_build_writes_the_folder_the_readers_read() -> None:
    assert Path(str(ZOO_DATA)).resolve() == ZOO_DATA_DIR


def test_wheel_ships_the_zoo_data_and_the_console_script(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        for path in sorted(ZOO_DATA_DIR.iterdir()):
            assert f"explorer/zoo_data/{path.name}" in names, f"the wheel lacks zoo_data/{path.name}"
            assert archive.read(f"explorer/zoo_data/{path.name}") == path.read_bytes(), path.name
        (entry_points,) = [name for name in names if name.endswith(".dist-info/entry_points.txt")]
        assert re.search(r"^explorer = explorer\.cli\.main:main$", archive.read(entry_points).decode(), re.M)
    assert {name.split("/")[0] for name in names if not name.split("/")[0].endswith(".dist-info")} == {"explorer"}


def test_installed_explorer_runs_zoo_and_rank_from_an_empty_folder(venv: Path, tmp_path: Path,
                                                                    capsys: pytest.CaptureFixture[str]) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    imported = _run([str(venv / "bin" / "python"), "-c", "import explorer; print(explorer.__file__)"],
                    cwd=elsewhere, env=_clean_env()).stdout.strip()
    assert Path(imported).is_relative_to(venv), f"explorer was imported from {imported}, not the installed wheel"

    zoo = _csv_rows(_explorer(venv, "zoo", cwd=elsewhere))
    committed = sum(len(_csv_rows((ZOO_DATA / f"{name}.csv").read_text("utf-8")))
                    for name in ("detectron", "detectron2", "torchvision"))
    assert len(zoo) == committed > 0
    assert {"35861858", "MaskRCNN_ResNet50_FPN_Weights.COCO_V1"} <= {row["model_id"] for row in zoo}

    ranked = _explorer(venv, *RANK, cwd=elsewhere)
    assert "35861858" in {row["model_id"] for row in _csv_rows(ranked)}
    assert main(RANK) == 0
    assert ranked == capsys.readouterr().out, "the installed package ranks differently from the checkout"
    assert list(elsewhere.iterdir()) == [], "explorer wrote into the current directory"


def _pins(name: str) -> dict[str, Requirement]:
    """The requirements a requirements*.txt file pins itself (its `-r` includes left out), by canonical name."""
    lines = (REPO_ROOT / name).read_text("utf-8").splitlines()
    pins = [Requirement(line) for line in (line.split("#")[0].strip() for line in lines)
            if line and not line.startswith("-r")]
    return {canonicalize_name(pin.name): pin for pin in pins}


def _declared(requirements: list[str]) -> dict[str, Requirement]:
    """pyproject requirements by canonical name, the project's own extras (`dev` takes in the others) left out."""
    parsed = [Requirement(text) for text in requirements]
    return {canonicalize_name(r.name): r for r in parsed if canonicalize_name(r.name) != canonicalize_name(
        PROJECT["name"])}


@pytest.mark.parametrize(("lock_file", "declared"), [
    ("requirements.txt", PROJECT["dependencies"]),
    ("requirements-sweep.txt", PROJECT["optional-dependencies"]["sweep"]),
    ("requirements-deploy.txt", PROJECT["optional-dependencies"]["deploy"]),
    ("requirements-dev.txt", PROJECT["optional-dependencies"]["dev"]),
])
def test_package_metadata_declares_what_the_lock_files_pin(lock_file: str, declared: list[str]) -> None:
    pins, wants = _pins(lock_file), _declared(declared)
    assert set(pins) == set(wants), f"{lock_file} and pyproject.toml name different packages"
    for name, pin in pins.items():
        (exact,) = [spec.version for spec in pin.specifier if spec.operator == "=="]
        assert wants[name].specifier.contains(exact), f"{lock_file} pins {name}=={exact}, outside {wants[name]}"
        assert wants[name].extras == pin.extras, f"{name}: extras differ between {lock_file} and pyproject.toml"
