"""`envaudio train`: train a model on UrbanSound8K or your own recordings."""

from __future__ import annotations

import argparse
from pathlib import Path

from .. import recipes
from ..settings import get_settings
from .common import add_data_args, add_quiet, add_workers, warn

TRAIN_EPILOG = """\
The bundled model, and how to reproduce or improve it (docs/training.md): a YAMNet with
a new linear head on its frozen AudioSet layers, a YAMNet with layers 11-14 fine-tuned,
three from-scratch CNNs, trained here on the 2,148 UrbanSound8K clips of folds 1-3, and
YAMNet's own AudioSet classifier mapped to the ten classes (untrained), a quarter each:
    envaudio train --data-root DIR --train-folds 1-3 --val-folds none --pretrained yamnet.npz \\
        --freeze-layers 14 --no-spec-augment --mixup 0 --lr 1e-2 --epochs 15 --out runs/head.pt
    envaudio train --data-root DIR --train-folds 1-3 --val-folds none --pretrained yamnet.npz \\
        --freeze-layers 10 --epochs 12 --out runs/top.pt
    envaudio train --data-root DIR --train-folds 1-3 --val-folds none \\
        --epochs 24 --members 3 --out runs/cnn.pt
    envaudio zero-shot --pretrained yamnet.npz --out runs/zs.pt
    envaudio combine runs/head.pt runs/top.pt runs/cnn.pt runs/zs.pt --weights 1,1,1,1 --half \\
        --out model.pt
With the full UrbanSound8K (10 folds, https://urbansounddataset.weebly.com/urbansound8k.html),
train on the protocol's 8 training folds instead (--train-folds 1-8 --val-folds none for the
recipe as shipped, or --val-folds 9 to early-stop on fold 9) and test on fold 10 with
`envaudio evaluate --folds 10 --model model.pt`. YAMNet's weights: the official release
(TensorFlow Model Garden, research/audioset/yamnet, yamnet.h5, Apache-2.0) converts with
`python scripts/yamnet_h5_to_npz.py yamnet.h5 yamnet.npz` (pip install h5py). The weights
are read at training time only: the model file is self-contained."""


def _yamnet(name: str, small: bool = False):
    return _of("yamnet", name, small)


def _of(backbone: str, name: str, small: bool = False):
    return recipes.recipe(backbone, small).get(name, getattr(get_settings(), name))


def _small(backbone: str) -> str:
    return (f"{backbone}: layers 1-{_of(backbone, 'freeze_layers', True)} of {recipes.LAYERS[backbone]} frozen, "
            f"{_of(backbone, 'epochs', True)} epochs, batch {_of(backbone, 'batch_size', True)}")


