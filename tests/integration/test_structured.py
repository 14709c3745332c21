"""Graphs, HParams, the embedding projector, PR curves and custom scalars,
as real TensorBoard serves them, under both loaders."""
import io
import json
import subprocess
import time

import numpy as np
import pytest
from google.protobuf import text_format
from PIL import Image
from tensorboard.compat.proto import graph_pb2

from conftest import build_path
from tbserver import TensorBoard

N_POINTS = 10000


@pytest.fixture(scope="session")
def structured_dirs(tmp_path_factory):
    base = tmp_path_factory.mktemp("structured")
    log, side = base / "log", base / "side"
    out = subprocess.run([build_path("tests", "integration", "gen_structured"), log, side, str(N_POINTS)],
                         check=True, capture_output=True, text=True)
    print(out.stdout)
    return log, side


@pytest.fixture(scope="session", params=["false", "true"], ids=["python-loader", "fast-loader"])
def stb(request, structured_dirs):
    server = TensorBoard(structured_dirs[0], request.param)
    server.wait_for(lambda: {"graph", "pr", "custom", "session_3"} <= set(server.json("/data/runs")), "the runs")
    yield server
    server.close()


# ---------------------------------------------------------------- graph

def test_graph(stb):
    info = stb.wait_for(lambda: stb.json("/data/plugin/graphs/info").get("graph"), "graph info")
    assert info["run_graph"] is True
    body, ctype = stb.get("/data/plugin/graphs/graph", run="graph")
    g = text_format.Parse(body.decode(), graph_pb2.GraphDef())
    nodes = {n.name: n for n in g.node}
    assert set(nodes) == {"input/x", "conv1/weights", "conv1/Conv2D", "conv1/Relu", "pool1/MaxPool", "fc/weights",
                          "fc/MatMul"}
    assert {n: nodes[n].op for n in nodes} == {
        "input/x": "Placeholder", "conv1/weights": "VariableV2", "conv1/Conv2D": "Conv2D", "conv1/Relu": "Relu",
        "pool1/MaxPool": "MaxPool", "fc/weights": "VariableV2", "fc/MatMul": "MatMul"}
    conv = nodes["conv1/Conv2D"]
    assert list(conv.input) == ["input/x", "conv1/weights"]
    assert conv.device == "/device:CPU:0"
    assert list(conv.attr["strides"].list.i) == [1, 1, 1, 1]
    assert conv.attr["padding"].s == b"SAME"
    assert conv.attr["use_cudnn_on_gpu"].b is True
    (shape,) = conv.attr["_output_shapes"].list.shape
    assert [d.size for d in shape.dim] == [-1, 28, 28, 32]
    assert list(nodes["pool1/MaxPool"].input) == ["conv1/Relu", "^input/x"]
    assert list(nodes["fc/MatMul"].input) == ["pool1/MaxPool:0", "fc/weights"]
    assert nodes["fc/MatMul"].attr["alpha"].f == 0.5
    assert nodes["input/x"].attr["dtype"].type == 1
    assert [d.size for d in nodes["input/x"].attr["shape"].shape.dim] == [-1, 28, 28, 1]


# ---------------------------------------------------------------- hparams

ALL_STATUSES = ["STATUS_UNKNOWN", "STATUS_SUCCESS", "STATUS_FAILURE", "STATUS_RUNNING"]


def test_hparams_experiment(stb):
    ex = stb.wait_for(lambda: stb.post_json("/data/plugin/hparams/experiment", {"experimentName": ""}).get(
        "hparamInfos"), "the experiment")
    infos = {h["name"]: h for h in ex}
    assert infos["lr"]["type"] == "DATA_TYPE_FLOAT64"
    assert infos["lr"]["domainDiscrete"] == [1e-3, 1e-4, 1e-5]
    assert infos["optimizer"]["type"] == "DATA_TYPE_STRING"
    assert infos["optimizer"]["domainDiscrete"] == ["adam", "sgd"]
    assert infos["dropout"]["domainInterval"] == {"minValue": 0.0, "maxValue": 0.5}
    assert infos["two_fc"]["type"] == "DATA_TYPE_BOOL"
    assert infos["two_fc"]["displayName"] == "two fc layers"
    full = stb.post_json("/data/plugin/hparams/experiment", {"experimentName": ""})
    metrics = {m["name"]["tag"]: m for m in full["metricInfos"]}
    assert set(metrics) == {"accuracy", "cross_entropy"}
    assert metrics["accuracy"]["datasetType"] == "DATASET_VALIDATION"
    assert metrics["cross_entropy"]["displayName"] == "xent"
    assert full["description"] == "four sessions"


