#!/usr/bin/env bash
# Runs every test suite: the C unit tests (also under ASan+UBSan), the libFuzzer
# targets (corpus replay and a short run each), and the
# integration tests against real TensorBoard 2.21.0 (the HTTP API under both
# loaders, the training workflow, kill -9 and resume, and the UI in chromium). Installs what is missing
# first. Ends with one line "N passed, N failed" summing every suite; exits
# non-zero if anything failed.
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
export TBW_BUILD=${TBW_BUILD:-$ROOT/build}

tools/setup.sh --tests || { echo "0 passed, 1 failed"; exit 1; }

passed=0
failed=0
add() { passed=$((passed + $1)); failed=$((failed + $2)); }

# Sums the "N passed, N failed" lines the unit test programs print, from
# meson's JSON log; a program that crashed before printing counts as a failure.
count_meson() {
    .venv/bin/python - "$1" <<'PY'
import json, re, sys
p = f = 0
for line in open(sys.argv[1]):
    t = json.loads(line)
    m = re.findall(r"^(\d+) passed, (\d+) failed$", t.get("stdout", ""), re.M)
    if m:
        p += int(m[-1][0]); f += int(m[-1][1])
    if t["result"] != "OK" and (not m or int(m[-1][1]) == 0):
        f += 1
        print(f"FAILED: {t['name']} ({t['result']})", file=sys.stderr)
print(p, f)
PY
}

# Runs a command that ends with "N passed, N failed": its output goes to stderr, and "N N" to
# stdout. (Not tee /dev/stderr: reopening a redirected log file would truncate it.)
run_counted() {
    local out
    out=$("$@")
    printf '%s\n' "$out" >&2
    printf '%s\n' "$out" | tail -1 | awk '{print $1, $3}'
}

run_meson_suite() { # build-dir label
    echo "== $2" >&2
    meson test -C "$1" --print-errorlogs --num-processes 2 >&2
    read -r p f < <(count_meson "$1/meson-logs/testlog.json")
    echo "$2: $p passed, $f failed" >&2
    add "$p" "$f"
}

run_meson_suite "$TBW_BUILD" "unit tests"

# The same sources built without MPI (-Dmpi=disabled): they must build and pass on their own, and
# this build's mnist_cnn is the one that must refuse to run as one of several processes
# (tests/integration/test_distributed.py).
NOMPI=$ROOT/build-nompi
export TBW_BUILD_NOMPI=$NOMPI
[[ -f "$NOMPI/build.ninja" ]] || meson setup "$NOMPI" -Dwerror=true -Dmpi=disabled -Dbench=false >&2
if ninja -C "$NOMPI" >&2; then
    run_meson_suite "$NOMPI" "unit tests, built without MPI"
else
    echo "the build without MPI failed" >&2
    add 0 1
fi

ASAN=$ROOT/build-asan
if [[ "${TBW_SKIP_ASAN:-0}" != 1 ]]; then
    # Undefined behaviour stops the program (it would only print otherwise), so a case that
    # reaches any fails.
    # Without MPI: Open MPI leaks at finalize, which LeakSanitizer would report in every program run.
    [[ -f "$ASAN/build.ninja" ]] || meson setup "$ASAN" -Db_sanitize=address,undefined -Db_lundef=false -Dmpi=disabled \
        -Dc_args=-fno-sanitize-recover=all -Dbench=false >&2
    UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 ninja -C "$ASAN" >&2 &&
        UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 run_meson_suite "$ASAN" "unit tests under ASan+UBSan" ||
        add 0 1
fi

echo "== kill -9 at ${TBW_KILLS:-250} random points (writers, rotation, projector, checkpoints, training)" >&2
read -r p f < <(run_counted "$TBW_BUILD/tests/crash/killpoints" --kills "${TBW_KILLS:-250}" --seed "$RANDOM" \
    --inspect "$TBW_BUILD/tools/tbw-inspect" --mnist "$TBW_BUILD/examples/mnist_cnn")
add "${p:-0}" "${f:-1}"

if [[ "${TBW_SKIP_OLDCPU:-0}" != 1 ]]; then
    echo "== the C programs on emulated older CPUs (qemu: no AVX-512; no SSE4.2)" >&2
    read -r p f < <(run_counted tools/oldcpu.sh "$TBW_BUILD")
    add "${p:-0}" "${f:-1}"
fi

if [[ "${TBW_SKIP_FUZZ:-0}" != 1 ]]; then
    echo "== fuzz targets: corpus replay and ${TBW_FUZZ_SECS:-60} s each" >&2
    read -r p f < <(run_counted tools/fuzz.sh "${TBW_FUZZ_SECS:-60}")
    add "${p:-0}" "${f:-1}"
fi

echo "== integration tests (real TensorBoard)" >&2
junit=$(mktemp)
.venv/bin/python -m pytest -p no:cacheprovider -q --junitxml="$junit" tests/integration >&2
read -r p f < <(.venv/bin/python - "$junit" <<'PY'
import sys, xml.etree.ElementTree as ET
root = ET.parse(sys.argv[1]).getroot()
suites = [root] if root.tag == "testsuite" else list(root)
t = sum(int(s.get("tests", 0)) for s in suites)
f = sum(int(s.get("failures", 0)) + int(s.get("errors", 0)) for s in suites)
sk = sum(int(s.get("skipped", 0)) for s in suites)
print(t - f - sk, f + sk)  # a skipped test proves nothing: it counts as failed
PY
)
rm -f "$junit"
echo "integration tests: $p passed, $f failed" >&2
add "${p:-0}" "${f:-1}"

echo "$passed passed, $failed failed"
[[ $failed -eq 0 ]]
