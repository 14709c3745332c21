#!/usr/bin/env bash
# The main job: installs what is missing, builds, and writes a log directory
# into ./log, then says how to open TensorBoard on it.
set -euo pipefail
cd "$(dirname "$0")/.."
tools/setup.sh
BUILD=${TBW_BUILD:-build}
"$BUILD/examples/demo" log
echo
echo "To look at it: pip install tensorboard==2.21.0 && tensorboard --logdir log"
echo "(or, with the test virtualenv: .venv/bin/tensorboard --logdir log)"
