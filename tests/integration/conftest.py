import os
import pathlib
import subprocess

import pytest

from tbserver import TensorBoard

ROOT = pathlib.Path(__file__).resolve().parents[2]
BUILD = pathlib.Path(os.environ.get("TBW_BUILD", ROOT / "build"))


def build_path(*parts):
    p = BUILD.joinpath(*parts)
    if not p.exists():
        pytest.fail(f"{p} is missing: build first (meson setup build && ninja -C build)")
    return p


@pytest.fixture(scope="session")
def fixture_dirs(tmp_path_factory):
    """The gen_fixture log directory and its raw inputs."""
    base = tmp_path_factory.mktemp("fixture")
    log, side = base / "log", base / "side"
    subprocess.run([build_path("tests", "integration", "gen_fixture"), log, side], check=True)
    return log, side


@pytest.fixture(scope="session", params=["false", "true"], ids=["python-loader", "fast-loader"])
def tb(request, fixture_dirs):
    server = TensorBoard(fixture_dirs[0], request.param)
    server.wait_for(lambda: len(server.json("/data/runs")) >= 6, "all six runs")
    yield server
    server.close()
