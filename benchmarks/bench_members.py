"""Held-out accuracy against compute per clip, for each member of a model and for the
combination, so the trade-off is visible.

Give each model with the fold it never trained on (MODEL:FOLDS); accuracy and macro-F1 are
pooled over all of them. Compute is measured in process on a 4-s clip (decode excluded):
one clip at a time (latency) and in batches of 32 (throughput, as `evaluate` runs).

    python benchmarks/bench_members.py runs/f23/model.pt:1 runs/f13/model.pt:2 \\
        [--data-root ../shared/data/urbansound8k-subset] [--plot members.png]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

from envaudio.datasets.splits import parse_folds, select_folds
from envaudio.datasets.urbansound8k import prepare_dataset
from envaudio.evaluate import classification_metrics, evaluate_clips
from envaudio.loading import LoadedModel, from_payload, load_model
from envaudio.predict import Classifier
from envaudio.settings import Settings, available_cpus

DEFAULT_ROOT = Path(__file__).resolve().parents[2] / "shared" / "data" / "urbansound8k-subset"


def parts(model: LoadedModel) -> dict[str, LoadedModel]:
    """Each network type of the model on its own (its members weighted as in the model),
    then the whole."""
    out = {}
    w = model.weights()
    for name in dict.fromkeys(m.network for m in model.members):
        idx = [i for i, m in enumerate(model.members) if m.network == name]
        if model.payload is None:
            raise SystemExit(f"{model.path} is a model file: its members are one graph; give its training file (.pt)")
        sub = {**model.payload, "members": [model.payload["members"][i] for i in idx],
               "combine": {"rule": "weighted", "weights": [float(w[i]) for i in idx]}}
        out[f"{name} x {len(idx)}"] = from_payload(sub, model.path, backend=model.backend, cache_dir=model.cache_dir)
    if len(out) > 1:
        out["combination"] = model
    return out


def compute_ms(model: LoadedModel, repeats: int = 20) -> tuple[float, float]:
    """(ms for one 4-s clip, ms per clip in batches of 32): features + networks + combination."""
    clf = Classifier(model, Settings())
    rng = np.random.default_rng(0)
    wave = (0.1 * rng.standard_normal(int(clf.sample_rate * clf.window_seconds))).astype(np.float32)
    clf.classify_waveform(wave)
    t = time.perf_counter()
    for _ in range(repeats):
        clf.classify_waveform(wave, keep_features=False)
    one = (time.perf_counter() - t) / repeats * 1000
    windows = {r: np.stack([clf.at_model_rates(wave, clf.sample_rate)[r]] * 32) for r in model.sample_rates}
    t = time.perf_counter()
    for _ in range(max(1, repeats // 5)):
        model.predict_windows(model.featurize(windows))
    batched = (time.perf_counter() - t) / max(1, repeats // 5) / 32 * 1000
    return one, batched


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("models", nargs="+", metavar="MODEL:FOLDS")
    ap.add_argument("--data-root", default=str(DEFAULT_ROOT))
    ap.add_argument("--plot", default=None, help="save accuracy vs compute as a PNG here")
    args = ap.parse_args()
    if not Path(args.data_root, "metadata", "UrbanSound8K.csv").is_file():
        print(f"bench_members: no UrbanSound8K data at {args.data_root}", file=sys.stderr)
        return 2
    clips = prepare_dataset(args.data_root).clips
    torch.set_num_threads(available_cpus())
    rows: dict[str, dict] = {}
    for spec in args.models:
        path, _, folds = spec.rpartition(":")
        model = load_model(path)
        test = select_folds(clips, parse_folds(folds))
        trained = set(model.card.get("train_folds") or []) & {c.fold for c in test}
        if trained:
            print(f"bench_members: {path} was trained on fold(s) {sorted(trained)}", file=sys.stderr)
            return 2
        for name, part in parts(model).items():
            ev = evaluate_clips(part, test, progress=False)
            r = rows.setdefault(name, {"y": [], "p": [], "ms": []})
            idx = {l: i for i, l in enumerate(part.labels)}
            r["y"] += [idx[c.label] for c in test]
            r["p"] += list(ev.probabilities.argmax(1))
            r["ms"].append(compute_ms(part))
            print(f"{Path(path).name} on fold(s) {folds}: {name}: accuracy {ev.metrics['accuracy']:.3f}",
                  flush=True)
    labels = load_model(args.models[0].rpartition(":")[0]).labels
    print(f"\n{'member(s)':<22} {'n':>5} {'accuracy':>9} {'macro-F1':>9} {'ms/clip':>8} {'ms/clip batched':>16}")
    points = []
    for name, r in rows.items():
        m = classification_metrics(r["y"], r["p"], labels)
        one, batched = np.mean(r["ms"], axis=0)
        points.append((name, one, m["accuracy"]))
        print(f"{name:<22} {m['n']:>5} {m['accuracy']:>9.3f} {m['macro_f1']:>9.3f} {one:>8.1f} {batched:>16.1f}")
    print(f"\n({available_cpus()} CPU threads; compute: features + networks for one 4-s clip, decode excluded)")
    if args.plot:
        plot_points(points, "compute per 4-s clip (ms, one at a time)", "held-out accuracy", args.plot)
    return 0


def plot_points(points: list[tuple[str, float, float]], xlabel: str, ylabel: str, path: str,
                log_x: bool = False) -> None:
    """(name, cost, accuracy) points, named, as a PNG: accuracy against cost."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.5, 4.2), dpi=110)
    for name, x, y in points:
        ax.scatter(x, y)
        ax.annotate(name, (x, y), textcoords="offset points", xytext=(5, 5), fontsize=8)
    if log_x:
        ax.set_xscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title("Accuracy against compute")
    ax.grid(alpha=0.3, which="both")
    fig.tight_layout()
    fig.savefig(path)
    print(f"plot: {path}")


if __name__ == "__main__":
    sys.exit(main())
