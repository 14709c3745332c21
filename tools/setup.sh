#!/usr/bin/env bash
# Installs what building and testing tbw needs on Debian 12, then builds.
# Safe to run again: it only installs what is missing.
#   tools/setup.sh            system packages + build
#   tools/setup.sh --tests    also what the tests need: the Python virtualenv
#                             (.venv, tests/requirements.txt), Debian's chromium
#                             and playwright-core (tests/browser, npm ci)
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(meson ninja-build pkg-config gcc libc6-dev libprotobuf-c-dev protobuf-c-compiler
              zlib1g-dev libpng-dev libopenblas-dev dataset-fashion-mnist
              openmpi-bin libopenmpi-dev) # MPI for mnist_cnn under mpirun only; the libraries never link it
TESTS=0
[[ "${1:-}" == "--tests" ]] && TESTS=1
if ((TESTS)); then
    APT_PACKAGES+=(chromium)
    command -v node >/dev/null || APT_PACKAGES+=(nodejs npm)
fi

missing=()
for p in "${APT_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
    echo "setup: installing ${missing[*]}" >&2
    SUDO=()
    [[ $(id -u) -ne 0 ]] && SUDO=(sudo)
    "${SUDO[@]}" apt-get update -q >&2
    DEBIAN_FRONTEND=noninteractive "${SUDO[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}" >&2
fi

if ((TESTS)); then
    PY=${PYTHON:-python3}
    if [[ ! -x .venv/bin/python ]] || ! cmp -s tests/requirements.txt .venv/.requirements; then
        echo "setup: creating .venv with tests/requirements.txt" >&2
        rm -rf .venv
        "$PY" -m venv .venv
        .venv/bin/pip install -q --disable-pip-version-check -r tests/requirements.txt >&2
        cp tests/requirements.txt .venv/.requirements
    fi
    if [[ ! -d tests/browser/node_modules/playwright-core ]]; then
        echo "setup: installing playwright-core (tests/browser)" >&2
        (cd tests/browser && npm ci --no-audit --no-fund >&2)
    fi
fi

BUILD=${TBW_BUILD:-build}
if [[ ! -f "$BUILD/build.ninja" ]]; then
    meson setup "$BUILD" -Dwerror=true -Dmpi=enabled >&2
fi
ninja -C "$BUILD" >&2
