"""Per-class "unknown" thresholds: a window is sure of class c when its best class is c
and c's probability reaches c's threshold.

Why per class: one number cannot suit every class. A model that is right about sirens at
0.5 can still be wrong half the time about air conditioners at 0.8; after a person has
reviewed some detections (`envaudio segments`, `envaudio thresholds`), each class gets the
lowest threshold that keeps it as precise as asked.

Where they come from (THRESHOLDS, `--thresholds`): a CSV file `label,threshold` (a header
line optional), or the same inline as a JSON object `{"siren": 0.6, ...}` (what the archive
ships to its workers and Ray actors, which need not see the file). Classes the file does
not name keep the one number: UNKNOWN_THRESHOLD, else the model's calibrated threshold.
MIN_CONFIDENCE (`--min-confidence`) is a floor under every class's threshold. Torch-free.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
from pathlib import Path

from .errors import UserError

HEADER = ("label", "threshold")


class ThresholdsError(UserError, ValueError):
    """A thresholds file that cannot be used: the message names the file and the line."""


def parse_thresholds(text: str, source: str = "thresholds") -> dict[str, float]:
    """CSV `label,threshold` lines (or a JSON object) -> {label: threshold}."""
    if text.lstrip().startswith("{"):
        try:
            doc = json.loads(text)
            out = {str(k): float(v) for k, v in doc.items()}
        except (ValueError, TypeError, AttributeError) as e:
            raise ThresholdsError(f"{source}: not a JSON object of label: threshold ({e})") from None
        for label, t in out.items():
            _check(t, f"{source}: {label!r}")
        return out
    out: dict[str, float] = {}
    for n, row in enumerate(csv.reader(io.StringIO(text)), start=1):
        if not row or not "".join(row).strip() or row[0].lstrip().startswith("#"):
            continue
        if n == 1 and [c.strip().lower() for c in row[:2]] == list(HEADER):
            continue
        if len(row) < 2:
            raise ThresholdsError(f"{source} line {n}: expected label,threshold, got {','.join(row)[:80]!r}")
        label = " ".join(row[0].split())
        try:
            t = float(row[1])
        except ValueError:
            raise ThresholdsError(f"{source} line {n}: the threshold of {label!r} is not a number: "
                                  f"{row[1].strip()!r}") from None
        _check(t, f"{source} line {n}")
        if label in out:
            raise ThresholdsError(f"{source} line {n}: {label!r} is given twice")
        out[label] = t
    return out


def _check(t: float, where: str) -> None:
    if not 0.0 <= t <= 1.0:
        raise ThresholdsError(f"{where}: a threshold must be in [0, 1], not {t}")


_CACHE: dict = {}


def read_thresholds(spec: str) -> dict[str, float]:
    """THRESHOLDS (a file, or an inline JSON object) -> {label: threshold}; a file is read
    again only when it changes (a server reads its settings at every request)."""
    spec = (spec or "").strip()
    if not spec:
        return {}
    if spec.startswith("{"):
        return parse_thresholds(spec, "THRESHOLDS")
    path = Path(spec).expanduser()
    try:
        st = path.stat()
        key = (str(path), st.st_size, st.st_mtime_ns)
        if key not in _CACHE:
            _CACHE.clear()
            _CACHE[key] = parse_thresholds(path.read_text(encoding="utf-8-sig"), str(path))
    except (OSError, UnicodeDecodeError) as e:
        raise ThresholdsError(f"--thresholds {path}: cannot read it ({getattr(e, 'strerror', None) or e})") from None
    return dict(_CACHE[key])


def check_labels(per_class: dict[str, float], labels: list[str], source: str = "thresholds") -> None:
    unknown = [label for label in per_class if label not in labels]
    if unknown:
        raise ThresholdsError(f"{source}: {unknown[0]!r} is not one of the model's classes "
                              f"({', '.join(labels)})")


def class_thresholds(labels: list[str], default: float, spec: str = "", floor: float = 0.0,
                     ) -> float | tuple[float, ...]:
    """The threshold of each class (a tuple in the order of `labels`) when a thresholds
    file is given, else the one number: `default` (UNKNOWN_THRESHOLD or the model's),
    raised to `floor` (MIN_CONFIDENCE)."""
    per_class = read_thresholds(spec)
    if not per_class:
        return max(float(default), float(floor))
    check_labels(per_class, labels, spec if not spec.lstrip().startswith("{") else "THRESHOLDS")
    return tuple(max(float(per_class.get(label, default)), float(floor)) for label in labels)


def inline(spec: str) -> str:
    """THRESHOLDS as an inline JSON object ("" stays ""): what a worker on another machine
    can use without the file."""
    per_class = read_thresholds(spec)
    return json.dumps(per_class, sort_keys=True) if per_class else ""


def format_thresholds(per_class: dict[str, float]) -> bytes:
    """thresholds.csv: `label,threshold` with a header, one class a line."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(HEADER)
    for label, t in per_class.items():
        w.writerow([label, f"{t:.4f}"])
    return buf.getvalue().encode()


def describe(spec: str, floor: float) -> str:
    """A line saying which thresholds are in force ("" for the model's own)."""
    parts = []
    if spec:
        n = len(read_thresholds(spec))
        where = "inline" if spec.lstrip().startswith("{") else os.fspath(spec)
        parts.append(f"per-class thresholds from {where} ({n} class{'es' if n != 1 else ''})")
    if floor:
        parts.append(f"minimum confidence {floor:g}")
    return ", ".join(parts)


# --- the commands' options (predict, analyze, serve) -------------------------------------

def add_threshold_args(p: argparse.ArgumentParser) -> None:
    """--thresholds and --min-confidence: per-class unknown thresholds (thresholds.py)."""
    p.add_argument("--thresholds", default=None, metavar="CSV", help="per-class unknown thresholds: a CSV of "
                   "label,threshold (from `envaudio thresholds`); classes it does not name keep the model's "
                   "(default: THRESHOLDS)")
    p.add_argument("--min-confidence", type=float, default=None, metavar="C", help="a floor under every "
                   "class's threshold: windows less sure than C name nothing (default: MIN_CONFIDENCE, 0)")


def threshold_settings(args, settings=None):
    """Settings with the command's --thresholds and --min-confidence (checked: one line on a
    bad file or value)."""
    from .settings import get_settings

    s = settings or get_settings()
    if getattr(args, "thresholds", None):
        path = Path(args.thresholds).expanduser()
        if not path.is_file():
            raise UserError(f"--thresholds {path}: no such file")
        s = s.replace(thresholds=str(path.resolve()))
    if getattr(args, "min_confidence", None) is not None:
        if not 0.0 <= args.min_confidence <= 1.0:
            raise UserError(f"--min-confidence must be in [0, 1], not {args.min_confidence}")
        s = s.replace(min_confidence=args.min_confidence)
    read_thresholds(s.thresholds)  # a file that does not parse: its line, now
    return s
