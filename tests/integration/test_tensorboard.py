"""What real TensorBoard serves for tbw's files, under both loaders, compared
value for value with the inputs the C fixture program logged."""
import io
import math
import time
import wave

import numpy as np
import pytest
from PIL import Image

from tensorboard.backend.event_processing import event_file_loader
from tensorboard.backend.event_processing import plugin_event_accumulator
from tensorboard.util import tensor_util


def f32(x):
    return float(np.float32(x))


def event_wall_times(logdir, run):
    """wall_time per (tag, step), read with TensorBoard's own loader."""
    out = {}
    for path in sorted((logdir / run).glob("*tfevents*")):
        for ev in event_file_loader.EventFileLoader(str(path)).Load():
            for v in ev.summary.value:
                out[(v.tag, ev.step)] = ev.wall_time
    return out


def tb_buckets(data, k=30):
    """TensorBoard's histogram bucketing (plugins/histogram/summary_v2.py, 2.21)."""
    data = np.asarray(data, dtype=np.float64)
    data = data[np.isfinite(data)]
    if data.size == 0:
        return np.zeros((k, 3))
    lo, hi = data.min(), data.max()
    if hi - lo == 0:
        out = np.zeros((k, 3))
        out[:, 0] = lo
        out[:, 1] = lo
        out[-1, 2] = data.size
        return out
    width = (hi - lo) / k
    idx = np.minimum(np.floor((data - lo) / width).astype(int), k - 1)
    counts = np.bincount(idx, minlength=k)
    edges = np.linspace(lo, hi, k + 1)
    edges[-1] = hi
    return np.stack([edges[:-1], edges[1:], counts], axis=1)


def jnum(x):
    """A number from TensorBoard's JSON, where NaN and the infinities are strings."""
    return {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}.get(x, x) if isinstance(x, str) else x


# ---------------------------------------------------------------- scalars

def test_runs_listed(tb):
    assert set(tb.json("/data/runs")) == {"scalars", "many", "histograms", "images", "audio", "text"}


def test_scalar_tags(tb):
    tags = tb.json("/data/plugin/scalars/tags")
    assert set(tags["scalars"]) == {"loss", "metrics/accuracy ünï", "special"}
    assert set(tags["many"]) == {"x"}


def test_scalar_points_exact(tb, fixture_dirs):
    walls = event_wall_times(fixture_dirs[0], "scalars")
    pts = tb.json("/data/plugin/scalars/scalars", run="scalars", tag="loss")
    assert [p[1] for p in pts] == list(range(300))
    for wall, step, value in pts:
        assert value == f32(1.0 / (1.0 + step * 0.01))
        assert wall == walls[("loss", step)]
    now = time.time()
    assert now - 3600 < pts[0][0] <= now  # the real clock, in seconds
    acc = tb.json("/data/plugin/scalars/scalars", run="scalars", tag="metrics/accuracy ünï")
    assert [p[2] for p in acc] == [f32(s / 300.0) for s in range(300)]


def test_scalar_special_values(tb):
    pts = tb.json("/data/plugin/scalars/scalars", run="scalars", tag="special")
    vals = [jnum(p[2]) for p in pts]
    assert math.isnan(vals[0])
    assert vals[1:3] == [math.inf, -math.inf]
    assert vals[3] == 0.0 and math.copysign(1, vals[3]) == -1


def test_scalar_all_points_kept(tb):
    pts = tb.json("/data/plugin/scalars/scalars", run="many", tag="x")
    assert [p[1] for p in pts] == [3 * s for s in range(5000)]
    assert [p[2] for p in pts] == [f32(math.sin(s * 0.01)) for s in range(5000)]


def test_scalar_csv(tb):
    body, ctype = tb.get("/data/plugin/scalars/scalars", run="scalars", tag="loss", format="csv")
    lines = body.decode().strip().splitlines()
    assert lines[0].lower().replace(" ", "") == "walltime,step,value"
    assert len(lines) == 301


# ---------------------------------------------------------------- histograms

def served_histograms(tb, tag):
    return tb.json("/data/plugin/histograms/histograms", run="histograms", tag=tag)


