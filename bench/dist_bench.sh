#!/usr/bin/env bash
# Data-parallel mnist_cnn on this box: the gradient exchange alone (allreduce of 13.10 MB against a
# memcpy), then training at a global batch of 100 as 1 rank x 2 threads against 2 ranks x 1 thread,
# in alternating rounds, with medians, per-round ratios and the 2-rank step split into compute,
# wait and allreduce. Optionally (ACCURACY=1) the default 2000-step run's test accuracy with 1 and
# 2 ranks, and (SWEEP=1) the 12-run sweep's wall time at --steps $SWEEP_STEPS (default 500) as 1
# process x 2 threads against 2 workers x 1 thread.
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
        --limit-test 1000 --quiet | awk -v l="$label" '
        /images\/s/ {for (i = 1; i <= NF; i++) if ($i == "images/s;") ips = $(i - 1)}
        /per step: compute/ {split_ = " " $6 " " $9 " " $12}
        END {print l, ips split_}'
}

echo "== training, global batch 100, $STEPS steps, $ROUNDS alternating rounds"
for ((r = 1; r <= ROUNDS; r++)); do
    run one "$B/examples/mnist_cnn" --threads 2
    run two "${MPI[@]}" -n 2 "$B/examples/mnist_cnn" --threads 1
done | tee "$TMP/rounds"
python3 - "$TMP/rounds" <<'PY'
import statistics, sys
one, two, parts = [], [], []
for line in open(sys.argv[1]):
    label, ips, *split = line.split()
    (one if label == "one" else two).append(float(ips))
    if split:
        parts.append([float(x) for x in split])
ratios = [b / a for a, b in zip(one, two)]
print(f"1 rank x 2 threads: median {statistics.median(one):.0f} img/s (rounds {', '.join(f'{x:.0f}' for x in one)})")
print(f"2 ranks x 1 thread: median {statistics.median(two):.0f} img/s (rounds {', '.join(f'{x:.0f}' for x in two)})")
print(f"ratio 2 ranks / 1 rank: median {statistics.median(ratios):.2f} (rounds {', '.join(f'{x:.2f}' for x in ratios)})")
if parts:
    c, w, a = (statistics.median(p[k] for p in parts) for k in range(3))
    print(f"2 ranks, median ms per step: compute {c:.2f}, wait {w:.2f}, allreduce {a:.2f} "
          f"(exchange {100 * (w + a) / (c + w + a):.1f}% of the step)")
PY

if [[ "${ACCURACY:-0}" == 1 ]]; then
    echo "== default 2000-step run: test accuracy, 1 rank x 2 threads and 2 ranks x 1 thread"
    rm -rf "$TMP/a1" "$TMP/a2"
    "$B/examples/mnist_cnn" --logdir "$TMP/a1" --threads 2 --embed 0 --quiet | grep 'test accuracy'
    "${MPI[@]}" -n 2 "$B/examples/mnist_cnn" --logdir "$TMP/a2" --threads 1 --embed 0 --quiet | grep 'test accuracy'
fi

if [[ "${SWEEP:-0}" == 1 ]]; then
    SS=${SWEEP_STEPS:-500}
    echo "== the 12-run sweep, --steps $SS: 1 process x 2 threads, then 2 workers x 1 thread (mpiexec)"
    sweep() { # label args...
        local label=$1
        shift
        rm -rf "$TMP/sweep"
        local t0=$(date +%s.%N)
        "$@" --logdir "$TMP/sweep" --steps "$SS" --embed 0 --checkpoint-every 0 --limit-test 1000 --quiet >/dev/null
        local t1=$(date +%s.%N)
        local done=$(find "$TMP/sweep/.claims" -name "lr_*.done" | wc -l)
        echo "$label $(python3 -c "print(f'{$t1 - $t0:.1f}')") s ($done runs done)"
    }
    sweep "1 x 2 threads:" "$B/examples/hparam_sweep" --threads 2 | tee "$TMP/s1"
    sweep "2 x 1 thread: " "${MPI[@]}" -n 2 "$B/examples/hparam_sweep" --threads 1 | tee "$TMP/s2"
    python3 -c "import sys; a=float(open(sys.argv[1]).read().split()[4]); b=float(open(sys.argv[2]).read().split()[4]); print(f'speed-up 2 workers / 1 process: {a / b:.2f}')" "$TMP/s1" "$TMP/s2"
fi
