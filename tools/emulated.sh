# Sourced by tools/oldcpu.sh and tools/arm64.sh: runs each C test program of one build natively
# and of another build under an emulator, and compares their "checks:" lines.
#   run_emulated NATIVE_BUILD EMULATED_BUILD LABEL EMULATOR...
# Prints one line per program, adds to $passed and $failed. A program passes when both runs end
# with "0 failed" and exit 0, with no illegal instruction; fewer checks under emulation are the
# checks of paths that CPU lacks, which the programs skip themselves. hostile_cli is left out:
# the programs it starts would run natively, not emulated.
export TBW_TEST_TIMEOUT=3000 TBW_HOSTILE_DIR= TBW_UNDER_QEMU=1
# OpenBLAS must choose its kernels for the emulated CPU, as it would on a real one: a core type
# forced from the environment (OPENBLAS_CORETYPE=Haswell, say) runs AVX2 code on an emulated
# Core 2 and dies of an illegal instruction that is not the program's.
unset OPENBLAS_CORETYPE
passed=${passed:-0} failed=${failed:-0}
declare -A native_checks # each native program runs once, however many emulated runs compare with it

# The "checks: N passed, N failed" line when the program prints one (tests/check.h), else the last.
checks_of() {
    local c
    c=$(printf '%s\n' "$1" | grep -E '^checks: [0-9]+ passed' | tail -1)
    [[ -n $c ]] && echo "${c#checks: }" || printf '%s\n' "$1" | tail -1
}

run_emulated() {
    local native_b=$1 emu_b=$2 label=$3
    shift 3
    local progs p rel native out rc got verdict start
    mapfile -t progs < <(cd "$emu_b" && find tests/unit tests/nn tests/hostile -maxdepth 1 -type f -executable \
        \( -name 'test_*' -o -name 'hostile_*' \) ! -name hostile_cli | sort)
    for rel in "${progs[@]}"; do
        [[ -v native_checks[$native_b/$rel] ]] || native_checks[$native_b/$rel]=$(checks_of "$("$native_b/$rel" 2>&1)")
        native=${native_checks[$native_b/$rel]}
        start=$SECONDS
        out=$("$@" "$emu_b/$rel" 2>&1)
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
        printf '%-28s %-9s %-22s native: %-22s %s (%ds)\n' "$(basename "$rel")" "$label" "$got" "$native" \
            "$verdict" $((SECONDS - start))
    done
}
