#!/usr/bin/env python3
"""Trains the lecture's net in tbw (bench/cnn_bench), TensorFlow and PyTorch, alternately, and prints
one table per thread count and batch size: medians, per-round ratios, GFLOP/s, the share of the
measured sgemm peak, and peak RSS.

The net: conv 5x5x32 SAME + ReLU + 2x2 maxpool, conv 5x5x64 SAME + ReLU + 2x2 maxpool, fc 1024 +
ReLU, fc 10; Adam (lr 1e-4), cross-entropy, Fashion-MNIST training batches (the same shuffled
order in all three), no dropout; each engine limited to the same number of threads.

Usage: bench/cnn_vs_peers.py [--threads 1,2] [--batches 32,100,256] [--rounds 5] [--peers tf,torch]
                             [--tf-venv DIR] [--torch-venv DIR] [--no-avx512]
The engines run one after another in each round, rounds alternate, and every figure is a median.
TensorFlow and PyTorch come from virtualenvs made on first use (default ~/.cache/tbw/tfvenv with
tensorflow-cpu==2.21.0 and ~/.cache/tbw/torchvenv with torch==2.15.0; PyPI's torch wheel brings
about 5 GB of CUDA libraries, which is why it is never part of CI). --no-avx512 keeps all three off
AVX-512, to show what a CPU without it gets: TBW_NO_AVX512=1 and OPENBLAS_CORETYPE=Haswell for tbw,
ONEDNN_MAX_CPU_ISA=AVX2 for both peers (their convolutions and GEMMs run in oneDNN) and
ATEN_CPU_CAPABILITY=avx2 for PyTorch's own kernels.

tbw's GEMMs for conv1 and fc1 run in OpenBLAS, which picks its kernels for the CPU unless
OPENBLAS_CORETYPE forces a type; the table header names the kernels used, and the sgemm peak is
measured with them.
"""
import argparse
import os
import statistics
import subprocess
import sys
import venv

TF_VERSION = "2.21.0"
TORCH_VERSION = "2.15.0"

# What both engines' scripts share: arguments and the IDX reader first, the timing loop last
# (warm-up, then the median over windows of images/s, and the peak RSS); `sync` is how a step's
# loss is waited for.
PRELUDE = r'''
import gzip, os, resource, statistics, sys, time
import numpy as np
threads = int(sys.argv[1]); windows = int(sys.argv[2]); steps = int(sys.argv[3]); data = sys.argv[4]; B = int(sys.argv[5])
def idx(path, off):
    with gzip.open(path, "rb") as f:
        return np.frombuffer(f.read(), np.uint8, offset=off)
'''


def timing_loop(sync):
    return r'''
for _ in range(5):
    step(*batch()).SYNC()
rates = []
for w in range(windows):
    t = 0.0
    for _ in range(steps):
        t0 = time.perf_counter()
        step(*batch()).SYNC()
        t += time.perf_counter() - t0
    rates.append(steps * B / t)
print("images_per_sec=%.1f" % statistics.median(rates))
print("peak_rss_mb=%.1f" % (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0))
'''.replace("SYNC", sync)


TF_SCRIPT = PRELUDE + r'''
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
import tensorflow as tf
tf.config.threading.set_intra_op_parallelism_threads(threads)
tf.config.threading.set_inter_op_parallelism_threads(threads)
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
bi = 0; nb = len(x) // B
def batch():
    global bi
    s = order[(bi % nb) * B:(bi % nb) * B + B]; bi += 1
    return tf.constant(x[s].astype(np.float32) / 255.0), tf.constant(y[s])
''' + timing_loop("numpy")

