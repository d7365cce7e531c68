"""`envaudio combine`: one model from several, their members' probabilities averaged."""

from __future__ import annotations

from pathlib import Path

from ..errors import DatasetError
from ..settings import get_settings
from .common import add_data_args, add_quiet, add_workers


def add_parser(sub) -> None:
    p = sub.add_parser("combine", help="one model from several: their members' probabilities averaged")
    p.add_argument("models", nargs="+", metavar="MODEL", help="model files (e.g. a yamnet and a cnn model)")
    p.add_argument("--out", required=True, help="training file to write (its model file, .envaudio, beside it)")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--weights", default=None, help="one weight per model, e.g. 0.6,0.4 (default: plain mean)")
    g.add_argument("--fit-folds", default=None, help="fit the weights on these validation folds "
                   "(none of the models may have trained on them); needs --data-root or --table")
    add_data_args(p)
    p.add_argument("--half", action="store_true", help="store the weights as float16 (half the size)")
    add_workers(p)
    add_quiet(p)


def run(args) -> int:
    from ..combine import combine_models
    from ..datasets.layouts import load_clips
    from ..datasets.splits import parse_folds, select_folds
    from ..model import save_model_files

    weights = fit_clips = fit_folds = None
    if args.weights:
        try:
            weights = [float(w) for w in args.weights.split(",")]
        except ValueError:
            raise DatasetError(f"--weights: cannot read {args.weights!r} (write e.g. 0.6,0.4)") from None
    elif args.fit_folds:
        clips, _ = load_clips(args.data_root, args.table)
        fit_folds = parse_folds(args.fit_folds)
        fit_clips = select_folds(clips, fit_folds)
    payload = combine_models(args.models, weights, fit_clips, fit_folds, get_settings(), args.workers,
                             not args.quiet, half=args.half)
    model_file = save_model_files(args.out, payload)
    size = Path(args.out).stat().st_size / 1e6
    print(f"saved {args.out} ({len(payload['members'])} members, {payload['combine']['rule']}, {size:.1f} MB) "
          f"and the model file {model_file} ({model_file.stat().st_size / 1e6:.1f} MB)")
    return 0
