"""`meson install` gives another C project what it needs: headers, library,
tbw-inspect and tbw.pc; a program built only from those writes a file that
TensorBoard's own loader reads."""
import os
import subprocess

from tensorboard.backend.event_processing import event_file_loader

from conftest import BUILD

CONSUMER = r"""
#include <stdio.h>
#include <tbw/tbw.h>
int main(int argc, char **argv) {
    tbw_writer *w; char msg[256];
    if (tbw_writer_open(&w, argv[1], NULL, msg, sizeof msg)) { fprintf(stderr, "%s\n", msg); return 1; }
    for (int i = 0; i < 5; i++) tbw_scalar(w, "installed", i, i * 2.0);
    printf("%s\n", tbw_version());
    return tbw_writer_close(w) ? 1 : 0;
}
"""


def test_installed_library_builds_a_program(tmp_path):
    dest = tmp_path / "dest"
    subprocess.run(["meson", "install", "-C", str(BUILD), "--destdir", str(dest), "--quiet"], check=True,
                   capture_output=True)
    pcs = list(dest.rglob("tbw.pc"))
    assert len(pcs) == 1
    assert list(dest.rglob("bin/tbw-inspect"))
    env = dict(os.environ, PKG_CONFIG_PATH=str(pcs[0].parent), PKG_CONFIG_SYSROOT_DIR=str(dest))
    flags = subprocess.run(["pkg-config", "--cflags", "--libs", "tbw"], env=env, check=True, capture_output=True,
                           text=True).stdout.split()
    src = tmp_path / "consumer.c"
    src.write_text(CONSUMER)
    exe = tmp_path / "consumer"
    subprocess.run(["cc", "-std=c11", "-Wall", "-Werror", str(src), "-o", str(exe), *flags], check=True)
    libdir = next(f[2:] for f in flags if f.startswith("-L"))
    out = subprocess.run([str(exe), str(tmp_path / "run")], env=dict(os.environ, LD_LIBRARY_PATH=libdir),
                         check=True, capture_output=True, text=True).stdout.strip()
    assert out.count(".") == 2  # MAJOR.MINOR.PATCH
    (path,) = (tmp_path / "run").glob("*tfevents*")
    steps = [e.step for e in event_file_loader.EventFileLoader(str(path)).Load() if e.summary.value]
    assert steps == [0, 1, 2, 3, 4]
