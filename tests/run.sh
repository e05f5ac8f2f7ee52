#!/bin/sh
# Run each cmocka test program, print its result, and a closing summary
# line "tests: N passed, N failed" counting individual cmocka tests.
# Usage: tests/run.sh build/tests/test_a build/tests/test_b ...
pass=0; fail=0; skip=0; progs_failed=""
for t in "$@"; do
    name=$(basename "$t")
    if "$t" > "$t.log" 2>&1; then status=ok; else status=fail; fi
    p=$(sed -n 's/^\[  PASSED  \] \([0-9]*\) test.*/\1/p' "$t.log" | tail -n 1)
    f=$(sed -n 's/^\[  FAILED  \] \([0-9]*\) test.*/\1/p' "$t.log" | tail -n 1)
    s=$(sed -n 's/^\[  SKIPPED \] \([0-9]*\) test.*/\1/p' "$t.log" | tail -n 1)
    p=${p:-0}; f=${f:-0}; s=${s:-0}
    if [ "$status" = fail ] && [ "$f" -eq 0 ]; then f=1; fi  # crashed before its summary
    pass=$((pass + p)); fail=$((fail + f)); skip=$((skip + s))
    if [ "$status" = ok ]; then
        if [ "$s" -gt 0 ]; then echo "PASS  $name ($p passed, $s skipped)"; else echo "PASS  $name ($p passed)"; fi
    else
        progs_failed="$progs_failed $name"
        echo "FAIL  $name (log: $t.log)"
        tail -n 40 "$t.log" | sed 's/^/      /'
    fi
done
echo
[ -n "$progs_failed" ] && echo "failed programs:$progs_failed"
echo "tests: $pass passed, $fail failed, $skip skipped"
[ -z "$progs_failed" ]
