"""Cross-validation: each fold tests once, the next validates, the others train."""

from __future__ import annotations

import json
from pathlib import Path

from ..datasets.splits import select_folds
from ..errors import DatasetError
from ..evaluate import evaluate_clips
from ..loading import load_model
from .distributed import dist_info
from .trainer import train


def cross_validate(clips, labels, cfg, run_dir: Path, card: dict, resume: bool = False,
                   log=print) -> dict | None:
    """Each fold present is the test fold once; the next fold (cyclically) validates; the
    others train. With all 10 folds this is the paper's protocol (8 / 1 / 1). Writes
    cv_results.json in run_dir and returns it (None on ranks other than 0)."""
    folds = sorted({c.fold for c in clips})
    if len(folds) < 3:
        raise DatasetError(f"--cv needs at least 3 folds, found {folds}")
    rows = []
    for i, test_fold in enumerate(folds):
        val_fold = folds[(i + 1) % len(folds)]
        train_folds = [f for f in folds if f not in (test_fold, val_fold)]
        fold_dir = run_dir / f"cv_test{test_fold}"
        out = fold_dir / "model.pt"
        log(f"\n=== CV: test fold {test_fold}, validation fold {val_fold}, train folds {train_folds}")
        train(clips, labels, train_folds, [val_fold], cfg, out, fold_dir, resume, card)
        if dist_info()[0] != 0:
            continue
        ev = evaluate_clips(load_model(out), select_folds(clips, [test_fold]), workers=cfg.workers,
                            progress=cfg.progress)
        rows.append({"test_fold": test_fold, "val_fold": val_fold, "train_folds": train_folds,
                     "accuracy": ev.metrics["accuracy"], "macro_f1": ev.metrics["macro_f1"],
                     "n": ev.metrics["n"]})
        log(f"test fold {test_fold}: accuracy {rows[-1]['accuracy']:.3f}, macro-F1 {rows[-1]['macro_f1']:.3f}")
    if dist_info()[0] != 0:
        return None
    mean_acc = sum(r["accuracy"] for r in rows) / len(rows)
    mean_f1 = sum(r["macro_f1"] for r in rows) / len(rows)
    results = {"folds": rows, "mean_accuracy": mean_acc, "mean_macro_f1": mean_f1}
    (run_dir / "cv_results.json").write_text(json.dumps(results, indent=1) + "\n")
    return results
