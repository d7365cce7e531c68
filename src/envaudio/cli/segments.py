"""`envaudio segments ANALYZE_OUT --out SEGDIR`: clips of detected events for a person to
review (archive/review.py; docs/archives.md)."""

from __future__ import annotations

HELP = "cut detected events into clips to review (SEGDIR/<label>/, wrong ones go to <label>/wrong/)"


def add_parser(sub) -> None:
    p = sub.add_parser("segments", help=HELP, description=HELP[0].upper() + HELP[1:] + ".",
                       epilog="Clips are FLAC, named <confidence>_<file>_<start>s.flac so they sort by "
                              "confidence, spread over the files and the confidence range; SEGDIR/segments.csv "
                              "lists them. Move the wrong ones into SEGDIR/<label>/wrong/, then run "
                              "`envaudio thresholds SEGDIR`.")
    p.add_argument("analysis", metavar="ANALYZE_OUT", help="an `envaudio analyze` output folder")
    p.add_argument("--out", required=True, metavar="SEGDIR", help="folder for the clips (must not hold a review)")
    p.add_argument("--per-class", type=int, default=20, metavar="N", help="clips per class (default: %(default)s)")
    p.add_argument("--min-confidence", type=float, default=0.0, metavar="C",
                   help="only events at least this confident (default: all)")
    p.add_argument("--context", type=float, default=1.0, metavar="S",
                   help="seconds of audio kept either side of the event (default: %(default)s)")
    p.add_argument("--max-seconds", type=float, default=10.0, metavar="S",
                   help="at most this much of a long event (default: %(default)s)")
    p.add_argument("--audio", default=None, metavar="IN", help="where the analysed recordings are, if they "
                   "moved (default: the IN of the analysis, from its summary.json)")
    p.add_argument("--labels", default=None, help="only these classes (comma separated)")


def run(args) -> int:
    from ..archive.review import cut_segments
    from ..errors import UserError

    if args.per_class < 1 or args.context < 0 or args.max_seconds <= 0 or not 0 <= args.min_confidence <= 1:
        raise UserError("--per-class must be at least 1, --context not negative, --max-seconds positive, "
                        "--min-confidence in [0, 1]")
    labels = [l.strip() for l in args.labels.split(",") if l.strip()] if args.labels else None
    counts = cut_segments(args.analysis, args.out, args.per_class, args.min_confidence, args.context,
                          args.max_seconds, args.audio, labels)
    for label, n in counts.items():
        print(f"{label:24} {n:4d} clip(s)")
    print(f"{sum(counts.values())} clip(s) in {args.out}: move the wrong ones into {args.out}/<label>/wrong/, "
          f"then run: envaudio thresholds {args.out} --out thresholds.csv")
    return 0
