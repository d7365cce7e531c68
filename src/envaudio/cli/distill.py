"""`envaudio distill`: one fast network taught by a larger model (training/distill.py)."""

from __future__ import annotations

import argparse
from pathlib import Path

from .common import add_data_args, add_quiet, add_workers, check_output

DISTILL_EPILOG = """\
The bundled fast model, and how to reproduce it (docs/training.md): EfficientAT's mn04,
distilled from the accurate model on the 2,148 UrbanSound8K clips of folds 1-3, then
calibrated on a held-out student's predictions:
    envaudio distill --teacher accurate --data-root DIR --backbone mn04 \\
        --pretrained efficientat-mn04/ --out runs/fast.pt
With the full UrbanSound8K, distil on the teacher's training folds (the default: those in
its card) and test on fold 10 with `envaudio evaluate --folds 10 --model runs/fast.pt`.
Recordings without labels (--unlabeled DIR) teach through the teacher alone. The weights
are read at training time only: the model file is self-contained."""


def add_parser(sub) -> None:
    from types import SimpleNamespace

    from ..recipes import DISTILL

    d = SimpleNamespace(**DISTILL)  # the recipe, without importing torch to parse a command line
    p = sub.add_parser("distill", help="train one fast network to answer as a larger model does",
                       epilog=DISTILL_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--teacher", default="accurate",
                   help="the model to learn from: a model file or a bundled model's name (default: %(default)s)")
    add_data_args(p)
    p.add_argument("--train-folds", default=None,
                   help="data with folds: default the teacher's training folds (its card), else the data's")
    p.add_argument("--val-folds", default="none",
                   help="folds to report the student's accuracy on after each epoch (default: none)")
    p.add_argument("--unlabeled", action="append", default=[], metavar="DIR",
                   help="recordings without labels, taught by the teacher alone (repeatable)")
    p.add_argument("--backbone", choices=("mn04", "yamnet", "cnn"), default=d.backbone,
                   help="the student network (default: %(default)s)")
    p.add_argument("--pretrained", default=None, metavar="PATH",
                   help="the student's AudioSet weights: mn04's folder (or its .pt), YAMNet's npz; read at "
                        "training time only")
    p.add_argument("--out", default="artifacts/student.pt", help="model file to write (default: %(default)s)")
    p.add_argument("--run-dir", default=None, help="logs, plots, checkpoints (default: next to --out)")
    p.add_argument("--resume", action="store_true", help="continue from the run's last checkpoint")
    p.add_argument("--epochs", type=int, default=d.epochs, help="default: %(default)s")
    p.add_argument("--batch-size", type=int, default=d.batch_size, help="default: %(default)s")
    p.add_argument("--lr", type=float, default=d.learning_rate,
                   help="the head's peak learning rate; the pretrained layers learn at --backbone-lr-scale "
                        "times it (default: %(default)g)")
    p.add_argument("--backbone-lr-scale", type=float, default=d.backbone_lr_scale, help="default: %(default)g")
    p.add_argument("--kd-temperature", type=float, default=d.kd_temperature,
                   help="softens teacher and student alike in the KL term (default: %(default)g)")
    p.add_argument("--ce-weight", type=float, default=d.ce_weight,
                   help="weight of the true labels' cross-entropy beside the teacher's KL (default: %(default)g)")
    p.add_argument("--head-init", choices=("zero-shot", "new"), default=d.head_init,
                   help="zero-shot: start the head from the AudioSet classes mapped to ours where the labels "
                        "allow (default: %(default)s)")
    p.add_argument("--seed", type=int, default=d.seed, help="default: %(default)s")
    p.add_argument("--device", default="auto", help="cpu, cuda or auto")
    p.add_argument("--threads", type=int, default=None,
                   help="the student's threads (default: the cores less the teacher's)")
    p.add_argument("--teacher-threads", type=int, default=None,
                   help="the teacher's threads; its batches are made while the student trains (default: a "
                        "quarter of the cores, at least 1)")
    add_workers(p)
    add_quiet(p)


