"""Judges what the hostile-input cases wrote with real TensorBoard, under both loaders.

Each program in tests/hostile runs with TBW_HOSTILE_DIR set; every case that writes a run also writes
_expect/<case>.json with exactly the points TensorBoard must show for it. A run that TensorBoard
shows without an expectation, a missing or extra tag, step or value, all fail.
"""
import json
import math
import os
import struct
import subprocess
import urllib.parse
import urllib.request

import pytest

from conftest import build_path
from tbserver import TensorBoard

def programs():
    d = build_path("tests", "hostile")
    found = sorted(p for p in d.iterdir() if p.name.startswith("hostile_") and p.is_file() and os.access(p, os.X_OK))
    assert len(found) >= 2, f"no hostile programs in {d}"
    return found
PLUGINS = ["scalars", "histograms", "images", "audio", "text"]


def f32(x):
    """x rounded to float32 as C's (float) conversion does: a finite value that rounds past FLT_MAX
    (1e308, DBL_MAX) becomes an infinity of its sign, as tbw_scalar writes it."""
    if not math.isfinite(x):
        return x
    try:
        return struct.unpack("<f", struct.pack("<f", x))[0]
    except OverflowError:
        return math.copysign(math.inf, x)


def norm(v):
    """Values as a comparable key: float32-rounded, NaN made equal to NaN."""
    if v is None:
        return None
    v = f32(float(v))
    return "NaN" if math.isnan(v) else v


@pytest.fixture(scope="module")
def hostile_log(tmp_path_factory):
    """Runs every program; returns the base directory, the expectations and each program's result. A
    case that fails its own checks is reported by test_every_hostile_case_passes_its_own_checks; what
    the cases wrote is judged all the same."""
    base = tmp_path_factory.mktemp("hostile")
    results = {}
    for prog in programs():
        results[prog.name] = subprocess.run([prog], env={**os.environ, "TBW_HOSTILE_DIR": str(base)},
                                            capture_output=True, text=True, timeout=900)
    expected = {}
    for name in sorted(os.listdir(base / "_expect")):
        doc = json.loads((base / "_expect" / name).read_text())
        run = expected.setdefault(doc["run"], {})
        for plugin, tag, step, value in doc["points"]:
            run.setdefault(plugin, {}).setdefault(tag, []).append((step, norm(value)))
    for run in expected.values():
        for tags in run.values():
            for pts in tags.values():
                pts.sort(key=lambda p: p[0])
    assert len(expected) >= 10, "the hostile programs wrote too few expectations"
    return base, expected, results


def test_every_hostile_case_passes_its_own_checks(hostile_log):
    _, _, results = hostile_log
    failed = []
    for name, r in sorted(results.items()):
        if r.returncode != 0:
            lines = [ln for ln in r.stdout.splitlines() if ln.startswith("FAIL ")] or r.stdout.splitlines()[-5:]
            failed.append(f"{name} exited {r.returncode}:\n  " + "\n  ".join(lines) + "\n" + r.stderr[-4000:])
    assert not failed, "\n".join(failed)


# A GET request line holds at most 64 KiB (the server TensorBoard runs on refuses a longer one), so a
# longer tag is asked for the way TensorBoard's own dashboard asks: a form POST to scalars_multirun.
MAX_TAG_IN_URL = 16 * 1024


def scalar_rows(tb, run, tag):
    """[(wall_time, step, value)] of one run's scalar tag."""
    if len(urllib.parse.quote(tag)) <= MAX_TAG_IN_URL:
        return tb.json("/data/plugin/scalars/scalars", run=run, tag=tag)
    form = urllib.parse.urlencode({"tag": tag, "runs": [run]}, doseq=True).encode()
    req = urllib.request.Request(tb.url("/data/plugin/scalars/scalars_multirun"), data=form,
                                 headers={"Content-Type": "application/x-www-form-urlencoded"})
    with urllib.request.urlopen(req, timeout=60) as r:
        return json.loads(r.read())[run]


def shown(tb):
    """{run: {plugin: {tag: [(step, value)]}}} for every run TensorBoard lists with any tag."""
    out = {}
    for plugin in PLUGINS:
        index = tb.json(f"/data/plugin/{plugin}/tags")
        for run, tags in index.items():
            for tag in (tags if isinstance(tags, list) else tags.keys()):
                if plugin == "scalars":
                    pts = [(s, norm(v)) for _, s, v in scalar_rows(tb, run, tag)]
                elif plugin == "histograms":
                    pts = [(s, None) for _, s, _ in tb.json("/data/plugin/histograms/histograms", run=run, tag=tag)]
                elif plugin == "text":
                    pts = [(e["step"], None) for e in tb.json("/data/plugin/text/text", run=run, tag=tag)]
                else:
                    pts = [(e["step"], None)
                           for e in tb.json(f"/data/plugin/{plugin}/{plugin}", run=run, tag=tag, sample=0)]
                out.setdefault(run, {}).setdefault(plugin, {})[tag] = sorted(pts, key=lambda p: p[0])
    return out


@pytest.mark.parametrize("load_fast", ["false", "true"], ids=["python-loader", "fast-loader"])
def test_tensorboard_shows_exactly_what_each_hostile_case_expects(hostile_log, load_fast):
    base, expected, _ = hostile_log
    want = {run: plugins for run, plugins in expected.items() if any(plugins.values())}
    tb = TensorBoard(base, load_fast)
    try:
        got = {}

        def settled():
            nonlocal got
            got = shown(tb)
            return got == want

        try:
            tb.wait_for(settled, "every hostile case's expected points", timeout=300)
        except AssertionError:
            pass
        problems = []
        for run in sorted(set(want) | set(got)):
            if run not in expected:
                problems.append(f"{run}: shown, but the case wrote no expectation")
                continue
            w, g = want.get(run, {}), got.get(run, {})
            for plugin in sorted(set(w) | set(g)):
                if w.get(plugin, {}) != g.get(plugin, {}):
                    problems.append(f"{run} [{plugin}]: expected {w.get(plugin, {})}, shown {g.get(plugin, {})}")
        assert not problems, f"load_fast={load_fast}:\n" + "\n".join(problems)
    finally:
        tb.close()
