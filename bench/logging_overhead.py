#!/usr/bin/env python3
"""Logging overhead of mnist_cnn's full summaries (scalars and 3 input images
every 5 steps, 12 histograms every 20, the filter grid every 100), measured two
ways: training time with summaries on versus off (alternating runs), and the
time the training loop spends inside the summary calls. In the same run, the
time tensorboardX takes to log the same summaries (same tags and array sizes)
per histogram step, for comparison.

    .venv/bin/python bench/logging_overhead.py [--steps 400] [--repeat 3] [--build build]
"""
import argparse
import os
import re
import statistics
import subprocess
import tempfile
import time

import numpy as np


def run_cnn(build, steps, summary_every, logdir):
    out = subprocess.run([os.path.join(build, "examples", "mnist_cnn"), "--logdir", logdir, "--steps", str(steps),
                          "--summary-every", str(summary_every), "--embed", "0", "--checkpoint-every", "0",
                          "--limit-test", "1000", "--quiet"], capture_output=True, text=True, check=True).stdout
    m = re.search(r"; ([\d.]+) s, .* logging ([\d.]+) s", out)
    return float(m.group(1)), float(m.group(2))


# Array sizes of what mnist_cnn logs at batch 100 (weights, biases, activations per layer).
LAYERS = {"conv1": (800, 32, 100 * 32 * 28 * 28), "conv2": (51200, 64, 100 * 64 * 14 * 14),
          "fc1": (3136 * 1024, 1024, 100 * 1024), "fc2": (10240, 10, 100 * 10)}


def tbx_summary_step(w, step, arrays, images):
    w.add_scalar("cross_entropy", 0.5, step)
    w.add_scalar("accuracy", 0.9, step)
    w.add_images("input", images, step)
    for name, (wt, b, a) in arrays.items():
        w.add_histogram(f"{name}/weights", wt, step)
        w.add_histogram(f"{name}/biases", b, step)
        w.add_histogram(f"{name}/activations", a, step)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=400)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--build", default=os.path.join(os.path.dirname(__file__), "..", "build"))
    args = ap.parse_args()
    on, off = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.repeat):
            off.append(run_cnn(args.build, args.steps, 0, os.path.join(tmp, f"off{r}")))
            on.append(run_cnn(args.build, args.steps, 5, os.path.join(tmp, f"on{r}")))
        t_on, t_off = statistics.median(t for t, _ in on), statistics.median(t for t, _ in off)
        in_calls = statistics.median(l / t for t, l in on)
        n_hist = args.steps // 20
        per_hist_step = statistics.median(l for _, l in on) / n_hist
        # The peer: tensorboardX logging the same summaries.
        from tensorboardX import SummaryWriter
        rng = np.random.default_rng(0)
        arrays = {k: tuple(rng.standard_normal(n).astype(np.float32) for n in v) for k, v in LAYERS.items()}
        images = rng.random((3, 1, 28, 28), dtype=np.float32)
        w = SummaryWriter(os.path.join(tmp, "tbx"))
        times = []
        for s in range(10):
            t0 = time.perf_counter()
            tbx_summary_step(w, s * 5, arrays, images)
            times.append(time.perf_counter() - t0)
        w.close()
        tbx_per_summary = statistics.median(times)
    step_time = t_off / args.steps
    print(f"| | value |\n|---|---:|")
    print(f"| training, summaries off (median of {args.repeat}, {args.steps} steps) | {t_off:.2f} s |")
    print(f"| training, full summaries every 5 steps | {t_on:.2f} s |")
    print(f"| tbw logging overhead: wall time on vs off | {100 * (t_on - t_off) / t_off:+.1f}% |")
    print(f"| tbw logging overhead: time inside the summary calls | {100 * in_calls:.1f}% |")
    print(f"| tbw time per histogram step (2 scalars, 3 images, 12 histograms: 6.3M values), "
          f"upper bound | {1e3 * per_hist_step:.1f} ms |")
    print(f"| tensorboardX time for the same summaries | {1e3 * tbx_per_summary:.1f} ms |")
    print(f"| overhead tensorboardX would add (its time per histogram step, every 20 steps) | "
          f"{100 * tbx_per_summary / (20 * step_time):.0f}% |")
    print(f"\nraw: on {['%.2f' % t for t, _ in on]} off {['%.2f' % t for t, _ in off]}")


if __name__ == "__main__":
    main()
