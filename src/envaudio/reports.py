"""Results for people and spreadsheets: the one-line answer, the event table, the CSVs."""

from __future__ import annotations

import csv
import sys


def headline(pred) -> str:
    """One line for a person, the answer first: the class heard longest (the API's
    `top_prediction`) with its confidence, then the other classes heard; or why there is
    none. The windows' average is not the answer; it is printed apart, in brackets."""
    top = pred.top_prediction
    if top is None:
        if pred.verdict == "silence":
            return f"nothing heard (silence, {pred.level_dbfs:.0f} dBFS)"
        # not sure: no class was heard confidently; the average's best guess, said as such
        return f"not sure: {pred.top_prediction_reason} (best guess {pred.average_label} {pred.average_confidence:.2f})"
    if len(pred.windows) <= 1 and len(pred.heard) == 1:
        return f"{top.label} ({top.confidence:.2f})"
    line = f"{top.label} {top.seconds:.1f} s ({top.confidence:.2f})"
    others = pred.heard[1:]
    return line + ("; also " + ", ".join(f"{h.label} {h.seconds:.1f} s" for h in others) if others else "")


def window_line(w) -> str:
    """A window of the timeline as the web app says it: its class, "not sure, best
    guess X" below the unknown threshold, or "silence"."""
    if w.verdict == "silence" or w.label is None:
        return f"    {w.start:7.1f}-{w.end:7.1f} s  silence"
    guess = f"{w.label} ({w.confidence:.2f})"
    return f"    {w.start:7.1f}-{w.end:7.1f} s  {'not sure, best guess ' if w.verdict == 'unknown' else ''}{guess}"


def format_events(pred) -> str:
    """The event table (start, end, label, confidence), indented under the file's line."""
    if not pred.events:
        return f"    no events ({pred.verdict}, level {pred.level_dbfs:.0f} dBFS)"
    rows = [f"    {'start':>7} {'end':>7}  {'label':<18} confidence"]
    rows += [f"    {e.start:7.1f} {e.end:7.1f}  {e.label:<18} {e.confidence:.2f}" for e in pred.events]
    return "\n".join(rows)


def write_events_csv(results: list[dict], out: str) -> None:
    """One row per event; a file without events gets one row with its verdict."""
    f = sys.stdout if out == "-" else open(out, "w", newline="")
    try:
        w = csv.writer(f)
        w.writerow(["file", "verdict", "level_dbfs", "start", "end", "label", "confidence", "error"])
        for r in results:
            if "error" in r:
                w.writerow([r["file"], "", "", "", "", "", "", r["error"]])
                continue
            head = [r["file"], r["verdict"], r["level_dbfs"]]
            for e in r["events"] or [None]:
                w.writerow(head + ([e["start"], e["end"], e["label"], f"{e['confidence']:.4f}"] if e else
                                   ["", "", "", ""]) + [""])
    finally:
        if f is not sys.stdout:
            f.close()


def write_predictions_csv(results: list[dict], labels: list[str], out: str) -> None:
    """One row per window (a short file has one window), with every class's probability.
    `verdict` is the window's ("sound", "unknown": the label is a guess under the
    threshold, "silence": no label), as the JSON and the web app say it."""
    f = sys.stdout if out == "-" else open(out, "w", newline="")
    try:
        w = csv.writer(f)
        w.writerow(["file", "window_start", "window_end", "label", "confidence", "verdict", *labels, "error"])
        for r in results:
            if "error" in r:
                w.writerow([r["file"], "", "", "", "", "", *[""] * len(labels), r["error"]])
                continue
            for win in r["windows"]:
                w.writerow([r["file"], win["window_start"], win["window_end"], win["label"],
                            f"{win['confidence']:.4f}", win["verdict"],
                            *[f"{win['probabilities'][l]:.4f}" for l in labels], ""])
    finally:
        if f is not sys.stdout:
            f.close()
