"""The `envaudio` command: prepare, train, combine, zero-shot, calibrate, export, evaluate, predict, serve."""

from __future__ import annotations

import argparse
import os
import signal
import sys
from functools import lru_cache
from pathlib import Path

from .settings import get_settings

EPILOG = "Run `envaudio COMMAND --help` for a command's options."
TRAIN_EPILOG = """\
The bundled model, and how to reproduce or improve it (README: "The model"): a YAMNet with
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


def _zero_shot_temperature() -> float:
    from .zeroshot import TEMPERATURE

    return TEMPERATURE


def _add_data_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data-root", help="an UrbanSound8K folder (metadata/ and audio/fold*/), or a folder "
                   "per class (DIR/<label>/*.wav|flac|...): detected automatically")
    p.add_argument("--table", help="a CSV of file,label[,fold] (paths relative to it; or from "
                   "`envaudio prepare`), instead of --data-root")


def build_parser() -> argparse.ArgumentParser:
    s = get_settings()
    parser = argparse.ArgumentParser(prog="envaudio", description="Environmental sound classifier.",
                                     epilog=EPILOG)
    parser.add_argument("--version", action="version", version=f"envaudio {_version()}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("prepare", help="index an UrbanSound8K folder into a file_path,label,fold table")
    p.add_argument("--data-root", required=True, help="UrbanSound8K folder (with metadata/ and audio/)")
    p.add_argument("--out", default="data/urbansound8k.csv", help="table to write (default: %(default)s)")

    p = sub.add_parser("train", help="train a model on UrbanSound8K or your own recordings",
                       epilog=TRAIN_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    _add_data_args(p)
    p.add_argument("--train-folds", default=None, help="data with folds: default UrbanSound8K 1-8, "
                   "else all but the last fold")
    p.add_argument("--val-folds", default=None, help="data with folds: default UrbanSound8K 9, else the "
                   "last fold; 'none' trains for --epochs without validation")
    p.add_argument("--test-folds", default=None, help="also report accuracy on these folds at the end")
    p.add_argument("--val-split", type=float, default=None, metavar="FRACTION",
                   help=f"data without folds: each class's share that validates (default {s.val_fraction:g}; "
                        "0: none)")
    p.add_argument("--test-split", type=float, nargs="?", const=s.test_fraction, default=None,
                   metavar="FRACTION", help="data without folds: also hold out this share of each class "
                   f"(default {s.test_fraction:g}) and report accuracy on it at the end")
    p.add_argument("--cv", type=int, nargs="?", const=0, default=None, metavar="K",
                   help="cross-validation: each fold tests once, the next validates, the rest train; "
                        "over the data's folds, or K stratified folds for data without folds")
    p.add_argument("--recipe", choices=("auto", "full", "small"), default="auto",
                   help="YAMNet fine-tuning: full (all layers, keep the best epoch) or small (layers "
                        f"1-{_yamnet_small('freeze_layers')} frozen, {_yamnet_small('epochs')} epochs, batch "
                        f"{_yamnet_small('batch_size')}); auto: small below "
                        f"{s.small_data_clips_per_class} clips per class (default: %(default)s)")
    p.add_argument("--out", default="artifacts/model.pt", help="model file to write (default: %(default)s)")
    p.add_argument("--run-dir", default=None, help="logs, plots, checkpoints (default: next to --out)")
    p.add_argument("--resume", action="store_true", help="continue from the run's last checkpoint")
    # Defaults: the backbone's recipe (networks/<name>.py RECIPE) over the settings.
    p.add_argument("--epochs", type=int, default=None, help=f"default: cnn {s.epochs}, yamnet {_yamnet('epochs')}")
    p.add_argument("--batch-size", type=int, default=None, help=f"default: {s.batch_size}")
    p.add_argument("--lr", type=float, default=None,
                   help=f"learning rate (yamnet: of the new head; the pretrained layers take "
                        f"BACKBONE_LR_SCALE times it); default: cnn {s.learning_rate:g}, "
                        f"yamnet {_yamnet('learning_rate'):g}")
    p.add_argument("--patience", type=int, default=None, help="early stopping (epochs) when validating")
    p.add_argument("--seed", type=int, default=None, help=f"default: {s.seed}")
    p.add_argument("--members", type=int, default=1, help="ensemble size (models with different seeds)")
    p.add_argument("--backbone", choices=("cnn", "yamnet"), default=None,
                   help="cnn: the from-scratch log-mel CNN (default without --pretrained); yamnet: "
                        "fine-tune AudioSet-pretrained YAMNet (default with --pretrained)")
    p.add_argument("--pretrained", default=None, metavar="YAMNET_NPZ",
                   help="YAMNet's AudioSet weights as npz (ENVAUDIO_PRETRAINED); read at training "
                        "time only, the model file is self-contained")
    p.add_argument("--freeze-layers", type=int, default=None, metavar="N",
                   help=f"yamnet: layers 1..N of 14 keep their pretrained weights (14: only the new "
                        f"head learns); default {_yamnet('freeze_layers')}")
    p.add_argument("--width", type=int, default=None, help=f"cnn: channels of the first conv block (default {s.model_width})")
    p.add_argument("--mixup", type=float, default=None, help=f"mixup alpha, 0 = off (default {s.mixup_alpha:g})")
    p.add_argument("--no-spec-augment", action="store_true")
    p.add_argument("--no-class-weights", action="store_true")
    p.add_argument("--device", default="auto", help="cpu, cuda or auto")
    p.add_argument("--workers", type=int, default=None, help="processes for feature extraction")
    p.add_argument("--quiet", action="store_true", help="no progress bars")

    p = sub.add_parser("combine", help="one model from several: their members' probabilities averaged")
    p.add_argument("models", nargs="+", metavar="MODEL", help="model files (e.g. a yamnet and a cnn model)")
    p.add_argument("--out", required=True, help="model file to write")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--weights", default=None, help="one weight per model, e.g. 0.6,0.4 (default: plain mean)")
    g.add_argument("--fit-folds", default=None, help="fit the weights on these validation folds "
                   "(none of the models may have trained on them); needs --data-root or --table")
    _add_data_args(p)
    p.add_argument("--half", action="store_true", help="store the weights as float16 (half the size)")
    p.add_argument("--workers", type=int, default=None)
    p.add_argument("--quiet", action="store_true")

    p = sub.add_parser("zero-shot", help="a model that needs no training: YAMNet's AudioSet classes "
                       "mapped to UrbanSound8K's (a member to combine with trained ones)")
    p.add_argument("--pretrained", required=True, help="YAMNet's weights (yamnet.npz)")
    p.add_argument("--class-map", default=None, help="YAMNet's yamnet_class_map.csv (default: next to "
                   "--pretrained)")
    p.add_argument("--map", default=None, metavar="JSON", help='your classes instead of UrbanSound8K\'s: '
                   '{"label": ["AudioSet class", ...], ...} with YAMNet\'s display names')
    p.add_argument("--temperature", type=float, default=None, help="divides the mapped logits "
                   "(default: %s)" % _zero_shot_temperature())
    p.add_argument("--out", required=True, help="model file to write")

    p = sub.add_parser("calibrate", help="fit the temperature and the 'unknown' threshold of a model "
                       "on held-out predictions, and write them into it")
    p.add_argument("--model", default=None, help="the model to calibrate (default: the bundled model)")
    p.add_argument("--out", default=None, help="write the calibrated model here (default: over --model)")
    p.add_argument("--heldout", action="append", required=True, metavar="MODEL:FOLDS",
                   help="a model of the same recipe and the fold(s) it never trained on, e.g. "
                        "runs/f23/model.pt:1 (repeatable); its predictions there are the held-out data")
    _add_data_args(p)
    p.add_argument("--ood", default=None, metavar="DIR", help="audio of none of the classes "
                   "(scripts/make_ood_audio.py): its unknown rate goes into the report")
    p.add_argument("--max-right-lost", type=float, default=0.1, help="the unknown threshold may turn "
                   "this share of the held-out right answers into 'unknown' (default: %(default)s)")
    p.add_argument("--report", default="calibration.json", help="JSON report (default: %(default)s)")
    p.add_argument("--workers", type=int, default=None)
    p.add_argument("--quiet", action="store_true")

    p = sub.add_parser("export", help="write the model as ONNX files (plus model.json and numpy features)")
    p.add_argument("model", nargs="?", default=None, metavar="MODEL",
                   help="model file (default: the bundled model)")
    p.add_argument("--format", choices=("onnx",), default="onnx", help="default: %(default)s")
    p.add_argument("--out", required=True, help="folder to write")
    p.add_argument("--int8", action="store_true", help="also write dynamically quantised int8 copies")
    _add_data_args(p)
    p.add_argument("--folds", default=None, help="held-out folds to measure the int8 accuracy change on")
    p.add_argument("--quiet", action="store_true")

    p = sub.add_parser("evaluate", help="classification report + confusion matrix on labelled recordings")
    _add_data_args(p)
    p.add_argument("--folds", default=None, help="default: UrbanSound8K fold 10; other data: every clip")
    p.add_argument("--split", choices=("val", "test"), default=None,
                   help="data without folds: the clips the model's training held out (the split "
                        "is remade from the seed and fractions in its card)")
    p.add_argument("--model", default=None, help="model file (default: the bundled model)")
    p.add_argument("--json", dest="json_out", default=None, help="write the metrics as JSON here")
    p.add_argument("--plot", default=None, help="confusion-matrix PNG (default: next to --json, or ./confusion_matrix.png)")
    p.add_argument("--workers", type=int, default=None)
    p.add_argument("--quiet", action="store_true")

    p = sub.add_parser("predict", help="classify audio files or folders")
    p.add_argument("inputs", nargs="+", metavar="FILE_OR_DIR")
    p.add_argument("--model", default=None, help="model file (default: the bundled model)")
    p.add_argument("--top-k", type=int, default=3)
    g = p.add_mutually_exclusive_group()
    g.add_argument("--json", dest="json_out", default=None, help="write results as JSON ('-' for stdout)")
    g.add_argument("--csv", dest="csv_out", default=None, help="write results as CSV ('-' for stdout)")
    p.add_argument("--windows", action="store_true", help="print the per-window timeline too")
    p.add_argument("--events", action="store_true", help="print the sound events (what was heard when); "
                   "with --csv, one row per event instead of per window")

    p = sub.add_parser("serve", help="run the API and the web app")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--workers", type=int, default=s.serve_workers,
                   help="uvicorn worker processes (default: ENVAUDIO_SERVE_WORKERS, else 1)")
    p.add_argument("--model", default=None, help="model file (default: the bundled model)")
    return parser


def _yamnet(name: str):
    return yamnet_recipe().get(name, getattr(get_settings(), name))


def _yamnet_small(name: str):
    return yamnet_recipe("SMALL_RECIPE").get(name, getattr(get_settings(), name))


@lru_cache(maxsize=2)
def yamnet_recipe(which: str = "RECIPE") -> dict:
    """networks/yamnet.py's RECIPE (or SMALL_RECIPE), read as data: importing the network
    would load torch for every command's parser, into `envaudio serve`'s master process too."""
    import ast

    tree = ast.parse((Path(__file__).parent / "networks" / "yamnet.py").read_text())
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == which for t in node.targets):
            try:
                return ast.literal_eval(node.value)
            except ValueError:  # no longer a literal: import it after all
                break
    from .networks import yamnet

    return getattr(yamnet, which)


def _version() -> str:
    from . import __version__

    return __version__


# Errors meant for a person: printed as one line, no traceback. By module and name, so
# that main() imports none of them (envaudio.model imports torch, which `serve` keeps out
# of its master process); an exception's own module is loaded whenever it is raised.
_USER_ERRORS = {"envaudio.audio": "AudioError", "envaudio.data": "DatasetError",
                "envaudio.engines": "BackendError",
                "envaudio.model": "ModelError", "envaudio.settings": "SettingsError"}


def _is_user_error(e: BaseException) -> bool:
    if isinstance(e, OSError):  # a missing file, an unwritable output...
        return True
    return any(isinstance(e, getattr(sys.modules[m], name)) for m, name in _USER_ERRORS.items()
               if m in sys.modules)


def main(argv: list[str] | None = None) -> int:
    from .settings import SettingsError

    try:
        parser = build_parser()
    except SettingsError as e:  # a bad ENVAUDIO_* variable: say which, no traceback
        print(f"envaudio: error: {e}", file=sys.stderr)
        return 2
    args = parser.parse_args(argv)
    if not args.command:
        parser.print_help()
        return 2
    try:
        if args.command == "prepare":
            from .commands import cmd_prepare as fn
        elif args.command == "train":
            from .commands import cmd_train as fn
        elif args.command == "combine":
            from .commands import cmd_combine as fn
        elif args.command == "export":
            from .commands import cmd_export as fn
        elif args.command == "evaluate":
            from .commands import cmd_evaluate as fn
        elif args.command == "zero-shot":
            from .commands import cmd_zero_shot as fn
        elif args.command == "calibrate":
            from .commands import cmd_calibrate as fn
        elif args.command == "predict":
            from .commands import cmd_predict as fn
        else:
            from .server import cmd_serve as fn
        return int(fn(args) or 0)
    except BrokenPipeError:  # the reader of our output left (`| head`): stop quietly
        # Python would report the pipe again when it flushes stdout at exit.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 128 + signal.SIGPIPE
    except KeyboardInterrupt:
        print(f"envaudio {args.command}: interrupted", file=sys.stderr)
        return 130
    except Exception as e:
        if not _is_user_error(e):
            raise
        print(f"envaudio {args.command}: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
