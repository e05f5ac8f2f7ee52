#!/bin/sh
# The compound VAE table (docs/quantization.md, "Compound table: VAE latent
# x bits"): train the five configs/tinyvae-{64,32,16,8,4}.json on
# Fashion-MNIST resized to 64x64 and copied into 3 channels
# (recipes/vae-*.json), then quantize each to INT8 and INT4 and evaluate all
# fifteen on the test set (retort sweep). Compression is against the
# latent-64 model at FP32, so a row reads as "latent size x bits".
#
# A finished run (runs/vae-L/log.jsonl ends in "done") is reused; a run with
# a checkpoint but no "done" is resumed; otherwise it is trained.
# Writes runs/vae-sweep/: sweep.txt (the table), sweep.json, sweep.md and the
# quantized files (<i>-model-int<bits>.safetensors), plus times.txt (each
# run's training time from its log.jsonl, and the sweep's wall time).
#
# Usage: scripts/vae_sweep.sh [BUILD_DIR]      (default build)
# One thread, lowest priority (a shared machine); RETORT_THREADS=N to change.
# Each model trains in about 3 minutes on one Zen 2 core; the sweep about 7.
set -eu
B=${1:-build}
OUT=${RETORT_RUNS:-runs}
T=${RETORT_THREADS:-1}
R="nice -n 19 env OMP_NUM_THREADS=$T OMP_WAIT_POLICY=PASSIVE $B/retort --threads $T"
DATA='fmnist:test?size=64&channels=3'
LATENTS="64 32 16 8 4"
SW="$OUT/vae-sweep"
mkdir -p "$SW"
: > "$SW/times.txt"

now() { date +%s; }
# The "seconds" of a run's final "done" line (the whole run: data, steps, validation, checkpoints).
run_seconds() { sed -n 's/.*"type":"done".*"seconds":\([0-9.]*\).*/\1/p' "$1/log.jsonl" | tail -n 1; }

for L in $LATENTS; do
    run="$OUT/vae-$L"
    if [ -f "$run/log.jsonl" ] && grep -q '"type":"done"' "$run/log.jsonl"; then
        echo "== vae-$L: trained already ($run), reused"
        echo "train vae-$L: $(run_seconds "$run") s (reused run)" >> "$SW/times.txt"
        continue
    fi
    resume=""
    [ -f "$run/checkpoint.safetensors" ] && resume="--resume"
    echo "== vae-$L: retort train recipes/vae-$L.json $resume"
    t0=$(now)
    $R train "recipes/vae-$L.json" --out "$run" $resume
    echo "train vae-$L: $(run_seconds "$run") s ($(( $(now) - t0 )) s wall)" >> "$SW/times.txt"
done

models=""
for L in $LATENTS; do models="$models $OUT/vae-$L/model.safetensors"; done
echo "== retort sweep$models --data '$DATA' --bits 32,8,4 -o $SW"
t0=$(now)
# shellcheck disable=SC2086 # $models is a list of paths without spaces
$R sweep $models --data "$DATA" --bits 32,8,4 -o "$SW" | tee "$SW/sweep.txt"
echo "sweep: $(( $(now) - t0 )) s" >> "$SW/times.txt"
cat "$SW/times.txt"
echo "table: $SW/sweep.txt, $SW/sweep.md, $SW/sweep.json"
