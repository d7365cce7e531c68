"""Per-class unknown thresholds (thresholds.py): the file, the events and verdicts they
give, and --thresholds / --min-confidence in predict, analyze (the resume key, what the
outputs say) and the server's /config. Real audio: the bundled examples, whatever the
default model is (the tests read the class it hears and raise that class's threshold)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from conftest import EXAMPLES, run_cli
from envaudio.events import EventParams, window_labels, window_verdict
from envaudio.settings import Settings
from envaudio.thresholds import ThresholdsError, class_thresholds, parse_thresholds, read_thresholds

CLIP = EXAMPLES / "102871-8-0-0.flac"  # a siren, 4 s


@pytest.fixture(scope="module")
def clf():
    from envaudio.predict import load_classifier

    return load_classifier()


@pytest.fixture(scope="module")
def heard(clf):
    """The class the model hears in CLIP and its events (model-independent tests)."""
    pred = clf.classify_file(CLIP)
    assert pred.events, "the example clip should give an event"
    return pred.events[0].label, pred


def test_parse_csv_json_and_errors(tmp_path):
    assert parse_thresholds("label,threshold\nsiren,0.6\n# a note\n\ndog_bark, 0.8\n") == {"siren": 0.6, "dog_bark": 0.8}
    assert parse_thresholds('{"siren": 0.6}') == {"siren": 0.6}
    for text, words in (("siren,0.6\ndog_bark,high\n", "line 2"), ("siren\n", "line 1"),
                        ("siren,1.5\n", "[0, 1]"), ("siren,0.5\nsiren,0.6\n", "twice")):
        with pytest.raises(ThresholdsError, match=words.replace("[", r"\[").replace("]", r"\]")):
            parse_thresholds(text, "t.csv")
    f = tmp_path / "t.csv"
    f.write_text("siren,0.6\n")
    assert read_thresholds(str(f)) == {"siren": 0.6}
    f.write_text("siren,0.7\n")  # a changed file is read again
    assert read_thresholds(str(f)) == {"siren": 0.7}
    labels = ["dog_bark", "siren"]
    assert class_thresholds(labels, 0.4, str(f)) == (0.4, 0.7)
    assert class_thresholds(labels, 0.4, str(f), floor=0.5) == (0.5, 0.7)
    assert class_thresholds(labels, 0.4, "", floor=0.5) == 0.5  # the one-number path
    assert class_thresholds(labels, 0.4) == 0.4
    with pytest.raises(ThresholdsError, match="'car horn' is not one of the model's classes"):
        class_thresholds(labels, 0.4, '{"car horn": 0.5}')


def test_window_labels_and_verdicts_per_class():
    probs = np.array([[0.6, 0.3, 0.1], [0.2, 0.6, 0.2], [0.1, 0.1, 0.8]])
    assert window_labels(probs, 0.5).tolist() == [0, 1, 2]
    assert window_labels(probs, (0.7, 0.5, 0.9)).tolist() == [-1, 1, -1]
    assert window_labels(probs, np.array([0.5, 0.7, 0.5])).tolist() == [0, -1, 2]
    s = Settings()
    p = EventParams.from_settings(s.replace(thresholds='{"b": 0.7}'), 0.5, ["a", "b", "c"])
    assert p.unknown_threshold == (0.5, 0.7, 0.5)
    assert window_verdict(-20.0, 0.6, p, 0) == "sound" and window_verdict(-20.0, 0.6, p, 1) == "unknown"
    assert window_verdict(-90.0, 0.9, p, 0) == "silence"
    one = EventParams.from_settings(s, 0.5, ["a", "b", "c"])
    assert one.unknown_threshold == 0.5 and window_verdict(-20.0, 0.45, one) == "unknown"
    assert EventParams.from_settings(s.replace(min_confidence=0.8), 0.5, ["a"]).unknown_threshold == 0.8


def test_a_class_threshold_silences_that_class_only(clf, heard, tmp_path):
    label, pred = heard
    f = tmp_path / "t.csv"
    others = [l for l in clf.labels if l != label]
    f.write_text(f"{others[0]},0.99\n")
    from envaudio.predict import Classifier

    same = Classifier(clf.model, clf.settings.replace(thresholds=str(f))).classify_file(CLIP)
    assert [e.to_dict() for e in same.events] == [e.to_dict() for e in pred.events]
    f.write_text(f"label,threshold\n{label},1.0\n")
    off = Classifier(clf.model, clf.settings.replace(thresholds=str(f))).classify_file(CLIP)
    assert all(e.label != label for e in off.events)
    assert all(w.verdict != "sound" or w.label != label for w in off.windows)
    floor = Classifier(clf.model, clf.settings.replace(min_confidence=1.0)).classify_file(CLIP)
    assert not floor.events and floor.verdict == "unknown"


def test_predict_options_and_bad_files(heard, tmp_path):
    label, _ = heard
    f = tmp_path / "t.csv"
    f.write_text(f"{label},1.0\n")
    r = run_cli("predict", CLIP, "--thresholds", f, "--json", "-")
    assert r.returncode == 0, r.stderr
    assert "per-class thresholds from" in r.stderr
    doc = json.loads(r.stdout)[0]
    assert all(e["label"] != label for e in doc["events"]) and doc["unknown_thresholds"][label] == 1.0
    for text, words in ((f"{label},0.5\n{label},lots\n", "t.csv line 2"), ("not a class,0.5\n", "'not a class'")):
        f.write_text(text)
        r = run_cli("predict", CLIP, "--thresholds", f)
        assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr
        assert words in r.stderr.strip().splitlines()[-1]
    r = run_cli("predict", CLIP, "--thresholds", tmp_path / "missing.csv")
    assert r.returncode == 2 and "no such file" in r.stderr
    r = run_cli("predict", CLIP, "--min-confidence", "2")
    assert r.returncode == 2 and "--min-confidence" in r.stderr


def test_analyze_resumes_on_the_thresholds_contents(heard, tmp_path):
    from envaudio.archive import analyze

    label, _ = heard
    src, out = tmp_path / "in", tmp_path / "out"
    src.mkdir()
    shutil.copy(CLIP, src / "20240611_143000.flac")
    f = tmp_path / "t.csv"
    f.write_text("label,threshold\n")  # no class named: the one-number path
    s = Settings()
    first = analyze(src, out, "csv,json", progress=False)
    assert first.analysed == 1
    events = json.loads((out / "20240611_143000.flac.json").read_text())["events"]
    assert any(e["label"] == label for e in events)
    f.write_text(f"label,threshold\n{label},1.0\n")
    again = analyze(src, out, "csv,json", progress=False, settings=s.replace(thresholds=str(f)))
    assert again.analysed == 1  # new thresholds: analysed again
    doc = json.loads((out / "20240611_143000.flac.json").read_text())
    assert doc["unknown_thresholds"][label] == 1.0 and all(e["label"] != label for e in doc["events"])
    summary = json.loads((out / "summary.json").read_text())
    assert summary["thresholds"] == {label: 1.0} and summary["unknown_thresholds"][label] == 1.0
    assert summary["input"] == str(src.resolve())
    assert analyze(src, out, "csv,json", progress=False, settings=s.replace(thresholds=str(f))).skipped == 1
    f.write_text(f"{label},1.0\n")  # the same contents, written differently: nothing to redo
    assert analyze(src, out, "csv,json", progress=False, settings=s.replace(thresholds=str(f))).skipped == 1
    f.write_text(f"{label},0.0\n")  # changed: analysed again
    assert analyze(src, out, "csv,json", progress=False, settings=s.replace(thresholds=str(f))).analysed == 1
    r = run_cli("analyze", src, "--out", out, "--thresholds", f, "--quiet")
    assert r.returncode == 0, r.stderr
    f.write_text("not a class,0.5\n")
    r = run_cli("analyze", src, "--out", out, "--thresholds", f)
    assert r.returncode == 2 and "'not a class'" in r.stderr and "Traceback" not in r.stderr


def test_combined_raven_table_and_recording_times(heard, tmp_path):
    """Two recordings named by their start (AudioMoth style) and one not: events.csv gives
    each event's time of day, selections.txt every event with its file, Begin Time running
    on across the files."""
    from envaudio.archive import analyze, read_events_csv, read_raven

    src, out = tmp_path / "in", tmp_path / "out"
    (src / "site").mkdir(parents=True)
    shutil.copy(CLIP, src / "site" / "20240611_143000.flac")
    shutil.copy(CLIP, src / "site" / "SM4_20240611_235958.flac")
    shutil.copy(CLIP, src / "plain.flac")
    analyze(src, out, "csv,raven", progress=False)
    rows = read_events_csv(out / "events.csv")
    by_file = {}
    for r in rows:
        by_file.setdefault(r["file"], []).append(r)
    assert set(by_file) == {"plain.flac", "site/20240611_143000.flac", "site/SM4_20240611_235958.flac"}
    assert all(r["recording_start"] == "" and r["event_start"] == "" for r in by_file["plain.flac"])
    first = by_file["site/20240611_143000.flac"][0]
    assert first["recording_start"] == "2024-06-11T14:30:00"
    from datetime import datetime, timedelta

    late = by_file["site/SM4_20240611_235958.flac"][0]
    want = datetime(2024, 6, 11, 23, 59, 58) + timedelta(seconds=late["start"])
    assert late["event_start"] == want.isoformat(timespec="milliseconds")  # across midnight where it is
    table = read_raven(out / "selections.txt")
    assert [t["Selection"] for t in table] == [str(i) for i in range(1, len(rows) + 1)]
    files = ["plain.flac", "site/20240611_143000.flac", "site/SM4_20240611_235958.flac"]
    duration = 4.0
    for t in table:
        k = files.index(next(f for f in files if f.endswith(t["Begin File"]) and t["Begin Path"].endswith(f)))
        assert Path(t["Begin Path"]) == src.resolve() / files[k]
        assert t["Begin Time (s)"] == pytest.approx(k * duration + float(t["File Offset (s)"]), abs=1e-3)
    assert len(table) == len(rows)


def test_server_config_says_the_thresholds(clf, heard, tmp_path):
    pytest.importorskip("fastapi")
    from fastapi.testclient import TestClient

    from envaudio.predict import Classifier
    from envaudio.server import create_app, schemas

    label, _ = heard
    f = tmp_path / "t.csv"
    f.write_text(f"{label},0.97\n")
    s = clf.settings.replace(thresholds=str(f), min_confidence=0.2)
    with TestClient(create_app(s, Classifier(clf.model, s)), base_url="http://localhost") as c:
        cfg = c.get("/config").json()
        schemas.ConfigResponse.model_validate(cfg)
        assert cfg["unknown_thresholds"][label] == pytest.approx(0.97)
        base = clf.event_params.threshold_of()
        assert all(v == pytest.approx(max(base, 0.2)) for k, v in cfg["unknown_thresholds"].items() if k != label)
        assert cfg["unknown_threshold"] == pytest.approx(min(cfg["unknown_thresholds"].values()))
        assert str(f) in cfg["thresholds_source"] and "0.2" in cfg["thresholds_source"]
    with TestClient(create_app(clf.settings, clf), base_url="http://localhost") as c:
        cfg = c.get("/config").json()
        assert cfg["thresholds_source"] is None and len(set(cfg["unknown_thresholds"].values())) == 1
