"""Calibrated probabilities and the "not sure" threshold, fitted on held-out predictions.

Temperature scaling (Guo et al. 2017) of the model's combined probabilities:
p' = softmax(log p / T), T fitted by minimising the negative log-likelihood of held-out
clips (clips of folds the predicting model never trained on). The unknown threshold is
chosen on the same held-out clips: the highest best-class probability that turns at most
10 % of the right answers into "unknown" (`--max-right-lost`); the report says how many
wrong answers it catches and how much out-of-domain audio it turns away.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import numpy as np

from .datasets.splits import parse_folds, select_folds
from .errors import DatasetError
from .evaluate import evaluate_clips, trained_on
from .fileio import audio_files
from .loading import calibrate, load_model
from .model import read_payload, save_deployable, save_model
from .modelfile import SUFFIX, is_model_file, model_path_for, read_meta, with_calibration
from .predict import Classifier

ECE_BINS = 15
MAX_RIGHT_LOST = 0.1  # the unknown threshold may turn this share of right answers into "unknown"


def nll(probs: np.ndarray, y: np.ndarray) -> float:
    return float(-np.mean(np.log(np.clip(probs[np.arange(len(y)), y], 1e-12, 1.0))))


def fit_temperature(probs: np.ndarray, y: np.ndarray) -> float:
    """The T in [0.05, 20] minimising held-out NLL (a coarse log-grid, then a finer one)."""
    def loss(t: float) -> float:
        return nll(calibrate(probs, {"temperature": t}), y)

    grid = np.exp(np.linspace(np.log(0.05), np.log(20.0), 121))
    best = grid[int(np.argmin([loss(t) for t in grid]))]
    fine = best * np.exp(np.linspace(-0.06, 0.06, 61))
    return float(fine[int(np.argmin([loss(t) for t in fine]))])


def ece(probs: np.ndarray, y: np.ndarray, bins: int = ECE_BINS) -> float:
    """Expected calibration error: the confidence-accuracy gap over equal-width bins of
    the best-class probability, weighted by the bins' shares."""
    conf = probs.max(axis=1)
    right = probs.argmax(axis=1) == y
    edges = np.linspace(0, 1, bins + 1)
    total = 0.0
    for lo, hi in zip(edges[:-1], edges[1:]):
        m = (conf > lo) & (conf <= hi)
        if m.any():
            total += m.mean() * abs(conf[m].mean() - right[m].mean())
    return float(total)


def choose_threshold(probs: np.ndarray, y: np.ndarray, max_right_lost: float = MAX_RIGHT_LOST) -> float:
    """The best-class probability below which a prediction is "unknown": the highest that
    turns at most `max_right_lost` of the right answers into "unknown" (so the wrong
    answers it catches cost few right ones)."""
    conf = np.sort(probs.max(axis=1)[probs.argmax(axis=1) == y])
    if len(conf) == 0:
        return 0.0
    k = int(np.floor(max_right_lost * len(conf)))  # right answers allowed below
    return float(conf[k]) if k < len(conf) else float(conf[-1])


def summary(probs: np.ndarray, y: np.ndarray, threshold: float) -> dict:
    """Accuracy, ECE and what the threshold does to these clips."""
    conf = probs.max(axis=1)
    right = probs.argmax(axis=1) == y
    unknown = conf < threshold
    return {"n": int(len(y)), "accuracy": float(right.mean()), "ece": ece(probs, y), "nll": nll(probs, y),
            "unknown_rate": float(unknown.mean()),
            "unknown_rate_of_right": float(unknown[right].mean()) if right.any() else 0.0,
            "unknown_rate_of_wrong": float(unknown[~right].mean()) if (~right).any() else 0.0,
            "accuracy_of_the_rest": float(right[~unknown].mean()) if (~unknown).any() else 0.0}


def heldout_spec(text: str) -> tuple[str, list[int]]:
    path, sep, folds = text.rpartition(":")
    if not sep or not path:
        raise DatasetError(f"--heldout {text!r}: write MODEL:FOLDS, e.g. runs/f23/model.pt:1")
    return path, parse_folds(folds)


def heldout_predictions(spec: str, labels: list[str], clips, settings, workers: int | None = None,
                        progress: bool = True) -> dict:
    """The uncalibrated probabilities of a held-out model on the folds it never saw."""
    path, folds = heldout_spec(spec)
    model = load_model(path, settings=settings)
    model.calibration = None  # its raw probabilities
    if model.labels != labels:
        raise DatasetError(f"{path}: its labels differ from the model's")
    seen = trained_on(model.card, folds)
    if seen is None:
        raise DatasetError(f"{path}: its card does not say which folds it was trained on, so it "
                           "cannot be checked to be held out")
    if seen:
        raise DatasetError(f"{path} was trained on fold(s) {seen}: not held-out data")
    test = select_folds(clips, folds)
    if not test:
        raise DatasetError(f"no clips in folds {folds}")
    ev = evaluate_clips(model, test, workers, progress, settings)
    ok = ~np.isnan(ev.probabilities).any(axis=1)
    idx = {l: i for i, l in enumerate(labels)}
    y = np.array([idx[c.label] for c in test])[ok]
    return {"model": path, "folds": folds, "probs": ev.probabilities[ok].astype(np.float64), "y": y}