TORCH_SCRIPT = PRELUDE + r'''
import torch
torch.set_num_threads(threads)
torch.set_num_interop_threads(1)
x = idx(os.path.join(data, "train-images-idx3-ubyte.gz"), 16).reshape(-1, 1, 28, 28)
y = idx(os.path.join(data, "train-labels-idx1-ubyte.gz"), 8).astype(np.int64)
rng = np.random.default_rng(1); order = rng.permutation(len(x))
nn = torch.nn
model = nn.Sequential(
    nn.Conv2d(1, 32, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
    nn.Conv2d(32, 64, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
    nn.Flatten(), nn.Linear(3136, 1024), nn.ReLU(), nn.Linear(1024, 10))
opt = torch.optim.Adam(model.parameters(), lr=1e-4, eps=1e-8)
lossf = nn.CrossEntropyLoss()
def step(xb, yb):
    opt.zero_grad(set_to_none=True)
    loss = lossf(model(xb), yb)
    loss.backward()
    opt.step()
    return loss
bi = 0; nb = len(x) // B
def batch():
    global bi
    s = order[(bi % nb) * B:(bi % nb) * B + B]; bi += 1
    return torch.from_numpy(x[s].astype(np.float32) / 255.0), torch.from_numpy(y[s])
''' + timing_loop("item")


def parse(text):
    out = {}
    for line in text.splitlines():
        if "=" in line:
            k, v = line.split("=", 1)
            try:
                out[k.strip()] = float(v)
            except ValueError:
                out[k.strip()] = v.strip()
    return out


def cpu_ticks():
    """(steal, all) jiffies of the machine from /proc/stat; (0, 0) where there is none."""
    try:
        with open("/proc/stat") as f:
            v = [int(x) for x in f.readline().split()[1:]]
        return (v[7] if len(v) > 7 else 0), sum(v[:8])
    except (OSError, ValueError):
        return 0, 0


def run_sample(cmd, env):
    """One engine's sample: its parsed output plus the share of the machine's CPU time that the
    host took from this VM meanwhile (steal, in %), so a slow round can be told from a slow engine."""
    s0, t0 = cpu_ticks()
    o = parse(subprocess.run(cmd, check=True, capture_output=True, text=True, env=env).stdout)
    s1, t1 = cpu_ticks()
    o["steal_pct"] = 100.0 * (s1 - s0) / (t1 - t0) if t1 > t0 else 0.0
    return o


def ensure_venv(venv_dir, module, requirement):
    py = os.path.join(venv_dir, "bin", "python")
    ok = os.path.exists(py) and subprocess.run([py, "-c", "import " + module], capture_output=True).returncode == 0
    if not ok:
        print("creating %s with %s ..." % (venv_dir, requirement), file=sys.stderr)
        venv.create(venv_dir, with_pip=True)
        subprocess.run([py, "-m", "pip", "install", "-q", requirement, "numpy"], check=True)
    return py


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    cache = os.path.join(os.path.expanduser("~"), ".cache", "tbw")
    ap = argparse.ArgumentParser()
    ap.add_argument("--bench", default=os.path.join(here, "..", "build", "bench", "cnn_bench"))
    ap.add_argument("--threads", default="2", help="comma-separated thread counts")
    ap.add_argument("--batches", default="100", help="comma-separated batch sizes")
    ap.add_argument("--windows", type=int, default=7)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--peers", default="tf,torch")
    ap.add_argument("--data", default="/usr/share/datasets/fashion-mnist")
    ap.add_argument("--tf-venv", "--venv", dest="tf_venv", default=os.path.join(cache, "tfvenv"))
    ap.add_argument("--torch-venv", default=os.path.join(cache, "torchvenv"))
    ap.add_argument("--no-avx512", action="store_true")
    a = ap.parse_args()

    peers = []
    for p in filter(None, a.peers.split(",")):
        if p == "tf":
            peers.append(("TensorFlow " + TF_VERSION, ensure_venv(a.tf_venv, "tensorflow",
                                                                   "tensorflow-cpu==" + TF_VERSION), TF_SCRIPT))
        elif p == "torch":
            peers.append(("PyTorch " + TORCH_VERSION, ensure_venv(a.torch_venv, "torch", "torch==" + TORCH_VERSION),
                          TORCH_SCRIPT))
        else:
            sys.exit("unknown peer %r (tf, torch)" % p)
    env = dict(os.environ)
    tbw_env = dict(env)
    if a.no_avx512:
        tbw_env["TBW_NO_AVX512"] = "1"
        tbw_env["OPENBLAS_CORETYPE"] = "Haswell"
        env["ONEDNN_MAX_CPU_ISA"] = "AVX2"
        env["ATEN_CPU_CAPABILITY"] = "avx2"
    a.coretype = tbw_env.get("OPENBLAS_CORETYPE", "")
    peak = None
    for threads in [int(t) for t in a.threads.split(",")]:
        for B in [int(b) for b in a.batches.split(",")]:
            ours_runs, peer_runs = [], [[] for _ in peers]
            for r in range(a.rounds):
                cmd = [a.bench, "--threads", str(threads), "--batch", str(B), "--windows", str(a.windows),
                       "--steps", str(a.steps), "--data", a.data] + ([] if peak is None else ["--no-peak"])
                o = run_sample(cmd, tbw_env)
                if peak is None:
                    peak = o
                ours_runs.append(o)
                for k, (name, py, script) in enumerate(peers):
                    peer_runs[k].append(run_sample(
                        [py, "-c", script, str(threads), str(a.windows), str(a.steps), a.data, str(B)], env))
            report(threads, B, a, peak, ours_runs, peers, peer_runs)


