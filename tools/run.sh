#!/usr/bin/env bash
# The main job: installs what is missing, builds, trains the lecture's network
# on Fashion-MNIST (2000 steps of 100, Adam 1e-4, full summaries) into
# ./log/mnist, then says how to open TensorBoard on it. Extra arguments go to
# mnist_cnn (try --help).
set -euo pipefail
cd "$(dirname "$0")/.."
tools/setup.sh
BUILD=${TBW_BUILD:-build}
# A new run directory each time: log/mnist, then log/mnist-2, log/mnist-3, ...
run=log/mnist
n=1
while compgen -G "$run/*tfevents*" >/dev/null; do
    n=$((n + 1))
    run=log/mnist-$n
done
if [[ -n ${OPENBLAS_CORETYPE:-} ]]; then
    # conv1 multiplies in OpenBLAS (fc1 too on CPUs without AVX-512); a forced core type can be far
    # slower than its own choice
    echo "note: OPENBLAS_CORETYPE=$OPENBLAS_CORETYPE makes OpenBLAS run those kernels instead of the ones it" \
        "picks for this CPU (unset it to let it choose; docs/engine.md, Performance)" >&2
fi
"$BUILD/examples/mnist_cnn" --logdir "$run" "$@"
echo
echo "To look at it: pip install tensorboard==2.21.0 && tensorboard --logdir log"
echo "(or, with the test virtualenv: .venv/bin/tensorboard --logdir log)"
