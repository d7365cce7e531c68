"""The `analyze` command's options and what it does, shared by `envaudio analyze`
(cli/analyze.py) and `python -m envaudio.archive`."""

from __future__ import annotations

import argparse
import sys

HELP = "analyse every recording under a folder into per-file results (resumable)"
EPILOG = """\
Per file, under OUT at the audio's path in IN: x.wav.json (windows and events),
x.wav.labels.txt (Audacity label track), x.wav.selections.txt (Raven Pro selection table),
x.wav.levels.csv (LAeq, LAFmax, L10/L50/L90 and each class's share of the energy, per
--levels-interval), x.wav.embeddings.npy (--embeddings). Recordings of any length. For the archive: events.csv, selections.txt (raven),
embeddings.csv, errors.csv, summary.json. Run it again to resume: files already done and unchanged are
skipped. Exit status: 0; 1 when some files could not be analysed (errors.csv); 2 for a
usage error. docs/archives.md."""


def add_arguments(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
    from .formats import DEFAULT_FORMATS, FORMATS

    p.add_argument("input", metavar="IN", help="a folder of recordings (searched recursively) or one file")
    p.add_argument("--out", required=True, metavar="OUT", help="folder for the results (created; IN's "
                   "subfolders are mirrored)")
    p.add_argument("--format", dest="formats", default=",".join(DEFAULT_FORMATS),
                   help=f"comma-separated, any of {', '.join(FORMATS)} (default: %(default)s)")
    p.add_argument("--embeddings", action="store_true", help="also write each window's embedding "
                   "(.npy per file, indexed in OUT/embeddings.csv)")
    p.add_argument("--workers", type=int, default=None, metavar="N",
                   help="processes on this machine, each loading the model once (default 1); with "
                        "--engine ray, actors (default: the cluster's CPUs)")
    p.add_argument("--engine", choices=("local", "ray"), default="local",
                   help="local processes, or Ray actors (pip install 'envaudio[ray]') (default: %(default)s)")
    p.add_argument("--address", default=None, metavar="auto|HOST:PORT",
                   help="with --engine ray: the cluster (default: RAY_ADDRESS, else a new local Ray instance)")
    p.add_argument("--model", default=None, help="model file (default: the bundled model)")
    p.add_argument("--retry-errors", action="store_true", help="analyse again the files that failed before")
    from ..thresholds import add_threshold_args

    add_threshold_args(p)
    p.add_argument("--calibration-db", type=float, default=None, metavar="DB",
                   help="the dB SPL of a full-scale RMS of 1.0 (94 minus what a 94-dB calibrator reads, dBFS): "
                        "levels in dB SPL (default: CALIBRATION_DB, 0: dBFS)")
    p.add_argument("--levels-interval", type=float, default=None, metavar="S",
                   help="seconds per row of x.levels.csv (default: LEVELS_INTERVAL_SECONDS, 60)")
    p.add_argument("--quiet", action="store_true", help="no progress bar and no summary (prints OUT)")
    return p


def run(args) -> int:
    from ..thresholds import threshold_settings
    from .run import analyze

    summary = analyze(args.input, args.out, args.formats, workers=args.workers, embeddings=args.embeddings,
                      engine=args.engine, address=args.address, model=args.model,
                      retry_errors=args.retry_errors, progress=False if args.quiet else None,
                      settings=level_settings(threshold_settings(args), args), log=None if args.quiet else print)
    if args.quiet:
        print(summary.out)
    return 1 if summary.errors else 0


def level_settings(s, args):
    """Settings with --calibration-db and --levels-interval, checked."""
    from ..errors import SettingsError

    interval = getattr(args, "levels_interval", None)
    if interval is not None and not interval > 0:
        raise SettingsError(f"--levels-interval must be positive, not {interval:g}")
    return s.replace(**{k: v for k, v in (("calibration_db", getattr(args, "calibration_db", None)),
                                          ("levels_interval_seconds", interval)) if v is not None})


def main(argv: list[str] | None = None) -> int:
    from ..errors import UserError

    p = argparse.ArgumentParser(prog="envaudio analyze", description=HELP[0].upper() + HELP[1:] + ".",
                                epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    args = add_arguments(p).parse_args(argv)
    try:
        return run(args)
    except UserError as e:
        print(f"envaudio analyze: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("envaudio analyze: interrupted (run it again to resume)", file=sys.stderr)
        return 130
