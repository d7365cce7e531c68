"""`envaudio export`: a training file as its model file (`--format envaudio`, what inference
runs), or as one ONNX file per member (`--format onnx`), with an accuracy check of the int8
copies."""

from __future__ import annotations

import sys
from pathlib import Path

from ..errors import DatasetError
from ..settings import get_settings
from .common import add_data_args, check_output, warn


def add_parser(sub) -> None:
    p = sub.add_parser("export", help="a training file (.pt) as its model file (.envaudio), or as ONNX "
                       "files per member (plus model.json and numpy features)")
    p.add_argument("model", nargs="?", default=None, metavar="MODEL",
                   help="training file (NAME.pt; default: the bundled model, for --format onnx)")
    p.add_argument("--format", choices=("onnx", "envaudio"), default="onnx",
                   help="onnx: a folder of one ONNX file per member; envaudio: the model file predict, "
                        "analyze and serve run without PyTorch (default: %(default)s)")
    p.add_argument("--out", default=None, help="folder to write (--format onnx), or the model file "
                   "(--format envaudio; default: beside MODEL, NAME.envaudio)")
    p.add_argument("--half", action="store_true", help="--format envaudio: round float32 weights to float16 "
                   "(half the file; a float16 training file is stored in float16 anyway)")
    p.add_argument("--int8", action="store_true", help="also write dynamically quantised int8 copies")
    add_data_args(p)
    p.add_argument("--folds", default=None, help="held-out folds to measure the int8 accuracy change on")
    p.add_argument("--quiet", action="store_true", help="print only the folder written (warnings still "
                   "go to stderr)")


def run(args) -> int:
    from ..datasets.layouts import load_clips
    from ..datasets.splits import parse_folds, select_folds
    from ..engines import resolve_backend
    from ..evaluate import trained_on
    from ..export import export_onnx
    from ..loading import load_model
    from ..modelfile import is_model_file

    s = get_settings()
    resolve_backend("onnxruntime")  # the check needs it: fail before the work
    if args.format == "envaudio":
        return _model_file(args, s)
    if args.half:
        raise DatasetError("--half goes with --format envaudio")
    if not args.out:
        raise DatasetError("--format onnx needs --out FOLDER")
    held_out = None
    if args.folds or args.data_root or args.table:
        if not (args.folds and (args.data_root or args.table)):
            raise DatasetError("--folds goes with --data-root or --table (the held-out clips for --int8)")
        if not args.int8:
            raise DatasetError("--folds measures the int8 accuracy change: add --int8")
    src = s.model_file(args.model)
    if is_model_file(src):
        raise DatasetError(f"{src} is a model file: its members are one ONNX graph already (unzip it: model.onnx "
                           "and model.json); --format onnx writes one file per member from a training file (.pt)")
    model = load_model(src, backend="torch")
    if args.int8 and args.folds:
        clips, _ = load_clips(args.data_root, args.table)
        folds = parse_folds(args.folds)
        held_out = select_folds(clips, folds)
        if not held_out:
            raise DatasetError(f"no clips in folds {folds}")
        seen = trained_on(model.card, folds)
        if seen:
            warn(f"the model was trained on fold(s) {', '.join(map(str, seen))}: the int8 "
                 "accuracy change there is not a held-out figure")
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise FileExistsError(f"--out {out}: exists and is not a folder")
    log = (lambda *a: None) if args.quiet else print
    meta = export_onnx(model, out, s.window_overlap, args.int8, log=log)
    if args.int8:
        _int8_accuracy(model, out, meta, held_out, s, log)
    if args.quiet:
        print(out)
    return 0


def _model_file(args, settings) -> int:
    """A training file's model file (model.save_deployable): what inference runs."""
    from ..model import read_payload, save_deployable
    from ..modelfile import SUFFIX, is_model_file, model_path_for

    if args.int8 or args.folds or args.data_root or args.table:
        raise DatasetError("--int8, --folds, --data-root and --table go with --format onnx")
    src = settings.model_file(args.model)
    if is_model_file(src):
        raise DatasetError(f"{src} is a model file already: export --format envaudio reads a training file (.pt)")
    out = Path(args.out) if args.out else model_path_for(src)
    if out.suffix != SUFFIX:
        raise DatasetError(f"--out {out}: a model file's name ends in {SUFFIX}")
    check_output(str(out), "--out", create_parent=True)
    save_deployable(read_payload(src), out, source=src.name, half=args.half,
                    log=(lambda *a: None) if args.quiet else print)
    if args.quiet:
        print(out)
    return 0


def _int8_accuracy(model, out: Path, meta: dict, held_out: list | None, settings, log) -> None:
    """The int8 copies' accuracy against the float32 files' on held-out clips, into model.json."""
    from ..evaluate import evaluate_clips
    from ..export import OnnxFiles, bound_engine, write_manifest

    q = meta["int8"]
    if not held_out:
        q["accuracy"] = None
        print("warning: int8: accuracy change not measured (give held-out folds with --folds and "
              "--data-root or --table); the float32 files stay the default", file=sys.stderr)
        write_manifest(out, meta)
        return
    acc = {name: evaluate_clips(model, held_out, progress=False, settings=settings,
                                engine=bound_engine(model, OnnxFiles(out, meta, int8=name == "int8"))
                                ).metrics["accuracy"] for name in ("float32", "int8")}
    q.update(accuracy=acc, accuracy_change=acc["int8"] - acc["float32"], held_out_clips=len(held_out))
    write_manifest(out, meta)
    line = (f"int8: held-out accuracy {acc['int8']:.4f} against {acc['float32']:.4f} in float32 "
            f"({q['accuracy_change']:+.4f}) on {len(held_out)} clips")
    if q["accuracy_change"] < 0:
        print(f"warning: {line}: the int8 files are less accurate; the float32 files stay the default",
              file=sys.stderr)
    else:
        log(line)
