"""The review loop on real recordings: `analyze` -> `segments` -> a reviewer -> `thresholds`
-> `analyze --thresholds`, scored with `evaluate-events` before and after.

The archive: UrbanSound8K clips of every class joined into four recordings with quiet
between (the truth: where each clip lies, written as Audacity label tracks), and among
them synthetic sounds of none of the ten classes (speech-like buzz, instrument notes,
birdsong-like chirps: scripts/make_ood_audio.py), which the model sometimes names: the
false detections a reviewer finds. The reviewer is simulated from the truth: a clip is
wrong when its event overlaps no annotated clip of its class. Skipped without the
UrbanSound8K subset. The model is named (`accurate`), not the default, so the test does
not move when the default does; the bundled models were trained on these folds, so the
clips themselves are mostly right and the errors are the out-of-class sounds.
"""

from __future__ import annotations

import csv
import importlib.util
import json
import shutil
import sys

import numpy as np
import pytest
import soundfile as sf

from conftest import ROOT, SUBSET, run_cli

MODEL = "accurate"
SR = 22050
PER_CLASS = 20  # annotated clips per class, and clips reviewed per class
OOD_PER_KIND = 8


def build_archive(root, ref_dir, seed=29):
    """Four FLAC recordings of joined clips; their truth as Audacity label tracks."""
    sys.path.insert(0, str(ROOT / "scripts"))
    import make_ood_audio as ood

    rng = np.random.default_rng(seed)
    with open(SUBSET / "metadata" / "UrbanSound8K.csv", newline="") as f:
        rows = [r for r in csv.DictReader(f) if r["salience"] == "1" and float(r["end"]) - float(r["start"]) >= 1.5]
    by_class: dict[str, list] = {}
    for r in rows:
        by_class.setdefault(r["class"], []).append(r)
    items = []
    for c in sorted(by_class):
        rs = sorted(by_class[c], key=lambda r: r["slice_file_name"])
        for i in rng.choice(len(rs), min(PER_CLASS, len(rs)), replace=False):
            items.append((c, SUBSET / "audio" / f"fold{rs[i]['fold']}" / rs[i]["slice_file_name"]))
    items += [(kind, None) for kind in ("speech", "instrument", "birdsong") for _ in range(OOD_PER_KIND)]
    root.mkdir(parents=True)
    ref_dir.mkdir(parents=True)
    for k, idx in enumerate(np.array_split(rng.permutation(len(items)), 4)):
        parts, t, truth = [], 0.0, []
        for i in idx:
            label, path = items[i]
            if path is None:
                x = getattr(ood, label)(4.0, rng).astype(np.float32)
                x = 0.3 * x / (np.abs(x).max() + 1e-9)
            else:
                x, sr = sf.read(path, dtype="float32", always_2d=True)
                assert sr == SR
                x = x.mean(axis=1)[:4 * SR]
                truth.append((t, t + len(x) / SR, label))
            parts += [x, (1e-4 * rng.standard_normal(2 * SR)).astype(np.float32)]  # -80 dBFS between
            t += len(x) / SR + 2.0
        name = f"2024061{k}_0{k}0000"
        sf.write(root / f"{name}.flac", np.concatenate(parts), SR)
        (ref_dir / f"{name}.txt").write_text("".join(f"{a:.3f}\t{b:.3f}\t{l}\n" for a, b, l in truth))


def review(segdir, ref_dir) -> tuple[int, int]:
    """Move the clips whose event overlaps no annotated clip of its class into wrong/."""
    truth = {}
    for p in ref_dir.glob("*.txt"):
        truth[p.stem] = [(float(a), float(b), l) for a, b, l in (line.split("\t") for line in p.read_text().splitlines())]
    moved = total = 0
    with open(segdir / "segments.csv", newline="") as f:
        for r in csv.DictReader(f):
            total += 1
            s, e = float(r["start"]), float(r["end"])
            ok = any(l == r["label"] and min(e, b) > max(s, a) for a, b, l in truth[r["file"].rsplit(".", 1)[0]])
            if not ok:
                clip = segdir / r["segment"]
                shutil.move(clip, clip.parent / "wrong" / clip.name)
                moved += 1
    return moved, total


def scores(ref, pred, *extra):
    r = run_cli("evaluate-events", "--reference", ref, "--predictions", pred, "--json", "-", *extra)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def analyze(src, out, *extra):
    r = run_cli("analyze", src, "--out", out, "--model", MODEL, "--format", "csv,json", "--quiet", *extra,
                timeout=1800)
    assert r.returncode == 0, r.stderr


