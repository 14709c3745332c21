"""The other direction: files written by tensorboardX, read by tbw's reader
through tbw-inspect, agree with tensorboardX's values; --check finds damage."""
import csv
import io
import shutil
import subprocess

import numpy as np
from tensorboardX import SummaryWriter

from conftest import build_path


def inspect(*args):
    exe = build_path("tools", "tbw-inspect")
    return subprocess.run([exe, *map(str, args)], capture_output=True, text=True)


def write_tbx(logdir):
    w = SummaryWriter(str(logdir / "tbx"))
    for s in range(50):
        w.add_scalar("loss", 1.0 / (s + 1), s)
        w.add_scalar("acc", s * 0.5, s, walltime=1700000000.0 + s)
    w.add_histogram("weights", np.arange(1000, dtype=np.float32), 7)
    w.add_image("img", np.zeros((3, 8, 8), dtype=np.uint8), 3)
    w.add_text("note", "hello", 4)
    w.close()


def test_tbx_scalars_match(tmp_path):
    write_tbx(tmp_path)
    r = inspect("--csv", tmp_path)
    assert r.returncode == 0, r.stderr
    rows = list(csv.DictReader(io.StringIO(r.stdout)))
    loss = [(int(x["step"]), np.float32(x["value"])) for x in rows if x["tag"] == "loss"]
    assert loss == [(s, np.float32(1.0 / (s + 1))) for s in range(50)]
    new = [(int(x["step"]), float(x["value"]), float(x["wall_time"])) for x in rows if x["tag"] == "acc"]
    assert new == [(s, s * 0.5, 1700000000.0 + s) for s in range(50)]
    assert all(x["run"] == "tbx" for x in rows)


def test_tbx_summary_table(tmp_path):
    write_tbx(tmp_path)
    r = inspect("--check", tmp_path)
    assert r.returncode == 0, r.stderr
    lines = {l.split()[0]: l.split() for l in r.stdout.splitlines() if l.startswith("  ") and "tag" not in l}
    assert lines["loss"][1:5] == ["scalar", "50", "0", "49"]
    assert lines["weights"][1:5] == ["histogram", "1", "7", "7"]
    assert lines["img"][1:5] == ["image", "1", "3", "3"]
    assert lines["note/text_summary"][1] == "text"
    assert float(lines["loss"][5]) == np.float32(1 / 50) and float(lines["loss"][6]) == 1.0


def test_check_names_corrupt_offset(tmp_path, fixture_dirs):
    log = tmp_path / "log"
    shutil.copytree(fixture_dirs[0] / "scalars", log / "scalars")
    (path,) = (log / "scalars").glob("*tfevents*")
    data = bytearray(path.read_bytes())
    data[200] ^= 0xFF
    path.write_bytes(bytes(data))
    r = inspect("--check", "--quiet", log)
    assert r.returncode == 1
    assert path.name in r.stderr and "corrupt at offset" in r.stderr
    # A cut-short tail is normal for a file being written: reported, not an error.
    path.write_bytes(bytes(data[:190]))
    data[200] ^= 0xFF
    path.write_bytes(bytes(data[: len(data) - 5]))
    r = inspect("--check", log)
    assert r.returncode == 0
    assert "truncated at the end" in r.stderr