def test_hparams_session_groups(stb):
    req = {"experimentName": "", "allowedStatuses": ALL_STATUSES, "colParams": [], "startIndex": 0, "sliceSize": 100}
    res = stb.wait_for(lambda: (lambda r: r if r.get("totalSize") == 4 else None)(
        stb.post_json("/data/plugin/hparams/session_groups", req)), "4 session groups")
    groups = {g["sessions"][0]["name"]: g for g in res["sessionGroups"]}
    assert set(groups) == {f"session_{s}" for s in range(4)}
    lrs = [1e-3, 1e-4, 1e-5]
    for s in range(4):
        g = groups[f"session_{s}"]
        assert g["hparams"] == {"lr": lrs[s % 3], "optimizer": ["adam", "sgd"][s % 2], "dropout": 0.1 * s,
                                "two_fc": s >= 2}
        vals = {m["name"]["tag"]: m for m in g["metricValues"]}
        assert vals["accuracy"]["value"] == pytest.approx(np.float32(0.5 + 0.1 + 0.1 * s), abs=0)
        assert vals["accuracy"]["trainingStep"] == 10
        assert vals["cross_entropy"]["value"] == pytest.approx(np.float32(2.0 - 1.0 - 0.2 * s), abs=0)
        sess = g["sessions"][0]
        assert sess["status"] == ("STATUS_FAILURE" if s == 3 else "STATUS_SUCCESS")
        assert sess["startTimeSecs"] == 1700000000.0 + s
        assert sess["endTimeSecs"] == 1700000100.0 + s
    only_ok = dict(req, allowedStatuses=["STATUS_SUCCESS"])
    assert stb.post_json("/data/plugin/hparams/session_groups", only_ok)["totalSize"] == 3


# ---------------------------------------------------------------- projector

def test_projector(stb, structured_dirs):
    log, side = structured_dirs
    t0 = time.time()
    runs = stb.wait_for(lambda: stb.json("/data/plugin/projector/runs"), "projector runs")
    assert "." in runs
    info = stb.json("/data/plugin/projector/info", run=".")
    embs = {e["tensorName"]: e for e in info["embeddings"]}
    assert set(embs) == {"fc1/activations", "small"}
    assert embs["fc1/activations"]["tensorShape"] == [N_POINTS, 64]
    assert embs["fc1/activations"]["sprite"]["singleImageDim"] == [28, 28]
    body, _ = stb.get("/data/plugin/projector/tensor", run=".", name="fc1/activations")
    got = np.frombuffer(body, dtype="<f4")
    want = np.fromfile(side / "emb.f32", dtype=np.float32)
    np.testing.assert_array_equal(got, want)  # bit for bit through the TSV
    meta, _ = stb.get("/data/plugin/projector/metadata", run=".", name="fc1/activations")
    lines = meta.decode().split("\n")
    assert lines[0] == "class\tid"
    rows = [l for l in lines[1:] if l]
    assert len(rows) == N_POINTS
    assert rows[0] == "T-shirt/top\tid 0"
    assert rows[5] == "tab\\there\tid 5"
    assert rows[6] == "Shirt\tline\\nbreak"
    assert rows[7] == "(empty)\tid 7"
    assert all(len(r.split("\t")) == 2 for r in rows)
    sprite, ctype = stb.get("/data/plugin/projector/sprite_image", run=".", name="fc1/activations")
    assert ctype == "image/png"
    im = np.array(Image.open(io.BytesIO(sprite)))
    assert im.shape == (100 * 28, 100 * 28)
    thumbs = np.fromfile(side / "thumbs.u8", dtype=np.uint8).reshape(N_POINTS, 28, 28)
    for i in [0, 1, 99, 100, 4321, N_POINTS - 1]:
        r, c = divmod(i, 100)
        np.testing.assert_array_equal(im[r * 28:(r + 1) * 28, c * 28:(c + 1) * 28], thumbs[i])
    elapsed = time.time() - t0
    print(f"projector {N_POINTS}x64 + sprite served in {elapsed:.2f} s; files: "
          + ", ".join(f"{p.name} {p.stat().st_size} B" for p in sorted((log / "embeddings").glob("fc1*/*"))))
    assert elapsed < 30
    small_meta, _ = stb.get("/data/plugin/projector/metadata", run=".", name="small")
    small_rows = [l for l in small_meta.decode().split("\n") if l]
    assert len(small_rows) == 100 and small_rows[0] == "T-shirt/top"  # one column: no header
    small, _ = stb.get("/data/plugin/projector/tensor", run=".", name="small")
    np.testing.assert_array_equal(np.frombuffer(small, "<f4"), np.arange(800, dtype=np.float32) * 0.25)


