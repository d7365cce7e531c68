"""Metrics (classification report, confusion matrix) and evaluation from audio files."""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from .datasets.cache import iter_file_features
from .datasets.clips import Clip
from .datasets.splits import TEST_FOLD, VAL_FOLD, parse_folds, select_folds, split_folds
from .errors import DatasetError
from .loading import LoadedModel
from .engines import OrtEngine, resolve_backend
from .settings import Settings, available_cpus, get_settings


def confusion_matrix(y_true, y_pred, n_classes: int) -> np.ndarray:
    cm = np.zeros((n_classes, n_classes), dtype=np.int64)
    np.add.at(cm, (np.asarray(y_true, dtype=int), np.asarray(y_pred, dtype=int)), 1)
    return cm


def classification_metrics(y_true, y_pred, labels: list[str]) -> dict:
    """Per-class precision/recall/F1/support, accuracy, macro and weighted averages."""
    cm = confusion_matrix(y_true, y_pred, len(labels))
    tp = np.diag(cm).astype(float)
    support = cm.sum(axis=1).astype(float)
    predicted = cm.sum(axis=0).astype(float)
    precision = np.divide(tp, predicted, out=np.zeros_like(tp), where=predicted > 0)
    recall = np.divide(tp, support, out=np.zeros_like(tp), where=support > 0)
    denom = precision + recall
    f1 = np.divide(2 * precision * recall, denom, out=np.zeros_like(tp), where=denom > 0)
    n = int(support.sum())
    present = support > 0  # classes absent from the folds don't drag the macro average to 0
    per_class = {
        lab: {"precision": float(precision[i]), "recall": float(recall[i]),
              "f1": float(f1[i]), "support": int(support[i])}
        for i, lab in enumerate(labels)
    }

    def avg(v, w=None):
        if not present.any():
            return 0.0
        return float(np.average(v[present], weights=None if w is None else w[present]))

    return {
        "accuracy": float(tp.sum() / n) if n else 0.0,
        "macro_f1": avg(f1),
        "labels": list(labels),
        "per_class": per_class,
        "macro_avg": {"precision": avg(precision), "recall": avg(recall), "f1": avg(f1), "support": n},
        "weighted_avg": {"precision": avg(precision, support), "recall": avg(recall, support),
                         "f1": avg(f1, support), "support": n},
        "confusion_matrix": cm.tolist(),
        "n": n,
    }


def format_report(m: dict) -> str:
    """Text report in the familiar scikit-learn layout, plus the confusion matrix."""
    labels = m["labels"]
    w = max(12, max(len(l) for l in labels))
    lines = [f"{'':>{w}}  precision    recall  f1-score   support", ""]
    for lab in labels:
        c = m["per_class"][lab]
        lines.append(f"{lab:>{w}}  {c['precision']:9.3f} {c['recall']:9.3f} {c['f1']:9.3f} {c['support']:9d}")
    lines.append("")
    lines.append(f"{'accuracy':>{w}}  {'':9} {'':9} {m['accuracy']:9.3f} {m['n']:9d}")
    for name, key in (("macro avg", "macro_avg"), ("weighted avg", "weighted_avg")):
        a = m[key]
        lines.append(f"{name:>{w}}  {a['precision']:9.3f} {a['recall']:9.3f} {a['f1']:9.3f} {a['support']:9d}")
    lines += ["", "Confusion matrix (rows: true, columns: predicted):"]
    cm = np.asarray(m["confusion_matrix"])
    short = [l[:6] for l in labels]
    lines.append(f"{'':>{w}} " + " ".join(f"{s:>6}" for s in short))
    for lab, row in zip(labels, cm):
        lines.append(f"{lab:>{w}} " + " ".join(f"{v:6d}" for v in row))
    return "\n".join(lines)


@dataclass
class EvalResult:
    metrics: dict
    probabilities: np.ndarray
    clips: list[Clip]
    seconds: float
    errors: list[str]

    @property
    def clips_per_second(self) -> float:
        return len(self.clips) / self.seconds if self.seconds > 0 else float("inf")


