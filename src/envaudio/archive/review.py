"""Review to thresholds: cut detected events into short clips a person can check, then fit
per-class "unknown" thresholds from what they marked wrong.

    envaudio segments OUT --out SEGDIR --per-class 20     # SEGDIR/<label>/<conf>_<file>_<t>s.flac
    (move the wrong ones into SEGDIR/<label>/wrong/)
    envaudio thresholds SEGDIR --out thresholds.csv --precision 0.9
    envaudio analyze IN --out OUT2 --thresholds thresholds.csv

Why this way: a model's confidence means different things for different classes, and only
a person listening can say which detections are right. A few reviewed clips per class,
spread over the files and over the confidence range, show where in that range a class
stops being trustworthy. Per class, the probability that a detection is right is fitted
against its confidence (a logistic curve: two numbers, which 20 clips can pin down where a
histogram could not), and the threshold is the lowest confidence whose detections above it
are right as often as asked (their fitted probabilities averaged over the reviewed clips
at or above it, which were drawn to follow the detections' own spread of confidence).

The clip names start with the confidence (`0.734_site1__dawn.wav_812.0s.flac`), so a file
browser lists them from least to most sure; SEGDIR/segments.csv keeps each clip's event.
"""

from __future__ import annotations

import csv
import json
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import UserError
from .state import STATE_DIR

SEGMENTS_CSV = "segments.csv"
WRONG = "wrong"
SEGMENT_COLUMNS = ["segment", "label", "file", "start", "end", "confidence", "clip_start", "clip_end", "threshold"]


class ReviewError(UserError, ValueError):
    """A review folder or analysis output that cannot be used; one line says why."""


# --- segments ---------------------------------------------------------------------------

def read_run(out: str | Path) -> tuple[dict, list[dict]]:
    """An analyze OUT -> (its summary.json, [{"file", "duration", "events"}] of the files
    analysed), from the per-file records."""
    out = Path(out)
    files = out / STATE_DIR / "files"
    if not files.is_dir():
        raise ReviewError(f"{out}: not an `envaudio analyze` output folder (no {STATE_DIR}/ in it)")
    try:
        summary = json.loads((out / "summary.json").read_text())
    except (OSError, ValueError):
        summary = {}
    recs = []
    for p in sorted(files.rglob("*.json")):
        try:
            rec = json.loads(p.read_text())
        except (OSError, ValueError):
            continue
        if rec.get("status") == "ok":
            recs.append({"file": rec["file"], "duration": rec.get("duration") or 0.0, "events": rec.get("events") or []})
    return summary, recs


def pick(candidates: list[dict], n: int) -> list[dict]:
    """n of `candidates` (dicts with "file" and "confidence"), spread over the confidence
    range (one from each of n equal-count bins of the sorted confidences) and over files
    (in each bin, one from the file picked least so far; ties: nearest the bin's middle)."""
    cands = sorted(candidates, key=lambda c: (c["confidence"], c["file"], c["start"]))
    if len(cands) <= n:
        return cands
    used: dict[str, int] = {}
    chosen = []
    for idx in np.array_split(np.arange(len(cands)), n):
        mid = (idx[0] + idx[-1]) / 2
        k = min(idx, key=lambda i: (used.get(cands[i]["file"], 0), abs(i - mid), i))
        chosen.append(cands[k])
        used[cands[k]["file"]] = used.get(cands[k]["file"], 0) + 1
    return chosen


def _safe(text: str) -> str:
    return re.sub(r"[^\w.+-]+", "_", text.replace("/", "__"))


def segment_name(e: dict) -> str:
    return f"{e['confidence']:.3f}_{_safe(e['file'])}_{e['start']:.1f}s.flac"


