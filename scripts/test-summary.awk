# The end of a `cargo test` log: each failed test as "FAILED binary: test", then "N passed, M failed"
# (cargo prints one summary per test binary). Used by scripts/test.sh and scripts/test-under-load.sh.
/^     Running / { binary = $2 }
/^test .* \.\.\. FAILED$/ { failed_tests[++n] = binary ": " $2 }
/^test result:/ { passed += $4; failed += $6 }
END {
    for (i = 1; i <= n; i++) printf "FAILED %s\n", failed_tests[i]
    printf "%d passed, %d failed\n", passed, failed
}
