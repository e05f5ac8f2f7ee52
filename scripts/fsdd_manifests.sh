#!/bin/sh
# fsdd_manifests.sh - train/test manifests (path,label) for the Free Spoken
# Digit Dataset: recordings/{digit}_{speaker}_{take}.wav, 8 kHz mono.
# Takes 0-4 of every speaker and digit are the test split (the dataset's
# usual one: 300 files), takes 5-49 the training split (2,700 files).
# Paths are written absolute, so the manifests may live anywhere; the
# recordings are read where they are, never copied.
#
# Usage: scripts/fsdd_manifests.sh [FSDD_DIR] [OUT_DIR]
#        (defaults: ../shared/data/fsdd and data/fsdd)
# Writes OUT_DIR/train.csv and OUT_DIR/test.csv; prints the row counts.
set -eu
SRC=${1:-../shared/data/fsdd}
OUT=${2:-data/fsdd}
if [ ! -d "$SRC/recordings" ]; then
    echo "fsdd_manifests.sh: $SRC/recordings: no such directory (the FSDD recordings; see ../shared/data/README.md)" >&2
    exit 1
fi
SRC=$(cd "$SRC" && pwd)
mkdir -p "$OUT"
tmp_train="$OUT/train.csv.tmp" tmp_test="$OUT/test.csv.tmp"
trap 'rm -f "$tmp_train" "$tmp_test"' EXIT
echo "path,label" > "$tmp_train"
echo "path,label" > "$tmp_test"
# {digit}_{speaker}_{take}.wav; any other name is an error, not a silent skip.
ls "$SRC/recordings" | LC_ALL=C sort | awk -v dir="$SRC/recordings" -v tr="$tmp_train" -v te="$tmp_test" '
    /\.wav$/ {
        if (!match($0, /^[0-9]_[A-Za-z]+_[0-9]+\.wav$/)) {
            printf "fsdd_manifests.sh: %s/%s: name is not {digit}_{speaker}_{take}.wav\n", dir, $0 > "/dev/stderr"
            bad = 1; exit 1
        }
        split($0, f, /[_.]/)
        if (f[3] + 0 <= 4) { print dir "/" $0 "," f[1] >> te; nte++ } else { print dir "/" $0 "," f[1] >> tr; ntr++ }
    }
    END { if (bad) exit 1; if (ntr == 0 || nte == 0) { print "fsdd_manifests.sh: " dir ": no recordings" > "/dev/stderr"; exit 1 }
          printf "fsdd: %d train, %d test rows\n", ntr, nte }'
mv "$tmp_train" "$OUT/train.csv"
mv "$tmp_test" "$OUT/test.csv"
echo "wrote $OUT/train.csv $OUT/test.csv"
