#!/usr/bin/env bash
# Run the whole suite N times (default 3) with a busy loop on every core, as on a loaded CI machine,
# and print per test how many runs it failed: bash scripts/test-under-load.sh 3
# The first run goes through scripts/test.sh (which installs what the tests need, and checks format and
# lints); the others run cargo test alone. Every run's log stays in target/under-load/.
set -euo pipefail
cd "$(dirname "$0")/.."
runs="${1:-3}"
case "$runs" in '' | *[!0-9]*) echo "usage: $0 [RUNS]" >&2; exit 2 ;; esac

cores="$(nproc)"
burners=()
stop_burners() { [ "${#burners[@]}" -eq 0 ] || kill "${burners[@]}" 2>/dev/null || true; }
trap stop_burners EXIT
for _ in $(seq "$cores"); do
    (while :; do :; done) &
    burners+=("$!")
done
echo "test-under-load: $runs runs, $cores busy loops (pids ${burners[*]})"

out=target/under-load
mkdir -p "$out"
rm -f "$out"/run-*.log
start=$(date +%s)
for run in $(seq "$runs"); do
    log="$out/run-$run.log"
    run_start=$(date +%s)
    if [ "$run" = 1 ]; then
        bash scripts/test.sh >"$log" 2>&1 || true
    else
        cargo test --locked --no-fail-fast >"$log" 2>&1 || true
    fi
    summary=$(awk '/^test result:/ { p += $4; f += $6 } END { printf "%d passed, %d failed", p, f }' "$log")
    echo "run $run: $summary in $(($(date +%s) - run_start)) s ($log)"
done
stop_burners
burners=()

echo "failures per test, of $runs runs:"
awk '
    /^     Running / { binary = $2; sub(/.*\//, "", binary) }
    /^test .* \.\.\. FAILED$/ { count[binary ": " $2]++ }
    END {
        n = 0
        for (t in count) { printf "  %d  %s\n", count[t], t; n++ }
        if (n == 0) print "  none"
    }' "$out"/run-*.log | sort -k1,1nr
total=$(cat "$out"/run-*.log | awk '/^test result:/ { f += $6 } END { print f + 0 }')
echo "test-under-load: $runs runs in $(($(date +%s) - start)) s, $total failed test runs"
[ "$total" = 0 ]
