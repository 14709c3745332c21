#!/usr/bin/env bash
# Data-parallel mnist_cnn on this box: the gradient exchange alone (allreduce of 13.10 MB against a
# memcpy), then training at a global batch of 100 as 1 rank x 2 threads against 2 ranks x 1 thread,
# in alternating rounds, with medians and per-round ratios. Optionally (ACCURACY=1) the default
# 2000-step run's test accuracy with 1 and 2 ranks.
#   bench/dist_bench.sh [rounds=5] [steps=300]
# Needs a build with MPI (tools/setup.sh makes one) and Debian's dataset-fashion-mnist.
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${1:-5}
STEPS=${2:-300}
B=${TBW_BUILD:-build}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
MPI=(mpiexec --oversubscribe --bind-to none --mca btl self,vader --mca mpi_yield_when_idle 1)
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

echo "== machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2-)"
echo "== gradient exchange"
"${MPI[@]}" -n 2 "$B/bench/allreduce_bench" 50

# images/s of one training run (no summaries, no projector: the step alone)
run() { # label mpiexec-args...
    local label=$1
    shift
    rm -rf "$TMP/run"
    "$@" --logdir "$TMP/run" --steps "$STEPS" --batch 100 --summary-every 0 --embed 0 --checkpoint-every 0 \
        --limit-test 1000 --quiet | awk -v l="$label" '/images\/s/ {for (i = 1; i <= NF; i++) if ($i == "images/s;") print l, $(i - 1)}'
}

echo "== training, global batch 100, $STEPS steps, $ROUNDS alternating rounds"
for ((r = 1; r <= ROUNDS; r++)); do
    run one "$B/examples/mnist_cnn" --threads 2
    run two "${MPI[@]}" -n 2 "$B/examples/mnist_cnn" --threads 1
done | tee "$TMP/rounds"
python3 - "$TMP/rounds" <<'PY'
import statistics, sys
one, two = [], []
for line in open(sys.argv[1]):
    label, ips = line.split()
    (one if label == "one" else two).append(float(ips))
ratios = [b / a for a, b in zip(one, two)]
print(f"1 rank x 2 threads: median {statistics.median(one):.0f} img/s (rounds {', '.join(f'{x:.0f}' for x in one)})")
print(f"2 ranks x 1 thread: median {statistics.median(two):.0f} img/s (rounds {', '.join(f'{x:.0f}' for x in two)})")
print(f"ratio 2 ranks / 1 rank: median {statistics.median(ratios):.2f} (rounds {', '.join(f'{x:.2f}' for x in ratios)})")
PY

if [[ "${ACCURACY:-0}" == 1 ]]; then
    echo "== default 2000-step run: test accuracy, 1 rank x 2 threads and 2 ranks x 1 thread"
    rm -rf "$TMP/a1" "$TMP/a2"
    "$B/examples/mnist_cnn" --logdir "$TMP/a1" --threads 2 --embed 0 --quiet | grep 'test accuracy'
    "${MPI[@]}" -n 2 "$B/examples/mnist_cnn" --logdir "$TMP/a2" --threads 1 --embed 0 --quiet | grep 'test accuracy'
fi