# ---------------------------------------------------------------- PR curves

def tb_pr(labels, pred, t, weights=None):
    """TensorBoard's pr_curve computation (plugins/pr_curve/summary.py, pb())."""
    weights = 1.0 if weights is None else weights
    idx = np.int32(np.floor(pred * (t - 1)))
    fl = labels.astype(np.float64)
    tp_b, _ = np.histogram(idx, bins=t, range=(0, t - 1), weights=fl * weights)
    fp_b, _ = np.histogram(idx, bins=t, range=(0, t - 1), weights=(1.0 - fl) * weights)
    tp = np.cumsum(tp_b[::-1])[::-1]
    fp = np.cumsum(fp_b[::-1])[::-1]
    tn = fp[0] - fp
    fn = tp[0] - tp
    precision = tp / np.maximum(1e-7, tp + fp)
    recall = tp / np.maximum(1e-7, tp + fn)
    return {k: np.float32(v) for k, v in dict(true_positives=tp, false_positives=fp, true_negatives=tn,
                                               false_negatives=fn, precision=precision, recall=recall).items()}


def test_pr_curves(stb, structured_dirs):
    side = structured_dirs[1]
    tags = stb.json("/data/plugin/pr_curves/tags")["pr"]
    assert set(tags) == {"classifier/pr_curves", "weighted/pr_curves"}
    for tag, t, weighted in [("classifier/pr_curves", 201, False), ("weighted/pr_curves", 11, True)]:
        series = stb.json("/data/plugin/pr_curves/pr_curves", run="pr", tag=tag)["pr"]
        assert [e["step"] for e in series] == [0, 1, 2]
        for e in series:
            s = e["step"]
            labels = np.fromfile(side / f"pr_labels_{s}.u8", np.uint8).astype(bool)
            pred = np.fromfile(side / f"pr_pred_{s}.f32", np.float32)
            w = np.fromfile(side / f"pr_weight_{s}.f32", np.float32) if weighted else None
            want = tb_pr(labels, pred, t, w)
            n = len(e["precision"])  # TensorBoard trims the tail where no example is predicted positive
            assert n > t // 2
            for k, v in want.items():
                if k not in ("precision", "recall"):
                    v = np.trunc(v)  # the plugin serves the counts as integers
                np.testing.assert_array_equal(np.float32(e[k]), v[:n], err_msg=f"{tag} step {s} {k}")
            assert e["thresholds"] == pytest.approx([i / (t - 1) for i in range(n)])


# ---------------------------------------------------------------- custom scalars

def test_custom_scalars(stb):
    layout = stb.wait_for(lambda: stb.json("/data/plugin/custom_scalars/layout"), "the layout")
    (cat,) = layout["category"]
    assert cat["title"] == "training"
    multi, margin = cat["chart"]
    assert multi == {"title": "losses", "multiline": {"tag": ["loss/.*"]}}
    assert margin["title"] == "accuracy band"
    assert margin["margin"]["series"] == [{"value": "acc/mean", "lower": "acc/lower", "upper": "acc/upper"}]
    res = stb.json("/data/plugin/custom_scalars/scalars", run="custom", tag="loss/.*")
    assert res["regex_valid"] is True
    ev = res["tag_to_events"]
    assert set(ev) == {"loss/train", "loss/test"}
    assert [p[2] for p in ev["loss/train"]] == [float(np.float32(1.0 / (s + 1))) for s in range(20)]
    assert [p[1] for p in ev["loss/test"]] == list(range(20))
