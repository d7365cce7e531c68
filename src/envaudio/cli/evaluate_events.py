"""`envaudio evaluate-events`: score detected events against annotations, DCASE's way
(event-based F1 with an onset collar and an offset collar or share of the length,
segment-based F1 and error rate), per class and overall."""

from __future__ import annotations

import json
import math

HELP = "score events against your annotations (DCASE event- and segment-based metrics)"


def add_parser(sub) -> None:
    p = sub.add_parser("evaluate-events", help=HELP, description=HELP[0].upper() + HELP[1:] + ".",
                       epilog="REF and PRED: folders of Audacity label tracks, Raven selection tables, CSV "
                              "(start,end,label) or analyze's JSON, with mirrored names (site1/x.txt scores "
                              "against site1/x.wav.labels.txt); an `envaudio analyze` output folder; or one "
                              "CSV of file,start,end,label. docs/archives.md.")
    p.add_argument("--reference", required=True, metavar="REF", help="the annotations (the truth)")
    p.add_argument("--predictions", required=True, metavar="PRED", help="the detected events (e.g. analyze's OUT)")
    p.add_argument("--collar", type=float, default=0.5, help="event-based: onsets within this many seconds "
                   "match (default: %(default)s)")
    p.add_argument("--offset-share", type=float, default=0.5, help="event-based: offsets match within the "
                   "collar or this share of the reference event's length (default: %(default)s)")
    p.add_argument("--segment", type=float, default=1.0, help="segment-based: segment length in seconds "
                   "(default: %(default)s)")
    p.add_argument("--model", default=None, help="the model whose classes the labels must be (default: the "
                   "bundled model)")
    p.add_argument("--any-labels", action="store_true", help="score whatever labels the files use")
    p.add_argument("--backend", choices=("envaudio", "sed_eval"), default="envaudio",
                   help="compute with envaudio's implementation of sed_eval's metrics, or sed_eval itself "
                        "(pip install 'envaudio[eval]') (default: %(default)s)")
    p.add_argument("--json", dest="json_out", default=None, metavar="OUT", help="write every figure as JSON "
                   "('-' for stdout)")


def _labels_of(model) -> list[str]:
    from ..modelfile import read_meta
    from ..settings import get_settings

    path = get_settings().model_file(model)
    if path.suffix != ".envaudio":
        from ..predict import load_classifier

        return list(load_classifier(model).labels)
    return list(read_meta(path)["labels"])


def check_labels(files: dict, labels: list[str], side: str) -> None:
    from ..archive.annotations import AnnotationError

    known = set(labels)
    for key, events in files.items():
        bad = sorted({e["event_label"] for e in events} - known)
        if bad:
            raise AnnotationError(f"{side} {key}: label {bad[0]!r} is not one of the model's classes "
                                  f"({', '.join(labels)}); rename it, or score anyway with --any-labels")


def run(args) -> int:
    from ..archive.annotations import read_folder
    from ..errors import UserError
    from .common import check_output, warn

    if args.collar <= 0 or args.segment <= 0 or not 0 <= args.offset_share <= 1:
        raise UserError("--collar and --segment must be positive, --offset-share in [0, 1]")
    check_output(args.json_out, "--json")
    ref, pred = read_folder(args.reference), read_folder(args.predictions)
    if not args.any_labels:
        model_labels = _labels_of(args.model)
        check_labels(ref, model_labels, "REF")
        check_labels(pred, model_labels, "PRED")
    # The classes scored: those either side names (as DCASE scores a data set's own classes).
    # A class neither names would add a zero error rate to the class average.
    labels = sorted({e["event_label"] for side in (ref, pred) for evs in side.values() for e in evs})
    missing = [k for k in ref if k not in pred]
    extra = [k for k in pred if k not in ref]
    if len(missing) == len(ref):
        raise UserError(f"no file of REF ({args.reference}) has predictions in PRED ({args.predictions}): "
                        f"the names must mirror each other (REF has e.g. {next(iter(ref), 'nothing')!r}, "
                        f"PRED {next(iter(pred), 'nothing')!r})")
    if missing:
        warn(f"{len(missing)} file(s) of REF have no predictions, scored as detecting nothing: "
             f"{', '.join(missing[:3])}{' ...' if len(missing) > 3 else ''}")
    if extra:
        warn(f"{len(extra)} file(s) of PRED have no annotations in REF and are not scored: "
             f"{', '.join(extra[:3])}{' ...' if len(extra) > 3 else ''}")
    pairs = [(ref[k], sorted(pred.get(k, []), key=lambda e: (e["onset"], e["offset"]))) for k in sorted(ref)]
    if args.backend == "sed_eval":
        try:
            import warnings

            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                from ..archive.scoring import score_with_sed_eval

                results = score_with_sed_eval(pairs, labels, args.collar, args.offset_share, args.segment)
        except ImportError:
            raise UserError("--backend sed_eval needs sed_eval: pip install 'envaudio[eval]'") from None
    else:
        from ..archive.scoring import score

        results = score(pairs, labels, args.collar, args.offset_share, args.segment)
    results["files"] = len(pairs)
    results["backend"] = args.backend
    if args.json_out == "-":
        print(json.dumps(_jsonable(results), indent=1))
        return 0
    print("\n".join(table(results)))
    if args.json_out:
        with open(args.json_out, "w") as f:
            json.dump(_jsonable(results), f, indent=1)
            f.write("\n")
    return 0


def _jsonable(x):
    if isinstance(x, dict):
        return {k: _jsonable(v) for k, v in x.items()}
    if isinstance(x, float) and math.isnan(x):
        return None
    return x


def _n(x: float) -> str:
    return "    -" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:5.3f}"


def table(results: dict) -> list[str]:
    """Per class and overall: event-based F1 P R ER, segment-based F1 P R ER, counts."""
    ev, seg = results["event"], results["segment"]
    p = ev["params"]
    width = max([len(k) for k in ev["class_wise"]] + [22])
    head = (f"{'':{width}}  event-based (collar {p['t_collar']:g} s, offset {p['percentage_of_length']:g} of "
            f"length)   segment-based ({seg['params']['time_resolution']:g} s)")
    cols = f"{'class':{width}}  {'F1':>5} {'P':>5} {'R':>5} {'ER':>5} {'Nref':>5} {'Nsys':>5}   " \
           f"{'F1':>5} {'P':>5} {'R':>5} {'ER':>5}"
    lines = [f"{results['files']} file(s) scored ({results.get('backend', 'envaudio')})", head, cols]

    def row(name, e, s, counts=True):
        c = f"{int(e['Nref']):5d} {int(e['Nsys']):5d}" if counts else f"{'':5} {'':5}"
        return (f"{name:{width}}  {_n(e['f_measure'])} {_n(e['precision'])} {_n(e['recall'])} "
                f"{_n(e['error_rate'])} {c}   {_n(s['f_measure'])} {_n(s['precision'])} {_n(s['recall'])} "
                f"{_n(s['error_rate'])}")

    for label in ev["class_wise"]:
        e = ev["class_wise"][label]
        if e["Nref"] or e["Nsys"] or seg["class_wise"][label]["Nref"] or seg["class_wise"][label]["Nsys"]:
            lines.append(row(label, e, seg["class_wise"][label]))
    lines.append(row("overall (micro)", ev["overall"], seg["overall"]))
    lines.append(row("class average (macro)", ev["class_wise_average"], seg["class_wise_average"], counts=False))
    return lines
