"""The examples' command lines: help, refusals with exit status 2, a clear
message when the data is missing, and plain (not gzipped) MNIST-format files."""
import gzip
import shutil
import subprocess

import pytest

from conftest import build_path

FASHION = "/usr/share/datasets/fashion-mnist"


def run(*args):
    return subprocess.run([build_path("examples", args[0]), *map(str, args[1:])], capture_output=True, text=True)


@pytest.mark.parametrize("prog", ["mnist_cnn", "hparam_sweep", "filters"])
def test_help(prog):
    r = run(prog, "--help")
    assert r.returncode == 0 and "usage:" in r.stdout


@pytest.mark.parametrize("args,needle", [
    (["--logdir", "x", "--steps", "abc"], "--steps needs a whole number"),
    (["--logdir", "x", "--conv", "3"], "--conv needs a whole number from 1 to 2"),
    (["--logdir", "x", "--lr", "-1"], "--lr needs a number"),
    (["--logdir", "x", "--dropout", "0.95"], "--dropout needs a number from 0 to 0.9"),
    (["--logdir", "x", "--lr-final", "0"], "--lr-final needs a number"),
    (["--steps", "10"], "--logdir DIR is required"),
    (["--logdir", "x", "--bogus"], "usage:"),
    (["--logdir", "x", "--classes", "cats"], "--classes takes fashion or digits"),
])
def test_bad_values_exit_2(args, needle):
    r = run("mnist_cnn", *args)
    assert r.returncode == 2
    assert needle in r.stderr


def test_refuses_to_mix_two_runs(tmp_path):
    args = ["--logdir", tmp_path / "run", "--steps", "2", "--batch", "10", "--limit-test", "20", "--embed", "0",
            "--quiet"]
    assert run("mnist_cnn", *args).returncode == 0
    r = run("mnist_cnn", *args)
    assert r.returncode == 2 and "already holds a run; continue it with --resume" in r.stderr
    r = run("mnist_cnn", *args, "--resume")  # no checkpoint was written (every 500 steps)
    assert r.returncode == 1 and "no checkpoint to resume from" in r.stderr
    args2 = ["--logdir", tmp_path / "run2", "--steps", "4", "--batch", "10", "--limit-test", "20", "--embed", "0",
             "--checkpoint-every", "2", "--quiet"]
    assert run("mnist_cnn", *args2).returncode == 0
    r = run("mnist_cnn", *[a if a != "4" else "6" for a in args2], "--resume")
    assert r.returncode == 0 and "resuming" in r.stderr and "after 6 steps" in r.stdout
    r = run("mnist_cnn", *[a if a != "4" else "6" for a in args2], "--resume")  # already done
    assert r.returncode == 0 and "nothing to train" in r.stderr
    acc = float(r.stdout.split()[2])
    assert 0 < acc <= 1


def test_missing_dataset_says_how_to_install(tmp_path):
    r = run("mnist_cnn", "--logdir", tmp_path / "run", "--data", tmp_path / "nothing-here", "--steps", "1")
    assert r.returncode == 1
    assert "apt-get install dataset-fashion-mnist" in r.stderr and "--data DIR" in r.stderr


def test_plain_idx_files(tmp_path):
    data = tmp_path / "plain"
    data.mkdir()
    for name in ["train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte",
                 "t10k-labels-idx1-ubyte"]:
        with gzip.open(f"{FASHION}/{name}.gz", "rb") as src, open(data / name, "wb") as dst:
            shutil.copyfileobj(src, dst)
    r = run("mnist_cnn", "--logdir", tmp_path / "run", "--data", data, "--steps", "3", "--batch", "20",
            "--limit-test", "100", "--embed", "20", "--classes", "fashion", "--quiet")
    assert r.returncode == 0, r.stderr
    assert "test accuracy" in r.stdout
    labels = next((tmp_path / "run" / "embeddings").glob("*/metadata.tsv")).read_text().split("\n")
    assert len([l for l in labels if l]) == 20 and set(labels) - {""} <= {
        "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"}
    # A truncated file is refused with a message, not a crash.
    (data / "t10k-images-idx3-ubyte").write_bytes((data / "t10k-images-idx3-ubyte").read_bytes()[:5000])
    r = run("mnist_cnn", "--logdir", tmp_path / "run2", "--data", data, "--steps", "1", "--quiet")
    assert r.returncode == 1 and "error:" in r.stderr and "trunc" in r.stderr.lower()


def test_sweep_refuses_a_logdir_holding_another_programs_runs(workflow_log):
    # the mnist run is not a sweep (no .claims): a sweep must not mix into it
    r = run("hparam_sweep", "--logdir", workflow_log / "mnist", "--steps", "1", "--quiet")
    assert r.returncode == 2 and "already holds runs" in r.stderr


def test_another_worker_on_a_finished_sweep_finds_nothing_to_claim(workflow_log):
    r = run("hparam_sweep", "--logdir", workflow_log / "sweep", "--steps", "1", "--quiet")
    assert r.returncode == 0, r.stderr
    assert "nothing left to claim" in r.stdout + r.stderr


def test_lr_final_decays_along_a_cosine(tmp_path):
    r = run("mnist_cnn", "--logdir", tmp_path / "run", "--steps", "11", "--batch", "10", "--summary-every", "5",
            "--lr", "1e-3", "--lr-final", "1e-5", "--limit-test", "20", "--embed", "0", "--quiet")
    assert r.returncode == 0, r.stderr
    csv = subprocess.run([build_path("tools", "tbw-inspect"), "--csv", tmp_path / "run"], capture_output=True,
                         text=True, check=True).stdout
    lr = {int(f[2]): float(f[4]) for f in (l.split(",") for l in csv.splitlines()) if f[1] == "learning_rate"}
    assert sorted(lr) == [0, 5, 10]
    assert lr[0] == pytest.approx(1e-3, rel=1e-6)
    assert lr[5] == pytest.approx((1e-3 + 1e-5) / 2, rel=1e-6)  # cos(pi/2) = 0: half way
    assert lr[10] == pytest.approx(1e-5, rel=1e-6)
