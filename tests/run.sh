#!/bin/sh
# Run each test program; print one summary line; exit non-zero if any failed.
# Usage: tests/run.sh build/tests/test_a build/tests/test_b ...
pass=0; fail=0; failed=""
for t in "$@"; do
    name=$(basename "$t")
    if "$t" > "$t.log" 2>&1; then
        pass=$((pass + 1)); echo "PASS  $name"
    else
        fail=$((fail + 1)); failed="$failed $name"; echo "FAIL  $name (log: $t.log)"
        tail -n 40 "$t.log" | sed 's/^/      /'
    fi
done
echo
echo "tests: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