def _clips(args, ds, teacher_card: dict):
    """(training clips, validation clips): the data's folds, by default the teacher's."""
    from ..datasets.splits import parse_folds, select_folds
    from ..errors import DatasetError

    if not ds.has_folds:
        if args.train_folds or args.val_folds not in (None, "none"):
            raise DatasetError(f"{ds.source} has no folds: every clip is distilled on")
        return ds.clips, []
    present = sorted({c.fold for c in ds.clips})
    val = [] if str(args.val_folds).lower() == "none" else parse_folds(args.val_folds)
    if args.train_folds:
        train = parse_folds(args.train_folds)
    else:
        train = [f for f in (teacher_card.get("train_folds") or []) if f in present] or \
            [f for f in (range(1, 9) if ds.layout == "urbansound8k" else present[:-1])]
    train = [f for f in train if f not in val]
    clips = select_folds(ds.clips, train)
    if not clips:
        raise DatasetError(f"no clips in folds {train} (folds present: {present})")
    return clips, select_folds(ds.clips, val)


def run(args) -> int:
    try:
        return _distill(args)
    finally:
        import torch.distributed as dist

        if dist.is_available() and dist.is_initialized():
            dist.destroy_process_group()


def _distill(args) -> int:
    from ..datasets.layouts import load_dataset
    from ..errors import DatasetError
    from ..fileio import audio_files
    from ..loading import load_model
    from ..model import save_model_files
    from ..settings import get_settings, resolve_model
    from ..training.distill import DistillConfig, Distiller
    from ..training.distributed import dist_info
    from ..training.outputs import plot_history  # noqa: F401 (fails here, not after training, without matplotlib)

    main = dist_info()[0] == 0
    s = get_settings()
    if args.backbone in ("mn04", "yamnet") and not args.pretrained:
        raise DatasetError(f"--backbone {args.backbone} needs --pretrained (its AudioSet weights; nothing is "
                           "downloaded)")
    if args.pretrained and not Path(args.pretrained).exists():
        raise DatasetError(f"pretrained weights not found: {args.pretrained}")
    if args.epochs < 1 or args.batch_size < 1:
        raise DatasetError("--epochs and --batch-size must be at least 1")
    check_output(args.out, "--out", create_parent=True)
    teacher_path = resolve_model(args.teacher)
    teacher = load_model(teacher_path, settings=s)
    ds = load_dataset(args.data_root, args.table)
    clips, val = _clips(args, ds, teacher.card)
    unlabeled = [str(p) for p in audio_files(args.unlabeled)] if args.unlabeled else []
    if main:
        print(f"data: {ds.describe()}")
        folds = f" (folds {sorted({c.fold for c in clips})})" if ds.has_folds else ""
        print(f"distilling on {len(clips)} clips{folds}"
              + (f" and {len(unlabeled)} unlabelled recordings" if unlabeled else "")
              + (f", validating on {len(val)}" if val else "")
              + f"; {args.epochs} epochs", flush=True)
    cfg = DistillConfig(teacher=str(teacher_path), backbone=args.backbone, pretrained=args.pretrained,
                        epochs=args.epochs, batch_size=args.batch_size, learning_rate=args.lr,
                        backbone_lr_scale=args.backbone_lr_scale, kd_temperature=args.kd_temperature,
                        ce_weight=args.ce_weight, head_init=args.head_init, seed=args.seed, device=args.device,
                        workers=args.workers, threads=args.threads, teacher_threads=args.teacher_threads,
                        progress=not args.quiet)
    run_dir = Path(args.run_dir) if args.run_dir else Path(args.out).parent / (Path(args.out).stem + "_run")
    result = Distiller(cfg, teacher, clips, unlabeled, run_dir, val, s, ds.card()).run(args.resume)
    if not main:
        return 0
    save_model_files(args.out, result["payload"])
    print(f"\ndistilled in {result['seconds'] / 60:.1f} min; saved {args.out} (+ .labels.json, .card.json); "
          f"log and curve in {run_dir}")
    print("next: calibrate it (`envaudio calibrate --model ... --heldout ...`, docs/training.md), then "
          "`envaudio evaluate`")
    return 0
