"""`envaudio evaluate`: classification report and confusion matrix on labelled recordings."""

from __future__ import annotations

import json
from pathlib import Path

from ..errors import DatasetError
from ..settings import get_settings
from .common import add_data_args, add_quiet, add_workers, check_output, warn


def add_parser(sub) -> None:
    p = sub.add_parser("evaluate", help="classification report + confusion matrix on labelled recordings")
    add_data_args(p)
    p.add_argument("--folds", default=None, help="default: UrbanSound8K fold 10; other data: every clip")
    p.add_argument("--split", choices=("val", "test"), default=None,
                   help="data without folds: the clips the model's training held out (the split "
                        "is remade from the seed and fractions in its card)")
    p.add_argument("--model", default=None, help="model file (default: the bundled model)")
    p.add_argument("--json", dest="json_out", default=None, help="write the metrics as JSON here")
    p.add_argument("--plot", default=None, help="confusion-matrix PNG (default: next to --json, or "
                   "./confusion_matrix.png)")
    add_workers(p)
    add_quiet(p)


def run(args) -> int:
    from ..datasets.layouts import load_dataset
    from ..evaluate import evaluate_clips, evaluation_clips, format_report, plot_confusion, trained_on
    from ..loading import load_model

    s = get_settings()
    check_output(args.json_out, "--json", create_parent=True)
    check_output(args.plot, "--plot", create_parent=True)
    can_plot = plotting_installed()
    if args.plot and not can_plot:
        raise DatasetError("--plot needs matplotlib: install envaudio[train]")
    model = load_model(s.model_file(args.model))
    ds = load_dataset(args.data_root, args.table)
    test, folds, what = evaluation_clips(ds, model.card, args.folds, args.split)
    seen = trained_on(model.card, folds or [])
    warning = (f"{Path(model.path).name} was trained on fold(s) "
               f"{', '.join(map(str, seen))} (its card's train_folds): these figures do not "
               "measure accuracy on unseen recordings") if seen else None
    if warning:
        warn(warning)
    ev = evaluate_clips(model, test, args.workers, not args.quiet, s)
    print(f"Evaluated {model.path} on {what}: {len(test)} clips in {ev.seconds:.1f} s "
          f"({ev.clips_per_second:.0f} clips/s, decoding included)\n")
    print(format_report(ev.metrics))
    if warning:  # again after the report, where it is read
        warn(f"\n{warning}")
    if ev.errors:
        warn(f"\n{len(ev.errors)} file(s) could not be decoded and were left out, e.g. {ev.errors[0]}")
    plot = args.plot or (str(Path(args.json_out).with_suffix(".png")) if args.json_out else "confusion_matrix.png")
    if can_plot:
        Path(plot).parent.mkdir(parents=True, exist_ok=True)
        plot_confusion(ev.metrics, plot, f"{Path(model.path).name} on {what}")
        print(f"\nconfusion matrix plot: {plot}")
    else:
        print("\nno confusion matrix plot: it needs matplotlib (install envaudio[train])")
    if args.json_out:
        keep = ("accuracy", "macro_f1", "labels", "per_class", "confusion_matrix", "n",
                "macro_avg", "weighted_avg")
        out = {k: ev.metrics[k] for k in keep}
        out.update(folds=folds, split=args.split, data=what, model=model.path, clips_per_second=ev.clips_per_second,
                   undecodable=len(ev.errors), model_train_folds=(model.card or {}).get("train_folds"),
                   trained_on_test_folds=None if seen is None else bool(seen))
        Path(args.json_out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json_out).write_text(json.dumps(out, indent=1) + "\n")
        print(f"metrics JSON: {args.json_out}")
    return 0


def plotting_installed() -> bool:
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return False
    return True
