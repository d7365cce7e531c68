"""Held-out accuracy against cost per window, for a teacher, its students, and their
averages: what the fast default gives up (or not) for its speed.

Give each model with the fold(s) it never trained on (MODEL:FOLDS; a student's card counts
its teacher's training folds as its own). Every model is scored by `evaluate`'s rule (the
windows' average probabilities, argmax) on the same clips; `--average A+B` adds the
probabilities of two (or more) of them, equally weighted, as `envaudio combine --weights
1,1` would. McNemar's exact test compares each row with the first (how often each is right
where the other is wrong). Cost: features + networks in process for one 4-s clip at a time
and per window in batches of 32 (decode excluded), with ONNX Runtime at the machine's
threads, and the model file's size.

    python benchmarks/bench_students.py runs/h/teacher.pt:1 runs/h/student.pt:1 \\
        --average teacher+student [--data-root ../shared/data/urbansound8k-subset] \\
        [--json out.json] [--plot students.png]
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

import numpy as np

from envaudio.datasets.splits import parse_folds, select_folds
from envaudio.datasets.urbansound8k import prepare_dataset
from envaudio.evaluate import classification_metrics, evaluate_clips
from envaudio.loading import load_model

from bench_members import DEFAULT_ROOT, compute_ms, plot_points  # the same cost rule (benchmarks/ is the script's folder)


def mcnemar_p(a_right: np.ndarray, b_right: np.ndarray) -> float:
    """Two-sided exact McNemar test: p of the discordant pairs' split under 'equally good'."""
    b = int((a_right & ~b_right).sum())
    c = int((~a_right & b_right).sum())
    n = b + c
    if n == 0:
        return 1.0
    k = min(b, c)
    tail = sum(math.comb(n, i) for i in range(k + 1)) / 2 ** n
    return min(1.0, 2 * tail)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("models", nargs="+", metavar="MODEL:FOLDS")
    ap.add_argument("--average", action="append", default=[], metavar="A+B",
                    help="also score the mean of these models' probabilities (names: the files' stems)")
    ap.add_argument("--data-root", default=str(DEFAULT_ROOT))
    ap.add_argument("--json", default=None, help="write the table as JSON here")
    ap.add_argument("--plot", default=None, help="save accuracy against cost as a PNG here")
    args = ap.parse_args()
    if not Path(args.data_root, "metadata", "UrbanSound8K.csv").is_file():
        print(f"bench_students: no UrbanSound8K data at {args.data_root}", file=sys.stderr)
        return 2
    clips = prepare_dataset(args.data_root).clips
    folds = {spec.rpartition(":")[2] for spec in args.models}
    if len(folds) != 1:
        print("bench_students: give every model the same held-out folds", file=sys.stderr)
        return 2
    test = select_folds(clips, parse_folds(folds.pop()))
    probs, cost, labels = {}, {}, None
    for spec in args.models:
        path, _, _ = spec.rpartition(":")
        model = load_model(path)
        trained = set(model.card.get("train_folds") or []) & {c.fold for c in test}
        if trained:
            print(f"bench_students: {path} was trained on fold(s) {sorted(trained)}", file=sys.stderr)
            return 2
        if labels is not None and model.labels != labels:
            print(f"bench_students: {path}'s labels differ", file=sys.stderr)
            return 2
        labels = model.labels
        name = Path(path).stem
        probs[name] = evaluate_clips(model, test, progress=False).probabilities
        one, batched = compute_ms(model)
        cost[name] = {"ms_clip": one, "ms_window_batched": batched, "members": len(model.members),
                      "mb": Path(path).stat().st_size / 1e6}
        print(f"{name}: scored {len(test)} clips", flush=True)
    for spec in args.average:
        names = spec.split("+")
        missing = [n for n in names if n not in probs]
        if missing:
            print(f"bench_students: --average {spec}: no model named {missing}", file=sys.stderr)
            return 2
        probs[spec] = np.mean([probs[n] for n in names], axis=0)
        cost[spec] = {k: sum(cost[n][k] for n in names) for k in ("ms_clip", "ms_window_batched", "members", "mb")}
    idx = {l: i for i, l in enumerate(labels)}
    y = np.array([idx[c.label] for c in test])
    first = next(iter(probs))
    right0 = probs[first].argmax(1) == y
    rows = []
    print(f"\n{'model':<28} {'n':>5} {'accuracy':>9} {'macro-F1':>9} {'p vs ' + first[:10]:>16} "
          f"{'agree':>6} {'nets':>5} {'ms/clip':>8} {'ms/win b32':>10} {'MB':>6}")
    for name, p in probs.items():
        m = classification_metrics(y, p.argmax(1), labels)
        right = p.argmax(1) == y
        row = {"model": name, "n": m["n"], "accuracy": m["accuracy"], "macro_f1": m["macro_f1"],
               "mcnemar_p": mcnemar_p(right0, right), "agreement": float((p.argmax(1) == probs[first].argmax(1)).mean()),
               "per_class_recall": {l: m["per_class"][l]["recall"] for l in labels}, **cost[name]}
        rows.append(row)
        print(f"{name:<28} {m['n']:>5} {m['accuracy']:>9.3f} {m['macro_f1']:>9.3f} {row['mcnemar_p']:>16.3f} "
              f"{row['agreement']:>6.3f} {row['members']:>5} {row['ms_clip']:>8.1f} "
              f"{row['ms_window_batched']:>10.2f} {row['mb']:>6.1f}")
    print("\n(compute: features + networks in process, decode excluded; nets: networks run per window)")
    if args.json:
        Path(args.json).write_text(json.dumps({"folds": sorted({c.fold for c in test}), "rows": rows}, indent=1))
    if args.plot:
        plot_points([(r["model"], r["ms_window_batched"], r["accuracy"]) for r in rows],
                    "compute per 4-s window, batched (ms, log scale)", f"held-out accuracy (n={len(test)})",
                    args.plot, log_x=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