@pytest.fixture(scope="module")
def loop(tmp_path_factory):
    if not (SUBSET / "metadata" / "UrbanSound8K.csv").is_file():
        pytest.skip("UrbanSound8K subset not present in ../shared/data")
    if importlib.util.find_spec("scipy") is None:
        pytest.skip("scripts/make_ood_audio.py needs scipy (envaudio[train])")
    tmp = tmp_path_factory.mktemp("review")
    src, ref = tmp / "in", tmp / "ref"
    build_archive(src, ref)
    analyze(src, tmp / "out")
    r = run_cli("segments", tmp / "out", "--out", tmp / "seg", "--per-class", str(PER_CLASS))
    assert r.returncode == 0, r.stderr
    wrong, total = review(tmp / "seg", ref)
    r = run_cli("thresholds", tmp / "seg", "--out", tmp / "thresholds.csv", "--precision", "0.9")
    assert r.returncode == 0, r.stderr
    analyze(src, tmp / "out2", "--thresholds", tmp / "thresholds.csv")
    before, after = scores(ref, tmp / "out"), scores(ref, tmp / "out2")
    print(f"\nreviewed {total} clips, {wrong} wrong\n{r.stdout}")
    for name, s in (("before", before), ("after", after)):
        o = s["event"]["overall"]
        print(f"{name}: event-based P {o['precision']:.3f} R {o['recall']:.3f} F1 {o['f_measure']:.3f}; "
              f"segment-based F1 {s['segment']['overall']['f_measure']:.3f}")
    return {"tmp": tmp, "ref": ref, "before": before, "after": after, "wrong": wrong, "total": total}


@pytest.mark.data
def test_review_lifts_precision_without_lowering_f1(loop):
    b, a = loop["before"]["event"]["overall"], loop["after"]["event"]["overall"]
    assert loop["wrong"] > 0  # there was something to find
    assert a["precision"] > b["precision"]
    assert a["f_measure"] >= b["f_measure"] - 1e-9


@pytest.mark.data
def test_segments_are_spread_and_sorted(loop):
    seg = loop["tmp"] / "seg"
    with open(seg / "segments.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    summary = json.loads((loop["tmp"] / "out" / "summary.json").read_text())
    for label, n in summary["events_per_class"].items():
        mine = [r for r in rows if r["label"] == label]
        assert len(mine) == min(n, PER_CLASS)
        files = {r["file"] for r in mine}
        assert len(files) >= min(2, len(mine))
        confs = sorted(float(r["confidence"]) for r in mine)
        names = sorted(p.name for p in (seg / label).rglob("*.flac"))
        assert [float(nm.split("_")[0]) for nm in names] == pytest.approx(confs, abs=6e-4)  # sorted by name
    r = rows[0]
    info = sf.info(str(seg / r["segment"]) if (seg / r["segment"]).exists()
                   else str((seg / r["segment"]).parent / "wrong" / (seg / r["segment"]).name))
    assert info.duration == pytest.approx(float(r["clip_end"]) - float(r["clip_start"]), abs=0.01)


@pytest.mark.data
def test_evaluate_events_on_analyze_output_is_sed_evals(loop):
    pytest.importorskip("sed_eval")
    from test_evaluate_events import assert_same

    for out in ("out", "out2"):
        assert_same(loop[{"out": "before", "out2": "after"}[out]],
                    scores(loop["ref"], loop["tmp"] / out, "--backend", "sed_eval"))


def test_bad_review_folders(tmp_path):
    (tmp_path / "empty").mkdir()
    r = run_cli("thresholds", tmp_path / "empty", "--out", tmp_path / "t.csv")
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert "no reviewed segments" in r.stderr.strip().splitlines()[-1]
    r = run_cli("segments", tmp_path / "empty", "--out", tmp_path / "seg")
    assert r.returncode == 2 and "not an `envaudio analyze` output folder" in r.stderr
    seg = tmp_path / "seg2"
    (seg / "siren" / "wrong").mkdir(parents=True)
    (seg / "segments.csv").write_text("segment,label,file,start,end,confidence,clip_start,clip_end,threshold\n"
                                      "siren/0.500_x.flac,siren,x.wav,1,2,0.5,0,3,0.4\n")
    r = run_cli("thresholds", seg, "--out", tmp_path / "t.csv")
    assert r.returncode == 2 and "no reviewed segments" in r.stderr


def test_fitted_threshold_is_the_lowest_that_reaches_the_precision():
    from envaudio.archive.review import fit_threshold

    conf = np.array([0.48, 0.58, 0.60, 0.66, 0.68, 0.68, 0.70, 0.72, 0.74, 0.77, 0.78, 0.82, 0.83, 0.84, 0.85, 0.86])
    right = np.array([0, 0, 1, 1, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1], bool)
    t, p, reached = fit_threshold(conf, right, 0.9, 0.47)
    assert reached and t == pytest.approx(0.72) and p >= 0.9
    t, _, reached = fit_threshold(conf, np.ones_like(right), 0.9, 0.47)
    assert reached and t == pytest.approx(0.47)  # all right: the threshold stays
    t, _, reached = fit_threshold(conf, np.zeros_like(right), 0.9, 0.47)
    assert not reached and t == 1.0
