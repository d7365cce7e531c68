"""A copy of one fold of the UrbanSound8K subset in the official release's commonest format
(WAV, 44.1 kHz, stereo, 16-bit), laid out as a dataset root, for timing `evaluate` on files
like the official fold 10's: the subset is 22,050-Hz mono FLAC, cheaper to resample and
mix down than most of the release. The audio is the subset's, upsampled (the timing, not
the accuracy, is what this copy is for); never commit it (CC BY-NC 3.0).

    python benchmarks/wav_fold.py OUT [--data-root DATA] [--fold 1]
    envaudio evaluate --data-root OUT --folds 1
"""

from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr
from tqdm import tqdm

ROOT = Path(__file__).resolve().parents[1]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out")
    ap.add_argument("--data-root", default=str(ROOT.parent / "shared" / "data" / "urbansound8k-subset"))
    ap.add_argument("--fold", type=int, default=1)
    ap.add_argument("--rate", type=int, default=44100)
    args = ap.parse_args()
    src, out = Path(args.data_root), Path(args.out)
    table = src / "metadata" / "UrbanSound8K.csv"
    if not table.is_file():
        raise SystemExit(f"{table}: no such file (--data-root is a folder laid out like UrbanSound8K)")
    with open(table, newline="") as f:
        rows = [r for r in csv.DictReader(f) if int(r["fold"]) == args.fold]
    if not rows:
        raise SystemExit(f"no clips of fold {args.fold} in {src}")
    (out / "audio" / f"fold{args.fold}").mkdir(parents=True, exist_ok=True)
    (out / "metadata").mkdir(parents=True, exist_ok=True)
    for r in tqdm(rows, desc=f"fold {args.fold} -> WAV", unit="clip"):
        x, rate = sf.read(src / "audio" / f"fold{args.fold}" / r["slice_file_name"], dtype="float32", always_2d=True)
        y = soxr.resample(x.mean(axis=1), rate, args.rate, quality="HQ")
        name = Path(r["slice_file_name"]).with_suffix(".wav").name
        sf.write(out / "audio" / f"fold{args.fold}" / name, np.stack([y, y], axis=1), args.rate, subtype="PCM_16")
        r["slice_file_name"] = name
    with open(out / "metadata" / "UrbanSound8K.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    print(f"{len(rows)} clips in {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
