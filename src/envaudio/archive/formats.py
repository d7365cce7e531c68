"""What `envaudio analyze` writes, and readers for it (tests, scoring, your own scripts).

Per audio file (next to where the file sits in IN, under OUT, the audio's own name kept so
`x.wav` and `x.flac` in one folder do not collide):

    json       x.wav.json              the file's Prediction.to_dict(): windows and events
    audacity   x.wav.labels.txt        an Audacity label track: start<TAB>end<TAB>label (s)
    raven      x.wav.selections.txt    a Raven Pro selection table (tab separated)
    levels     x.wav.levels.csv        every LEVELS_INTERVAL_SECONDS: LAeq, LAFmax, LAFmin,
                                       L10/L50/L90 and each class's share of the A-weighted
                                       energy (dBFS, or dB SPL with --calibration-db)

For the whole archive (rebuilt from the per-file records at the end of every run):

    csv        events.csv              file,start,end,label,confidence,recording_start,event_start
                                       (one row per event; the times of day where the
                                       file's name holds its start, 20240611_143000.wav)
    raven      selections.txt          every event of the run in one Raven selection table,
                                       with Begin File, Begin Path and File Offset (s)
               errors.csv              path,reason (always written)
               summary.json            files, hours, events per class, errors

Torch-free: readers and writers only need the standard library.
"""

from __future__ import annotations

import csv
import io
import json
import re
from datetime import datetime, timedelta
from pathlib import Path

# --format names: the per-file ones, and the combined table.
PER_FILE_FORMATS = ("json", "audacity", "raven", "levels")
FORMATS = ("csv", *PER_FILE_FORMATS)
DEFAULT_FORMATS = ("csv", "json", "levels")

SUFFIXES = {"json": ".json", "audacity": ".labels.txt", "raven": ".selections.txt", "levels": ".levels.csv"}
EMBEDDINGS_SUFFIX = ".embeddings.npy"

EVENTS_CSV = "events.csv"
SELECTIONS_TXT = "selections.txt"  # the combined Raven table
ERRORS_CSV = "errors.csv"
SUMMARY_JSON = "summary.json"
EMBEDDINGS_CSV = "embeddings.csv"

EVENT_COLUMNS = ["file", "start", "end", "label", "confidence", "recording_start", "event_start"]
ERROR_COLUMNS = ["path", "reason"]
EMBEDDING_COLUMNS = ["file", "embeddings", "row", "start", "end"]
RAVEN_COLUMNS = ["Selection", "View", "Channel", "Begin Time (s)", "End Time (s)",
                 "Low Freq (Hz)", "High Freq (Hz)", "Label", "Confidence"]
# The combined table: Begin Time runs on across the files (in the table's order), as Raven
# shows a list of files opened as one sequence; File Offset (s) is the time in the file.
COMBINED_RAVEN_COLUMNS = RAVEN_COLUMNS + ["Begin File", "Begin Path", "File Offset (s)"]
DEFAULT_HIGH_FREQ = 11025.0  # a record written before records kept the band: the model of then decoded at 22,050 Hz


def parse_formats(text: str | None) -> tuple[str, ...]:
    """'csv,json' -> ("csv", "json"); ValueError naming the unknown ones."""
    names = [n.strip().lower() for n in (text or "").split(",") if n.strip()]
    if not names:
        raise ValueError(f"--format needs at least one of {', '.join(FORMATS)}")
    unknown = [n for n in names if n not in FORMATS]
    if unknown:
        raise ValueError(f"unknown --format {', '.join(map(repr, unknown))}: use any of "
                         f"{', '.join(FORMATS)} (comma separated)")
    return tuple(dict.fromkeys(names))


def output_name(rel: str, fmt: str) -> str:
    """The per-file output of `fmt` for the audio at `rel` (relative to IN), relative to OUT."""
    return rel + SUFFIXES[fmt]


def _clean(label: str) -> str:
    """A label that keeps a tab-separated line whole."""
    return " ".join(str(label).split())


def _t(x: float) -> str:
    return f"{float(x):.4f}"


# --- per file ---------------------------------------------------------------------------

def json_bytes(rel: str, prediction_dict: dict) -> bytes:
    return (json.dumps({"file": rel, **prediction_dict}, indent=1) + "\n").encode()


def audacity_bytes(events: list[dict]) -> bytes:
    """Audacity's label track text (File > Import > Labels): start, end (s), label."""
    return "".join(f"{_t(e['start'])}\t{_t(e['end'])}\t{_clean(e['label'])}\n" for e in events).encode()


def raven_bytes(events: list[dict], high_freq: float) -> bytes:
    """A Raven Pro selection table: one selection per event on the first spectrogram view,
    over the whole band (0 Hz to `high_freq`, the analysed audio's Nyquist frequency)."""
    rows = ["\t".join(RAVEN_COLUMNS)]
    for i, e in enumerate(events, start=1):
        rows.append("\t".join([str(i), "Spectrogram 1", "1", _t(e["start"]), _t(e["end"]),
                               "0.0", f"{high_freq:.1f}", _clean(e["label"]), f"{e['confidence']:.4f}"]))
    return ("\n".join(rows) + "\n").encode()


def per_file_outputs(rel: str, prediction_dict: dict, formats, high_freq: float) -> dict[str, bytes]:
    """{output path relative to OUT: bytes} of the per-file formats among `formats`."""
    events = prediction_dict["events"]
    out = {}
    for fmt in formats:
        if fmt == "json":
            data = json_bytes(rel, prediction_dict)
        elif fmt == "audacity":
            data = audacity_bytes(events)
        elif fmt == "raven":
            data = raven_bytes(events, high_freq)
        else:
            continue
        out[output_name(rel, fmt)] = data
    return out