def ood_rates(model_path: Path, ood_dir: str, settings) -> dict:
    """What the calibrated model says of audio of none of its classes: the share of
    files with each verdict, by kind (the file name's part before the first '-'), and
    the answers (`top_prediction`, what a user is told) of the files called "sound"."""
    files = audio_files([ood_dir])
    clf = Classifier(load_model(model_path), settings)
    verdicts, kinds, tops = [], [], Counter()
    for f in files:
        pred = clf.classify_file(f)
        verdicts.append(pred.verdict)
        kinds.append(f.stem.split("-")[0])
        if pred.verdict == "sound":
            tops[pred.top_prediction.label] += 1
    by_kind = {k: {"n": kinds.count(k),
                   "unknown_rate": sum(v == "unknown" for v, kk in zip(verdicts, kinds) if kk == k) / kinds.count(k)}
               for k in sorted(set(kinds))}
    return {"dir": ood_dir, "n": len(files), "unknown_rate": verdicts.count("unknown") / len(files),
            "silence_rate": verdicts.count("silence") / len(files), "by_kind": by_kind,
            "named_as": dict(tops.most_common())}


def calibrate_model(target_path: Path, out: Path, heldout: list[str], clips, settings,
                    max_right_lost: float = MAX_RIGHT_LOST, ood: str | None = None,
                    workers: int | None = None, progress: bool = True, command: str = "") -> dict:
    """Fit the temperature and the unknown threshold on the held-out models' predictions,
    write them into the model at `out` (and its card), and return the report."""
    if not 0.0 <= max_right_lost < 1.0:
        raise DatasetError("--max-right-lost must be in [0, 1)")
    if ood and not Path(ood).is_dir():
        raise FileNotFoundError(f"--ood {ood}: no such folder")
    deployable = is_model_file(target_path)  # a model file: only its model.json changes
    target = read_meta(target_path) if deployable else read_payload(target_path)
    labels = target["labels"]
    sets = [heldout_predictions(h, labels, clips, settings, workers, progress) for h in heldout]
    P = np.concatenate([d["probs"] for d in sets])
    Y = np.concatenate([d["y"] for d in sets])
    T = fit_temperature(P, Y)
    thr = choose_threshold(calibrate(P, {"temperature": T}), Y, max_right_lost)
    report = {
        "command": command,
        "model": target_path.name, "temperature": T, "unknown_threshold": thr,
        "max_right_lost": max_right_lost,
        "heldout": [{"model": d["model"], "folds": d["folds"], "n": int(len(d["y"]))} for d in sets],
        "pooled": {"before": summary(P, Y, 0.0), "after": summary(calibrate(P, {"temperature": T}), Y, thr)},
    }
    if len(sets) > 1:  # honest figures: each set judged with T and threshold fitted on the others
        report["cross_fitted"] = []
        for i, d in enumerate(sets):
            Po = np.concatenate([o["probs"] for j, o in enumerate(sets) if j != i])
            Yo = np.concatenate([o["y"] for j, o in enumerate(sets) if j != i])
            t_i = fit_temperature(Po, Yo)
            thr_i = choose_threshold(calibrate(Po, {"temperature": t_i}), Yo, max_right_lost)
            report["cross_fitted"].append({
                "folds": d["folds"], "temperature": t_i, "unknown_threshold": thr_i,
                "before": summary(d["probs"], d["y"], 0.0),
                "after": summary(calibrate(d["probs"], {"temperature": t_i}), d["y"], thr_i)})
    target["calibration"] = {"temperature": T, "unknown_threshold": thr,
                             "fitted_on": report["heldout"], "ece_before": report["pooled"]["before"]["ece"],
                             "ece_after": report["pooled"]["after"]["ece"]}
    target["card"] = {**(target.get("card") or {}), "calibration": target["calibration"]}
    out = write_calibrated(target_path, out, target, deployable)
    report["written"] = str(out)
    if ood:
        report["ood"] = ood_rates(out, ood, settings)
    return report


def write_calibrated(target_path: Path, out: Path, target: dict, deployable: bool) -> Path:
    """The calibrated model at `out`: a model file gets a new model.json (its graph kept);
    a training file is written with its model file beside it (and its card, when the
    target had one beside it or is written elsewhere). Returns the model file's path."""
    out = Path(out)
    if deployable:
        out = out if out.suffix == SUFFIX else model_path_for(out)
        with_calibration(target_path, out, target["calibration"], target["card"])
        return out
    training = out.with_suffix(".pt") if out.suffix == SUFFIX else out
    save_model(training, target)
    card_file = Path(str(target_path) + ".card.json")
    if card_file.is_file() or training != target_path:
        Path(str(training) + ".card.json").write_text(json.dumps(target["card"], indent=1) + "\n")
    beside = model_path_for(training)
    save_deployable(target, beside, source=training.name)
    return beside
