#!/usr/bin/env python3
"""Runs tbw's writer benchmark and the same operations with tensorboardX, in
one run, on the same inputs, and prints a Markdown table of medians and ratios.

    .venv/bin/python bench/writer_vs_tbx.py [--repeat N] [--build build]

The machine is shared and noisy: read the ratios, and rerun for a second
sample. Run it with the virtualenv that tools/test.sh creates (it has
tensorboardX and numpy).
"""
import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time

import numpy as np
from tensorboardX import SummaryWriter


def median_time(fn, repeat):
    times = []
    for i in range(repeat):
        t0 = time.perf_counter()
        fn(i)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def tbx_bench(inputs, logdir, repeat):
    out = {}
    # Scalars, one thread: the per-call cost users pay in a training loop.
    n = 100_000
    rates = []
    for r in range(3):
        w = SummaryWriter(os.path.join(logdir, f"scalars{r}"))
        t0 = time.perf_counter()
        for i in range(n):
            w.add_scalar("loss", i * 0.5, i)
        w.close()
        rates.append(n / (time.perf_counter() - t0))
    out["scalar_1thread"] = statistics.median(rates)
    # Four threads on one writer.
    w = SummaryWriter(os.path.join(logdir, "scalars4"))
    per = 25_000

    def work(k):
        for i in range(per):
            w.add_scalar(f"t{k}/loss", i * 0.5, i)

    t0 = time.perf_counter()
    th = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for t in th:
        t.start()
    for t in th:
        t.join()
    w.close()
    out["scalar_4threads"] = 4 * per / (time.perf_counter() - t0)

    w = SummaryWriter(os.path.join(logdir, "other"))
    x = np.fromfile(os.path.join(inputs, "hist_1M.f32"), dtype=np.float32)
    out["histogram_1M"] = median_time(lambda i: w.add_histogram("h", x, i), repeat) * 1e3
    xr = np.fromfile(os.path.join(inputs, "hist_1M_relu.f32"), dtype=np.float32)
    out["histogram_1M_relu"] = median_time(lambda i: w.add_histogram("relu", xr, i), repeat) * 1e3
    for name in ["noise", "smooth"]:
        img = np.fromfile(os.path.join(inputs, f"{name}_512x512x3.u8"), dtype=np.uint8).reshape(512, 512, 3)
        out[f"png_512_rgb_{name}"] = median_time(
            lambda i: w.add_image(name, img, i, dataformats="HWC"), repeat) * 1e3
    batch = np.fromfile(os.path.join(inputs, "batch_100x28x28.u8"), dtype=np.uint8).reshape(100, 1, 28, 28)
    out["png_batch_100x28x28"] = median_time(lambda i: w.add_images("batch", batch, i), repeat) * 1e3
    w.close()
    out["max_rss_kb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=7)
    ap.add_argument("--build", default=os.path.join(os.path.dirname(__file__), "..", "build"))
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        inputs = os.path.join(tmp, "inputs")
        os.mkdir(inputs)
        r = subprocess.run([os.path.join(args.build, "bench", "writer_bench"), "--repeat", str(args.repeat),
                            "--dump-inputs", inputs, os.path.join(tmp, "tbw")],
                           capture_output=True, text=True, check=True)
        ours = {d["name"]: d for d in map(json.loads, r.stdout.splitlines())}
        peer = tbx_bench(inputs, os.path.join(tmp, "tbx"), args.repeat)

    rows = [
        ("scalar events/s, 1 thread (default flush: 10 events)", ours["scalar_1thread_default"]["events_per_s"],
         peer["scalar_1thread"], "higher"),
        ("scalar events/s, 1 thread (max_queue 10000)", ours["scalar_1thread_queue10000"]["events_per_s"],
         peer["scalar_1thread"], "higher"),
        ("scalar events/s, 1 thread, background writer", ours["scalar_1thread_background"]["events_per_s"],
         peer["scalar_1thread"], "higher"),
        ("scalar events/s, 4 threads, one writer", ours["scalar_4threads_default"]["events_per_s"],
         peer["scalar_4threads"], "higher"),
        ("1M-float histogram, ms", ours["histogram_1M"]["ms"], peer["histogram_1M"], "lower"),
        ("1M-float histogram of a ReLU output (half zeros), ms", ours["histogram_1M_relu"]["ms"],
         peer["histogram_1M_relu"], "lower"),
        ("512x512 RGB PNG, noise, ms", ours["png_512_rgb_noise"]["ms"], peer["png_512_rgb_noise"], "lower"),
        ("512x512 RGB PNG, smooth, ms", ours["png_512_rgb_smooth"]["ms"], peer["png_512_rgb_smooth"], "lower"),
        ("100 x 28x28 batch as one grid PNG, ms", ours["png_batch_100x28x28"]["ms"], peer["png_batch_100x28x28"],
         "lower"),
        ("max RSS of the benchmark process, MB", ours["max_rss_kb"]["kb"] / 1024, peer["max_rss_kb"] / 1024, "lower"),
    ]
    print("| measurement | tbw | tensorboardX | tbw advantage |")
    print("|---|---:|---:|---:|")
    for name, a, b, better in rows:
        ratio = a / b if better == "higher" else b / a
        fmt = (lambda v: f"{v:,.0f}") if "events" in name else (lambda v: f"{v:.2f}")
        print(f"| {name} | {fmt(a)} | {fmt(b)} | {ratio:.1f}x |")
    print(f"\nGrowth of tbw's peak RSS over all the scalar runs ({5 * args.repeat} writers, tens of millions of "
          f"events): {ours['scalar_rss_growth_kb']['kb']} kB")
    print(f"\nPNG sizes (tbw, level 1): noise {ours['png_512_rgb_noise']['png_bytes']:,} B, "
          f"smooth {ours['png_512_rgb_smooth']['png_bytes']:,} B")


if __name__ == "__main__":
    sys.exit(main())