def add_parser(sub) -> None:
    s = get_settings()
    p = sub.add_parser("train", help="train a model on UrbanSound8K or your own recordings",
                       epilog=TRAIN_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_data_args(p)
    p.add_argument("--train-folds", default=None, help="data with folds: default UrbanSound8K 1-8, "
                   "else all but the last fold")
    p.add_argument("--val-folds", default=None, help="data with folds: default UrbanSound8K 9, else the "
                   "last fold; 'none' trains for --epochs without validation")
    p.add_argument("--test-folds", default=None, help="also report accuracy on these folds at the end")
    # Options that set a setting carry its name (dest): they override the recipe and the environment.
    p.add_argument("--val-split", dest="val_fraction", type=float, default=None, metavar="FRACTION",
                   help=f"data without folds: each class's share that validates (default {s.val_fraction:g}; "
                        "0: none)")
    p.add_argument("--test-split", dest="test_fraction", type=float, nargs="?", const=s.test_fraction,
                   default=None, metavar="FRACTION", help="data without folds: also hold out this share of "
                   f"each class (default {s.test_fraction:g}) and report accuracy on it at the end")
    p.add_argument("--cv", type=int, nargs="?", const=0, default=None, metavar="K",
                   help="cross-validation: each fold tests once, the next validates, the rest train; "
                        "over the data's folds, or K stratified folds for data without folds")
    p.add_argument("--recipe", choices=("auto", "full", "small"), default="auto",
                   help="fine-tuning YAMNet or mn04: full (all layers, keep the best epoch) or small "
                        f"({_small('yamnet')}; {_small('mn04')}); auto: small below "
                        f"{s.small_data_clips_per_class} clips per class (default: %(default)s)")
    p.add_argument("--out", default="artifacts/model.pt", help="training file to write, its model file (.envaudio) "
                   "beside it (default: %(default)s)")
    p.add_argument("--run-dir", default=None, help="logs, plots, checkpoints (default: next to --out)")
    p.add_argument("--resume", action="store_true", help="continue from the run's last checkpoint")
    # Defaults: the backbone's recipe (recipes.py) over the settings.
    p.add_argument("--epochs", dest="epochs", type=int, default=None,
                   help=f"default: cnn {s.epochs}, yamnet {_yamnet('epochs')}, mn04 {_of('mn04', 'epochs')}")
    p.add_argument("--batch-size", dest="batch_size", type=int, default=None, help=f"default: {s.batch_size}")
    p.add_argument("--lr", dest="learning_rate", type=float, default=None,
                   help=f"learning rate (yamnet, mn04: of the new head; the pretrained layers learn at "
                        f"BACKBONE_LR_SCALE times it, ENVAUDIO_BACKBONE_LR_SCALE, default "
                        f"{_yamnet('backbone_lr_scale'):g}); default: cnn {s.learning_rate:g}, "
                        f"yamnet {_yamnet('learning_rate'):g}, mn04 {_of('mn04', 'learning_rate'):g}")
    p.add_argument("--patience", dest="patience", type=int, default=None,
                   help="early stopping (epochs without a validation gain) when validating")
    p.add_argument("--seed", dest="seed", type=int, default=None, help=f"default: {s.seed}")
    p.add_argument("--members", type=int, default=1, help="ensemble size (models with different seeds)")
    p.add_argument("--backbone", choices=("cnn", "yamnet", "mn04"), default=None,
                   help="cnn: the from-scratch log-mel CNN (default without --pretrained); yamnet: "
                        "fine-tune AudioSet-pretrained YAMNet (default with an npz --pretrained); mn04: "
                        "fine-tune EfficientAT's AudioSet mn04 (default with its folder or .pt)")
    p.add_argument("--pretrained", default=None, metavar="WEIGHTS",
                   help=f"AudioSet weights (ENVAUDIO_PRETRAINED): yamnet: {recipes.WEIGHTS['yamnet']}; "
                        f"mn04: {recipes.WEIGHTS['mn04']}; read at training time only, the model file is "
                        "self-contained")
    p.add_argument("--freeze-layers", dest="freeze_layers", type=int, default=None, metavar="N",
                   help=f"yamnet, mn04: layers 1..N of {recipes.LAYERS['yamnet']} (yamnet) or "
                        f"{recipes.LAYERS['mn04']} (mn04) keep their pretrained weights (all: only the "
                        f"head learns); default {_yamnet('freeze_layers')}")
    p.add_argument("--width", dest="model_width", type=int, default=None,
                   help=f"cnn: channels of the first conv block (default {s.model_width})")
    p.add_argument("--mixup", dest="mixup_alpha", type=float, default=None,
                   help=f"mixup alpha, 0 = off (default {s.mixup_alpha:g})")
    p.add_argument("--no-spec-augment", action="store_true",
                   help="no SpecAugment (random time and frequency masks on the training log-mels)")
    p.add_argument("--no-class-weights", action="store_true",
                   help="weigh every class alike in the loss (default: rare classes count more)")
    p.add_argument("--device", default="auto", help="cpu, cuda or auto")
    add_workers(p)
    add_quiet(p)
    p.set_defaults(setting_options=("val_fraction", "test_fraction", "epochs", "batch_size", "learning_rate",
                                    "patience", "seed", "freeze_layers", "model_width", "mixup_alpha"))


def _config(args, clips_per_class: float = float("inf")):
    from ..training.setup import build_config

    s = get_settings()
    overrides = {name: getattr(args, name) for name in args.setting_options if getattr(args, name) is not None}
    overrides.update(spec_augment=s.spec_augment and not args.no_spec_augment,
                     class_weights=s.class_weights and not args.no_class_weights)
    return build_config(overrides, backbone=args.backbone, pretrained=args.pretrained, recipe=args.recipe,
                        members=args.members, device=args.device, workers=args.workers,
                        progress=not args.quiet, clips_per_class=clips_per_class, settings=s)


def run(args) -> int:
    try:
        return _train(args)
    finally:
        import torch.distributed as dist

        if dist.is_available() and dist.is_initialized():
            dist.destroy_process_group()


def _train(args) -> int:
    from ..datasets.splits import select_folds
    from ..evaluate import evaluate_clips
    from ..loading import load_model
    from ..training import train
    from ..training.crossval import cross_validate
    from ..training.distributed import dist_info
    from ..training.setup import load_training_data, plan_folds

    main = dist_info()[0] == 0
    _config(args)  # the options are checked before the data is read
    ds, warnings = load_training_data(args.data_root, args.table, get_settings())
    if main:
        print(f"data: {ds.describe()}")
    cfg = _config(args, len(ds.clips) / len(ds.labels))
    s = cfg.settings
    if main and cfg.backbone in recipes.LAYERS:
        name = {"yamnet": "YAMNet"}.get(cfg.backbone, cfg.backbone)
        tuned = f"{name} layers 1-{s.freeze_layers} frozen" if s.freeze_layers else f"all {name} layers tuned"
        kept = "best epoch kept" if s.keep_best else "last epoch kept"
        print(f"recipe: {cfg.recipe} ({tuned}, {s.epochs} epochs, batch {s.batch_size}, {kept})")
    clips, train_folds, val, test, card = plan_folds(
        ds, s, args.train_folds, args.val_folds, args.test_folds, args.cv,
        val_split_given=args.val_fraction is not None, test_split_given=args.test_fraction is not None)
    for w in warnings if main else []:  # once every check has passed
        warn(w)
    run_dir = Path(args.run_dir) if args.run_dir else Path(args.out).parent / (Path(args.out).stem + "_run")
    if args.cv is not None:
        results = cross_validate(clips, ds.labels, cfg, run_dir, card, args.resume)
        if results:
            _print_cv(results, run_dir)
        return 0
    result = train(clips, ds.labels, train_folds, val, cfg, args.out, run_dir, args.resume, card)
    if not main:
        return 0
    print(f"\ntrained in {result.seconds / 60:.1f} min; best epoch(s) {result.best_epochs}")
    if result.val_metrics:
        print(f"validation: accuracy {result.val_metrics['accuracy']:.3f}, "
              f"macro-F1 {result.val_metrics['macro_f1']:.3f} (n={result.val_metrics['n']} windows)")
    from ..modelfile import model_path_for

    print(f"saved {args.out} (+ .labels.json, .card.json) and the model file {model_path_for(args.out)} (what "
          f"predict, analyze and serve run); log and curve in {run_dir}")
    if test:
        ev = evaluate_clips(load_model(args.out), select_folds(clips, test), workers=args.workers,
                            progress=not args.quiet)
        where = "test split" if "split" in card else f"test folds {args.test_folds}"
        print(f"{where}: accuracy {ev.metrics['accuracy']:.3f}, "
              f"macro-F1 {ev.metrics['macro_f1']:.3f} (n={ev.metrics['n']})")
    return 0


def _print_cv(results: dict, run_dir: Path) -> None:
    print("\nCross-validation")
    print(f"{'test fold':>9} {'val fold':>8} {'n':>5} {'accuracy':>9} {'macro-F1':>9}")
    for r in results["folds"]:
        print(f"{r['test_fold']:>9} {r['val_fold']:>8} {r['n']:>5} {r['accuracy']:>9.3f} {r['macro_f1']:>9.3f}")
    print(f"{'mean':>9} {'':>8} {'':>5} {results['mean_accuracy']:>9.3f} {results['mean_macro_f1']:>9.3f}")
    print(f"wrote {run_dir / 'cv_results.json'}")
