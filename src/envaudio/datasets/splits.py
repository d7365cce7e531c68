"""Folds: reading "1-8", choosing folds, and splits for data that has none.

UrbanSound8K comes with ten folds, and its clips must stay in them (clips of one recording
share a fold, so a random split leaks). Data without folds is split here, per class with a
fixed seed: into train/validation(/test), or into K folds for cross-validation.
"""

from __future__ import annotations

import random
from dataclasses import replace
from typing import Iterable

from ..errors import DatasetError
from .clips import Clip


def select_folds(clips: list[Clip], folds: Iterable[int]) -> list[Clip]:
    want = set(folds)
    return [c for c in clips if c.fold in want]


def parse_folds(text: str) -> list[int]:
    """'1-8' -> [1..8]; '1,3,5' -> [1,3,5]."""
    out: list[int] = []
    try:
        for part in str(text).split(","):
            part = part.strip()
            if not part:
                continue
            if "-" in part:
                a, b = (int(x) for x in part.split("-", 1))
                out.extend(range(a, b + 1))
            else:
                out.append(int(part))
    except ValueError:
        raise DatasetError(f"cannot read folds {text!r}: use e.g. 1-8 or 1,2,3") from None
    if not out:
        raise DatasetError(f"no folds in {text!r}")
    return sorted(set(out))


# Folds of a split made here (no folds in the data).
TRAIN_FOLD, VAL_FOLD, TEST_FOLD = 1, 2, 3


def _by_class(clips: list[Clip], seed: int) -> dict[str, list[int]]:
    """Clip indices per class, shuffled with a fixed seed (sorted by path first, so the
    order files were listed in does not matter)."""
    out: dict[str, list[int]] = {}
    for i in sorted(range(len(clips)), key=lambda i: clips[i].file_path):
        out.setdefault(clips[i].label, []).append(i)
    rng = random.Random(seed)
    for idx in out.values():
        rng.shuffle(idx)
    return out


def split_folds(clips: list[Clip], val_fraction: float, test_fraction: float, seed: int) -> list[Clip]:
    """Stratified split: each class gives round(n * fraction) clips (at least one when the
    fraction is not 0) to validation (fold 2) and test (fold 3); the rest train (fold 1)."""
    fold = [TRAIN_FOLD] * len(clips)
    for label, idx in _by_class(clips, seed).items():
        n_val = max(1, round(len(idx) * val_fraction)) if val_fraction > 0 else 0
        n_test = max(1, round(len(idx) * test_fraction)) if test_fraction > 0 else 0
        if n_val + n_test >= len(idx):
            raise DatasetError(f"class {label!r} has {len(idx)} clips: too few to hold out "
                               f"{n_val} for validation and {n_test} for testing and still train")
        for i in idx[:n_val]:
            fold[i] = VAL_FOLD
        for i in idx[n_val:n_val + n_test]:
            fold[i] = TEST_FOLD
    return [replace(c, fold=f) for c, f in zip(clips, fold)]


def cv_folds(clips: list[Clip], k: int, seed: int) -> list[Clip]:
    """K stratified folds (1..K): each class's clips dealt round-robin, starting where the
    previous class stopped so the folds stay the same size."""
    if k < 3:
        raise DatasetError("--cv K needs K of at least 3 (one fold tests, one validates, the rest train)")
    fold, start = [0] * len(clips), 0
    for label, idx in _by_class(clips, seed).items():
        if len(idx) < k:
            raise DatasetError(f"--cv {k}: class {label!r} has only {len(idx)} clips (needs at least {k})")
        for j, i in enumerate(idx):
            fold[i] = (start + j) % k + 1
        start = (start + len(idx)) % k
    return [replace(c, fold=f) for c, f in zip(clips, fold)]
