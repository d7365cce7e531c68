"""One model from several: their members side by side, probabilities averaged or weighted.

`envaudio combine` writes the result; the weights are given, or fitted on validation folds
that none of the models trained on (`fit_weights`).
"""

from __future__ import annotations

import itertools
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import torch

from .errors import DatasetError, ModelError
from .evaluate import evaluate_clips
from .loading import from_payload
from .model import _stored_once, model_payload, read_payload


def combine_payloads(payloads: list[dict], weights: list[float] | None = None, card: dict | None = None,
                     half: bool = False) -> dict:
    """One model from several (their members side by side). `weights`: one per input model,
    shared among its members as that model shares its own (equally, unless it is itself a
    weighted combination); default: each model counts as many members as it has, so
    unweighted models give a plain mean over all members. half=True stores floating-point
    weights as float16 (half the file). Tensors that are equal in several members (a
    tower two members kept frozen) are stored once."""
    labels = payloads[0]["labels"]
    for p in payloads[1:]:
        if p["labels"] != labels:
            raise ModelError(f"the models have different labels: {labels} vs {p['labels']}")
    members, member_w = [], []
    seen: dict[tuple, list[torch.Tensor]] = {}
    for i, p in enumerate(payloads):
        own = np.asarray((p.get("combine") or {}).get("weights") or [1.0] * len(p["members"]), dtype=np.float64)
        own = own / own.sum()
        share = weights[i] if weights else float(len(p["members"]))
        for m, w in zip(p["members"], own):
            state = {k: _stored_once(v.half() if half and v.is_floating_point() else v, seen)
                     for k, v in m["state"].items()}
            members.append({**m, "state": state})
            member_w.append(float(share * w))
    plain = not weights and len(set(np.round(member_w, 12))) == 1
    combine = {"rule": "mean"} if plain else {"rule": "weighted", "weights": member_w}
    payload = model_payload(members, labels, card or {}, combine)
    from_payload(payload, inference=False)  # fails here (ModelError) if the members don't fit
    return payload


def combined_card(payloads: list[dict], paths: list[str], combine: dict) -> dict:
    cards = [p.get("card", {}) for p in payloads]
    folds = sorted({f for c in cards for f in (c.get("train_folds") or [])})
    return {
        "name": "envaudio " + " + ".join(f"{n} x {net}" for net, n in
                                         Counter(m["network"] for p in payloads for m in p["members"]).items()),
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "dataset": cards[0].get("dataset"), "dataset_citation": cards[0].get("dataset_citation"),
        "train_folds": folds or None,
        "members": sum(len(p["members"]) for p in payloads),
        "training_seconds": round(sum(c.get("training_seconds") or 0 for c in cards), 1),
        "combine": combine,
        "sources": [{"file": "/".join(Path(path).parts[-2:]), **card} for path, card in zip(paths, cards)],
        "labels": payloads[0]["labels"],
    }


def fit_weights(payloads: list[dict], clips, settings, workers, progress: bool, step: float = 0.05,
                log=print) -> list[float]:
    """Weights (one per model, summing to 1) that maximise accuracy on `clips`, the
    validation folds (ties: the most even weights). Never fit on a test fold."""
    probs = [evaluate_clips(from_payload(p), clips, workers, progress, settings).probabilities
             for p in payloads]
    idx = {l: i for i, l in enumerate(payloads[0]["labels"])}
    y = np.array([idx[c.label] for c in clips])
    n = round(1 / step)
    best = None
    for k in itertools.product(range(n + 1), repeat=len(payloads) - 1):
        if sum(k) > n:
            continue
        w = np.array([*k, n - sum(k)]) / n
        acc = float((np.tensordot(w, np.stack(probs), axes=1).argmax(1) == y).mean())
        key = (acc, -float(np.abs(w - 1 / len(w)).sum()))
        if best is None or key > best[0]:
            best = (key, w)
    log(f"weights fitted on {len(clips)} validation clips: {np.round(best[1], 3).tolist()} "
          f"(accuracy {best[0][0]:.3f})")
    return [float(v) for v in best[1]]


def combine_models(paths: list[str], weights: list[float] | None = None, fit_clips=None,
                   fit_folds: list[int] | None = None, settings=None, workers: int | None = None,
                   progress: bool = True, half: bool = False, log=print) -> dict:
    """One model payload from several model files: a plain mean, the given weights, or
    weights fitted on `fit_clips` (validation folds none of the models trained on)."""
    payloads = [read_payload(p) for p in paths]
    if weights is not None and (len(weights) != len(payloads) or min(weights) < 0 or sum(weights) <= 0):
        raise DatasetError("--weights needs one non-negative weight per model")
    if fit_clips is not None:
        trained = {f for p in payloads for f in (p.get("card", {}).get("train_folds") or [])}
        if not fit_clips or trained & {c.fold for c in fit_clips}:
            raise DatasetError(f"--fit-folds must be validation folds present in the data that no model "
                               f"was trained on (trained on {sorted(trained)})")
        weights = fit_weights(payloads, fit_clips, settings, workers, progress, log=log)
    combine = {"rule": "weighted", "weights": weights} if weights else {"rule": "mean"}
    if weights and fit_folds:
        combine["fitted_on_folds"] = fit_folds
    payload = combine_payloads(payloads, weights, None, half=half)
    payload["card"] = combined_card(payloads, paths, combine)
    if "fitted_on_folds" in combine:
        payload["combine"]["fitted_on_folds"] = combine["fitted_on_folds"]
    return payload
