"""The same probabilities in two installs: every window's probabilities of the clips of
some folds, written by one install, compared with another's (issue #27: the lean install
running a model file against PyTorch running its training file, to 1e-5).

    # the lean install (no PyTorch, numpy's FFT) running the model file ...
    ENVAUDIO_THREADS=1 /tmp/lean/bin/python benchmarks/compare_installs.py dump \\
        src/envaudio/assets/accurate.envaudio /tmp/lean.npz --data-root DATA --folds 1,2 --every 8
    # ... and the training install's PyTorch eager on the training file
    ENVAUDIO_THREADS=1 .venv/bin/python benchmarks/compare_installs.py dump models/accurate.pt /tmp/torch.npz \\
        --backend torch --data-root DATA --folds 1,2 --every 8
    python benchmarks/compare_installs.py compare /tmp/lean.npz /tmp/torch.npz

Torch-free itself (`dump` runs in the lean install).
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np


def dump(args) -> None:
    from envaudio.datasets.layouts import load_clips
    from envaudio.datasets.splits import parse_folds, select_folds
    from envaudio.loading import load_model
    from envaudio.predict import Classifier
    from envaudio.settings import Settings

    clips, _ = load_clips(args.data_root, None)
    clips = select_folds(clips, parse_folds(args.folds))[:: args.every]
    s = Settings(audio_loader="soundfile")
    clf = Classifier(load_model(args.model, args.backend, s), s)
    t = time.perf_counter()
    probs, names = [], []
    for c in clips:
        pred = clf.classify_file(c.file_path)
        probs.append(np.array([[w.probabilities[l] for l in clf.labels] for w in pred.windows], np.float32))
        names += [c.file_path] * len(pred.windows)
    np.savez(args.out, probs=np.concatenate(probs), names=np.array(names), labels=np.array(clf.labels))
    print(f"{len(clips)} clips, {len(names)} windows in {time.perf_counter() - t:.0f} s -> {args.out}")


def compare(args) -> None:
    a, b = np.load(args.a), np.load(args.b)
    if a["names"].tolist() != b["names"].tolist() or a["labels"].tolist() != b["labels"].tolist():
        sys.exit("the two files hold different clips or labels")
    d = np.abs(a["probs"] - b["probs"])
    agree = float((a["probs"].argmax(1) == b["probs"].argmax(1)).mean())
    print(f"{len(set(a['names'].tolist()))} clips, {len(d)} windows: max |difference| {d.max():.2e}, "
          f"mean {d.mean():.2e}; the same best label in {100 * agree:.2f} % of the windows")
    if d.max() > args.limit:
        sys.exit(f"more than {args.limit:g}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    d = sub.add_parser("dump")
    d.add_argument("model")
    d.add_argument("out")
    d.add_argument("--backend", default="auto")
    d.add_argument("--data-root", required=True)
    d.add_argument("--folds", default="1,2")
    d.add_argument("--every", type=int, default=1, help="every Nth clip")
    c = sub.add_parser("compare")
    c.add_argument("a")
    c.add_argument("b")
    c.add_argument("--limit", type=float, default=1e-5)
    args = ap.parse_args()
    dump(args) if args.cmd == "dump" else compare(args)


if __name__ == "__main__":
    main()
