"""`envaudio monitor SOURCE --out DIR`: classify a live source continuously, with
calibrated sound levels split by class (src/envaudio/monitor; docs/monitor.md)."""

from __future__ import annotations

import argparse

HELP = "listen to a sound card, stdin, a stream or a file; write events and sound levels as they come"
EPILOG = """\
SOURCE: mic (the default input), mic:NAME (another: an ALSA name such as hw:1, or a PortAudio
device with envaudio[mic]), - (a WAV stream on stdin, or raw PCM with --rate and --format),
a URL ffmpeg reads (rtsp://, http(s)://, udp://, srt://, Icecast), or a file (as fast as it
can be analysed; at its own pace with --realtime).
Writes under DIR, appending whole lines as it goes: events.csv (one row per event when it
is final), levels.csv (every --interval s: LAeq, LAFmax, LAFmin, L10/L50/L90, each class's
share of the A-weighted energy), gaps.csv (time without audio), clips/ (--save-clips).
A stream that drops is reconnected; SIGINT/SIGTERM finish the current rows and exit 0.
docs/monitor.md."""


def add_parser(sub):
    from ..monitor.sources import RAW_FORMATS
    from ..thresholds import add_threshold_args

    p = sub.add_parser("monitor", help=HELP, description=HELP[0].upper() + HELP[1:] + ".", epilog=EPILOG,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("source", metavar="SOURCE", help="mic, mic:NAME, -, a URL, or a file")
    p.add_argument("--out", required=True, metavar="DIR", help="folder for events.csv, levels.csv, gaps.csv (created)")
    p.add_argument("--model", default=None, help="model file or bundled model's name (default: the bundled model)")
    p.add_argument("--interval", type=float, default=None, metavar="S",
                   help="seconds per row of levels.csv (default: LEVELS_INTERVAL_SECONDS, 60)")
    p.add_argument("--calibration-db", type=float, default=None, metavar="DB",
                   help="the dB SPL of a full-scale RMS of 1.0 (94 minus what a 94-dB calibrator reads, dBFS); "
                        "without it the levels are dBFS")
    p.add_argument("--rate", type=int, default=None, metavar="HZ", help="stdin is raw PCM at this rate")
    p.add_argument("--format", dest="pcm_format", default="s16le", choices=sorted(RAW_FORMATS),
                   help="raw PCM's sample format (default: %(default)s)")
    p.add_argument("--channels", type=int, default=1, metavar="N", help="raw PCM's channels (default: 1)")
    p.add_argument("--realtime", action="store_true", help="a file at its own pace (as if live)")
    p.add_argument("--save-clips", default="", metavar="LABEL,...",
                   help="write these classes' events as FLAC (with 1 s of context) under DIR/clips ('all': every class)")
    p.add_argument("--rotate", choices=("none", "daily"), default="none",
                   help="daily: one file per UTC day (events-YYYY-MM-DD.csv ...) (default: %(default)s)")
    p.add_argument("--metrics-port", type=int, default=None, metavar="PORT",
                   help="serve Prometheus /metrics and /health on 127.0.0.1:PORT")
    p.add_argument("--start-time", default=None, metavar="ISO",
                   help="the UTC time the audio starts (default: now; for a file recorded earlier)")
    add_threshold_args(p)
    p.add_argument("--quiet", action="store_true", help="no line per interval on stderr")
    p.set_defaults(func=run)
    return p


def options(args, labels: list[str], settings):
    """The Options of the command line, checked (one line for a bad one)."""
    from datetime import datetime, timezone

    from ..errors import SettingsError
    from ..monitor import Options

    interval = args.interval if args.interval is not None else settings.levels_interval_seconds
    if not interval > 0:
        raise SettingsError(f"--interval must be positive, not {interval:g}")
    clips = {c.strip() for c in args.save_clips.split(",") if c.strip()}
    unknown = sorted(clips - set(labels) - {"all"})
    if unknown:
        raise SettingsError(f"--save-clips: {', '.join(unknown)} not among the model's classes ({', '.join(labels)})")
    start = None
    if args.start_time:
        try:
            start = datetime.fromisoformat(args.start_time.replace("Z", "+00:00"))
        except ValueError:
            raise SettingsError(f"--start-time {args.start_time!r}: not an ISO 8601 time "
                                "(e.g. 2024-06-11T14:30:00Z)") from None
        start = start.replace(tzinfo=start.tzinfo or timezone.utc)
    if args.metrics_port is not None and not 0 < args.metrics_port < 65536:
        raise SettingsError(f"--metrics-port must be 1..65535, not {args.metrics_port}")
    cal = args.calibration_db if args.calibration_db is not None else settings.calibration_db
    return Options(out=args.out, interval=interval, calibration_db=cal, rotate=args.rotate, save_clips=clips,
                   metrics_port=args.metrics_port, start_time=start, quiet=args.quiet)


def run(args) -> int:
    from ..errors import SettingsError
    from ..monitor import Monitor, make_source
    from ..monitor.outputs import prepare_dir
    from ..predict import load_classifier
    from ..thresholds import threshold_settings

    if args.rate is None and args.source == "-" and args.pcm_format != "s16le":
        raise SettingsError("--format is for raw PCM on stdin: give its --rate too")
    if args.channels < 1:
        raise SettingsError(f"--channels must be at least 1, not {args.channels}")
    settings = threshold_settings(args)
    prepare_dir(args.out)  # an unwritable DIR fails before the model is loaded
    clf = load_classifier(args.model, settings)
    opts = options(args, clf.labels, settings)
    clf.settings = clf.settings.replace(calibration_db=opts.calibration_db)
    source = make_source(args.source, clf.sample_rate, rate=args.rate, fmt=args.pcm_format, channels=args.channels,
                         realtime=args.realtime, stall_timeout=settings.ffmpeg_timeout_seconds)
    return Monitor(clf, source, opts).run()
