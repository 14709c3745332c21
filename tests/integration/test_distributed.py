"""Data-parallel mnist_cnn and the distributed sweep under a real launcher (Open MPI's mpiexec, 2
ranks on this box), judged by real TensorBoard under both loaders: one writer per run, the same
tags as a 1-rank run, each step once, and every failure ending the whole job."""
import os
import re
import shutil
import signal
import subprocess
import time

import pytest

from conftest import BUILD, build_path
from tbserver import TensorBoard

LOADERS = pytest.mark.parametrize("load_fast", ["false", "true"], ids=["python-loader", "fast-loader"])
MPI_ENV = {**os.environ, "OMPI_ALLOW_RUN_AS_ROOT": "1", "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM": "1"}
# 2 cores, shared: no binding, oversubscription allowed, shared memory only, waiting ranks yield.
MPIEXEC = ["mpiexec", "--oversubscribe", "--bind-to", "none", "--mca", "btl", "self,vader",
           "--mca", "mpi_yield_when_idle", "1"]
SHORT = ["--steps", "30", "--limit-train", "3000", "--limit-test", "500", "--summary-every", "5",
         "--histogram-every", "10", "--quiet"]
SWEEP_SHORT = ["--steps", "10", "--limit-train", "1000", "--limit-test", "200", "--embed", "0", "--quiet"]
SWEEP_RUNS = [f"lr_{lr}conv{c}fc{f}" for lr in ["1E-03", "1E-04", "1E-05"] for c in (1, 2) for f in (1, 2)]
ALL_STATUSES = ["STATUS_UNKNOWN", "STATUS_SUCCESS", "STATUS_FAILURE", "STATUS_RUNNING"]


def mpi_built():
    """The build's mnist_cnn uses MPI (meson -Dmpi found it) and a launcher is installed."""
    if not shutil.which("mpiexec"):
        return False
    out = subprocess.run(["ldd", build_path("examples", "mnist_cnn")], capture_output=True, text=True).stdout
    return "libmpi" in out


@pytest.fixture(scope="module", autouse=True)
def need_mpi():
    if not mpi_built():
        pytest.fail("this build has no MPI: install openmpi-bin libopenmpi-dev (tools/setup.sh does) and rebuild")


def mpirun(n, args, timeout=300, **kw):
    return subprocess.run([*MPIEXEC, "-n", str(n), *map(str, args)], env=MPI_ENV, capture_output=True, text=True,
                          timeout=timeout, **kw)


def event_files(d):
    return sorted(f for f in os.listdir(d) if "tfevents" in f)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    log = tmp_path_factory.mktemp("dist")
    mnist = build_path("examples", "mnist_cnn")
    # the MPI binary without a launcher trains as one rank
    single = subprocess.run([mnist, "--logdir", log / "single", "--embed", "64", *SHORT], capture_output=True,
                            text=True, timeout=300)
    assert single.returncode == 0, single.stderr
    two = mpirun(2, [mnist, "--logdir", log / "two", "--embed", "64", *SHORT])
    assert two.returncode == 0, two.stderr + two.stdout
    ranked = mpirun(2, [mnist, "--logdir", log / "ranked", "--embed", "0", "--rank-scalars", *SHORT])
    assert ranked.returncode == 0, ranked.stderr + ranked.stdout
    # resume with 2 ranks: checkpoint at 10, stop at 15, then go on to 30
    first = mpirun(2, [mnist, "--logdir", log / "resumed", "--embed", "0", "--checkpoint-every", "10",
                       *SHORT[:1], "15", *SHORT[2:]])
    assert first.returncode == 0, first.stderr
    again = mpirun(2, [mnist, "--logdir", log / "resumed", "--embed", "0", "--checkpoint-every", "10", "--resume",
                       *SHORT])
    assert again.returncode == 0, again.stderr
    assert "resuming" in again.stderr and "at step 10" in again.stderr
    return log, two


def test_two_ranks_write_exactly_one_event_file_and_no_rank_runs(runs):
    log, two = runs
    files = event_files(log / "two")
    assert len(files) == 1, files
    assert not [d for d in os.listdir(log / "two") if d.startswith("rank")]
    assert re.search(r"2 ranks, per step: compute [0-9.]+ ms, wait [0-9.]+ ms, allreduce [0-9.]+ ms", two.stdout)
    check = subprocess.run([build_path("tools", "tbw-inspect"), "--check", "--quiet", log / "two"],
                           capture_output=True, text=True)
    assert check.returncode == 0, check.stderr


def tags_by_plugin(tb, run):
    return {plugin: sorted(tb.json(f"/data/plugin/{plugin}/tags").get(run, {}))
            for plugin in ("scalars", "images", "histograms")}


