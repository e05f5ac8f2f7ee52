#!/bin/sh
# retort's main job (README): exact accounting of the shipped teacher/student
# pairs (summary, compare, init), training the Fashion-MNIST teacher (retort
# train), distilling the student from it and training the same student from
# scratch with the same budget (retort distill --baseline), evaluating
# (retort eval), quantizing it to INT8 and INT4 (retort quantize --eval),
# timing all four (retort bench), the op benchmark table, the report of the
# two runs (retort report: runs/report.md, .html, .json) and a fact-check of
# stated numbers (retort verify): examples/fmnist-claims.json must all be
# TRUE, and examples/fmnist-claims-wrong.json (the three mistakes users made
# in hand-written reports) must all be FALSE.
# Usage: scripts/main_job.sh [BUILD_DIR]
set -eu
B=${1:-build}
OUT=${RETORT_RUNS:-runs}
mkdir -p "$OUT"
echo "== retort $("$B"/retort --version | cut -d' ' -f2) main job"
echo
echo "== 1. accounting: the Fashion-MNIST pair and the emotion teacher/student"
"$B"/retort summary configs/fmnist-teacher.json --depth 1 --batch 64
"$B"/retort compare configs/fmnist-teacher.json configs/fmnist-student.json --batch 64
"$B"/retort compare configs/vit-base-emotion.json configs/mobilevit-s-emotion.json
"$B"/retort init configs/fmnist-teacher.json --seed 1 -o "$OUT"/fmnist-teacher-init.safetensors
"$B"/retort summary "$OUT"/fmnist-teacher-init.safetensors --depth 1 --json > "$OUT"/fmnist-teacher-summary.json
echo "summary JSON: $OUT/fmnist-teacher-summary.json"
echo
echo "== 2. train the Fashion-MNIST teacher (retort train)"
rm -rf "$OUT/fmnist-teacher" "$OUT/fmnist-distill"   # a fresh demo run each time
"$B"/retort train recipes/fmnist-teacher.json --out "$OUT/fmnist-teacher"
echo
echo "== 3. distil the 7x smaller student from it, and train it from scratch with the same budget"
"$B"/retort distill recipes/fmnist-distill.json --out "$OUT/fmnist-distill" --baseline \
    --teacher "$OUT/fmnist-teacher/best.safetensors"
echo
echo "== 4. evaluate on the test set (retort eval)"
"$B"/retort eval "$OUT/fmnist-teacher/best.safetensors" --data fmnist:test -o "$OUT/fmnist-teacher/eval.json"
"$B"/retort eval "$OUT/fmnist-distill/model.safetensors" --data fmnist:test -o "$OUT/fmnist-distill/eval.json"
"$B"/retort compare "$OUT/fmnist-teacher/best.safetensors" "$OUT/fmnist-distill/model.safetensors"
echo
echo "== 5. quantize the distilled student (INT8, INT4) and measure what it costs (retort quantize --eval)"
D="$OUT/fmnist-distill"
"$B"/retort quantize "$D/model.safetensors" --bits 8 -o "$D/student-q8.safetensors" --eval fmnist:test \
    --json-out "$D/quantize-int8.json"
"$B"/retort quantize "$D/model.safetensors" --bits 4 -o "$D/student-q4.safetensors" --eval fmnist:test \
    --json-out "$D/quantize-int4.json"
echo
echo "== 6. latency, throughput and memory: teacher, student, INT8, INT4 (retort bench)"
"$B"/retort bench "$OUT/fmnist-teacher/best.safetensors" "$D/model.safetensors" "$D/student-q8.safetensors" \
    "$D/student-q4.safetensors" --runs 100 --batch 128 --json-out "$D/bench.json"
echo
echo "== 7. op benchmarks (bench/ops)"
if [ -x "$B"/bench/ops ]; then "$B"/bench/ops --quick; else echo "(bench/ops not built)"; fi
echo
echo "== 8. the report of both runs (retort report)"
"$B"/retort report "$OUT/fmnist-teacher" "$OUT/fmnist-distill" -o "$OUT"
echo
echo "== 9. fact-check stated numbers against the measured ones (retort verify)"
"$B"/retort verify examples/fmnist-claims.json "$OUT/fmnist-teacher" "$OUT/fmnist-distill"
echo
echo "-- the three mistakes of hand-written reports, restated for this run: each must be FALSE"
wrong=$("$B"/retort verify examples/fmnist-claims-wrong.json "$OUT/fmnist-teacher" "$OUT/fmnist-distill") && rc=0 || rc=$?
echo "$wrong"
if [ "$rc" -ne 1 ] || ! echo "$wrong" | grep -q "^verify: 3 claims: 0 TRUE, 3 FALSE (claims 1, 2, 3), 0 UNSUPPORTED$"; then
    echo "main job: retort verify did not flag all three false claims (exit $rc)" >&2
    exit 1
fi
echo
echo "main job done: runs in $OUT/fmnist-teacher and $OUT/fmnist-distill (+ baseline/);"
echo "report: $OUT/report.md, $OUT/report.html, $OUT/report.json"
