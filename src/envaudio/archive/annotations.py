"""Event annotations read from what people and programs write: Audacity label tracks,
Raven selection tables, CSV (`file,start,end,label` for many files, or `start,end,label`
for one), `envaudio analyze`'s per-file JSON, or a whole `analyze` output folder.

Why here, beside the archive: `envaudio evaluate-events` scores an archive's events
against a person's annotations, and the two sides come as folders whose file names mirror
each other (`site1/dawn.wav` -> `site1/dawn.wav.labels.txt` from analyze, `site1/dawn.txt`
from Audacity). A file's *key* is its path relative to the folder with the annotation
suffix and then the audio extension stripped (`site1/dawn`), so the two sides meet.

A file that does not parse is an AnnotationError naming the file and the line: a
reference with one bad line must not be scored as if it had one event fewer.
"""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

from ..errors import UserError
from ..fileio import AUDIO_EXTS

ANNOTATION_EXTS = (".txt", ".csv", ".json", ".tsv")
RAVEN_LABEL_COLUMNS = ("Label", "Annotation", "Class", "Common Name", "Species")
# analyze's own tables, not annotations of one recording
SKIP_NAMES = {"summary.json", "errors.csv", "embeddings.csv", "segments.csv", "selections.txt"}
_RAVEN_TABLE = re.compile(r"\.Table\.\d+$")  # Raven's default "x.Table.1.selections.txt"


class AnnotationError(UserError, ValueError):
    """An annotation file or folder that cannot be read; the message names the file (and line)."""


def file_key(rel: str) -> str:
    """'site1/dawn.wav.labels.txt' -> 'site1/dawn' (see the module's docstring)."""
    name = rel
    for suffix in (".selections.txt", ".labels.txt", ".txt", ".tsv", ".csv", ".json"):
        if name.lower().endswith(suffix):
            name = name[: -len(suffix)]
            break
    name = _RAVEN_TABLE.sub("", name)
    for ext in AUDIO_EXTS:
        if name.lower().endswith(ext):
            return name[: -len(ext)]
    return name


def audio_key(rel: str) -> str:
    """The key of an audio file's path ('site1/dawn.wav' -> 'site1/dawn')."""
    for ext in AUDIO_EXTS:
        if rel.lower().endswith(ext):
            return rel[: -len(ext)]
    return rel


def _event(path, line: int, start, end, label) -> dict:
    try:
        a, b = float(start), float(end)
    except (TypeError, ValueError):
        raise AnnotationError(f"{path} line {line}: start and end must be numbers (seconds), "
                              f"got {start!r} and {end!r}") from None
    if not (a == a and b == b) or a < 0 or b < a:  # NaN, negative, or ending before it starts
        raise AnnotationError(f"{path} line {line}: an event from {a} s to {b} s (needs 0 <= start <= end)")
    label = " ".join(str(label or "").split())
    if not label:
        raise AnnotationError(f"{path} line {line}: the event has no label")
    return {"onset": a, "offset": b, "event_label": label}


def _text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as e:
        raise AnnotationError(f"{path}: not a text file ({e.reason})") from None


def read_audacity(path: Path) -> list[dict]:
    """start<TAB>end<TAB>label per line; Audacity's frequency lines (a backslash first) skipped."""
    out = []
    for n, line in enumerate(_text(path).splitlines(), start=1):
        if not line.strip() or line.startswith("\\"):
            continue
        parts = line.split("\t")
        if len(parts) < 3:
            parts = line.split()
            parts = parts[:2] + [" ".join(parts[2:])] if len(parts) >= 3 else parts
        if len(parts) < 3:
            raise AnnotationError(f"{path} line {n}: expected start<TAB>end<TAB>label (an Audacity label "
                                  f"track), got {line[:80]!r}")
        out.append(_event(path, n, parts[0], parts[1], parts[2]))
    return out


def read_raven(path: Path) -> list[dict]:
    """A Raven selection table: Begin Time (s), End Time (s) and the first label column of
    RAVEN_LABEL_COLUMNS. Waveform rows that duplicate a spectrogram selection are skipped."""
    lines = _text(path).splitlines()
    header = lines[0].split("\t")
    need = ["Begin Time (s)", "End Time (s)"]
    missing = [c for c in need if c not in header]
    label_col = next((c for c in RAVEN_LABEL_COLUMNS if c in header), None)
    if missing or label_col is None:
        raise AnnotationError(f"{path} line 1: a Raven selection table needs the columns Begin Time (s), "
                              f"End Time (s) and one of {', '.join(RAVEN_LABEL_COLUMNS)}")
    out, seen = [], set()
    for n, line in enumerate(lines[1:], start=2):
        if not line.strip():
            continue
        row = dict(zip(header, line.split("\t")))
        if len(row) < len(header) and label_col not in row:
            raise AnnotationError(f"{path} line {n}: {len(line.split(chr(9)))} columns where the header has "
                                  f"{len(header)}")
        sel = row.get("Selection")
        if sel is not None and sel in seen:  # the same selection in another view
            continue
        seen.add(sel)
        out.append(_event(path, n, row.get(need[0]), row.get(need[1]), row.get(label_col)))
    return out