def test_histogram_tags(tb):
    tags = tb.json("/data/plugin/histograms/tags")["histograms"]
    assert set(tags) == {"layer/weights", "fine", "relu", "constant", "empty", "doubles"}
    dist = tb.json("/data/plugin/distributions/tags")["histograms"]
    assert set(dist) == set(tags)


def test_histogram_buckets_exact(tb, fixture_dirs):
    side = fixture_dirs[1]
    series = served_histograms(tb, "layer/weights")
    assert [h[1] for h in series] == list(range(20))
    fine = {h[1]: h[2] for h in served_histograms(tb, "fine")}
    for wall, step, rows in series:
        x = np.fromfile(side / f"hist_weights_{step}.f32", dtype=np.float32)
        np.testing.assert_array_equal(np.array(rows, dtype=np.float64), tb_buckets(x))
        np.testing.assert_array_equal(np.array(fine[step]), tb_buckets(x, 100))
        assert sum(r[2] for r in rows) == (9998 if step % 2 == 0 else 10000)  # NaN and Inf left out


def test_histogram_relu_output_exact(tb, fixture_dirs):
    """Half the values are the minimum (a ReLU's zeros), the rest sit on and near bucket edges."""
    x = np.fromfile(fixture_dirs[1] / "hist_relu.f32", dtype=np.float32)
    (relu,) = served_histograms(tb, "relu")
    rows = np.array(relu[2], dtype=np.float64)
    np.testing.assert_array_equal(rows, tb_buckets(x))
    assert rows[0, 2] >= 5000 - 1  # the zeros (one NaN is left out)


def test_histogram_edge_cases(tb):
    (const,) = served_histograms(tb, "constant")
    np.testing.assert_array_equal(np.array(const[2]), tb_buckets(np.full(50, 0.25, np.float32)))
    (empty,) = served_histograms(tb, "empty")
    assert np.array(empty[2]).shape == (30, 3) and not np.any(np.array(empty[2]))
    (dbl,) = served_histograms(tb, "doubles")
    np.testing.assert_array_equal(np.array(dbl[2]), tb_buckets([1, 2, 3, 4, 5], 4))


def test_distributions(tb):
    d = tb.json("/data/plugin/distributions/distributions", run="histograms", tag="layer/weights")
    assert [p[1] for p in d] == list(range(20))
    for wall, step, bps in d:
        assert [b[0] for b in bps] == [0, 668, 1587, 3085, 5000, 6915, 8413, 9332, 10000]
        values = [b[1] for b in bps]
        assert values == sorted(values)


# ---------------------------------------------------------------- images

def fetch_images(tb, tag, sample):
    entries = tb.json("/data/plugin/images/images", run="images", tag=tag, sample=sample)
    out = []
    for e in entries:
        body, ctype = tb.get("/data/plugin/images/individualImage?" + e["query"])
        assert ctype == "image/png"
        out.append((e["step"], Image.open(io.BytesIO(body))))
    return out


def test_image_tags(tb):
    tags = tb.json("/data/plugin/images/tags")["images"]
    assert set(tags) == {"input", "color", "grid"}
    assert tags["input"]["samples"] == 3  # max_outputs=3 of a batch of 4


def test_image_pixels_exact(tb, fixture_dirs):
    side = fixture_dirs[1]
    for sample in range(3):
        imgs = fetch_images(tb, "input", sample)
        assert [s for s, _ in imgs] == [0, 1, 2]
        for step, im in imgs:
            want = np.fromfile(side / f"input_{step}.u8", dtype=np.uint8).reshape(4, 28, 28)[sample]
            assert im.mode == "L" and im.size == (28, 28)
            np.testing.assert_array_equal(np.array(im), want)


def test_image_float_chw(tb, fixture_dirs):
    chw = np.fromfile(fixture_dirs[1] / "color.f32", dtype=np.float32).reshape(3, 12, 16)
    want = (np.clip(chw, 0, 1) * np.float32(255) + np.float32(0.5)).astype(np.uint8).transpose(1, 2, 0)
    ((step, im),) = fetch_images(tb, "color", 0)
    assert im.mode == "RGB" and im.size == (16, 12)
    np.testing.assert_array_equal(np.array(im), want)


