#!/usr/bin/env python3
"""Runs cnn_bench and the same network in TensorFlow in one go and prints a comparison table.

The lecture's net: conv 5x5x32 SAME + ReLU + 2x2 maxpool, conv 5x5x64 SAME + ReLU + 2x2 maxpool,
fc 1024 + ReLU, fc 10; batch 100, Adam (lr 1e-4), 28x28x1 Fashion-MNIST, 2 threads on both sides.

Usage: bench/cnn_vs_tf.py [--bench build/bench/cnn_bench] [--threads 2] [--rounds 3] [--venv DIR]
The two engines run alternately, --rounds times each (the machine is shared and noisy); the table
gives medians and every round's ratio.
TensorFlow comes from a venv created on first use (default ~/.cache/tbw/tfvenv,
pip install tensorflow-cpu==2.21.0); nothing is installed into the system Python.
"""
import argparse
import os
import statistics
import subprocess
import sys
import venv

TF_VERSION = "2.21.0"

TF_SCRIPT = r'''
import gzip, os, resource, statistics, sys, time
import numpy as np
threads = int(sys.argv[1]); windows = int(sys.argv[2]); steps = int(sys.argv[3]); data = sys.argv[4]
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
import tensorflow as tf
tf.config.threading.set_intra_op_parallelism_threads(threads)
tf.config.threading.set_inter_op_parallelism_threads(threads)
def idx(path, off):
    with gzip.open(path, "rb") as f:
        return np.frombuffer(f.read(), np.uint8, offset=off)
x = idx(os.path.join(data, "train-images-idx3-ubyte.gz"), 16).reshape(-1, 28, 28, 1)
y = idx(os.path.join(data, "train-labels-idx1-ubyte.gz"), 8).astype(np.int32)
rng = np.random.default_rng(1); order = rng.permutation(len(x))
model = tf.keras.Sequential([
    tf.keras.Input((28, 28, 1)),
    tf.keras.layers.Conv2D(32, 5, padding="same", activation="relu"),
    tf.keras.layers.MaxPool2D(2, 2, padding="same"),
    tf.keras.layers.Conv2D(64, 5, padding="same", activation="relu"),
    tf.keras.layers.MaxPool2D(2, 2, padding="same"),
    tf.keras.layers.Flatten(),
    tf.keras.layers.Dense(1024, activation="relu"),
    tf.keras.layers.Dense(10)])
opt = tf.keras.optimizers.Adam(1e-4, epsilon=1e-8)
lossf = tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True)
@tf.function(jit_compile=False)
def step(xb, yb):
    with tf.GradientTape() as tape:
        loss = lossf(yb, model(xb, training=True))
    g = tape.gradient(loss, model.trainable_variables)
    opt.apply_gradients(zip(g, model.trainable_variables))
    return loss
bi = 0; nb = len(x) // 100
def batch():
    global bi
    s = order[(bi % nb) * 100:(bi % nb) * 100 + 100]; bi += 1
    return tf.constant(x[s].astype(np.float32) / 255.0), tf.constant(y[s])
for _ in range(5):
    step(*batch()).numpy()
rates = []
for w in range(windows):
    t = 0.0
    for _ in range(steps):
        t0 = time.perf_counter()
        step(*batch()).numpy()
        t += time.perf_counter() - t0
    rates.append(steps * 100 / t)
print("images_per_sec=%.1f" % statistics.median(rates))
print("peak_rss_mb=%.1f" % (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0))
'''


def parse(text):
    out = {}
    for line in text.splitlines():
        if "=" in line:
            k, v = line.split("=", 1)
            try:
                out[k.strip()] = float(v)
            except ValueError:
                pass
    return out


def ensure_tf(venv_dir):
    py = os.path.join(venv_dir, "bin", "python")
    ok = os.path.exists(py) and subprocess.run(
        [py, "-c", "import tensorflow"], capture_output=True).returncode == 0
    if not ok:
        print("creating %s with tensorflow-cpu==%s ..." % (venv_dir, TF_VERSION), file=sys.stderr)
        venv.create(venv_dir, with_pip=True)
        subprocess.run([py, "-m", "pip", "install", "-q", "tensorflow-cpu==" + TF_VERSION], check=True)
    return py


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser()
    ap.add_argument("--bench", default=os.path.join(here, "..", "build", "bench", "cnn_bench"))
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--windows", type=int, default=7)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--data", default="/usr/share/datasets/fashion-mnist")
    ap.add_argument("--venv", default=os.path.join(os.path.expanduser("~"), ".cache", "tbw", "tfvenv"))
    a = ap.parse_args()

    env = dict(os.environ)
    py = ensure_tf(a.venv)
    ours_runs, tf_runs = [], []
    for r in range(a.rounds):
        cmd = [a.bench, "--threads", str(a.threads), "--windows", str(a.windows), "--steps", str(a.steps),
               "--data", a.data] + ([] if r == 0 else ["--no-peak"])
        ours_runs.append(parse(subprocess.run(cmd, check=True, capture_output=True, text=True, env=env).stdout))
        tf_runs.append(parse(subprocess.run([py, "-c", TF_SCRIPT, str(a.threads), str(a.windows), str(a.steps),
                                             a.data], check=True, capture_output=True, text=True,
                                            env=env).stdout))
    ours = dict(ours_runs[0])
    tf = {}
    for k in ("images_per_sec", "peak_rss_mb"):
        ours[k] = statistics.median(o[k] for o in ours_runs)
        tf[k] = statistics.median(t[k] for t in tf_runs)
    ratios = [o["images_per_sec"] / t["images_per_sec"] for o, t in zip(ours_runs, tf_runs)]

    flop = ours["mflop_per_image"] * 1e6
    peak = ours["sgemm_peak_2t"] if a.threads >= 2 else ours["sgemm_peak_1t"]
    rows = [("tbw cnn", ours["images_per_sec"], ours["peak_rss_mb"]),
            ("TensorFlow " + TF_VERSION, tf["images_per_sec"], tf["peak_rss_mb"])]
    print("threads=%d batch=100, %.1f MFLOP/training image, sgemm 2048^3 peak %.0f GFLOP/s (1 thread %.0f), "
          "medians of %d alternating rounds" % (a.threads, flop / 1e6, peak, ours["sgemm_peak_1t"], a.rounds))
    print("| engine | images/s | GFLOP/s | % of sgemm peak | peak RSS MB |")
    print("|---|---:|---:|---:|---:|")
    for name, ips, rss in rows:
        g = ips * flop / 1e9
        print("| %s | %.0f | %.1f | %.1f | %.0f |" % (name, ips, g, 100 * g / peak, rss))
    if ours.get("conv2_im2col_gflops"):
        print("conv2 alone (forward, weight and input gradients), 2 threads: direct %.0f GFLOP/s, im2col + sgemm %.0f"
              % (ours.get("conv2_direct_gflops", 0), ours["conv2_im2col_gflops"]))
    print("rounds (tbw / TF images/s): " + ", ".join(
        "%.0f/%.0f" % (o["images_per_sec"], t["images_per_sec"]) for o, t in zip(ours_runs, tf_runs)))
    print("ratio tbw/TF images/s: median %.2fx (rounds %s); memory tbw/TF: %.2f"
          % (statistics.median(ratios), " ".join("%.2f" % x for x in ratios),
             ours["peak_rss_mb"] / tf["peak_rss_mb"]))

if __name__ == "__main__":
    main()
