#!/usr/bin/env bash
# Installs what building and testing tbw needs on Debian 12, then configures
# the build. Safe to run again: it only installs what is missing.
#   tools/setup.sh            system packages + build
#   tools/setup.sh --python   also the Python virtualenv (.venv) for the tests
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(meson ninja-build pkg-config gcc libc6-dev libprotobuf-c-dev protobuf-c-compiler
              zlib1g-dev libpng-dev libopenblas-dev dataset-fashion-mnist)
if [[ "${TBW_WITH_BROWSER:-0}" == 1 ]]; then
    APT_PACKAGES+=(chromium)
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

if [[ "${1:-}" == "--python" ]]; then
    PY=${PYTHON:-python3}
    if [[ ! -x .venv/bin/python ]] || ! cmp -s tests/requirements.txt .venv/.requirements; then
        echo "setup: creating .venv with tests/requirements.txt" >&2
        rm -rf .venv
        "$PY" -m venv .venv
        .venv/bin/pip install -q --disable-pip-version-check -r tests/requirements.txt >&2
        cp tests/requirements.txt .venv/.requirements
    fi
fi

BUILD=${TBW_BUILD:-build}
if [[ ! -f "$BUILD/build.ninja" ]]; then
    meson setup "$BUILD" -Dwerror=true >&2
fi
ninja -C "$BUILD" >&2
