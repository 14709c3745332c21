import os
import pathlib
import subprocess

import pytest

from tbserver import TensorBoard

ROOT = pathlib.Path(__file__).resolve().parents[2]  # the repository
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


# The lecture's workflow, shared by test_workflow.py and test_browser.py.
STEPS, BATCH, EMBED = 200, 50, 256


@pytest.fixture(scope="session")
def workflow_log(tmp_path_factory):
    log = tmp_path_factory.mktemp("workflow")
    subprocess.run([build_path("examples", "mnist_cnn"), "--logdir", log / "mnist", "--steps", str(STEPS),
                    "--batch", str(BATCH), "--limit-train", "5000", "--limit-test", "500", "--embed", str(EMBED),
                    "--checkpoint-every", "100", "--quiet"], check=True)
    subprocess.run([build_path("examples", "hparam_sweep"), "--logdir", log / "sweep", "--steps", "2",
                    "--limit-train", "200", "--limit-test", "200", "--embed", "32", "--quiet"], check=True,
                   stdout=subprocess.DEVNULL)
    return log


