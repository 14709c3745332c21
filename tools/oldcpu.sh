#!/usr/bin/env bash
# Runs the C test programs on emulated older CPUs (Debian's qemu-user): each must pass there as it
# does natively, with no illegal instruction. Checks of a path the CPU lacks (the AVX-512 kernels,
# the SSE4.2 CRC) are skipped by the programs themselves, so the check counts are shown side by side:
#   max       qemu's most capable model: AVX2, no AVX-512 (the engine's portable kernels)
#   core2duo  no SSE4.1/SSE4.2 and no AVX (the table-driven CRC-32C, SSE2-only histograms)
# Usage: tools/oldcpu.sh [BUILD_DIR] [CPU...]. Ends with "N passed, N failed" (one per program and
# CPU). hostile_cli is left out: the programs it starts would run natively, not emulated.
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
export TBW_TEST_TIMEOUT=3000 TBW_HOSTILE_DIR= TBW_UNDER_QEMU=1
# OpenBLAS must choose its kernels for the emulated CPU, as it would on a real one: a core type
# forced from the environment (OPENBLAS_CORETYPE=Haswell, say) runs AVX2 code on the emulated
# Core 2 and dies of an illegal instruction that is not the program's.
unset OPENBLAS_CORETYPE
mapfile -t progs < <(find "$B/tests/unit" "$B/tests/nn" "$B/tests/hostile" -maxdepth 1 -type f -executable \
    \( -name 'test_*' -o -name 'hostile_*' \) ! -name hostile_cli | sort)
# The "checks: N passed, N failed" line when the program prints one (tests/check.h), else the last.
checks_of() {
    local c
    c=$(printf '%s\n' "$1" | grep -E '^checks: [0-9]+ passed' | tail -1)
    [[ -n $c ]] && echo "${c#checks: }" || printf '%s\n' "$1" | tail -1
}
passed=0 failed=0
for p in "${progs[@]}"; do
    native=$(checks_of "$("$p" 2>&1)")
    for cpu in "${CPUS[@]}"; do
        start=$SECONDS
        out=$(qemu-x86_64 -cpu "$cpu" "$p" 2>&1)
        rc=$?
        got=$(checks_of "$out")
        if ((rc == 0)) && [[ $got == *" 0 failed" && $native == *" 0 failed" ]] &&
            ! grep -qi "illegal instruction" <<<"$out"; then
            passed=$((passed + 1)); verdict=pass
            [[ $got == "$native" ]] || verdict="pass (fewer checks: paths this CPU lacks)"
        else
            failed=$((failed + 1)); verdict="FAIL (exit $rc)"
            printf '%s\n' "$out" | grep -iE "illegal|FAIL|error" | head -5 >&2
        fi
        printf '%-28s %-9s %-22s native: %-22s %s (%ds)\n' "$(basename "$p")" "$cpu" "$got" "$native" "$verdict" \
            $((SECONDS - start))
    done
done
echo "$passed passed, $failed failed"
((failed == 0))
