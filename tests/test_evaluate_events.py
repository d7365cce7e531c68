"""`envaudio evaluate-events`: a hand-worked case (annotations written as Audacity, Raven
and CSV files, scored through the command), the same figures from sed_eval when it is
installed (envaudio[eval]; ./test.sh installs it), and bad input."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from conftest import run_cli
from envaudio.archive.scoring import score

RAVEN_HEADER = "Selection\tView\tChannel\tBegin Time (s)\tEnd Time (s)\tLow Freq (Hz)\tHigh Freq (Hz)\tAnnotation\n"


def write_case(root):
    """Two recordings. site/A: dog_bark 1-2, siren 3-8, car_horn 10-10.5 (Audacity);
    B: siren 0-4 (a Raven table with a waveform row that repeats the selection).
    Predicted (one CSV of file,start,end,label): A: dog_bark 1.3-2.4 (a hit), siren
    3.6-7.0 (onset 0.6 s late: a miss at a 0.5-s collar), dog_bark 10.2-10.6 (on the car
    horn: a substitution), siren 12-13 (an insertion); B: siren 0.4-5.5 (a hit: its offset
    is 1.5 s late, within half the 4-s event)."""
    (root / "ref" / "site").mkdir(parents=True)
    (root / "pred").mkdir()
    (root / "ref" / "site" / "A.txt").write_text("1.0\t2.0\tdog_bark\n\\\t500\t2000\n3\t8\tsiren\n10.0\t10.5\tcar_horn\n")
    (root / "ref" / "B.Table.1.selections.txt").write_text(
        RAVEN_HEADER + "1\tSpectrogram 1\t1\t0.0\t4.0\t0\t8000\tsiren\n1\tWaveform 1\t1\t0.0\t4.0\t0\t8000\tsiren\n")
    (root / "pred" / "events.csv").write_text(
        "file,start,end,label,confidence\nsite/A.wav,1.3,2.4,dog_bark,0.9\nsite/A.wav,3.6,7.0,siren,0.8\n"
        "site/A.wav,10.2,10.6,dog_bark,0.7\nsite/A.wav,12,13,siren,0.6\nB.flac,0.4,5.5,siren,0.9\n")
    return root / "ref", root / "pred" / "events.csv"


# Worked by hand (the module docstring of write_case says which event is what).
# Event-based, collar 0.5 s, offsets within max(0.5 s, half the length):
#   overall: Nref 4, Nsys 5, 2 hits, 1 substitution, 1 deletion (siren 3-8), 2 insertions
#   (siren 3.6-7 and 12-13): P 2/5, R 2/4, F 4/9, ER (1 + 1 + 2) / 4 = 1.
#   dog_bark: 1 ref, 2 sys, 1 hit: P 1/2, R 1, F 2/3, ER (0 + 1) / 1
#   siren: 2 ref, 3 sys, 1 hit: P 1/3, R 1/2, F 2/5, ER (1 + 2) / 2
#   car_horn: 1 ref, 0 sys: P undefined, R 0, F undefined, ER 1
# Segment-based, 1 s (a segment is active where an event overlaps it: floor(onset) to
# ceil(offset)): A has 13 segments, B 6.
#   A ref: dog 1; siren 3-7; horn 10.  A sys: dog 1, 2, 10; siren 3-6, 12.
#   B ref: siren 0-3.  B sys: siren 0-5.
#   overall: tp 1 + 4 + 4 = 9, Nref 1 + 5 + 1 + 4 = 11, Nsys 3 + 5 + 6 = 14; S 1 (segment 10),
#   D 1 (segment 7), I 1 + 1 + 2 = 4 (segments 2 and 12 of A, 4 and 5 of B):
#   P 9/14, R 9/11, F 18/25, ER 6/11.
#   dog_bark: tp 1, ref 1, sys 3: P 1/3, R 1, F 1/2, ER 2.  siren: tp 8, ref 9, sys 11:
#   F 16/20, ER (1 + 3) / 9.  car_horn: ref 1: R 0, ER 1.
HAND = {
    "event": {"overall": {"precision": 2 / 5, "recall": 2 / 4, "f_measure": 4 / 9, "error_rate": 1.0,
                          "substitution_rate": 1 / 4, "deletion_rate": 1 / 4, "insertion_rate": 2 / 4},
              "dog_bark": {"precision": 1 / 2, "recall": 1.0, "f_measure": 2 / 3, "error_rate": 1.0},
              "siren": {"precision": 1 / 3, "recall": 1 / 2, "f_measure": 2 / 5, "error_rate": 3 / 2},
              "car_horn": {"precision": None, "recall": 0.0, "f_measure": None, "error_rate": 1.0},
              "class_wise_average": {"f_measure": (2 / 3 + 2 / 5) / 2, "precision": (1 / 2 + 1 / 3) / 2,
                                     "recall": (1 + 1 / 2 + 0) / 3, "error_rate": (1 + 3 / 2 + 1) / 3}},
    "segment": {"overall": {"precision": 9 / 14, "recall": 9 / 11, "f_measure": 18 / 25, "error_rate": 6 / 11,
                            "substitution_rate": 1 / 11, "deletion_rate": 1 / 11, "insertion_rate": 4 / 11},
                "dog_bark": {"precision": 1 / 3, "recall": 1.0, "f_measure": 1 / 2, "error_rate": 2.0},
                "siren": {"precision": 8 / 11, "recall": 8 / 9, "f_measure": 16 / 20, "error_rate": 4 / 9},
                "car_horn": {"precision": None, "recall": 0.0, "f_measure": None, "error_rate": 1.0},
                "class_wise_average": {"f_measure": (1 / 2 + 16 / 20) / 2, "error_rate": (2 + 4 / 9 + 1) / 3}},
}


def close(a, b, tol=1e-6) -> bool:
    if a is None or b is None or (isinstance(a, float) and math.isnan(a)) or (isinstance(b, float) and math.isnan(b)):
        return (a is None or math.isnan(a)) and (b is None or math.isnan(b))
    return abs(a - b) <= tol


def evaluate(ref, pred, *extra):
    r = run_cli("evaluate-events", "--reference", ref, "--predictions", pred, "--json", "-", *extra)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def test_hand_worked_case(tmp_path):
    ref, pred = write_case(tmp_path)
    got = evaluate(ref, pred)
    assert got["files"] == 2
    for kind, want in HAND.items():
        for name, figures in want.items():
            have = got[kind][name] if name in ("overall", "class_wise_average") else got[kind]["class_wise"][name]
            for k, v in figures.items():
                assert close(have[k], v), (kind, name, k, have[k], v)
    # The table names every class and the two averages.
    r = run_cli("evaluate-events", "--reference", ref, "--predictions", pred)
    assert r.returncode == 0
    assert all(w in r.stdout for w in ("dog_bark", "siren", "car_horn", "overall (micro)", "class average (macro)"))


def flat(d, path=""):
    if isinstance(d, dict):
        for k, v in d.items():
            if k not in ("params", "backend"):
                yield from flat(v, f"{path}/{k}")
    elif isinstance(d, (int, float)) or d is None:
        yield path, d


def assert_same(a: dict, b: dict) -> None:
    fa, fb = dict(flat(a)), dict(flat(b))
    assert fa.keys() == fb.keys()
    bad = [(k, fa[k], fb[k]) for k in fa if not close(fa[k], fb[k])]
    assert not bad, bad[:5]


def test_sed_eval_gives_the_same_figures(tmp_path):
    pytest.importorskip("sed_eval")
    ref, pred = write_case(tmp_path)
    assert_same(evaluate(ref, pred), evaluate(ref, pred, "--backend", "sed_eval"))


def test_sed_eval_agrees_on_random_cases():
    """Many files of overlapping events, near misses of every collar, substitutions."""
    pytest.importorskip("sed_eval")
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from envaudio.archive.scoring import score_with_sed_eval

    labels = ["a", "b", "c"]
    rng = np.random.default_rng(0)

    def events(n):
        out = []
        for _ in range(n):
            on = round(float(rng.uniform(0, 30)), 2)
            out.append({"onset": on, "offset": round(on + float(rng.uniform(0.2, 5)), 2),
                        "event_label": labels[rng.integers(3)]})
        return sorted(out, key=lambda e: e["onset"])

    for _ in range(40):
        pairs = []
        for _ in range(3):
            ref = events(rng.integers(0, 8))
            est = [dict(e, onset=round(e["onset"] + float(rng.normal(0, 0.3)), 2),
                        offset=round(e["offset"] + float(rng.normal(0, 0.5)), 2),
                        event_label=e["event_label"] if rng.random() < 0.7 else labels[rng.integers(3)])
                   for e in ref if rng.random() < 0.8]
            pairs.append((ref, sorted(est + events(rng.integers(0, 3)), key=lambda e: e["onset"])))
        for collar in (0.2, 0.5):
            assert_same(score(pairs, labels, collar), score_with_sed_eval(pairs, labels, collar))


# --- bad input: one line, exit 2, no traceback ---------------------------------------------

def one_line_error(r, *words):
    assert r.returncode == 2, (r.returncode, r.stdout, r.stderr)
    assert "Traceback" not in r.stderr
    lines = [l for l in r.stderr.splitlines() if l.startswith("envaudio evaluate-events: error")]
    assert len(lines) == 1, r.stderr
    for w in words:
        assert w in lines[0], (w, lines[0])


def test_unparseable_annotation_names_file_and_line(tmp_path):
    ref, pred = write_case(tmp_path)
    (ref / "site" / "A.txt").write_text("1.0\t2.0\tdog_bark\n3\teight\tsiren\n")
    one_line_error(run_cli("evaluate-events", "--reference", ref, "--predictions", pred), "A.txt line 2", "numbers")
    (ref / "site" / "A.txt").write_text("1.0\t2.0\tdog_bark\njust words\n")
    one_line_error(run_cli("evaluate-events", "--reference", ref, "--predictions", pred), "A.txt line 2")
    (ref / "site" / "A.txt").write_text("1.0\t2.0\tdog_bark\n")
    (tmp_path / "pred" / "events.csv").write_text("file,begin,label\nx.wav,1,dog_bark\n")
    one_line_error(run_cli("evaluate-events", "--reference", ref, "--predictions", pred), "events.csv line 1")


def test_label_not_in_the_model(tmp_path):
    ref, pred = write_case(tmp_path)
    (ref / "site" / "A.txt").write_text("1.0\t2.0\tdog bark\n")
    one_line_error(run_cli("evaluate-events", "--reference", ref, "--predictions", pred), "'dog bark'", "--any-labels")
    r = run_cli("evaluate-events", "--reference", ref, "--predictions", pred, "--any-labels")
    assert r.returncode == 0, r.stderr


def test_names_that_do_not_mirror(tmp_path):
    ref, pred = write_case(tmp_path)
    (tmp_path / "pred" / "events.csv").write_text("file,start,end,label\nother.wav,1,2,siren\n")
    one_line_error(run_cli("evaluate-events", "--reference", ref, "--predictions", pred), "mirror")
    one_line_error(run_cli("evaluate-events", "--reference", tmp_path / "nope", "--predictions", pred),
                   "no such file or folder")
