"""Your own sounds: custom tasks built from UrbanSound8K, trained and scored through the CLI.

Each draw takes N classes with K training clips each (from as many recordings as the class
allows: UrbanSound8K's fsID), laid out as a folder per class, and trains with
`envaudio train --data-root DIR --backbone B --pretrained WEIGHTS` (the small-data recipe
picked by --recipe auto), for YAMNet, mn04 or both on the same draw. The test clips come
only from recordings that gave no training clip (clips of one recording are
near-duplicates), at most 4 per recording and 40 per class, scored with `envaudio
evaluate`. Training time is the wall time of the train command (a fresh feature cache:
decoding and features included, as for a first run).

    python benchmarks/bench_custom.py [--backbone yamnet|mn04|both] \\
        [--pretrained ../shared/pretrained/yamnet/yamnet.npz] [--pretrained ../shared/pretrained/efficientat-mn04] \\
        [--classes dog_bark,gun_shot,jackhammer,siren] [--also air_conditioner,car_horn,...]
        [--draws 3] [--per-class 15]
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from envaudio.datasets.urbansound8k import prepare_dataset

DEFAULT_ROOT = Path(__file__).resolve().parents[2] / "shared" / "data" / "urbansound8k-subset"
DEFAULT_PRETRAINED = {"yamnet": DEFAULT_ROOT.parents[1] / "pretrained" / "yamnet" / "yamnet.npz",
                      "mn04": DEFAULT_ROOT.parents[1] / "pretrained" / "efficientat-mn04"}


def weights_for(backbones: list[str], given: list[str]) -> dict[str, str]:
    """{backbone: its weights}: a --pretrained of that network (an npz is YAMNet's, a folder
    or .pt mn04's, as `envaudio train` tells them), else the default one in ../shared."""
    from envaudio.training.setup import backbone_of

    out = {b: str(DEFAULT_PRETRAINED[b]) for b in backbones}
    for path in given:
        if backbone_of(path) not in out:
            raise SystemExit(f"--pretrained {path} is {backbone_of(path)}'s, not a network of --backbone")
        out[backbone_of(path)] = path
    return out


def recording(path: str) -> str:
    """UrbanSound8K names clips <fsID>-<classID>-<occurrence>-<slice>."""
    return Path(path).name.split("-")[0]


def draw_task(clips, classes: list[str], per_class: int, seed: int, per_recording: int = 4,
              test_cap: int = 40):
    """({label: training files}, {label: test files}). A class's recordings are shuffled;
    up to half of them (at most per_class) give the training clips, round-robin, so they
    come from as many recordings as possible (the subset has only 11 jackhammer
    recordings); the test clips come from the other recordings only, at most
    `per_recording` each and `test_cap` in all."""
    rng = random.Random(seed)
    train, test = {}, {}
    for label in classes:
        recs: dict[str, list[str]] = {}
        for c in clips:
            if c.label == label:
                recs.setdefault(recording(c.file_path), []).append(c.file_path)
        ids = sorted(recs)
        rng.shuffle(ids)
        n_train = min(per_class, len(ids) // 2)
        pools = [rng.sample(recs[r], len(recs[r])) for r in ids[:n_train]]
        picks = [f for round_ in itertools.zip_longest(*pools) for f in round_ if f]
        if n_train < 1 or len(picks) < per_class:
            raise SystemExit(f"{label}: not enough recordings for {per_class} training clips")
        train[label] = picks[:per_class]
        rest = [f for r in ids[n_train:] for f in rng.sample(recs[r], min(per_recording, len(recs[r])))]
        rng.shuffle(rest)
        test[label] = rest[:test_cap]
    return train, test


def link_folders(root: Path, files: dict[str, list[str]]) -> Path:
    for label, paths in files.items():
        (root / label).mkdir(parents=True)
        for p in paths:
            (root / label / Path(p).name).symlink_to(p)
    return root


def run(cmd: list[str], env: dict) -> float:
    t0 = time.perf_counter()
    r = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if r.returncode:
        sys.exit(f"failed: {' '.join(cmd)}\n{r.stderr[-2000:]}")
    return time.perf_counter() - t0


def one_draw(clips, classes, args, seed: int, backbone: str, weights: str) -> dict:
    envaudio = [sys.executable, "-m", "envaudio"]
    train, test = draw_task(clips, classes, args.per_class, seed)  # the same clips for every backbone
    with tempfile.TemporaryDirectory(prefix="bench_custom_") as tmp:
        tmp = Path(tmp)
        env = {**os.environ, "ENVAUDIO_CACHE_DIR": str(tmp / "cache"), "ENVAUDIO_SEED": str(seed)}
        link_folders(tmp / "train", train)
        link_folders(tmp / "test", test)
        secs = run([*envaudio, "train", "--data-root", str(tmp / "train"), "--backbone", backbone,
                    "--pretrained", weights, "--recipe", args.recipe, "--val-split", str(args.val_split),
                    "--out", str(tmp / "m.pt"), "--quiet"], env)
        run([*envaudio, "evaluate", "--data-root", str(tmp / "test"), "--model", str(tmp / "m.pt"),
             "--json", str(tmp / "ev.json"), "--quiet"], env)
        m = json.loads((tmp / "ev.json").read_text())
        card = json.loads((tmp / "m.pt.card.json").read_text())
    return {"seed": seed, "backbone": backbone, "train_seconds": secs, "accuracy": m["accuracy"],
            "macro_f1": m["macro_f1"], "n_test": m["n"], "recipe": card["train_config"]["recipe"]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data-root", default=str(DEFAULT_ROOT))
    ap.add_argument("--backbone", choices=("yamnet", "mn04", "both"), default="yamnet",
                    help="the network(s) fine-tuned on each draw (both: the same draws for each)")
    ap.add_argument("--pretrained", action="append", default=[],
                    help="a network's weights (YAMNet's npz, mn04's folder or .pt), repeatable; "
                         "default: ../shared/pretrained's")
    ap.add_argument("--classes", default="dog_bark,gun_shot,jackhammer,siren")
    ap.add_argument("--also", action="append", default=[],
                    help="another class choice (comma-separated), repeatable; 1 draw each unless --also-draws")
    ap.add_argument("--draws", type=int, default=3)
    ap.add_argument("--also-draws", type=int, default=1)
    ap.add_argument("--per-class", type=int, default=15)
    ap.add_argument("--recipe", default="auto", choices=("auto", "full", "small"))
    ap.add_argument("--val-split", type=float, default=0.0,
                    help="share of the training clips that validates (default 0: all 15 train)")
    args = ap.parse_args()
    weights = weights_for(["yamnet", "mn04"] if args.backbone == "both" else [args.backbone], args.pretrained)
    clips = prepare_dataset(args.data_root).clips
    print(f"{args.per_class} training clips per class, test clips from other "
          f"recordings; recipe {args.recipe}, --val-split {args.val_split:g}; {os.cpu_count()} CPUs")
    print(f"{'classes':<52} {'draw':>4} {'network':>7} {'recipe':>6} {'train s':>8} {'n test':>6} "
          f"{'accuracy':>8} {'macro-F1':>8}")
    tasks = [(args.classes, args.draws)] + [(a, args.also_draws) for a in args.also]
    for text, draws in tasks:
        classes = [c.strip() for c in text.split(",") if c.strip()]
        rows: dict[str, list[dict]] = {b: [] for b in weights}
        for d in range(draws):
            for backbone, path in weights.items():
                r = one_draw(clips, classes, args, 1000 + d, backbone, path)
                rows[backbone].append(r)
                print(f"{','.join(classes):<52} {d + 1:>4} {backbone:>7} {r['recipe']:>6} {r['train_seconds']:>8.1f} "
                      f"{r['n_test']:>6} {r['accuracy']:>8.3f} {r['macro_f1']:>8.3f}", flush=True)
        for backbone, done in rows.items() if draws > 1 else ():
            mean = lambda k: sum(r[k] for r in done) / len(done)  # noqa: E731
            print(f"{'  mean':<52} {'':>4} {backbone:>7} {'':>6} {mean('train_seconds'):>8.1f} {'':>6} "
                  f"{mean('accuracy'):>8.3f} {mean('macro_f1'):>8.3f}", flush=True)


if __name__ == "__main__":
    main()
