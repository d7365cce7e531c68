"""Where a request's compute goes, for each inference backend, in process (no HTTP).

For a 4-s clip: decoding (libsndfile), resampling to the members' other rates, each front
end's features, the members' networks (one window), the whole /predict answer (default and
reduce_payload), and a streaming update (StreamSession.predict, 48 kHz client). With
--data-root, also `evaluate`'s throughput (clips/s, decoding included) on --folds.

Each figure is the median over --rounds rounds of the median of --repeats calls: this
machine is shared, so single runs move by 2x under load.

    python benchmarks/bench_inference.py [--model FILE] [--backends torch,onnxruntime]
        [--threads 2] [--data-root ../shared/data/urbansound8k-subset --folds 1]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

from envaudio.audio import load_audio
from envaudio.datasets.layouts import load_clips
from envaudio.datasets.splits import parse_folds, select_folds
from envaudio.evaluate import evaluate_clips
from envaudio.loading import load_model
from envaudio.networks import frontend_features
from envaudio.predict import Classifier
from envaudio.server.inference import predict_upload
from envaudio.server.schemas import StreamConfig
from envaudio.server.ws import StreamSession
from envaudio.settings import Settings
from envaudio.windows import cut_at

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_CLIP = ROOT / "src" / "envaudio" / "assets" / "examples" / "102871-8-0-0.flac"


def timed_ms(fn, repeats: int, rounds: int) -> float:
    fn()
    per_round = []
    for _ in range(rounds):
        times = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t0)
        per_round.append(statistics.median(times) * 1000)
    return statistics.median(per_round)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default=None, help="default: the bundled model")
    ap.add_argument("--clip", default=str(DEFAULT_CLIP))
    ap.add_argument("--backends", default="torch,onnxruntime")
    ap.add_argument("--threads", type=int, default=len(os.sched_getaffinity(0)),
                    help="intra-op threads (the server's default: available cores // workers)")
    ap.add_argument("--repeats", type=int, default=30)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--data-root", default=None)
    ap.add_argument("--folds", default="1")
    args = ap.parse_args()

    torch.set_num_threads(args.threads)
    s = Settings.from_env()
    data = Path(args.clip).read_bytes()
    print(f"machine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}; {args.threads} threads; "
          f"medians of {args.rounds} rounds x {args.repeats} calls")
    r = dict(repeats=args.repeats, rounds=args.rounds)
    for backend in args.backends.split(","):
        model = load_model(args.model or s.model_path, backend)
        clf = Classifier(model, s)
        print(f"\n[{backend}] {Path(model.path).name}: {len(model.members)} members "
              f"({', '.join(m.network for m in model.members)})")
        wave = load_audio(data, clf.sample_rate, "soundfile")
        print(f"  decode 4-s clip (libsndfile)     {timed_ms(lambda: load_audio(data, clf.sample_rate, 'soundfile'), **r):7.2f} ms")
        print(f"  resample to the members' rates    {timed_ms(lambda: clf.at_model_rates(wave, clf.sample_rate), **r):7.2f} ms")
        windows = cut_at(clf.at_model_rates(wave, clf.sample_rate), [0.0], clf.window_seconds)
        for fe in model.frontends:
            ms = timed_ms(lambda: frontend_features(fe, windows[fe.sample_rate]), **r)
            print(f"  features {fe.kind:8s} ({fe.sample_rate} Hz) {ms:7.2f} ms")
        feats = model.featurize(windows)
        print(f"  networks, all members, 1 window   {timed_ms(lambda: model.predict_windows(feats), **r):7.2f} ms")
        for reduce in (False, True):
            ms = timed_ms(lambda: predict_upload(clf, s, data, 3, reduce), **r)
            print(f"  /predict compute {'reduce_payload' if reduce else 'default       '}   {ms:7.2f} ms  "
                  "(decode + classify + JSON)")
        sess = StreamSession(clf, s, StreamConfig(sample_rate=48000), False)
        frame = (0.1 * np.random.default_rng(0).standard_normal(4 * 48000)).astype(np.float32)
        print(f"  stream update (48 kHz client)      {timed_ms(lambda: sess.predict(frame, len(frame)), **r):7.2f} ms")
        if args.data_root:
            clips = select_folds(load_clips(args.data_root)[0], parse_folds(args.folds))
            rates = [evaluate_clips(model, clips, progress=False, settings=s).clips_per_second
                     for _ in range(args.rounds)]
            print(f"  evaluate fold(s) {args.folds}: {statistics.median(rates):6.0f} clips/s "
                  f"({len(clips)} clips, decoding included; rounds: {', '.join(f'{x:.0f}' for x in rates)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
