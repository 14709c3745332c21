#!/usr/bin/env bash
# Runs the C test programs on emulated older CPUs (Debian's qemu-user): each must pass there as it
# does natively, with no illegal instruction. Checks of a path the CPU lacks (the AVX-512 kernels,
# the SSE4.2 CRC) are skipped by the programs themselves, so the check counts are shown side by side:
#   max       qemu's most capable model: AVX2, no AVX-512 (the engine's portable kernels)
#   core2duo  no SSE4.1/SSE4.2 and no AVX (the table-driven CRC-32C, SSE2-only histograms)
# Usage: tools/oldcpu.sh [BUILD_DIR] [CPU...]. Ends with "N passed, N failed" (one per program and
# CPU; tools/emulated.sh runs and compares them).
set -uo pipefail
cd "$(dirname "$0")/.."
B=${1:-build}
shift || true
CPUS=("$@")
((${#CPUS[@]})) || CPUS=(max core2duo)
if ! command -v qemu-x86_64 >/dev/null; then
    SUDO=()
    [[ $(id -u) -ne 0 ]] && SUDO=(sudo)
    "${SUDO[@]}" apt-get update -q >&2
    DEBIAN_FRONTEND=noninteractive "${SUDO[@]}" apt-get install -y -q --no-install-recommends qemu-user >&2
fi
. tools/emulated.sh
for cpu in "${CPUS[@]}"; do
    run_emulated "$B" "$B" "$cpu" qemu-x86_64 -cpu "$cpu"
done
echo "$passed passed, $failed failed"
((failed == 0))
