"""`envaudio predict`: classify audio files or folders."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from ..errors import AudioError, DatasetError
from .common import add_threshold_args, check_output, threshold_settings


def add_parser(sub) -> None:
    p = sub.add_parser("predict", help="classify audio files or folders")
    p.add_argument("inputs", nargs="+", metavar="FILE_OR_DIR",
                   help="audio files, or folders (searched recursively for audio)")
    p.add_argument("--model", default=None, help="model file (default: the bundled model)")
    p.add_argument("--top-k", type=int, default=3, help="how many of the best classes to show per file "
                   "(default: %(default)s)")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--json", dest="json_out", default=None, help="write results as JSON ('-' for stdout)")
    g.add_argument("--csv", dest="csv_out", default=None, help="write results as CSV ('-' for stdout)")
    p.add_argument("--windows", action="store_true", help="print the per-window timeline too")
    p.add_argument("--events", action="store_true", help="print the sound events (what was heard when); "
                   "with --csv, one row per event instead of per window")
    add_threshold_args(p)


def run(args) -> int:
    from tqdm import tqdm

    from ..fileio import audio_files
    from ..predict import load_classifier
    from ..reports import format_events, headline, window_line, write_events_csv, write_predictions_csv

    if args.top_k < 1:
        raise DatasetError("--top-k must be at least 1")
    check_output(args.json_out, "--json")
    check_output(args.csv_out, "--csv")
    skipped: list[Path] = []
    files = audio_files(args.inputs, skipped)
    settings = threshold_settings(args)
    clf = load_classifier(args.model, settings)
    p = clf.event_params  # a class in --thresholds that the model lacks: one line now
    said = {}  # the outputs say which thresholds were used
    if settings.thresholds or settings.min_confidence:
        from ..thresholds import describe

        print(f"envaudio predict: {describe(settings.thresholds, settings.min_confidence)}", file=sys.stderr)
        said = {"unknown_thresholds": {label: p.threshold_of(i) for i, label in enumerate(clf.labels)}}
    results, failed = [], 0
    to_stdout = args.json_out == "-" or args.csv_out == "-"
    show_bar = len(files) > 1 and sys.stderr.isatty()
    for path in tqdm(files, desc="predict", unit="file", disable=not show_bar):
        try:
            pred = clf.classify_file(path)
        except AudioError as e:
            failed += 1
            reason = str(e).removeprefix(f"{path.name}: ")  # the file is named once, as given
            tqdm.write(f"envaudio predict: error: {path}: {reason}", file=sys.stderr)
            results.append({"file": str(path), "error": reason})
            continue
        results.append({"file": str(path), **pred.to_dict(args.top_k), **said})
        if not to_stdout:
            lines = [f"{path}: {headline(pred)}{_guesses(pred, args.top_k)}  "
                     f"{pred.duration:.1f} s, {len(pred.windows)} window(s)"]
            if args.events:
                lines.append(format_events(pred))
            if args.windows and len(pred.windows) > 1:
                lines += [window_line(w) for w in pred.windows]
            tqdm.write("\n".join(lines))
    if args.json_out:
        text = json.dumps(results, indent=1)
        if args.json_out == "-":
            print(text)
        else:
            Path(args.json_out).write_text(text + "\n")
    if args.csv_out:
        if args.events:
            write_events_csv(results, args.csv_out)
        else:
            write_predictions_csv(results, clf.labels, args.csv_out)
    if len(files) > 1 or failed or skipped:
        print(_summary(len(files) - failed, failed, skipped), file=sys.stderr)
    return 1 if failed else 0


def _guesses(pred, k: int) -> str:
    """The windows' average's best guesses, bracketed after the answer and named for what
    they are (a file's average can rank first a class heard in none of its events)."""
    tops = ", ".join(f"{l} {c:.2f}" for l, c in pred.top_k(k))
    if not tops:
        return ""
    return f"  [{'windows averaged' if len(pred.windows) > 1 else 'top ' + str(k)}: {tops}]"


def _summary(done: int, failed: int, skipped: list[Path]) -> str:
    line = f"envaudio predict: {done} file(s) classified, {failed} failed"
    if skipped:
        kinds = sorted({p.suffix.lower() or p.name for p in skipped})
        line += f", {len(skipped)} skipped (not audio: {', '.join(kinds[:5])}{', ...' if len(kinds) > 5 else ''})"
    return line
