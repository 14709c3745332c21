"""kill -9 mid-run, --resume, and TensorBoard's scalar series has each step
once, strictly increasing, under both loaders (no zig-zag)."""
import os
import re
import signal
import subprocess

import pytest

from conftest import build_path
from tbserver import TensorBoard

# Checkpoints at 150; killed after step 255, by when more than max_queue (100)
# events logged after the checkpoint have certainly been flushed: orphans exist.
STEPS, KILL_AFTER, CHECKPOINT = 300, 255, 150


@pytest.fixture(scope="module")
def resumed_log(tmp_path_factory):
    log = tmp_path_factory.mktemp("resume")
    args = [build_path("examples", "mnist_cnn"), "--logdir", log / "run", "--steps", str(STEPS), "--batch", "50",
            "--limit-train", "3000", "--limit-test", "200", "--embed", "0", "--checkpoint-every", str(CHECKPOINT)]
    p = subprocess.Popen(args, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
    seen = 0
    for line in p.stderr:  # non-terminal progress lines: "step N/300 ..."
        m = re.match(r"step (\d+)/", line)
        if m:
            seen = int(m.group(1))
            if seen >= KILL_AFTER:
                break
    p.send_signal(signal.SIGKILL)
    p.wait()
    assert p.returncode == -signal.SIGKILL and seen >= KILL_AFTER
    first = subprocess.run([*args, "--resume"], capture_output=True, text=True, check=True)
    m = re.search(r"resuming .* at step (\d+)", first.stderr)
    resumed_at = int(m.group(1))
    assert resumed_at == CHECKPOINT
    files = sorted(f for f in os.listdir(log / "run") if "tfevents" in f)
    assert len(files) == 2  # the killed run's file, then the resumed one, in name order
    # The killed run had flushed points past the checkpoint: those must not show.
    csv = subprocess.run([build_path("tools", "tbw-inspect"), "--csv", log / "run" / files[0]],
                         capture_output=True, text=True, check=True).stdout
    orphan_steps = [int(l.split(",")[2]) for l in csv.splitlines()[1:] if l.split(",")[1] == "cross_entropy"]
    assert max(orphan_steps) > resumed_at
    return log, resumed_at


@pytest.mark.parametrize("load_fast", ["false", "true"], ids=["python-loader", "fast-loader"])
def test_each_step_once(resumed_log, load_fast):
    log, resumed_at = resumed_log
    tb = TensorBoard(log, load_fast)
    try:
        want = list(range(0, STEPS, 5))
        for tag in ["cross_entropy", "accuracy"]:
            steps = tb.wait_for(lambda: (lambda s: s if s and s[-1] == want[-1] else None)(
                [p[1] for p in tb.json("/data/plugin/scalars/scalars", run="run", tag=tag)]), f"{tag} to step 295")
            assert steps == want  # each step once, strictly increasing
        hist = [h[1] for h in tb.json("/data/plugin/histograms/histograms", run="run", tag="fc1/weights")]
        assert hist == list(range(0, STEPS, 20))  # histograms every 20 steps, each once
    finally:
        tb.close()
