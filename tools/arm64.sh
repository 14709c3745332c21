#!/usr/bin/env bash
# Builds tbw for 64-bit ARM with Debian's cross compiler (-Dwerror=true) and runs its C test
# programs under qemu-aarch64, beside the same programs of the native build: the portable paths
# (no SSE4.2 CRC, no TSC clock, no AVX2 or AVX-512 kernels, unsigned char) must pass as the x86
# ones do. Installs what it needs (the arm64 multiarch libraries, the cross gcc, qemu-user).
# Usage: tools/arm64.sh [NATIVE_BUILD_DIR]. Ends with "N passed, N failed" (one per program).
set -uo pipefail
cd "$(dirname "$0")/.."
NB=${1:-build}
B=build-arm64
pkgs=(gcc-aarch64-linux-gnu qemu-user libc6-dev:arm64 libprotobuf-c-dev:arm64 zlib1g-dev:arm64
      libopenblas-dev:arm64 libpng-dev:arm64)
if ! dpkg-query -W -f='${Status}\n' "${pkgs[@]}" 2>/dev/null | grep -c "ok installed" | grep -qx "${#pkgs[@]}"; then
    SUDO=()
    [[ $(id -u) -ne 0 ]] && SUDO=(sudo)
    "${SUDO[@]}" dpkg --add-architecture arm64
    "${SUDO[@]}" apt-get update -q >&2
    DEBIAN_FRONTEND=noninteractive "${SUDO[@]}" apt-get install -y -q --no-install-recommends "${pkgs[@]}" >&2
fi
if [[ ! -f $B/build.ninja ]]; then
    meson setup "$B" --cross-file tools/cross/aarch64-linux-gnu.ini -Dwerror=true -Dmpi=disabled >&2 || {
        echo "0 passed, 1 failed"; exit 1; }
fi
ninja -C "$B" >&2 || { echo "0 passed, 1 failed"; exit 1; }
ninja -C "$NB" >&2 || { echo "0 passed, 1 failed"; exit 1; }
. tools/emulated.sh
run_emulated "$NB" "$B" aarch64 qemu-aarch64
echo "$passed passed, $failed failed"
((failed == 0))