def test_image_grid(tb, fixture_dirs):
    ((step, im),) = fetch_images(tb, "grid", 0)
    assert im.size == (5 * 9 + 1, 5 * 9 + 1)
    px = np.array(im)
    np.testing.assert_array_equal(px.reshape(-1), np.fromfile(fixture_dirs[1] / "grid.u8", dtype=np.uint8))
    assert px[0, 0] == 255 and px[1 + 9 * 2 + 3, 1 + 9 * 3 + 3] == 13 * 10  # tile 13 = row 2, col 3


# ---------------------------------------------------------------- audio

def fetch_wav(tb, tag):
    (entry,) = tb.json("/data/plugin/audio/audio", run="audio", tag=tag, sample=0)
    body, ctype = tb.get("/data/plugin/audio/individualAudio?" + entry["query"])
    return entry, ctype, wave.open(io.BytesIO(body))


def expected_pcm(x):
    x = np.asarray(x, dtype=np.float32)
    return np.where(x >= 1, 32767, np.where(x <= -1, -32767, np.rint(x * np.float32(32767)))).astype(np.int16)


def test_audio_samples_exact(tb, fixture_dirs):
    tags = tb.json("/data/plugin/audio/tags")["audio"]
    assert set(tags) == {"tone", "stereo"}
    entry, ctype, w = fetch_wav(tb, "tone")
    assert ctype == "audio/wav"
    assert (w.getnchannels(), w.getsampwidth(), w.getframerate(), w.getnframes()) == (1, 2, 8000, 800)
    got = np.frombuffer(w.readframes(800), dtype="<i2")
    np.testing.assert_array_equal(got, expected_pcm(np.fromfile(fixture_dirs[1] / "tone.f32", np.float32)))
    entry, ctype, w = fetch_wav(tb, "stereo")
    assert (w.getnchannels(), w.getnframes()) == (2, 800)
    got = np.frombuffer(w.readframes(800), dtype="<i2")
    np.testing.assert_array_equal(got, expected_pcm(np.fromfile(fixture_dirs[1] / "stereo.f32", np.float32)))
    assert entry["step"] == 1


# ---------------------------------------------------------------- text

def test_text(tb):
    assert set(tb.json("/data/plugin/text/tags")["text"]) == {"notes", "table"}
    notes = tb.json("/data/plugin/text/text", run="text", tag="notes")
    assert [n["step"] for n in notes] == [0, 1, 2]
    for n in notes:
        assert f"<strong>step {n['step']}</strong>" in n["text"]
        assert "<em>notes</em>" in n["text"] and "ünïcödé" in n["text"]
    (table,) = tb.json("/data/plugin/text/text", run="text", tag="table")
    for cell in ["lr", "conv", "fc", "1E-03"]:
        assert f"<td><p>{cell}</p></td>" in table["text"]
    assert "<table>" in table["text"]


# ---------------------------------------------------------------- TensorBoard's accumulator

def test_event_accumulator_reads_every_run(fixture_dirs):
    log, side = fixture_dirs
    acc = plugin_event_accumulator.EventAccumulator(str(log / "scalars"), size_guidance={"tensors": 0})
    acc.Reload()
    loss = acc.Tensors("loss")
    assert [e.step for e in loss] == list(range(300))
    assert [float(tensor_util.make_ndarray(e.tensor_proto)) for e in loss] == \
        [f32(1 / (1 + s * 0.01)) for s in range(300)]
    assert acc.SummaryMetadata("loss").plugin_data.plugin_name == "scalars"
    acc = plugin_event_accumulator.EventAccumulator(str(log / "histograms"), size_guidance={"tensors": 0})
    acc.Reload()
    h = acc.Tensors("layer/weights")
    x0 = np.fromfile(side / "hist_weights_0.f32", np.float32)
    np.testing.assert_array_equal(tensor_util.make_ndarray(h[0].tensor_proto), tb_buckets(x0))
    for run, tag, plugin in [("images", "input", "images"), ("audio", "tone", "audio"), ("text", "notes", "text")]:
        acc = plugin_event_accumulator.EventAccumulator(str(log / run), size_guidance={"tensors": 0})
        acc.Reload()
        assert acc.SummaryMetadata(tag).plugin_data.plugin_name == plugin
        assert len(acc.Tensors(tag)) >= 1