@LOADERS
def test_tensorboard_shows_the_two_rank_run_like_a_one_rank_run(runs, load_fast):
    log, _ = runs
    tb = TensorBoard(log, load_fast)
    try:
        tb.wait_for(lambda: {"single", "two", "resumed"} <= set(tb.json("/data/runs")), "the runs")
        want = list(range(0, 30, 5))
        for run in ("single", "two"):
            for tag in ("cross_entropy", "accuracy"):
                steps = tb.wait_for(lambda: (lambda s: s if s and s[-1] == want[-1] else None)(
                    [p[1] for p in tb.json("/data/plugin/scalars/scalars", run=run, tag=tag)]), f"{run}/{tag}")
                assert steps == want  # one point per summary step, never going backwards
        tb.wait_for(lambda: tb.json("/data/plugin/scalars/scalars", run="two", tag="test/accuracy"), "test acc")
        assert tags_by_plugin(tb, "two") == tags_by_plugin(tb, "single")
        one = tb.json("/data/plugin/scalars/scalars", run="single", tag="cross_entropy")
        two = tb.json("/data/plugin/scalars/scalars", run="two", tag="cross_entropy")
        assert abs(one[0][2] - two[0][2]) < 1e-5  # step 0: the same weights see the same batch
        acc1 = tb.json("/data/plugin/scalars/scalars", run="single", tag="test/accuracy")[-1][2]
        acc2 = tb.json("/data/plugin/scalars/scalars", run="two", tag="test/accuracy")[-1][2]
        assert abs(acc1 - acc2) < 0.03, (acc1, acc2)
        # resumed with 2 ranks: each step once
        steps = tb.wait_for(lambda: (lambda s: s if s and s[-1] == want[-1] else None)(
            [p[1] for p in tb.json("/data/plugin/scalars/scalars", run="resumed", tag="cross_entropy")]), "resumed")
        assert steps == want
    finally:
        tb.close()


@LOADERS
def test_rank_scalars_give_each_rank_a_run_of_system_scalars_only(runs, load_fast):
    log, _ = runs
    assert len(event_files(log / "ranked")) == 1
    tb = TensorBoard(log / "ranked", load_fast)
    try:
        tb.wait_for(lambda: {".", "rank0", "rank1"} <= set(tb.json("/data/runs")), "the rank runs")
        tags = tb.wait_for(lambda: (lambda t: t if all(len(t.get(r, {})) == 4 for r in ("rank0", "rank1")) else None)(
            tb.json("/data/plugin/scalars/tags")), "the system scalars")
        for r in ("rank0", "rank1"):
            assert sorted(tags[r]) == ["system/allreduce_ms", "system/images_per_sec", "system/step_ms", "system/wait_ms"]
            assert tb.json("/data/plugin/histograms/tags").get(r, {}) == {}
            pts = tb.json("/data/plugin/scalars/scalars", run=r, tag="system/step_ms")
            assert [p[1] for p in pts] == list(range(0, 30, 5)) and all(p[2] > 0 for p in pts)
        assert "system/step_ms" not in tags["."]
    finally:
        tb.close()


def test_a_build_without_mpi_refuses_to_run_as_one_of_several_processes():
    nompi = os.environ.get("TBW_BUILD_NOMPI")
    if not nompi:
        pytest.fail("TBW_BUILD_NOMPI (a -Dmpi=disabled build) is not set; tools/test.sh makes one")
    exe = os.path.join(nompi, "examples", "mnist_cnn")
    r = subprocess.run([exe, "--logdir", "/nonexistent/never-made", "--steps", "1"], capture_output=True, text=True,
                       env={**os.environ, "OMPI_COMM_WORLD_SIZE": "2", "OMPI_COMM_WORLD_RANK": "0"}, timeout=60)
    assert r.returncode == 2
    assert "built without MPI; rebuild with -Dmpi=enabled" in r.stderr
    r = subprocess.run([exe, "--logdir", "/tmp/x"], capture_output=True, text=True,
                       env={**os.environ, "OMPI_COMM_WORLD_SIZE": "two", "OMPI_COMM_WORLD_RANK": "0"}, timeout=60)
    assert r.returncode == 2 and "OMPI_COMM_WORLD_SIZE='two'" in r.stderr


def test_a_bad_flag_on_one_rank_ends_every_rank_with_a_message(tmp_path):
    mnist = build_path("examples", "mnist_cnn")
    t0 = time.time()
    r = subprocess.run([*MPIEXEC, "-n", "1", mnist, "--logdir", tmp_path / "run", *SHORT, ":",
                        "-n", "1", mnist, "--logdir", tmp_path / "run", *SHORT, "--batch", "zero"],
                       env=MPI_ENV, capture_output=True, text=True, timeout=60)
    assert time.time() - t0 < 10
    assert r.returncode != 0
    assert "--batch needs a whole number" in r.stderr
    assert "another rank refused its command line" in r.stderr
    assert not os.path.exists(tmp_path / "run")  # refused before anything was written


