"""Levels of real recordings, to place the silence threshold (SILENCE_DBFS).

Measures every clip's level the way events.py does (the loudest short-term RMS level,
dBFS, over LEVEL_BLOCK_SECONDS) and prints the distribution, the quietest clips, and how
many real recordings a threshold would call "silence".

    .venv/bin/python benchmarks/bench_levels.py ../shared/data/urbansound8k-subset
"""

from __future__ import annotations

import argparse
import sys
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from envaudio.audio import load_audio
from envaudio.datasets.layouts import load_clips
from envaudio.events import level_envelope, loudest_level
from envaudio.settings import get_settings


def clip_level(path: str, sr: int, params) -> float:
    return loudest_level(level_envelope(load_audio(path, sr, "soundfile"), sr, params))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("data_root")
    ap.add_argument("--sample-rate", type=int, default=22050)
    ap.add_argument("--thresholds", default="-80,-70,-65,-60,-55,-50")
    args = ap.parse_args()
    s = get_settings()
    params = s.event_params()
    clips, _ = load_clips(args.data_root, None)
    with ThreadPoolExecutor(2) as ex:
        levels = np.array(list(ex.map(lambda c: clip_level(c.file_path, args.sample_rate, params), clips)))
    order = np.argsort(levels)
    print(f"{len(clips)} clips; level = loudest {s.level_block_seconds:g}-s RMS, dBFS")
    for q in (0, 0.1, 1, 5, 25, 50, 75, 100):
        print(f"  {q:>5}th percentile: {np.percentile(levels, q):7.1f}")
    print("quietest clips:")
    for i in order[:8]:
        print(f"  {levels[i]:7.1f}  {clips[i].label:<18} {clips[i].file_path.split('/')[-1]}")
    per_class = {}
    for c, l in zip(clips, levels):
        per_class.setdefault(c.label, []).append(l)
    print("quietest per class:", ", ".join(f"{k} {min(v):.1f}" for k, v in sorted(per_class.items())))
    for t in (float(x) for x in args.thresholds.split(",")):
        n = int((levels < t).sum())
        print(f"threshold {t:6.1f} dBFS: {n} of {len(clips)} real recordings ({100 * n / len(clips):.2f} %) "
              "would be called silence")
    return 0


if __name__ == "__main__":
    sys.exit(main())
