#!/bin/sh
# retort's main job (README). Today: exact accounting of the shipped
# teacher/student pairs (summary, compare, init), the engine end to end on
# Fashion-MNIST (train an MLP, evaluate, save safetensors) and the op
# benchmark table.
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
echo "== 2. train an MLP on Fashion-MNIST (engine demo; becomes 'retort train' in issue 4)"
"$B"/examples/train_fmnist --epochs 3 --out "$OUT"/fmnist-mlp.safetensors
echo
echo "== 3. op benchmarks (bench/ops)"
if [ -x "$B"/bench/ops ]; then "$B"/bench/ops --quick; else echo "(bench/ops not built)"; fi
echo
echo "main job done: model in $OUT/fmnist-mlp.safetensors"