def _split_cores(workers: int | None) -> tuple[int, int]:
    """(decoding + feature threads, network threads) for evaluate's two stages running side
    by side. By default as many decoding threads as cores and half the cores for the
    networks: decoding waits on the file and holds the GIL part of the time, so one decoding
    thread per core beside the networks' threads keeps the cores busier than half and half
    (on 2 cores, fast model: ~1.35x the clips per second; benchmarks/bench_fast.py)."""
    cores = available_cpus()
    if workers is not None:
        return workers, max(1, cores - workers)
    return cores, max(1, cores // 2)


def _feature_chunks(paths: list[str], chunk: int, frontends, s: Settings, workers: int):
    """Yields (first index, [(features or None, error or None)]) per chunk of files, made
    in a thread one chunk ahead of the caller (who runs the networks on the previous one)."""
    import queue
    import threading

    q: queue.Queue = queue.Queue(maxsize=1)
    stop = threading.Event()

    def fill():
        try:
            for start in range(0, len(paths), chunk):
                part = list(iter_file_features(paths[start:start + chunk], frontends, s.window_overlap, workers,
                                               s.audio_loader, s.ffmpeg_timeout_seconds))
                while not stop.is_set():
                    try:
                        q.put((start, part), timeout=0.2)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            q.put(None)
        except BaseException as e:  # raised in the caller
            q.put(e)

    thread = threading.Thread(target=fill, daemon=True, name="envaudio-evaluate-features")
    thread.start()
    try:
        while (item := q.get()) is not None:
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        thread.join(timeout=30)


def evaluate_clips(model: LoadedModel, clips: list[Clip], workers: int | None = None,
                   progress: bool = True, settings: Settings | None = None,
                   chunk: int = 64, engine=None) -> EvalResult:
    """Scores each file by the windows' average probabilities (argmax): the UrbanSound8K
    benchmark's protocol, one label per clip (`predict`'s answer for a person is the class
    heard longest, docs/usage.md). Two stages run side by side: decoding + features of the
    next chunk of files in a thread (`workers` threads, default one per core) while the
    networks run on this chunk with the other cores, so neither waits for the other.
    `engine`: who runs the networks (default the model's backend, with those cores)."""
    from tqdm import tqdm

    s = settings or get_settings()  # window overlap and decoder, as `predict` uses them
    if not clips:
        raise DatasetError("no clips to evaluate")
    label_index = {l: i for i, l in enumerate(model.labels)}
    unknown = sorted({c.label for c in clips} - set(label_index))
    if unknown:
        raise DatasetError(f"the model does not know the classes {unknown}")
    feat_threads, net_threads = _split_cores(workers)
    if engine is None and resolve_backend(model.backend) == "onnxruntime":
        engine = OrtEngine(model, threads=net_threads, cache_dir=model.cache_dir)
    t0 = time.perf_counter()  # the clips' time: decoding, features, networks (not loading the model)
    probs = np.zeros((len(clips), len(model.labels)), dtype=np.float32)
    errors: list[str] = []
    paths = [c.file_path for c in clips]
    bar = tqdm(total=len(paths), desc="evaluate", unit="clip", disable=not progress)
    for start, part in _feature_chunks(paths, chunk, model.frontends, s, feat_threads):
        done: list[tuple[int, dict]] = []
        for i, (feats, err) in enumerate(part, start):
            if feats is None:
                errors.append(f"{paths[i]}: {err}")
                probs[i] = np.nan
            else:
                done.append((i, feats))
        if done:
            keys = list(done[0][1])
            out = model.predict_windows({k: np.concatenate([f[k] for _, f in done]) for k in keys}, engine=engine)
            k = 0
            for i, f in done:
                n = len(f[keys[0]])
                probs[i] = out[k:k + n].mean(axis=0)
                k += n
        bar.update(len(part))
    bar.close()
    seconds = time.perf_counter() - t0
    ok = ~np.isnan(probs).any(axis=1)
    y_true = np.array([label_index[c.label] for c in clips])[ok]
    y_pred = probs[ok].argmax(axis=1)
    metrics = classification_metrics(y_true, y_pred, model.labels)
    return EvalResult(metrics, probs, clips, seconds, errors)


def plot_confusion(m: dict, path: str, title: str = "Confusion matrix") -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cm = np.asarray(m["confusion_matrix"], dtype=float)
    labels = m["labels"]
    norm = cm / np.maximum(cm.sum(axis=1, keepdims=True), 1)
    fig, ax = plt.subplots(figsize=(8, 7), dpi=110)
    im = ax.imshow(norm, cmap="Blues", vmin=0, vmax=1)
    for i in range(len(labels)):
        for j in range(len(labels)):
            if cm[i, j]:
                ax.text(j, i, int(cm[i, j]), ha="center", va="center", fontsize=8,
                        color="white" if norm[i, j] > 0.5 else "black")
    ax.set_xticks(range(len(labels)), labels, rotation=45, ha="right")
    ax.set_yticks(range(len(labels)), labels)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(f"{title}\naccuracy {m['accuracy']:.3f}, macro-F1 {m['macro_f1']:.3f}, n={m['n']}")
    fig.colorbar(im, ax=ax, fraction=0.046, label="fraction of true class")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def trained_on(card: dict | None, folds: list[int]) -> list[int] | None:
    """The folds among `folds` the model was trained on (its card's train_folds); None
    when the card does not say (an old or custom model)."""
    train_folds = (card or {}).get("train_folds")
    if not isinstance(train_folds, list):
        return None
    return sorted(set(folds) & {int(f) for f in train_folds})


def evaluation_clips(ds, card: dict | None, folds: str | None = None,
                     split: str | None = None) -> tuple[list, list[int] | None, str]:
    """(clips, folds or None, what they are, for the report): UrbanSound8K's fold 10 by
    default, --folds of data with folds, --split of the split the model was trained with,
    else every clip."""
    if split:
        made = (card or {}).get("split") or {}
        if ds.has_folds or "val_fraction" not in made:
            raise DatasetError("--split needs data without folds and a model trained on such data with "
                               "a split (its card records the seed and fractions)")
        clips = split_folds(ds.clips, made["val_fraction"], made["test_fraction"], made["seed"])
        test = select_folds(clips, [VAL_FOLD if split == "val" else TEST_FOLD])
        if not test:
            raise DatasetError(f"the model's training held out no {split} split "
                               f"({'train with --test-split' if split == 'test' else 'it had --val-split 0'})")
        return test, None, f"the {split} split of {ds.source}"
    if folds is None and ds.layout != "urbansound8k":
        return ds.clips, None, ds.source
    chosen = parse_folds(folds or "10")
    test = select_folds(ds.clips, chosen)
    if not test:
        raise DatasetError(f"no clips in folds {chosen} (folds present: {sorted({c.fold for c in ds.clips})})")
    return test, chosen, f"folds {chosen}"
