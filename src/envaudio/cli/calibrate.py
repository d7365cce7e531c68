"""`envaudio calibrate`: fit a model's temperature and "unknown" threshold on held-out predictions."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from ..settings import get_settings
from .common import add_data_args, add_quiet, add_workers, check_output


def add_parser(sub) -> None:
    p = sub.add_parser("calibrate", help="fit the temperature and the 'unknown' threshold of a model "
                       "on held-out predictions, and write them into it")
    p.add_argument("--model", default=None, help="the model to calibrate (default: the bundled model)")
    p.add_argument("--out", default=None, help="write the calibrated model here (default: over --model)")
    p.add_argument("--heldout", action="append", required=True, metavar="MODEL:FOLDS",
                   help="a model of the same recipe and the fold(s) it never trained on, e.g. "
                        "runs/f23/model.pt:1 (repeatable); its predictions there are the held-out data")
    add_data_args(p)
    p.add_argument("--ood", default=None, metavar="DIR", help="audio of none of the classes "
                   "(scripts/make_ood_audio.py): its unknown rate goes into the report")
    p.add_argument("--max-right-lost", type=float, default=0.1, help="the unknown threshold may turn "
                   "this share of the held-out right answers into 'unknown' (default: %(default)s)")
    p.add_argument("--report", default="calibration.json", help="JSON report (default: %(default)s)")
    add_workers(p)
    add_quiet(p)


def run(args) -> int:
    from ..calibration import calibrate_model
    from ..datasets.layouts import load_clips

    s = get_settings()
    target = s.model_file(args.model)
    out = Path(args.out) if args.out else target
    check_output(args.report, "--report", create_parent=True)
    check_output(str(out), "--out", create_parent=True)
    clips, _ = load_clips(args.data_root, args.table)
    report = calibrate_model(target, out, args.heldout, clips, s, args.max_right_lost, args.ood,
                             args.workers, not args.quiet, command="envaudio " + " ".join(sys.argv[1:]))
    Path(args.report).write_text(json.dumps(report, indent=1) + "\n")
    b, a = report["pooled"]["before"], report["pooled"]["after"]
    sources = ", ".join(f"{d['model']}: folds {d['folds']}" for d in report["heldout"])
    print(f"held-out clips: {b['n']} ({sources})")
    print(f"temperature {report['temperature']:.3f}; ECE {b['ece']:.3f} -> {a['ece']:.3f}; "
          f"NLL {b['nll']:.3f} -> {a['nll']:.3f}")
    print(f"unknown threshold {report['unknown_threshold']:.3f}: {100 * a['unknown_rate']:.1f} % of held-out "
          f"clips become unknown ({100 * a['unknown_rate_of_wrong']:.0f} % of the wrong answers, "
          f"{100 * a['unknown_rate_of_right']:.0f} % of the right ones); accuracy of the rest "
          f"{a['accuracy_of_the_rest']:.3f}")
    if "ood" in report:
        print(f"out-of-domain ({report['ood']['n']} files): {100 * report['ood']['unknown_rate']:.0f} % unknown")
    written = Path(report["written"])
    also = "" if written == out else f" and its model file {written}"
    print(f"saved {out}{also} (calibration written); report {args.report}")
    return 0
