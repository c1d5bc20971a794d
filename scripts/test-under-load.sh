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
rm -f "$out"/run-*.log "$out"/run-*.log.summary
start=$(date +%s)
for run in $(seq "$runs"); do
    log="$out/run-$run.log"
    run_start=$(date +%s)
    status=0
    if [ "$run" = 1 ]; then
        bash scripts/test.sh >"$log" 2>&1 || status=$?
    else
        cargo test --locked --no-fail-fast >"$log" 2>&1 || status=$?
    fi
    awk -f scripts/test-summary.awk "$log" >"$log.summary"
    # a failure outside any test (format, lints, a build, a test binary that crashed) counts too
    if [ "$status" != 0 ] && ! grep -q '^FAILED ' "$log.summary"; then
        sed -i "1i FAILED run $run: exited $status outside any test (see $log)" "$log.summary"
    fi
    echo "run $run: $(tail -n 1 "$log.summary") in $(($(date +%s) - run_start)) s ($log)"
done
stop_burners
burners=()

echo "failures per test, of $runs runs:"
failures=$(cat "$out"/run-*.log.summary | sed -n 's/^FAILED //p' | sort | uniq -c | sort -rn)
echo "${failures:-   none}"
failed_runs=$(cat "$out"/run-*.log.summary | grep -c '^FAILED ' || true)
echo "test-under-load: $runs runs in $(($(date +%s) - start)) s, $failed_runs failed test runs"
[ "$failed_runs" = 0 ]