def _read_clip(path: Path, start: float, end: float) -> tuple[np.ndarray, int]:
    """The audio of [start, end) s of `path` at its own rate, mono (reads only that part
    where soundfile can; other formats are decoded whole)."""
    import soundfile as sf

    try:
        info = sf.info(str(path))
        sr = int(info.samplerate)
        x, _ = sf.read(str(path), start=int(start * sr), stop=int(end * sr), dtype="float32", always_2d=True)
        return x.mean(axis=1), sr
    except Exception:
        from ..audio import load_audio

        sr = 22050
        x = load_audio(path, sr)
        return x[int(start * sr):int(end * sr)], sr


def cut_segments(out: str | Path, segdir: str | Path, per_class: int = 20, min_confidence: float = 0.0,
                 context: float = 1.0, max_seconds: float = 10.0, audio_root: str | Path | None = None,
                 labels: list[str] | None = None) -> dict[str, int]:
    """Write up to `per_class` clips of each class's detected events into SEGDIR/<label>/
    (FLAC, `context` s either side, at most `max_seconds` of the event) and
    SEGDIR/segments.csv; {label: clips written}."""
    import soundfile as sf

    segdir = Path(segdir)
    summary, recs = read_run(out)
    root = Path(audio_root or summary.get("input") or "")
    if not audio_root and not summary.get("input"):
        raise ReviewError(f"{out}/summary.json does not say where the audio is: give it with --audio IN")
    if not root.exists():
        raise ReviewError(f"the audio folder {root} is not there (moved?): give it with --audio IN")
    if (segdir / SEGMENTS_CSV).exists():
        raise ReviewError(f"--out {segdir}: holds segments already ({SEGMENTS_CSV}); a review in progress is "
                          "not overwritten: choose another folder")
    thresholds = summary.get("unknown_thresholds") or {}
    by_class: dict[str, list[dict]] = {}
    durations = {r["file"]: r["duration"] for r in recs}
    for r in recs:
        for e in r["events"]:
            if e["confidence"] >= min_confidence and (labels is None or e["label"] in labels):
                by_class.setdefault(e["label"], []).append({**e, "file": r["file"]})
    if not by_class:
        raise ReviewError(f"{out}: no detected events{f' with confidence >= {min_confidence:g}' if min_confidence else ''}"
                          " to review")
    rows, counts = [], {}
    root = root if root.is_dir() else root.parent  # IN was one file
    for label in sorted(by_class):
        for e in pick(by_class[label], per_class):
            a = max(0.0, e["start"] - context)
            b = min(durations.get(e["file"]) or e["end"] + context, min(e["end"], e["start"] + max_seconds) + context)
            src = root / e["file"]
            if not src.is_file():
                raise ReviewError(f"{src}: the analysed recording is not there (moved?): give IN with --audio")
            x, sr = _read_clip(src, a, b)
            name = segment_name(e)
            dest = segdir / _safe(label) / name
            dest.parent.mkdir(parents=True, exist_ok=True)
            (dest.parent / WRONG).mkdir(exist_ok=True)
            sf.write(str(dest), np.clip(x, -1, 1), sr, format="FLAC", subtype="PCM_16")
            rows.append([f"{_safe(label)}/{name}", label, e["file"], f"{e['start']:.3f}", f"{e['end']:.3f}",
                         f"{e['confidence']:.4f}", f"{a:.3f}", f"{b:.3f}",
                         "" if label not in thresholds else f"{thresholds[label]:.4f}"])
            counts[label] = counts.get(label, 0) + 1
    with open(segdir / SEGMENTS_CSV, "w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(SEGMENT_COLUMNS)
        w.writerows(rows)
    return counts


# --- thresholds ------------------------------------------------------------------------------

@dataclass
class Reviewed:
    label: str
    confidence: float
    right: bool
    threshold: float | None  # the class's threshold when it was analysed


def read_review(segdir: str | Path) -> list[Reviewed]:
    """What the reviewer decided: a clip still in SEGDIR/<label>/ is right, one moved into
    SEGDIR/<label>/wrong/ (or into any other folder) is wrong, a deleted one is left out."""
    segdir = Path(segdir)
    table = segdir / SEGMENTS_CSV
    if not segdir.is_dir():
        raise ReviewError(f"no such folder: {segdir}")
    if not table.is_file():
        raise ReviewError(f"{segdir}: no reviewed segments ({SEGMENTS_CSV} is missing: make the folder with "
                          "`envaudio segments`)")
    with open(table, newline="") as f:
        rows = list(csv.DictReader(f))
    where = {}
    for p in segdir.rglob("*.flac"):
        where.setdefault(p.name, []).append(p.relative_to(segdir))
    out = []
    for n, r in enumerate(rows, start=2):
        try:
            seg, conf = Path(r["segment"]), float(r["confidence"])
            thr = float(r["threshold"]) if r.get("threshold") else None
        except (KeyError, TypeError, ValueError):
            raise ReviewError(f"{table} line {n}: not a row of segment,label,...,confidence") from None
        found = where.get(seg.name, [])
        if not found:
            continue  # deleted: not reviewed
        right = any(p.parent == seg.parent for p in found)
        out.append(Reviewed(r["label"], conf, right, thr))
    if not out:
        raise ReviewError(f"{segdir}: no reviewed segments (every clip of {SEGMENTS_CSV} is gone)")
    return out


def fit_logistic(x: np.ndarray, y: np.ndarray, ridge: float = 1e-4, steps: int = 100) -> tuple[float, float]:
    """(a, b) of P(right | confidence x) = 1 / (1 + exp(-(a + b x))), by Newton's method
    with a ridge just large enough to keep the curve finite when the right and wrong clips
    are separated perfectly (a steep step there is what 20 clips say)."""
    X = np.stack([np.ones_like(x), x], axis=1).astype(np.float64)
    w = np.zeros(2)
    for _ in range(steps):
        p = 1 / (1 + np.exp(-(X @ w)))
        grad = X.T @ (p - y) + ridge * w
        hess = (X * (p * (1 - p))[:, None]).T @ X + ridge * np.eye(2)
        step = np.linalg.solve(hess, grad)
        w -= step
        if np.abs(step).max() < 1e-10:
            break
    return float(w[0]), float(w[1])


@dataclass
class ClassThreshold:
    label: str
    reviewed: int
    wrong: int
    before: float | None  # the threshold when analysed
    threshold: float | None  # None: too few reviewed clips, the class keeps its threshold
    precision: float | None  # estimated precision of the detections kept
    kept: float | None  # share of the reviewed clips at or above the threshold
    reached: bool = True


def fit_threshold(conf: np.ndarray, right: np.ndarray, target: float, floor: float = 0.0) -> tuple[float, float, bool]:
    """(threshold, estimated precision above it, whether `target` was reached): the lowest
    candidate (`floor` or a reviewed confidence) whose reviewed clips at or above it have a
    mean fitted probability of being right of at least `target`. Not reached: 1.0."""
    a, b = fit_logistic(conf, right.astype(np.float64))
    p = 1 / (1 + np.exp(-(a + b * conf)))
    for t in sorted({float(floor), *(float(c) for c in conf if c >= floor)}):
        above = conf >= t - 1e-12
        if above.any() and p[above].mean() >= target:
            return t, float(p[above].mean()), True
    return 1.0, float(p[conf >= conf.max()].mean()), False


def thresholds_from_review(reviewed: list[Reviewed], target: float = 0.9, min_reviewed: int = 5
                           ) -> list[ClassThreshold]:
    out = []
    for label in sorted({r.label for r in reviewed}):
        rs = [r for r in reviewed if r.label == label]
        conf = np.array([r.confidence for r in rs])
        right = np.array([r.right for r in rs])
        before = next((r.threshold for r in rs if r.threshold is not None), None)
        if len(rs) < min_reviewed:
            out.append(ClassThreshold(label, len(rs), int((~right).sum()), before, None, None, None))
            continue
        t, prec, reached = fit_threshold(conf, right, target, before or 0.0)
        out.append(ClassThreshold(label, len(rs), int((~right).sum()), before, t, prec,
                                  float((conf >= t - 1e-12).mean()), reached))
    return out
