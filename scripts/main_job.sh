#!/bin/sh
# retort's main job (README). Today: exact accounting of the shipped
# teacher/student pairs (summary, compare, init), training the Fashion-MNIST
# teacher and a from-scratch student (retort train), evaluating both
# (retort eval) and the op benchmark table.
# It grows into: teacher -> student (distill) -> quantize -> bench -> report.
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
echo "== 2. train the Fashion-MNIST teacher and, from scratch, the student (retort train)"
rm -rf "$OUT/fmnist-teacher" "$OUT/fmnist-student"   # a fresh demo run each time
"$B"/retort train recipes/fmnist-teacher.json --out "$OUT/fmnist-teacher"
"$B"/retort train recipes/fmnist-student.json --out "$OUT/fmnist-student"
echo
echo "== 3. evaluate both on the test set (retort eval)"
"$B"/retort eval "$OUT/fmnist-teacher/best.safetensors" --data fmnist:test -o "$OUT/fmnist-teacher/eval.json"
"$B"/retort eval "$OUT/fmnist-student/best.safetensors" --data fmnist:test -o "$OUT/fmnist-student/eval.json"
"$B"/retort compare "$OUT/fmnist-teacher/best.safetensors" "$OUT/fmnist-student/best.safetensors"
echo
echo "== 4. op benchmarks (bench/ops)"
if [ -x "$B"/bench/ops ]; then "$B"/bench/ops --quick; else echo "(bench/ops not built)"; fi
echo
echo "main job done: runs in $OUT/fmnist-teacher and $OUT/fmnist-student"
