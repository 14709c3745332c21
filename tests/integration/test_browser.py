"""Real TensorBoard in a real browser: headless Debian chromium, driven by
playwright-core, visits Time Series, Scalars, Images, Histograms, Distributions, Graphs,
HParams (table, parallel coordinates, scatter plots) and Projector on the workflow's logs and checks what each shows. The
fast loader's screenshots go to build/screenshots/; with TBW_UPDATE_SCREENSHOTS=1
they replace docs/screenshots/ (the README shows them), reduced to 128 colors."""
import json
import os
import shutil
import subprocess

import pytest

from PIL import Image

from conftest import BUILD, EMBED, ROOT
from tbserver import TensorBoard

BROWSER_DIR = ROOT / "tests" / "browser"


@pytest.mark.parametrize("load_fast", ["false", "true"], ids=["python-loader", "fast-loader"])
def test_tabs_in_chromium(workflow_log, load_fast, tmp_path):
    node = shutil.which("node")
    if not node or not (BROWSER_DIR / "node_modules" / "playwright-core").exists() or not os.path.exists(
            "/usr/bin/chromium"):
        pytest.fail("the browser test needs node, tests/browser/node_modules (npm ci) and /usr/bin/chromium "
                    "(apt-get install chromium); tools/test.sh installs them")
    tb = TensorBoard(workflow_log, load_fast)
    try:
        tb.wait_for(lambda: len(tb.json("/data/runs")) >= 14, "the 14 runs")
        tb.wait_for(lambda: tb.json("/data/plugins_listing")["projector"]["enabled"], "the projector")
        shots = BUILD / "screenshots" if load_fast == "true" else tmp_path
        expected = {"layers": ["conv1", "conv2", "fc1", "fc2"], "sessions": 12, "points": [EMBED, 32],
                    "projectorRuns": 13}
        r = subprocess.run([node, "visit.mjs", tb.base, str(shots), json.dumps(expected)], cwd=BROWSER_DIR,
                           capture_output=True, text=True, timeout=600)
        print(r.stdout, r.stderr[-2000:])
        report = json.loads(r.stdout.strip().splitlines()[-1])
        assert report["failures"] == [], report["results"]
        assert r.returncode == 0
        for tab in ["timeseries", "scalars", "images", "histograms", "distributions", "graphs", "hparams", "hparams_parallel",
                    "hparams_scatter", "projector"]:
            assert (shots / f"{tab}.png").stat().st_size > 10000
            if load_fast == "true" and os.environ.get("TBW_UPDATE_SCREENSHOTS") == "1":
                im = Image.open(shots / f"{tab}.png").convert("RGB")
                im.quantize(colors=128, method=Image.Quantize.MEDIANCUT).save(
                    ROOT / "docs" / "screenshots" / f"{tab}.png", optimize=True)
    finally:
        tb.close()
