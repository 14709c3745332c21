#!/usr/bin/env python3
"""Runs tbw's writer benchmark and the same operations with tensorboardX, in
one run, on the same inputs, and prints a Markdown table of medians and ratios.

    .venv/bin/python bench/writer_vs_tbx.py [--repeat N] [--build build] [--scaling] [--plot FILE.svg]

--scaling adds how the cost grows with the work, on both sides: scalars/s over 1, 10, 1000
and 100000 distinct tags, histograms of 1k, 1M and 100M floats, PNGs of 28x28, 512x512 and
4096x4096 (smooth RGB); --plot draws those three curves as one SVG (no plotting library needed).

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


def tbx_scaling(inputs, logdir, repeat):
    out = {}
    n = 100_000
    for ntags in (1, 10, 1000, 100000):
        tags = [f"layer{t}/grad_norm" for t in range(ntags)]
        rates = []
        for r in range(3):
            w = SummaryWriter(os.path.join(logdir, f"tags{ntags}_{r}"))
            t0 = time.perf_counter()
            t = 0
            for i in range(n):
                w.add_scalar(tags[t], i * 0.5, i)
                t = t + 1 if t + 1 < ntags else 0
            w.close()
            rates.append(n / (time.perf_counter() - t0))
        out[f"scalar_tags_{ntags}"] = statistics.median(rates)
    w = SummaryWriter(os.path.join(logdir, "scaling"))
    for size in (1000, 1000000, 100000000):
        x = np.fromfile(os.path.join(inputs, f"hist_{size}.f32"), dtype=np.float32)
        times = min(repeat, 3) if size >= 100000000 else repeat * 3
        out[f"histogram_{size}"] = median_time(lambda i: w.add_histogram("h", x, i), times) * 1e3
        del x
    for side in (28, 512, 4096):
        img = np.fromfile(os.path.join(inputs, f"smooth_{side}x{side}x3.u8"), dtype=np.uint8).reshape(side, side, 3)
        times = min(repeat, 3) if side >= 4096 else repeat
        out[f"png_{side}"] = median_time(lambda i: w.add_image("png", img, i, dataformats="HWC"), times) * 1e3
    w.close()
    return out


def svg_plot(path, ours, peer):
    """Three log-log panels, tbw against tensorboardX, as a plain SVG file."""
    import math
    panels = [
        ("scalar events/s vs distinct tags", [1, 10, 1000, 100000], "scalar_tags_{}", "events_per_s", "higher"),
        ("histogram ms vs floats", [1000, 1000000, 100000000], "histogram_{}", "ms", "lower"),
        ("PNG ms vs image side (RGB)", [28, 512, 4096], "png_{}", "ms", "lower"),
    ]
    W, H, pad = 300, 240, 48
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{3 * W}" height="{H + 30}" '
             'font-family="sans-serif" font-size="11">', f'<rect width="{3 * W}" height="{H + 30}" fill="white"/>']
    for k, (title, xs, key, field, _) in enumerate(panels):
        a = [ours[key.format(x)][field] for x in xs]
        b = [peer[key.format(x)] for x in xs]
        ys = [math.log10(v) for v in a + b]
        ylo, yhi = math.floor(min(ys)), math.ceil(max(ys))
        if yhi == ylo:
            yhi += 1
        xlo, xhi = math.log10(xs[0]), math.log10(xs[-1])
        ox = k * W

        def px(x):
            return ox + pad + (math.log10(x) - xlo) / (xhi - xlo) * (W - pad - 16)

        def py(v):
            return 20 + (yhi - math.log10(v)) / (yhi - ylo) * (H - 50)

        parts.append(f'<text x="{ox + W / 2}" y="14" text-anchor="middle" font-weight="bold">{title}</text>')
        parts.append(f'<rect x="{ox + pad}" y="20" width="{W - pad - 16}" height="{H - 50}" fill="none" stroke="#999"/>')
        for e in range(ylo, yhi + 1):
            y = py(10 ** e)
            parts.append(f'<line x1="{ox + pad}" x2="{ox + W - 16}" y1="{y:.1f}" y2="{y:.1f}" stroke="#eee"/>')
            parts.append(f'<text x="{ox + pad - 4}" y="{y + 4:.1f}" text-anchor="end">1e{e}</text>')
        for x in xs:
            parts.append(f'<text x="{px(x):.1f}" y="{H - 16}" text-anchor="middle">{x:,}</text>')
        for vals, color, name in ((a, "#d62728", "tbw"), (b, "#1f77b4", "tensorboardX")):
            pts = " ".join(f"{px(x):.1f},{py(v):.1f}" for x, v in zip(xs, vals))
            parts.append(f'<polyline points="{pts}" fill="none" stroke="{color}" stroke-width="2"/>')
            for x, v in zip(xs, vals):
                parts.append(f'<circle cx="{px(x):.1f}" cy="{py(v):.1f}" r="3" fill="{color}"/>')
        parts.append(f'<text x="{ox + pad + 6}" y="{H - 34}" fill="#d62728">tbw</text>')
        parts.append(f'<text x="{ox + pad + 36}" y="{H - 34}" fill="#1f77b4">tensorboardX</text>')
    parts.append("</svg>")
    with open(path, "w") as f:
        f.write("\n".join(parts) + "\n")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=7)
    ap.add_argument("--build", default=os.path.join(os.path.dirname(__file__), "..", "build"))
    ap.add_argument("--scaling", action="store_true", help="also how the cost grows with the work")
    ap.add_argument("--plot", help="with --scaling: write the growth curves to this SVG file")
    args = ap.parse_args()
    sections = "core,scaling" if args.scaling else "core"
    with tempfile.TemporaryDirectory() as tmp:
        inputs = os.path.join(tmp, "inputs")
        os.mkdir(inputs)
        r = subprocess.run([os.path.join(args.build, "bench", "writer_bench"), "--repeat", str(args.repeat),
                            "--sections", sections, "--dump-inputs", inputs, os.path.join(tmp, "tbw")],
                           capture_output=True, text=True, check=True)
        ours = {d["name"]: d for d in map(json.loads, r.stdout.splitlines())}
        peer = tbx_bench(inputs, os.path.join(tmp, "tbx"), args.repeat)
        if args.scaling:
            peer.update(tbx_scaling(inputs, os.path.join(tmp, "tbx"), args.repeat))

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
    dc, dg = ours.get("scalar_discard_event_clock"), ours.get("scalar_discard_clock_gettime")
    if dc and dg:
        print(f"\nThe writer's own cost, nothing written: {dc['events_per_s']:,.0f} events/s with its event clock, "
              f"{dg['events_per_s']:,.0f} with clock_gettime per event "
              f"({1e9 / dc['events_per_s']:.1f} against {1e9 / dg['events_per_s']:.1f} ns per event)")
    t2, t10 = ours.get("scalar_discard_tags_in_turn_2"), ours.get("scalar_discard_tags_in_turn_10")
    if dc and t2 and t10:
        print(f"Over tags logged in turn, nothing written: {1e9 / t2['events_per_s']:.1f} ns per event for 2 tags, "
              f"{1e9 / t10['events_per_s']:.1f} for 10 (one tag: {1e9 / dc['events_per_s']:.1f})")
    kw = ours.get("kernel_write_10_events")
    if kw:
        d = ours["scalar_1thread_default"]["events_per_s"]
        print(f"\nThe kernel's share of TensorFlow's policy: one pwrite of ten events ({kw['bytes']} B) takes "
              f"{kw['us']:.2f} us here, so no writer can pass {kw['ceiling_events_per_s']:,.0f} events/s with a "
              f"write every 10 events on this machine; tbw's default reaches {d / kw['ceiling_events_per_s']:.0%} "
              "of that ceiling.")
    print(f"\nGrowth of tbw's peak RSS over all the scalar runs ({5 * args.repeat} writers, tens of millions of "
          f"events): {ours['scalar_rss_growth_kb']['kb']} kB")
    print(f"\nPNG sizes (tbw, level 1): noise {ours['png_512_rgb_noise']['png_bytes']:,} B, "
          f"smooth {ours['png_512_rgb_smooth']['png_bytes']:,} B")
    if not args.scaling:
        return 0
    print("\n| growth | tbw | tensorboardX | tbw advantage |")
    print("|---|---:|---:|---:|")
    for ntags in (1, 10, 1000, 100000):
        a, b = ours[f"scalar_tags_{ntags}"]["events_per_s"], peer[f"scalar_tags_{ntags}"]
        print(f"| scalar events/s, {ntags:,} distinct tags | {a:,.0f} | {b:,.0f} | {a / b:.0f}x |")
    for size in (1000, 1000000, 100000000):
        a, b = ours[f"histogram_{size}"]["ms"], peer[f"histogram_{size}"]
        print(f"| histogram of {size:,} floats, ms | {a:.3f} | {b:.3f} | {b / a:.1f}x |")
    for side in (28, 512, 4096):
        a, b = ours[f"png_{side}"]["ms"], peer[f"png_{side}"]
        print(f"| {side}x{side} RGB PNG (smooth), ms | {a:.3f} | {b:.3f} | {b / a:.1f}x |")
    if args.plot:
        svg_plot(args.plot, ours, peer)
        print(f"\nplot: {args.plot}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