def read_csv_rows(path: Path) -> list[tuple[str | None, dict]]:
    """(file or None, event) per row of a CSV with start, end, label (and optionally file)
    columns, as analyze's events.csv."""
    with open(path, newline="", encoding="utf-8-sig") as f:
        reader = csv.reader(f)
        try:
            header = [h.strip().lower() for h in next(reader)]
        except StopIteration:
            return []
        cols = {name: header.index(name) for name in ("file", "start", "end", "label") if name in header}
        if not {"start", "end", "label"} <= set(cols):
            raise AnnotationError(f"{path} line 1: a CSV of events needs the columns start, end and label "
                                  f"(and file, for several recordings); found {', '.join(header) or 'none'}")
        out = []
        for n, row in enumerate(reader, start=2):
            if not any(c.strip() for c in row):
                continue
            if len(row) < len(header):
                raise AnnotationError(f"{path} line {n}: {len(row)} fields where the header has {len(header)}")
            ev = _event(path, n, row[cols["start"]], row[cols["end"]], row[cols["label"]])
            out.append((row[cols["file"]] if "file" in cols else None, ev))
    return out


def read_json(path: Path) -> list[dict]:
    """analyze's per-file JSON (its "events")."""
    try:
        doc = json.loads(_text(path))
        events = doc["events"]
        return [_event(path, k + 1, e["start"], e["end"], e["label"]) for k, e in enumerate(events)]
    except AnnotationError:
        raise
    except (ValueError, KeyError, TypeError) as e:
        raise AnnotationError(f"{path}: not envaudio's per-file JSON (no events list: {e})") from None


def read_file(path: Path) -> list[dict]:
    """One recording's events, whatever the format (by extension and first line)."""
    suffix = path.suffix.lower()
    if suffix == ".json":
        return read_json(path)
    if suffix == ".csv":
        rows = read_csv_rows(path)
        files = {f for f, _ in rows if f}
        if len(files) > 1:
            raise AnnotationError(f"{path}: holds events of several files ({len(files)}); give it as the "
                                  "folder argument itself, not inside a folder")
        return [e for _, e in rows]
    text = _text(path)
    first = text.splitlines()[0] if text.strip() else ""
    if "Begin Time (s)" in first:
        return read_raven(path)
    return read_audacity(path)


def _analyze_output(root: Path) -> dict[str, list[dict]] | None:
    """The events of an `analyze` output folder, by key, from its per-file records."""
    files = root / ".envaudio-analyze" / "files"
    if not files.is_dir():
        return None
    out = {}
    for p in sorted(files.rglob("*.json")):
        try:
            rec = json.loads(p.read_text())
        except (OSError, ValueError):
            continue
        if rec.get("status") != "ok":
            continue
        rel = rec.get("file") or p.relative_to(files).as_posix()[:-5]
        out[audio_key(rel)] = [_event(p, k + 1, e["start"], e["end"], e["label"])
                               for k, e in enumerate(rec.get("events") or [])]
    return out


# which file of one recording to read when there are several (analyze writes up to three)
_PRIORITY = (".json", ".selections.txt", ".labels.txt", ".csv", ".txt", ".tsv")


def _priority(name: str) -> int:
    low = name.lower()
    return next((k for k, s in enumerate(_PRIORITY) if low.endswith(s)), len(_PRIORITY))


def read_folder(src: str | Path) -> dict[str, list[dict]]:
    """Every recording's events under `src`, by key: a folder of annotation files (mirrored
    names), an `analyze` output folder, or one CSV with a file column."""
    root = Path(src)
    if not root.exists():
        raise AnnotationError(f"no such file or folder: {root}")
    if root.is_file():
        if root.suffix.lower() == ".csv":
            rows = read_csv_rows(root)
            if rows and all(f for f, _ in rows):
                out: dict[str, list[dict]] = {}
                for f, e in rows:
                    out.setdefault(audio_key(f), []).append(e)
                return out
        return {file_key(root.name): read_file(root)}
    found = _analyze_output(root)
    if found is not None:
        return found
    chosen: dict[str, Path] = {}
    for p in sorted(root.rglob("*")):
        if not p.is_file() or p.suffix.lower() not in ANNOTATION_EXTS or p.name in SKIP_NAMES:
            continue
        if any(part.startswith(".") for part in p.relative_to(root).parts):
            continue
        key = file_key(p.relative_to(root).as_posix())
        if key not in chosen or _priority(p.name) < _priority(chosen[key].name):
            chosen[key] = p
    if not chosen:
        raise AnnotationError(f"{root}: no annotation files (Audacity .txt, Raven .selections.txt, .csv, "
                              "analyze's .json) in it or its subfolders")
    return {key: sorted(read_file(p), key=lambda e: (e["onset"], e["offset"])) for key, p in chosen.items()}