# --- combined tables ----------------------------------------------------------------------

def _csv_bytes(header: list[str], rows) -> bytes:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(header)
    w.writerows(rows)
    return buf.getvalue().encode()


# A recorder's file name holding the time it started: AudioMoth 20240611_143000.WAV, Song
# Meter SITE_20240611_143000.wav, or 2024-06-11_14-30-00 / 2024-06-11T14:30:00.
_STAMPS = (re.compile(r"(?<!\d)(\d{4})(\d{2})(\d{2})[_T-]?(\d{2})(\d{2})(\d{2})(?!\d)"),
           re.compile(r"(?<!\d)(\d{4})-(\d{2})-(\d{2})[_T ](\d{2})[-:.]?(\d{2})[-:.]?(\d{2})(?!\d)"))


def recording_start(rel: str) -> datetime | None:
    """When the recording at `rel` started, from its file name (local time, as the recorder
    wrote it), or None when the name holds no date and time."""
    name = rel.rsplit("/", 1)[-1]
    for pattern in _STAMPS:
        for m in pattern.finditer(name):
            try:
                return datetime(*map(int, m.groups()))
            except ValueError:  # 8 + 6 digits that are no date
                continue
    return None


def events_csv_bytes(records) -> bytes:
    """records: (file, events) pairs, in order."""
    def row(f, e, t0):
        when = ["", ""] if t0 is None else [t0.isoformat(timespec="seconds"),
                                          (t0 + timedelta(seconds=float(e["start"]))).isoformat(timespec="milliseconds")]
        return [f, _t(e["start"]), _t(e["end"]), e["label"], f"{e['confidence']:.4f}", *when]

    return _csv_bytes(EVENT_COLUMNS, (row(f, e, t0) for f, events in records
                                      for t0 in [recording_start(f)] for e in events))


def combined_raven_bytes(records, root: Path) -> bytes:
    """records: (file, events, duration, high_freq) in order -> one Raven selection table of
    the whole run (Begin File: the audio's name; Begin Path: its path under IN)."""
    rows = ["\t".join(COMBINED_RAVEN_COLUMNS)]
    offset, i = 0.0, 0
    for rel, events, duration, high_freq in records:
        for e in events:
            i += 1
            rows.append("\t".join([str(i), "Spectrogram 1", "1", _t(offset + e["start"]), _t(offset + e["end"]),
                                   "0.0", f"{high_freq or DEFAULT_HIGH_FREQ:.1f}", _clean(e["label"]),
                                   f"{e['confidence']:.4f}", rel.rsplit("/", 1)[-1], str(root / rel),
                                   _t(e["start"])]))
        offset += float(duration or 0.0)
    return ("\n".join(rows) + "\n").encode()


def levels_csv_bytes(rows: list[dict], labels: list[str], unit: str) -> bytes:
    """A file's levels table (levels.interval_rows), the unit in every row."""
    from ..levels import LEVEL_COLUMNS

    shares = [f"share_{l}" for l in labels] + ["share_unlabelled"]
    return _csv_bytes(["start_s", "end_s", *LEVEL_COLUMNS, "unit", *shares],
                      ([r["start_s"], r["end_s"], *(r[k] for k in LEVEL_COLUMNS), unit, *(r[k] for k in shares)]
                       for r in rows))


def errors_csv_bytes(errors) -> bytes:
    """errors: (path, reason) pairs."""
    return _csv_bytes(ERROR_COLUMNS, ([p, " ".join(str(r).split())] for p, r in errors))


def embeddings_csv_bytes(records) -> bytes:
    """records: (file, npy path relative to OUT, [(start, end), ...]) triples."""
    return _csv_bytes(EMBEDDING_COLUMNS, ([f, npy, i, _t(s), _t(e)] for f, npy, windows in records
                                          for i, (s, e) in enumerate(windows)))


# --- readers ------------------------------------------------------------------------------

def read_audacity(path: str | Path) -> list[dict]:
    """An Audacity label track -> [{"start", "end", "label"}] (point labels: start == end;
    the frequency lines Audacity adds under a label, starting with a backslash, skipped)."""
    out = []
    for line in Path(path).read_text().splitlines():
        if not line.strip() or line.startswith("\\"):
            continue
        parts = line.split("\t")
        if len(parts) < 2:
            raise ValueError(f"{path}: not an Audacity label line: {line!r}")
        start = float(parts[0])
        end = float(parts[1]) if len(parts) > 2 else start
        label = parts[2] if len(parts) > 2 else parts[1]
        out.append({"start": start, "end": end, "label": label.strip()})
    return out


def read_raven(path: str | Path) -> list[dict]:
    """A Raven selection table -> its rows as dicts (times and frequencies as floats)."""
    lines = [l for l in Path(path).read_text().splitlines() if l.strip()]
    if not lines:
        return []
    header = lines[0].split("\t")
    rows = []
    for line in lines[1:]:
        row = dict(zip(header, line.split("\t")))
        for k in ("Begin Time (s)", "End Time (s)", "Low Freq (Hz)", "High Freq (Hz)", "Confidence"):
            if k in row:
                row[k] = float(row[k])
        rows.append(row)
    return rows


def read_events_csv(path: str | Path) -> list[dict]:
    """events.csv (or any CSV with file,start,end,label columns) -> rows with float times."""
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    for r in rows:
        r["start"], r["end"] = float(r["start"]), float(r["end"])
        if r.get("confidence") not in (None, ""):
            r["confidence"] = float(r["confidence"])
    return rows
