"""Linear probes on frozen AudioSet embeddings: how well each pretrained network's pooled
embedding separates UrbanSound8K's classes with nothing but a logistic regression on top.

mn04: the 384-d pooled embedding (before the head) of each clip's 4-s window at 32 kHz;
also its pretrained head's 512-d hidden layer (after the Hardswish) and 527 AudioSet logits.
YAMNet: the 1,024-d mean of its patch embeddings (patch hop 96, as YamnetClassifier) at
16 kHz. Clips are decoded with libsndfile, resampled with soxr and looped to the window (the
front ends' own length handling). The regression (standardised inputs, L2) picks C by
leave-one-fold-out over the training folds, is refit on all of them and scored on the test
folds' clips. Embeddings are cached in --cache.

    nice -n 10 python benchmarks/probe_embeddings.py \\
        [--data-root ../shared/data/urbansound8k-subset] [--train-folds 1,2] [--test-folds 3] \\
        [--mn04 ../shared/pretrained/efficientat-mn04] [--yamnet ../shared/pretrained/yamnet/yamnet.npz] \\
        [--threads 2] [--cache /tmp/envaudio-probe]
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import time
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr
import torch

from envaudio.networks import mn04, yamnet

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"


def read_metadata(root: Path) -> list[dict]:
    with open(root / "metadata" / "UrbanSound8K.csv", newline="") as f:
        return list(csv.DictReader(f))


def decode(path: Path, rate: int) -> np.ndarray:
    wave, sr = sf.read(path, dtype="float32", always_2d=True)
    return soxr.resample(wave.mean(axis=1), sr, rate, quality="HQ").astype(np.float32)


class Embedder:
    def __init__(self, name: str, weights: Path):
        self.name = name
        if name == "mn04":
            self.fe = mn04.Mn04Frontend()
            self.net = mn04.load_pretrained(mn04.build({}, mn04.N_AUDIOSET), weights).eval()
        else:
            self.fe = yamnet.YamnetFrontend()
            self.net = yamnet.load_pretrained(yamnet.build({}, 10), weights).eval()

    @torch.inference_mode()
    def __call__(self, waves: np.ndarray) -> np.ndarray:
        if self.name == "mn04":  # the pooled embedding, the head's hidden layer, the AudioSet logits
            e = self.net.embed(torch.from_numpy(mn04.features(waves, self.fe)))
            h = self.net.classifier[3](self.net.classifier[2](e))
            return torch.cat([e, h, self.net.classifier[5](h)], dim=1).numpy()
        spec = torch.from_numpy(yamnet.features(waves, self.fe)).float()
        return self.net.pooled(*self.net.patch_batch(spec)).numpy()


def embeddings(emb: Embedder, rows: list[dict], root: Path, cache: Path, batch: int = 16) -> np.ndarray:
    digest = hashlib.sha1("\n".join(r["slice_file_name"] for r in rows).encode()).hexdigest()[:12]
    out_path = cache / f"{emb.name}-v2-{len(rows)}-{digest}.npy"
    if out_path.is_file():
        return np.load(out_path)
    t0 = time.perf_counter()
    out, waves = [], []
    for i, r in enumerate(rows):
        w = decode(root / "audio" / f"fold{r['fold']}" / r["slice_file_name"], emb.fe.sample_rate)
        reps = -(-emb.fe.n_samples // max(1, len(w)))
        waves.append(np.tile(w, reps)[:emb.fe.n_samples])
        if len(waves) == batch or i == len(rows) - 1:
            out.append(emb(np.stack(waves)))
            waves = []
    e = np.concatenate(out)
    cache.mkdir(parents=True, exist_ok=True)
    np.save(out_path, e)
    print(f"  {emb.name}: {len(rows)} clips embedded in {time.perf_counter() - t0:.0f} s", flush=True)
    return e


def probe(x_train, y_train, g_train, x_test, y_test, grid=(0.01, 0.03, 0.1, 0.3, 1.0, 3.0)):
    """C by leave-one-fold-out on the training folds; accuracy on the test clips."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    def fit(c, x, y):
        return make_pipeline(StandardScaler(), LogisticRegression(C=c, max_iter=3000)).fit(x, y)

    folds = sorted(set(g_train))
    cv = {}
    for c in grid:
        accs = [np.mean(fit(c, x_train[g_train != f], y_train[g_train != f]).predict(x_train[g_train == f])
                        == y_train[g_train == f]) for f in folds]
        cv[c] = float(np.mean(accs))
    best = max(cv, key=cv.get)
    pred = fit(best, x_train, y_train).predict(x_test)
    return best, cv, pred


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data-root", default=str(SHARED / "data" / "urbansound8k-subset"))
    ap.add_argument("--train-folds", default="1,2")
    ap.add_argument("--test-folds", default="3")
    ap.add_argument("--mn04", default=str(SHARED / "pretrained" / "efficientat-mn04"))
    ap.add_argument("--yamnet", default=str(SHARED / "pretrained" / "yamnet" / "yamnet.npz"),
                    help="'' to skip YAMNet")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--cache", default="/tmp/envaudio-probe")
    args = ap.parse_args()

    torch.set_num_threads(args.threads)
    root = Path(args.data_root)
    train_f = {int(f) for f in args.train_folds.split(",")}
    test_f = {int(f) for f in args.test_folds.split(",")}
    rows = [r for r in read_metadata(root) if int(r["fold"]) in train_f | test_f]
    labels = sorted({r["class"] for r in rows})
    y = np.array([labels.index(r["class"]) for r in rows])
    g = np.array([int(r["fold"]) for r in rows])
    train, test = np.isin(g, list(train_f)), np.isin(g, list(test_f))
    print(f"{root.name}: train folds {sorted(train_f)} ({train.sum()} clips), "
          f"test folds {sorted(test_f)} ({test.sum()} clips), {len(labels)} classes")

    nets = [("mn04", Path(args.mn04))] + ([("yamnet", Path(args.yamnet))] if args.yamnet else [])
    results = {}
    for name, weights in nets:
        e = embeddings(Embedder(name, weights), rows, root, Path(args.cache))
        if name == "mn04":
            size = mn04.EMBEDDING_SIZE
            results["mn04"] = e[:, :size]
            results["mn04-hidden"] = e[:, size:size + mn04.HIDDEN]
            results["mn04-audioset"] = e[:, size + mn04.HIDDEN:]
        else:
            results[name] = e
    if "yamnet" in results:
        results["mn04+yamnet"] = np.concatenate([results["mn04"], results["yamnet"]], axis=1)

    print(f"\n{'embedding':14} {'dim':>5} {'C':>5} {'LOFO acc':>9} {'test acc':>9}   per-class test accuracy")
    for name, e in results.items():
        c, cv, pred = probe(e[train], y[train], g[train], e[test], y[test])
        acc = float(np.mean(pred == y[test]))
        per = " ".join(f"{labels[k][:8]}={np.mean(pred[y[test] == k] == k):.2f}"
                       for k in range(len(labels)) if np.any(y[test] == k))
        print(f"{name:14} {e.shape[1]:>5} {c:>5g} {cv[c]:>9.3f} {acc:>9.3f}   {per}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
