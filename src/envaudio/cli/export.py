"""`envaudio export`: the model as ONNX files, with an accuracy check of the int8 copies."""

from __future__ import annotations

import sys
from pathlib import Path

from ..errors import DatasetError
from ..settings import get_settings
from .common import add_data_args, warn


def add_parser(sub) -> None:
    p = sub.add_parser("export", help="write the model as ONNX files (plus model.json and numpy features)")
    p.add_argument("model", nargs="?", default=None, metavar="MODEL",
                   help="model file (default: the bundled model)")
    p.add_argument("--format", choices=("onnx",), default="onnx", help="default: %(default)s")
    p.add_argument("--out", required=True, help="folder to write")
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

    s = get_settings()
    resolve_backend("onnxruntime")  # the check needs it: fail before the work
    held_out = None
    if args.folds or args.data_root or args.table:
        if not (args.folds and (args.data_root or args.table)):
            raise DatasetError("--folds goes with --data-root or --table (the held-out clips for --int8)")
        if not args.int8:
            raise DatasetError("--folds measures the int8 accuracy change: add --int8")
    model = load_model(s.model_file(args.model), backend="torch")
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
