"""Results for people and spreadsheets: the one-line answer, the event table, the CSVs."""

from __future__ import annotations

import csv
import sys


def headline(pred) -> str:
    """One line for a person: the sounds heard, or that nothing (recognisable) was."""
    if pred.verdict == "silence":
        return f"nothing heard (silence, {pred.level_dbfs:.0f} dBFS)"
    if pred.verdict == "unknown":
        return f"not sure (best guess {pred.top_label} {pred.top_confidence:.2f})"
    heard = pred.heard
    if len(pred.windows) <= 1 and len(heard) == 1:
        return f"{heard[0].label} ({pred.top_confidence:.2f})"
    if not heard:
        return f"nothing heard confidently (best guess {pred.top_label} {pred.top_confidence:.2f})"
    # The classes heard, longest first, with their time: the file's answer is the first.
    return (f"{len(pred.events)} sound event(s): "
            + ", ".join(f"{h.label} {h.seconds:.1f} s" for h in heard))


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
    """One row per window (a short file has one window), with every class's probability."""
    f = sys.stdout if out == "-" else open(out, "w", newline="")
    try:
        w = csv.writer(f)
        w.writerow(["file", "window_start", "window_end", "label", "confidence", *labels, "error"])
        for r in results:
            if "error" in r:
                w.writerow([r["file"], "", "", "", "", *[""] * len(labels), r["error"]])
                continue
            for win in r["windows"]:
                w.writerow([r["file"], win["window_start"], win["window_end"], win["label"],
                            f"{win['confidence']:.4f}", *[f"{win['probabilities'][l]:.4f}" for l in labels], ""])
    finally:
        if f is not sys.stdout:
            f.close()
