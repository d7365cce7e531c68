"""Calibrated probabilities and the "not sure" threshold, fitted on held-out predictions.

Temperature scaling (Guo et al. 2017) of the model's combined probabilities:
p' = softmax(log p / T), T fitted by minimising the negative log-likelihood of held-out
clips (clips of folds the predicting model never trained on). The unknown threshold is
chosen on the same held-out clips: the highest best-class probability that turns at most
10 % of the right answers into "unknown" (`--max-right-lost`); the report says how many
wrong answers it catches and how much out-of-domain audio it turns away.
"""

from __future__ import annotations

import numpy as np

from .model import calibrate

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
