#!/bin/sh
# music_emotion_data.sh - valence/arousal regression sets from the 10 emoMusic
# excerpts in ../shared/data/music_emotion (45 s MP3, 44.1 kHz) and their
# continuous ratings (2 Hz, 61 frames from 15.0 s to 45.0 s, range -1..1).
#
# One sample per rated frame: the log-mel window of W frames (default 128,
# 2.97 s) that ends at the frame's time, from the whole song's `retort features
# --preset emotion --resize none --channels 0` spectrogram (22.05 kHz, 128
# Slaney mels, hop 512, dB re the song's max, 80 dB floor), scaled from
# [-80, 0] dB to [-1, 1] as (dB + 40) / 40; x (N, 1, 128, W),
# y (N, 2) = [valence, arousal] as rated (already in -1..1, tanh outputs).
# Two splits:
#   song_*   by song, the dataset's MediaEval 2013 sets: the 8 "development"
#            songs train (488 windows), the 2 "evaluation" songs (3, 12) test
#            (122): generalisation to unheard songs;
#   time_*   every song, by time: frames rated at 15.0-35.0 s train (410),
#            frames whose whole window starts after 35.0 s (38.0-45.0 s) test
#            (150), no audio shared: tracking the ratings later in known songs.
#
#   OUT/{song,time}_{train,test}_{x,y}.npy   (`npy:X,Y` data specs)
#   OUT/{song,time}_{train,test}_index.csv   song,time_ms per row
#   OUT/features/SONG.npy                    the whole-song spectrograms
#
# Needs Python 3 with NumPy (Debian: python3-numpy) for the windowing: the
# first of $PYTHON, python3, /usr/bin/python3 that imports numpy is used.
# Usage: scripts/music_emotion_data.sh [MUSIC_DIR] [OUT_DIR] [W]
#        (defaults: ../shared/data/music_emotion, data/music_emotion, 128)
#        RETORT=path/to/retort (default build/retort)
set -eu
SRC=${1:-../shared/data/music_emotion}
OUT=${2:-data/music_emotion}
W=${3:-128}
RETORT=${RETORT:-build/retort}
for f in audio annotations/valence_cont_average.csv annotations/arousal_cont_average.csv annotations/songs_info.csv; do
    if [ ! -e "$SRC/$f" ]; then
        echo "music_emotion_data.sh: $SRC/$f: not found (see ../shared/data/README.md)" >&2
        exit 1
    fi
done
case $W in '' | *[!0-9]* | 0) echo "music_emotion_data.sh: W '$W' is not a frame count >= 1" >&2; exit 2 ;; esac
if [ ! -x "$RETORT" ]; then
    echo "music_emotion_data.sh: $RETORT: not an executable (build it with make, or set RETORT)" >&2
    exit 1
fi
PY=
for p in ${PYTHON:-} python3 /usr/bin/python3; do
    if command -v "$p" > /dev/null 2>&1 && "$p" -c 'import numpy' 2> /dev/null; then PY=$p; break; fi
done
if [ -z "$PY" ]; then
    echo "music_emotion_data.sh: no Python 3 with NumPy found (Debian: apt install python3-numpy; or set PYTHON)" >&2
    exit 1
fi
mkdir -p "$OUT/features"
for mp3 in "$SRC"/audio/*.mp3; do
    id=$(basename "$mp3" .mp3)
    "$RETORT" features "$mp3" -o "$OUT/features/$id.npy" --preset emotion --resize none --channels 0
done
"$PY" "$(dirname "$0")/music_emotion_windows.py" "$SRC/annotations" "$OUT" "$W"
