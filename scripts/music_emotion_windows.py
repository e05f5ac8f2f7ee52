#!/usr/bin/env python3
"""music_emotion_windows.py - cut per-rating log-mel windows for
scripts/music_emotion_data.sh (which documents the layout).

Usage: music_emotion_windows.py ANNOTATIONS_DIR OUT_DIR W
Reads OUT_DIR/features/SONG.npy ((128, T) dB images at 22050 Hz, hop 512) and
writes OUT_DIR/{song,time}_{train,test}_{x,y}.npy and _index.csv files. x is scaled
from dB [-80, 0] to [-1, 1] ((dB + 40) / 40), the range the models expect.
Errors (a missing song, a window outside the song) stop with a message.
"""
import csv
import os
import sys

import numpy as np

SR, HOP = 22050, 512
TRAIN_END = 35000  # ms: the time split's last training frame


def read_cont(path):
    """song_id -> (times in ms, values) from a *_cont_average.csv."""
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    times = [int(c.strip().removeprefix("sample_").removesuffix("ms")) for c in rows[0][1:]]
    out = {}
    for r in rows[1:]:
        vals = [float(v) for v in r[1:] if v.strip() != ""]
        out[int(r[0])] = (times[: len(vals)], vals)
    return out


def read_split(path):
    """song_id -> 'development' | 'evaluation' from songs_info.csv."""
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    return {int(r[0]): r[-1].strip() for r in rows[1:]}


def main():
    if len(sys.argv) != 4:
        sys.exit("usage: music_emotion_windows.py ANNOTATIONS_DIR OUT_DIR W")
    ann, out, w = sys.argv[1], sys.argv[2], int(sys.argv[3])
    val = read_cont(os.path.join(ann, "valence_cont_average.csv"))
    aro = read_cont(os.path.join(ann, "arousal_cont_average.csv"))
    split = read_split(os.path.join(ann, "songs_info.csv"))
    songs = sorted(int(n[:-4]) for n in os.listdir(os.path.join(out, "features")) if n.endswith(".npy"))
    if not songs:
        sys.exit(f"music_emotion_windows.py: {out}/features: no .npy files")
    # song split: MediaEval 2013 sets; time split: every song, rated frames
    # ending at <= TRAIN_END ms train, those whose whole window starts after
    # TRAIN_END test (no audio shared), the frames between are left out.
    win_ms = w * HOP / SR * 1000
    sets = {k: ([], [], []) for k in ("song_train", "song_test", "time_train", "time_test")}
    for s in songs:
        if s not in val or s not in aro or s not in split:
            sys.exit(f"music_emotion_windows.py: song {s}: no continuous ratings or split in {ann}")
        img = np.load(os.path.join(out, "features", f"{s}.npy"))
        (tv, vv), (ta, va) = val[s], aro[s]
        if tv != ta:
            sys.exit(f"music_emotion_windows.py: song {s}: valence and arousal times differ")
        for t, v, a in zip(tv, vv, va):
            end = int(round(t / 1000 * SR / HOP))
            if end - w < 0 or end > img.shape[1]:
                sys.exit(f"music_emotion_windows.py: song {s}: window [{end - w}, {end}) outside its {img.shape[1]} frames")
            x = (img[:, end - w:end][None] + 40.0) / 40.0
            names = ["song_test" if split[s] == "evaluation" else "song_train"]
            if t <= TRAIN_END:
                names.append("time_train")
            elif t - win_ms > TRAIN_END:
                names.append("time_test")
            for n in names:
                xs, ys, idx = sets[n]
                xs.append(x)
                ys.append((v, a))
                idx.append((s, t))
    for name, (xs, ys, idx) in sets.items():
        if not xs:
            sys.exit(f"music_emotion_windows.py: no {name} windows")
        np.save(os.path.join(out, f"{name}_x.npy"), np.stack(xs).astype("<f4"))
        np.save(os.path.join(out, f"{name}_y.npy"), np.asarray(ys, dtype="<f4"))
        with open(os.path.join(out, f"{name}_index.csv"), "w", newline="") as f:
            csv.writer(f).writerows([("song", "time_ms"), *idx])
        songs_in = sorted({s for s, _ in idx})
        print(f"music_emotion: {name}: {len(xs)} windows of (1, {xs[0].shape[1]}, {w}) from songs {songs_in}")

if __name__ == "__main__":
    main()
