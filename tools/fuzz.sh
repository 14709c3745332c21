#!/usr/bin/env bash
# Coverage-guided fuzzing of the parsers with libFuzzer (tests/fuzz).
#   tools/fuzz.sh [SECONDS] [TARGET...]
# builds build-fuzz (clang, ASan, UBSan; installed if missing), seeds each target's corpus with
# files the library makes (tests/fuzz/make_seeds), replays the corpus, then fuzzes each target for
# SECONDS (default 60) on one core. Corpora persist in fuzz-corpus/<target>, findings go to
# fuzz-findings/. Prints one line per target and ends with "N passed, N failed" (a target with a
# finding fails). For a long campaign: tools/fuzz.sh 3600.
set -uo pipefail
cd "$(dirname "$0")/.."
SECS=${1:-60}
shift || true
TARGETS=("$@")
((${#TARGETS[@]})) || TARGETS=(record event inspect idx ckpt writer)

if ! command -v clang >/dev/null || ! dpkg-query -W -f='${Status}' libclang-rt-14-dev 2>/dev/null | grep -q installed; then
    SUDO=()
    [[ $(id -u) -ne 0 ]] && SUDO=(sudo)
    "${SUDO[@]}" apt-get update -q >&2
    DEBIAN_FRONTEND=noninteractive "${SUDO[@]}" apt-get install -y -q --no-install-recommends clang libclang-rt-14-dev >&2
fi
B=build-fuzz
if [[ ! -f $B/build.ninja ]]; then
    CC=clang meson setup "$B" -Dfuzz=enabled -Dexamples=false -Dbench=false -Db_lundef=false >&2 || {
        echo "0 passed, 1 failed"; exit 1; }
fi
ninja -C "$B" >&2 || { echo "0 passed, 1 failed"; exit 1; }

seeds=$(mktemp -d)
"$B/tests/fuzz/make_seeds" "$seeds" || { echo "0 passed, 1 failed"; exit 1; }
mkdir -p fuzz-findings
passed=0 failed=0
for t in "${TARGETS[@]}"; do
    case $t in
        record | event | inspect) dict=tests/fuzz/event.dict ;;
        idx) dict=tests/fuzz/idx.dict ;;
        ckpt) dict=tests/fuzz/ckpt.dict ;;
        writer) dict= ;;
        *) echo "fuzz.sh: unknown target $t" >&2; failed=$((failed + 1)); continue ;;
    esac
    corpus=fuzz-corpus/$t
    mkdir -p "$corpus"
    cp -n "$seeds/$t"/* "$corpus"/ 2>/dev/null
    exe=$B/tests/fuzz/fuzz_$t
    log=fuzz-findings/$t.log
    before=$(ls fuzz-findings | grep -c "^$t-" || true)
    # Replay first: every input the corpus holds must still pass.
    "$exe" -runs=0 "$corpus" >"$log" 2>&1
    replay=$?
    "$exe" -max_total_time="$SECS" ${dict:+-dict="$dict"} -artifact_prefix="fuzz-findings/$t-" -print_final_stats=1 \
        "$corpus" >>"$log" 2>&1
    rc=$?
    after=$(ls fuzz-findings | grep -c "^$t-" || true)
    runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | tail -1 | grep -o '[0-9]*$')
    cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | grep -o '[0-9]*$')
    n=$(ls "$corpus" | wc -l)
    if ((replay == 0 && rc == 0 && after == before)); then
        passed=$((passed + 1)); verdict=ok
    else
        failed=$((failed + 1)); verdict="FAIL (see $log)"
    fi
    printf 'fuzz_%-8s %s: %s executions in %ss, coverage %s edges, corpus %s inputs\n' "$t" "$verdict" \
        "${runs:-?}" "$SECS" "${cov:-?}" "$n"
done
rm -rf "$seeds"
echo "$passed passed, $failed failed"
((failed == 0))
