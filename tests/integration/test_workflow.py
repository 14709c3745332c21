"""The lecture's workflow end to end: a short mnist_cnn run on real
Fashion-MNIST and a tiny 12-run sweep, then real TensorBoard under both
loaders shows every tab's data."""
import io
import re
import subprocess

import numpy as np
import pytest
from google.protobuf import text_format
from PIL import Image
from tensorboard.compat.proto import graph_pb2

from conftest import build_path
from tbserver import TensorBoard

from conftest import EMBED, STEPS
LAYERS = ["conv1", "conv2", "fc1", "fc2"]
ALL_STATUSES = ["STATUS_UNKNOWN", "STATUS_SUCCESS", "STATUS_FAILURE", "STATUS_RUNNING"]


SWEEP_RUNS = [f"sweep/lr_{lr}conv{c}fc{f}" for lr in ["1E-03", "1E-04", "1E-05"] for c in (1, 2) for f in (1, 2)]


@pytest.fixture(scope="session", params=["false", "true"], ids=["python-loader", "fast-loader"])
def wtb(request, workflow_log):
    server = TensorBoard(workflow_log, request.param)
    server.wait_for(lambda: {"mnist", "sweep", *SWEEP_RUNS} <= set(server.json("/data/runs")), "all 14 runs")
    yield server
    server.close()


def test_scalars(wtb):
    for tag in ["cross_entropy", "accuracy"]:
        pts = wtb.json("/data/plugin/scalars/scalars", run="mnist", tag=tag)
        assert [p[1] for p in pts] == list(range(0, STEPS, 5))
        assert all(np.isfinite(p[2]) for p in pts)
    acc = wtb.json("/data/plugin/scalars/scalars", run="mnist", tag="accuracy")
    assert np.mean([p[2] for p in acc[-5:]]) > np.mean([p[2] for p in acc[:3]])  # it learns
    test_acc = wtb.json("/data/plugin/scalars/scalars", run="mnist", tag="test/accuracy")
    assert test_acc[-1][1] == STEPS - 1 and test_acc[-1][2] > 0.5
    for run in SWEEP_RUNS:
        assert [p[1] for p in wtb.json("/data/plugin/scalars/scalars", run=run, tag="cross_entropy")] == [0]


def test_histograms_every_layer(wtb):
    tags = set(wtb.json("/data/plugin/histograms/tags")["mnist"])
    want = {f"{l}/{k}" for l in LAYERS for k in ["weights", "biases", "activations"]}
    assert want <= tags
    h = wtb.json("/data/plugin/histograms/histograms", run="mnist", tag="conv1/weights")
    assert [x[1] for x in h] == list(range(0, STEPS, 20)) and len(h[0][2]) == 30  # --histogram-every 20
    assert sum(r[2] for r in h[0][2]) == 5 * 5 * 32  # every weight counted
    d = wtb.json("/data/plugin/distributions/distributions", run="mnist", tag="fc1/activations")
    assert len(d) == STEPS // 20


def test_images_and_filters(wtb):
    tags = wtb.json("/data/plugin/images/tags")["mnist"]
    assert tags["input"]["samples"] == 3
    (e, *_) = wtb.json("/data/plugin/images/images", run="mnist", tag="input", sample=2)
    body, ctype = wtb.get("/data/plugin/images/individualImage?" + e["query"])
    im = Image.open(io.BytesIO(body))
    assert ctype == "image/png" and im.size == (28, 28) and np.array(im).max() > 100  # a real garment
    grid = wtb.json("/data/plugin/images/images", run="mnist", tag="conv1/filters", sample=0)
    assert [g["step"] for g in grid] == [0, 100, STEPS - 1]
    body, _ = wtb.get("/data/plugin/images/individualImage?" + grid[-1]["query"])
    assert Image.open(io.BytesIO(body)).size == ((8 * 6 + 1) * 6, (4 * 6 + 1) * 6)  # 32 filters, 8 per row


def test_graph(wtb):
    body, _ = wtb.get("/data/plugin/graphs/graph", run="mnist")
    g = text_format.Parse(body.decode(), graph_pb2.GraphDef())
    scopes = {n.name.split("/")[0] for n in g.node}
    assert set(LAYERS) <= scopes
    ops = {n.name: n.op for n in g.node}
    assert ops["conv1/Conv2D"] == "Conv2D" and ops["conv2/Conv2D"] == "Conv2D"
    assert ops["fc1/MatMul"] == "MatMul" and ops["fc2/MatMul"] == "MatMul"
    assert ops["conv1/Relu"] == "Relu" and ops["pool1/MaxPool"] == "MaxPool"
    conv2 = next(n for n in g.node if n.name == "conv2/Conv2D")
    assert [d.size for d in conv2.attr["_output_shapes"].list.shape[0].dim] == [-1, 64, 14, 14]
    assert list(conv2.input) == ["pool1/MaxPool", "conv2/weights"]


def test_projector(wtb, workflow_log):
    runs = wtb.wait_for(lambda: "mnist" in wtb.json("/data/plugin/projector/runs") and
                        wtb.json("/data/plugin/projector/runs"), "the projector run")
    (emb,) = wtb.json("/data/plugin/projector/info", run="mnist")["embeddings"]
    assert emb["tensorShape"] == [EMBED, 1024]
    body, _ = wtb.get("/data/plugin/projector/tensor", run="mnist", name=emb["tensorName"])
    assert len(body) == EMBED * 1024 * 4
    meta, _ = wtb.get("/data/plugin/projector/metadata", run="mnist", name=emb["tensorName"])
    labels = [l for l in meta.decode().split("\n") if l]
    assert len(labels) == EMBED
    assert set(labels) <= {"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker",
                           "Bag", "Ankle boot"} and len(set(labels)) == 10
    sprite, _ = wtb.get("/data/plugin/projector/sprite_image", run="mnist", name=emb["tensorName"])
    assert Image.open(io.BytesIO(sprite)).size == (16 * 28, 16 * 28)


def test_hparams_sweep(wtb):
    req = {"experimentName": "", "allowedStatuses": ALL_STATUSES, "colParams": [], "startIndex": 0,
           "sliceSize": 100}
    res = wtb.wait_for(lambda: (lambda r: r if r.get("totalSize", 0) >= 12 else None)(
        wtb.post_json("/data/plugin/hparams/session_groups", req)), "the sweep's sessions")
    sessions = {g["sessions"][0]["name"]: g for g in res["sessionGroups"]}
    assert set(SWEEP_RUNS) <= set(sessions)
    for run in SWEEP_RUNS:
        g = sessions[run]
        m = re.match(r"sweep/lr_(\dE-\d\d)conv(\d)fc(\d)", run)
        assert g["hparams"] == {"lr": float(m.group(1)), "conv": int(m.group(2)), "fc": int(m.group(3))}
        metrics = {v["name"]["tag"]: v["value"] for v in g["metricValues"]}
        assert {"accuracy", "cross_entropy", "test/accuracy"} <= set(metrics)
        assert 0 <= metrics["accuracy"] <= 1 and metrics["cross_entropy"] > 0
        assert g["sessions"][0]["status"] == "STATUS_SUCCESS"
    ex = wtb.post_json("/data/plugin/hparams/experiment", {"experimentName": ""})
    assert {h["name"] for h in ex["hparamInfos"]} == {"lr", "conv", "fc"}