def test_missing_data_on_every_rank_ends_the_job_with_the_message(tmp_path):
    r = mpirun(2, [build_path("examples", "mnist_cnn"), "--logdir", tmp_path / "run", "--data", tmp_path / "none",
                   *SHORT], timeout=60)
    assert r.returncode != 0
    assert "no MNIST-format train files" in r.stderr


def rank_pid(logdir, rank):
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            env = open(f"/proc/{pid}/environ", "rb").read().split(b"\0")
            cmd = open(f"/proc/{pid}/cmdline", "rb").read()
        except OSError:
            continue
        if str(logdir).encode() in cmd and f"OMPI_COMM_WORLD_RANK={rank}".encode() in env:
            return int(pid)
    return None


def test_a_rank_killed_mid_run_ends_the_job_within_seconds_and_rank_0s_log_stays_readable(tmp_path):
    run = tmp_path / "run"
    args = [*MPIEXEC, "-n", "2", build_path("examples", "mnist_cnn"), "--logdir", run, "--steps", "5000",
            "--limit-train", "3000", "--limit-test", "200", "--embed", "0", "--checkpoint-every", "20"]
    p = subprocess.Popen(list(map(str, args)), env=MPI_ENV, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                         text=True)
    try:
        for line in p.stderr:  # rank 0's progress: "step N/5000 ..." every 250 steps
            if re.match(r"step \d+/", line) and os.path.exists(run / "model.ckpt"):
                break
        pid = rank_pid(run, 1)
        assert pid, "rank 1 not found"
        os.kill(pid, signal.SIGKILL)
        t0 = time.time()
        p.wait(timeout=30)
        assert time.time() - t0 < 10
        assert p.returncode != 0
    finally:
        if p.poll() is None:
            p.kill()
    check = subprocess.run([build_path("tools", "tbw-inspect"), "--check", run], capture_output=True, text=True)
    assert check.returncode == 0, check.stderr
    assert "cross_entropy" in check.stdout


@pytest.fixture(scope="module")
def sweeps(tmp_path_factory):
    log = tmp_path_factory.mktemp("sweeps")
    sweep = build_path("examples", "hparam_sweep")
    r = mpirun(2, [sweep, "--logdir", log / "mpi", *SWEEP_SHORT], timeout=900)
    assert r.returncode == 0, r.stderr + r.stdout
    # 12 --index jobs, 2 at a time, as GNU parallel or a Slurm array would start them
    r = subprocess.run(f"seq 0 11 | xargs -P 2 -I{{}} {sweep} --logdir {log / 'indexed'} --index {{}} "
                       + " ".join(SWEEP_SHORT), shell=True, capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, r.stderr + r.stdout
    return log


@pytest.mark.parametrize("sweep", ["mpi", "indexed"])
def test_each_sweep_session_is_written_by_exactly_one_process(sweeps, sweep):
    d = sweeps / sweep
    assert len(event_files(d)) == 1  # the experiment, once
    for run in SWEEP_RUNS:
        files = event_files(d / run)
        assert len(files) == 1, (run, files)
        pid = files[0].split(".")[-2]
        claim = open(d / ".claims" / f"{run}.claim").read()
        assert f"pid={pid}" in claim, (run, claim)
        assert os.path.exists(d / ".claims" / f"{run}.done")
    if sweep == "mpi":  # both ranks took runs
        pids = {open(d / ".claims" / f"{r}.claim").read().split("pid=")[1].split()[0] for r in SWEEP_RUNS}
        assert len(pids) == 2


@LOADERS
@pytest.mark.parametrize("sweep", ["mpi", "indexed"])
def test_hparams_dashboard_shows_12_sessions_with_metrics(sweeps, sweep, load_fast):
    tb = TensorBoard(sweeps / sweep, load_fast)
    try:
        req = {"experimentName": "", "allowedStatuses": ALL_STATUSES, "colParams": [], "startIndex": 0,
               "sliceSize": 100}
        res = tb.wait_for(lambda: (lambda r: r if r.get("totalSize", 0) >= 12 else None)(
            tb.post_json("/data/plugin/hparams/session_groups", req)), "12 sessions")
        assert res["totalSize"] == 12
        names = sorted(g["sessions"][0]["name"] for g in res["sessionGroups"])
        assert names == sorted(SWEEP_RUNS)
        for g in res["sessionGroups"]:
            metrics = {v["name"]["tag"]: v["value"] for v in g["metricValues"]}
            assert {"accuracy", "cross_entropy", "test/accuracy"} <= set(metrics), g
            assert g["sessions"][0]["status"] == "STATUS_SUCCESS"
        ex = tb.post_json("/data/plugin/hparams/experiment", {"experimentName": ""})
        assert {h["name"] for h in ex["hparamInfos"]} == {"lr", "conv", "fc"}
    finally:
        tb.close()
