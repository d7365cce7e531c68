"""The fast default against the accurate model, on issue #26's measures: a 10-minute file
with `--events` through the real command line (wall time, start-up included), the clips
per second `envaudio evaluate` prints (its own process, as a user runs it), and a 4-s
clip's compute in process (decode + classify + /predict's JSON). Each figure is the
median of --rounds runs; the machine should be idle. A model file's path works in
--models too (e.g. an earlier bundled model, for the before and after).

    python benchmarks/bench_fast.py [--models fast,accurate] [--data-root DATA --folds 1]
        [--rounds 3] [--minutes 10]
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf

from envaudio.datasets.layouts import load_dataset
from envaudio.datasets.splits import parse_folds, select_folds
from envaudio.loading import load_model
from envaudio.predict import Classifier
from envaudio.server.inference import predict_upload
from envaudio.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "src" / "envaudio" / "assets" / "examples"


def long_file(path: Path, minutes: float, sr: int = 44100) -> None:
    """Example clips end to end with short pauses, repeated to `minutes` (real sounds, so
    the event grid's windows are computed rather than skipped as quiet)."""
    clips = [sf.read(p, dtype="float32", always_2d=True) for p in sorted(EXAMPLES.glob("*.flac"))]
    import soxr

    parts, total = [], 0
    while total < minutes * 60 * sr:
        for x, rate in clips:
            y = soxr.resample(x.mean(axis=1), rate, sr).astype(np.float32)
            parts += [y, np.zeros(int(0.5 * sr), np.float32)]
            total += len(y) + int(0.5 * sr)
    sf.write(path, np.concatenate(parts)[: int(minutes * 60 * sr)], sr, subtype="PCM_16")


def cli(args: list[str]) -> tuple[float, str]:
    """(wall seconds, stdout) of one `envaudio ARGS` run."""
    exe = Path(sys.executable).with_name("envaudio")
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "envaudio"]
    t0 = time.perf_counter()
    r = subprocess.run(cmd + args, capture_output=True, text=True)
    if r.returncode != 0:
        raise SystemExit(f"{' '.join(args)} failed: {r.stderr.strip()}")
    return time.perf_counter() - t0, r.stdout


def cli_seconds(args: list[str], rounds: int) -> float:
    return statistics.median(cli(args)[0] for _ in range(rounds))


def evaluate_rate(name: str, data_root: str, folds: str) -> float:
    """The clips per second `envaudio evaluate` prints (its own process, as a user runs it)."""
    out = cli(["evaluate", "--model", name, "--data-root", data_root, "--folds", folds, "--quiet",
               "--plot", str(Path(tempfile.gettempdir()) / "bench_fast_confusion.png")])[1]
    m = re.search(r"\(([0-9.]+) clips/s", out)
    if m is None:
        raise SystemExit(f"evaluate printed no clips/s: {out[:200]}")
    return float(m.group(1))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", default="fast,accurate")
    ap.add_argument("--data-root", default=str(ROOT.parent / "shared" / "data" / "urbansound8k-subset"))
    ap.add_argument("--folds", default="1")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--minutes", type=float, default=10.0)
    args = ap.parse_args()
    s = Settings.from_env()
    print(f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}; medians of {args.rounds} rounds")
    clip = (EXAMPLES / "102871-8-0-0.flac").read_bytes()
    clips = None
    if Path(args.data_root, "metadata", "UrbanSound8K.csv").is_file():
        clips = select_folds(load_dataset(args.data_root).clips, parse_folds(args.folds))
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        long = Path(tmp) / "long.wav"
        long_file(long, args.minutes)
        for name in args.models.split(","):
            model = load_model(name, settings=s)
            clf = Classifier(model, s)
            row = {"model": name, "networks": len(model.members), "mb": Path(model.path).stat().st_size / 1e6}
            predict_upload(clf, s, clip, 3, False)
            times = []
            for _ in range(args.rounds * 20):
                t0 = time.perf_counter()
                predict_upload(clf, s, clip, 3, False)
                times.append(time.perf_counter() - t0)
            row["predict_ms"] = statistics.median(times) * 1000
            row["long_events_s"] = cli_seconds(["predict", str(long), "--events", "--model", name], args.rounds)
            if clips:
                rates = [evaluate_rate(name, args.data_root, args.folds) for _ in range(args.rounds)]
                row["evaluate_clips_s"] = statistics.median(rates)
            rows.append(row)
            print(f"{name}: done", flush=True)
    print(f"\n{'model':<10} {'nets':>4} {'MB':>6} {'4-s clip /predict compute, ms':>30} "
          f"{f'{args.minutes:g}-min file --events, s':>26} {'evaluate, clips/s':>18}")
    for r in rows:
        ev = f"{r['evaluate_clips_s']:.0f}" if "evaluate_clips_s" in r else "-"
        print(f"{r['model']:<10} {r['networks']:>4} {r['mb']:>6.1f} {r['predict_ms']:>30.2f} "
              f"{r['long_events_s']:>26.2f} {ev:>18}")
    if clips:
        print(f"(evaluate: folds {args.folds}, {len(clips)} files, decoding included)")
    if len(rows) > 1:
        base = rows[-1]
        for r in rows[:-1]:
            print(f"{r['model']} vs {base['model']}: /predict compute {base['predict_ms'] / r['predict_ms']:.1f}x, "
                  f"long file {base['long_events_s'] / r['long_events_s']:.1f}x"
                  + (f", evaluate {r['evaluate_clips_s'] / base['evaluate_clips_s']:.1f}x" if clips else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