def report(threads, B, a, peak, ours_runs, peers, peer_runs):
    flop = peak["mflop_per_image"] * 1e6
    top = peak["sgemm_peak_2t"] if threads >= 2 else peak["sgemm_peak_1t"]
    med = lambda runs, k: statistics.median(r[k] for r in runs)
    rows = [("tbw cnn" + (" (TBW_NO_AVX512=1)" if a.no_avx512 else ""), ours_runs)]
    rows += [(name, runs) for (name, _, _), runs in zip(peers, peer_runs)]
    print("\nthreads=%d batch=%d, %.1f MFLOP/training image, sgemm 2048^3 peak %.0f GFLOP/s at %d thread%s, "
          "medians of %d alternating rounds; tbw's OpenBLAS kernels: %s%s%s" % (
              threads, B, flop / 1e6, top, threads, "s" if threads > 1 else "", a.rounds,
              peak.get("openblas_core", "?"),
              " (forced: OPENBLAS_CORETYPE=%s)" % a.coretype if a.coretype else "",
              "; peers capped at AVX2 (ONEDNN_MAX_CPU_ISA)" if a.no_avx512 else ""))
    print("| engine | images/s | GFLOP/s | % of sgemm peak | peak RSS MB |")
    print("|---|---:|---:|---:|---:|")
    for name, runs in rows:
        ips = med(runs, "images_per_sec")
        g = ips * flop / 1e9
        print("| %s | %.0f | %.1f | %.1f | %.0f |" % (name, ips, g, 100 * g / top, med(runs, "peak_rss_mb")))
    for (name, _, _), runs in zip(peers, peer_runs):
        ratios = [o["images_per_sec"] / p["images_per_sec"] for o, p in zip(ours_runs, runs)]
        print("tbw / %s: images/s median %.2fx (rounds %s), lowest %.2fx; peak RSS %.2f" % (
            name, statistics.median(ratios), " ".join("%.2f" % x for x in ratios), min(ratios),
            med(ours_runs, "peak_rss_mb") / med(runs, "peak_rss_mb")))
    for name, runs in rows:
        print("%s per round: images/s %s; host steal %% %s" % (
            name, " ".join("%.0f" % r["images_per_sec"] for r in runs),
            " ".join("%.1f" % r["steal_pct"] for r in runs)))
    sys.stdout.flush()


if __name__ == "__main__":
    main()
