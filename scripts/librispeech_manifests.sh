#!/bin/sh
# librispeech_manifests.sh - speaker-verification manifests and trials for the
# LibriSpeech excerpt in ../shared/data/librispeech (FLAC, 16 kHz):
#
#   train.csv    librispeech_train-clean-100: 251 speakers x 1 utterance, label =
#                speaker index (0..250, speakers in sorted order); every row is
#                written REPEAT times (default 4): the data set decodes the file
#                once and the loader cuts an independent random crop for each
#                row, so one epoch sees REPEAT windows of every utterance
#   test.csv     librispeech_test-other: 10 speakers x 10 utterances, label =
#                speaker index (0..9); speakers disjoint from training
#   trials.txt   every pair of test.csv's utterances, "LABEL A B" (1: same
#                speaker), A and B the paths as test.csv writes them: 4,950
#                trials, 450 of them targets (`retort eval --trials`)
#
# Paths are written absolute; the recordings are read where they are.
# Usage: scripts/librispeech_manifests.sh [LIBRISPEECH_DIR] [OUT_DIR] [REPEAT]
#        (defaults: ../shared/data/librispeech, data/librispeech, 4)
set -eu
SRC=${1:-../shared/data/librispeech}
OUT=${2:-data/librispeech}
REPEAT=${3:-4}
for d in librispeech_train-clean-100 librispeech_test-other; do
    if [ ! -d "$SRC/$d" ]; then
        echo "librispeech_manifests.sh: $SRC/$d: no such directory (see ../shared/data/README.md)" >&2
        exit 1
    fi
done
case $REPEAT in '' | *[!0-9]* | 0) echo "librispeech_manifests.sh: REPEAT '$REPEAT' is not a count >= 1" >&2; exit 2 ;; esac
SRC=$(cd "$SRC" && pwd)
mkdir -p "$OUT"
trap 'rm -f "$OUT"/*.tmp' EXIT

# manifest SUBSET OUT REPEAT: path,label; files are SPEAKER-CHAPTER-UTT.flac, labels
# number the speakers in sorted path order.
manifest() {
    echo "path,label" > "$2.tmp"
    find "$SRC/$1" -name '*.flac' | LC_ALL=C sort | awk -F/ -v rep="$3" '
        { split($NF, f, "-"); spk = f[1]; if (!(spk in id)) id[spk] = n++; for (r = 0; r < rep; r++) print $0 "," id[spk] }
        END { if (n < 2) { print "librispeech_manifests.sh: fewer than 2 speakers" > "/dev/stderr"; exit 1 } }' >> "$2.tmp"
}
manifest librispeech_train-clean-100 "$OUT/train.csv" "$REPEAT"
manifest librispeech_test-other "$OUT/test.csv" 1
# All pairs i < j of the test utterances.
tail -n +2 "$OUT/test.csv.tmp" | awk -F, '
    { p[NR] = $1; l[NR] = $2 }
    END { for (i = 1; i <= NR; i++) for (j = i + 1; j <= NR; j++) print (l[i] == l[j] ? 1 : 0), p[i], p[j] }' \
    > "$OUT/trials.txt.tmp"
for f in train.csv test.csv trials.txt; do mv "$OUT/$f.tmp" "$OUT/$f"; done
echo "librispeech: $(($(wc -l < "$OUT/train.csv") - 1)) train rows ($REPEAT per utterance)," \
     "$(($(wc -l < "$OUT/test.csv") - 1)) test rows, $(wc -l < "$OUT/trials.txt") trials" \
     "($(grep -c '^1 ' "$OUT/trials.txt") targets) in $OUT"
