"""`envaudio thresholds SEGDIR --out thresholds.csv`: per-class unknown thresholds from a
reviewed segments folder (archive/review.py; docs/archives.md)."""

from __future__ import annotations

HELP = "fit per-class unknown thresholds from reviewed segments (envaudio segments)"


def add_parser(sub) -> None:
    p = sub.add_parser("thresholds", help=HELP, description=HELP[0].upper() + HELP[1:] + ".",
                       epilog="Per class, the probability that a detection is right is fitted against its "
                              "confidence (logistic); the threshold is the lowest confidence whose detections "
                              "above it reach --precision. Use the file with --thresholds (analyze, predict, "
                              "serve).")
    p.add_argument("segdir", metavar="SEGDIR", help="a folder made by `envaudio segments`, reviewed")
    p.add_argument("--out", required=True, metavar="CSV", help="the thresholds file to write (label,threshold)")
    p.add_argument("--precision", type=float, default=0.9, help="the precision each class must reach "
                   "(default: %(default)s)")
    p.add_argument("--min-reviewed", type=int, default=5, metavar="N", help="classes with fewer reviewed clips "
                   "keep their threshold (default: %(default)s)")


def run(args) -> int:
    from ..archive.review import read_review, thresholds_from_review
    from ..errors import UserError
    from ..fileio import atomic_write
    from ..thresholds import format_thresholds
    from .common import check_output

    if not 0 < args.precision < 1 or args.min_reviewed < 1:
        raise UserError("--precision must be in (0, 1) and --min-reviewed at least 1")
    check_output(args.out, "--out")
    rows = thresholds_from_review(read_review(args.segdir), args.precision, args.min_reviewed)
    print(f"{'class':24} {'reviewed':>8} {'wrong':>5} {'before':>6} {'after':>6} {'est. P':>6} {'kept':>5}")

    def n(x):
        return "     -" if x is None else f"{x:6.3f}"

    for r in rows:
        note = "" if r.threshold is not None else f"  (fewer than {args.min_reviewed} reviewed: unchanged)"
        if r.threshold is not None and not r.reached:
            note = f"  (precision {args.precision:g} not reached at any confidence: the class is turned off)"
        kept = "    -" if r.kept is None else f"{100 * r.kept:4.0f}%"
        print(f"{r.label:24} {r.reviewed:8d} {r.wrong:5d} {n(r.before)} {n(r.threshold)} {n(r.precision)} "
              f"{kept}{note}")
    table = {r.label: r.threshold for r in rows if r.threshold is not None}
    if not table:
        raise UserError(f"no class has {args.min_reviewed} reviewed clips: nothing to write")
    data = format_thresholds(table)
    atomic_write(args.out, lambda f: f.write(data))
    print(f"wrote {args.out} ({len(table)} class(es)); use it with --thresholds {args.out}")
    return 0
