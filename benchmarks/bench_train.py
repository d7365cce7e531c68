"""Training speed: clips/s of feature extraction (decode + log-mel, all cores) and seconds
per training epoch, on the real UrbanSound8K subset (or any UrbanSound8K root).

    python benchmarks/bench_train.py [--data-root ../shared/data/urbansound8k-subset] [--epochs 2]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import torch

from envaudio.datasets.cache import FeatureCache
from envaudio.datasets.urbansound8k import prepare_dataset
from envaudio.settings import available_cpus, get_settings, parse_wave_variants
from envaudio.training import TrainConfig, train

DEFAULT_ROOT = Path(__file__).resolve().parents[2] / "shared" / "data" / "urbansound8k-subset"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data-root", default=str(DEFAULT_ROOT))
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--width", type=int, default=get_settings().model_width)
    args = ap.parse_args()
    if not Path(args.data_root, "metadata", "UrbanSound8K.csv").is_file():
        print(f"bench_train: no UrbanSound8K data at {args.data_root}", file=sys.stderr)
        return 2
    s = get_settings()
    ds = prepare_dataset(args.data_root)
    print(f"machine: {available_cpus()} cores, torch {torch.__version__}, {torch.get_num_threads()} threads")
    with tempfile.TemporaryDirectory() as tmp:
        cache = FeatureCache(tmp, s.features)
        t = time.perf_counter()
        cache.get_many([c.file_path for c in ds.clips], progress=False)
        dt = time.perf_counter() - t
        print(f"feature extraction: {len(ds.clips)} clips in {dt:.1f} s = {len(ds.clips) / dt:.0f} clips/s "
              f"(decode + resample + log-mel, {available_cpus()} threads)")
        t = time.perf_counter()
        cache.get_many([c.file_path for c in ds.clips], progress=False)
        print(f"feature cache read: {time.perf_counter() - t:.2f} s")
        variants = parse_wave_variants(s.wave_augment)
        if variants:  # training precomputes these for its clips (here: every clip)
            t = time.perf_counter()
            for v in variants:
                FeatureCache(tmp, s.features, variant=v).get_many([c.file_path for c in ds.clips], progress=False)
            dt = time.perf_counter() - t
            n = len(ds.clips) * len(variants)
            print(f"waveform variants ({', '.join(variants)}): {n} in {dt:.1f} s = {n / dt:.0f} clips/s")
        cfg = TrainConfig(settings=s.replace(epochs=args.epochs, model_width=args.width, cache_dir=tmp),
                          progress=False)
        res = train(ds.clips, ds.labels, ds.folds, [], cfg, None, Path(tmp) / "run")
        per_epoch = [h["seconds"] for h in res.history]
        print(f"training: {len(ds.clips)} clips/epoch, width {args.width}: "
              f"{sum(per_epoch) / len(per_epoch):.1f} s per epoch "
              f"({len(ds.clips) * len(per_epoch) / sum(per_epoch):.0f} clips/s with augmentation)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
