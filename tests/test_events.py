"""Events, silence and "unknown": the pure functions on known numbers, and the real
bundled model on generated files with sounds at known times."""

import json

import numpy as np
import pytest
import soundfile as sf

from envaudio.audio import load_audio
from envaudio.events import (FLOOR_DBFS, Event, EventParams, detect_events, frame_power, level_envelope,
                             loudest_level, nest_short_events, power_db)
from envaudio.predict import load_classifier
from envaudio.settings import Settings
from conftest import EXAMPLES, noise, tone

LABELS = ["music", "horn", "dog"]
P = EventParams.from_settings(Settings())
# The timing tests judge where events are, not whether the model is sure of generated
# tones: any positive UNKNOWN_THRESHOLD overrides the model's calibrated one.
NEVER_UNKNOWN = 1e-6


@pytest.fixture(scope="module")
def clf():
    return load_classifier(settings=Settings(unknown_threshold=NEVER_UNKNOWN))


def test_levels_in_dbfs():
    sr = 16000
    assert power_db(np.array([0.0]))[0] == FLOOR_DBFS
    # a full-scale sine is -3 dBFS, one at 0.01 is -43
    assert loudest_level(level_envelope(tone(100, 2, sr, amp=1.0), sr, P)) == pytest.approx(-3.01, abs=0.05)
    assert loudest_level(level_envelope(tone(100, 2, sr, amp=0.01), sr, P)) == pytest.approx(-43.0, abs=0.05)
    # frames: 0.1 s each, the last one partial but averaged over its own samples
    fp = frame_power(np.ones(int(0.25 * sr), np.float32), sr, 0.1)
    assert len(fp) == 3 and np.allclose(fp, 1.0)


def window_probs(starts, L, spans, n_classes=3, base=0, strong=0.9):
    """Probabilities of windows that see class c wherever it is in `spans` [(c, a, b)]:
    a window holding any part of a span says c (later spans win), otherwise `base`."""
    out = []
    for s in starts:
        c = base
        for cls, a, b in spans:
            if s < b and s + L > a:
                c = cls
        p = np.full(n_classes, (1 - strong) / (n_classes - 1))
        p[c] = strong
        out.append(p)
    return np.array(out)


def test_short_event_inside_a_long_one_is_reported_and_nested():
    # 20 s of music with a 1-s horn at 10-11 s; 4-s windows every 1 s; loud throughout.
    L, hop, T = 4.0, 1.0, 20.0
    starts = np.arange(0, T - L + 1e-9, hop)
    probs = window_probs(starts, L, [(1, 10.0, 11.0)])
    levels = np.full(int(T / P.frame_seconds), -20.0)
    levels[100:110] = -8.0  # the horn is louder: its onset is a level jump
    ev = detect_events(starts, L, probs, levels, LABELS, P)
    horn = [e for e in ev if e.label == "horn"]
    music = [e for e in ev if e.label == "music"]
    assert len(horn) == 1 and len(music) == 1, ev
    assert abs(horn[0].start - 10.0) <= 1.0 and abs(horn[0].end - 11.0) <= 1.0
    assert music[0].start == 0.0 and music[0].end == T  # one long event around the horn
    assert horn[0].confidence > 0.8


def test_sound_change_placed_within_a_hop_and_gaps_for_quiet():
    # dog 0-6 s, music 6-14 s (touching), silence 14-18 s, dog 18-22 s
    L, hop, T = 4.0, 1.0, 22.0
    starts = np.arange(0, T - L + 1e-9, hop)
    probs = window_probs(starts, L, [(2, 0, 6), (2, 18, 22)], base=0)
    # windows overlapping both dog and music: whichever is later in the list wins above;
    # make the first boundary ambiguous the other way for windows mostly in music
    for i, s in enumerate(starts):
        if s >= 4.0 and s < 14:
            probs[i] = [0.9, 0.05, 0.05]
    levels = np.full(int(T / P.frame_seconds), -25.0)
    levels[140:180] = FLOOR_DBFS
    ev = detect_events(starts, L, probs, levels, LABELS, P)
    assert [e.label for e in ev] == ["dog", "music", "dog"], ev
    assert abs(ev[0].end - 6.0) <= 1.0 and abs(ev[1].start - 6.0) <= 1.0
    assert abs(ev[1].end - 14.0) <= 0.3 and abs(ev[2].start - 18.0) <= 0.3  # quiet: to the frame


def test_unknown_frames_are_gaps():
    L, hop = 4.0, 1.0
    starts = np.arange(0, 9.0, hop)
    probs = np.full((len(starts), 3), 1 / 3)
    probs[:3] = [0.9, 0.05, 0.05]  # windows 0-6 s sure of music, the rest undecided
    levels = np.full(120, -20.0)
    p = EventParams.from_settings(Settings(unknown_threshold=0.6))
    ev = detect_events(starts, L, probs, levels, LABELS, p)
    assert len(ev) == 1 and ev[0].label == "music" and ev[0].end <= 6.0
    assert detect_events(starts, L, np.full((len(starts), 3), 1 / 3), levels, LABELS, p) == []


def test_nesting_needs_touching_neighbours():
    a = [Event("m", 0, 5, 0.8), Event("h", 5, 6, 0.9), Event("m", 6, 12, 0.7)]
    out = nest_short_events(a)
    assert [(e.label, e.start, e.end) for e in out] == [("m", 0, 12), ("h", 5, 6)]
    apart = [Event("m", 0, 5, 0.8), Event("h", 7, 8, 0.9), Event("m", 9, 12, 0.7)]
    assert nest_short_events(apart) == apart


# ------------------------------------------------------------------ the real model

def test_generated_file_events_at_known_times(clf, tmp_path):
    sr = 22050
    z = lambda s: np.zeros(int(s * sr), np.float32)  # noqa: E731
    x = np.concatenate([z(2), tone(440, 5, sr), z(3), noise(4, sr, 0.1), z(4), tone(900, 1.5, sr, 0.5), z(2)])
    path = tmp_path / "known.wav"
    sf.write(path, x, sr, subtype="PCM_16")
    pred = clf.classify_file(path)
    assert pred.verdict == "sound"
    truth = [(2.0, 7.0), (10.0, 14.0), (18.0, 19.5)]
    for a, b in truth:  # each sound is one or more events starting within 1 s of its onset
        inside = [e for e in pred.events if e.start < b and e.end > a]
        assert inside, (a, b, pred.events)
        assert abs(min(e.start for e in inside) - a) <= 1.0
        assert abs(max(e.end for e in inside) - b) <= 1.0
    for e in pred.events:  # nothing in the silences
        assert not any(e.start >= b + 1.0 and e.end <= a2 - 1.0 for (_, b), (a2, _) in zip(truth, truth[1:]))
    # the compatibility fields are the 2-s grid as before
    assert [w.start for w in pred.windows[:3]] == [0.0, 2.0, 4.0]


def test_real_clips_with_silence_between(clf):
    """Bundled UrbanSound8K excerpts (4 s each) with 3 s of digital silence between."""
    sr = clf.sample_rate
    files = ["102871-8-0-0.flac", "100652-3-0-0.flac", "104817-4-0-0.flac"]  # siren, dog bark, drilling
    meta = {e["file"]: e for e in json.loads((EXAMPLES / "examples.json").read_text())["examples"]}
    parts, truth, t = [np.zeros(2 * sr, np.float32)], [], 2.0
    for f in files:
        x = load_audio(EXAMPLES / f, sr)
        parts += [x, np.zeros(3 * sr, np.float32)]
        truth.append((meta[f]["label"], t, t + len(x) / sr))
        t += len(x) / sr + 3.0
    pred = clf.classify_waveform(np.concatenate(parts), sr)
    right = 0
    for label, a, b in truth:
        inside = [e for e in pred.events if e.start < b and e.end > a]
        assert inside and abs(min(e.start for e in inside) - a) <= 1.0, (label, a, pred.events)
        main = max(inside, key=lambda e: min(e.end, b) - max(e.start, a))
        right += main.label == label
    assert right >= 2, pred.events  # the model is not perfect; most clips are named right


@pytest.mark.parametrize("kind", ["zero", "noise-70"])
def test_silence(clf, kind):
    sr = clf.sample_rate
    x = np.zeros(12 * sr, np.float32) if kind == "zero" else noise(12, sr, 10 ** (-70 / 20), seed=3)
    pred = clf.classify_waveform(x, sr)
    assert pred.verdict == "silence" and pred.events == []
    assert pred.level_dbfs < Settings().silence_dbfs
    d = pred.to_dict()
    assert d["verdict"] == "silence" and d["events"] == [] and d["level_dbfs"] <= -69
    # no class anywhere (issue #21: top_prediction was the mean's argmax, "siren 0.44")
    assert d["top_prediction"] is None and d["top_prediction_reason"] == "silence"
    assert d["heard"] == [] and d["top_k"] == [] and pred.top_k() == []
    assert d["windows"] and all(w["label"] is None and w["verdict"] == "silence" for w in d["windows"])
    assert set(d["probabilities"]) == set(clf.labels)  # the per-window numbers are still there


def test_quiet_real_sound_is_not_silence(clf):
    sr = clf.sample_rate
    x = load_audio(EXAMPLES / "100652-3-0-0.flac", sr)
    x = x * (10 ** (-50 / 20) / np.sqrt(np.mean(x ** 2)))  # a dog bark at -50 dBFS RMS
    assert clf.classify_waveform(x, sr).verdict != "silence"


def test_unknown_verdict_below_threshold():
    clf = load_classifier(settings=Settings(unknown_threshold=0.999))
    pred = clf.classify_waveform(noise(6, clf.sample_rate, 0.1), clf.sample_rate)
    assert pred.verdict == "unknown" and pred.events == []
    assert pred.to_dict()["top_k"]  # the guesses are still given


# ------------------------------------------------------------------ the command line

def test_cli_events_table_json_and_csv(tmp_path):
    import csv
    import io

    from conftest import run_cli

    sr = 22050
    d = tmp_path / "in"
    d.mkdir()
    sf.write(d / "a-bursts.wav", np.concatenate([np.zeros(3 * sr), noise(4, sr, 0.2), np.zeros(3 * sr)]), sr)
    sf.write(d / "b-silent.wav", np.zeros(5 * sr, np.float32), sr)
    env = {"ENVAUDIO_UNKNOWN_THRESHOLD": str(NEVER_UNKNOWN)}
    r = run_cli("predict", d, "--events", env=env)
    assert r.returncode == 0, r.stderr
    a, b = r.stdout.split(str(d / "b-silent.wav"))
    assert "start" in a and "confidence" in a
    assert "nothing heard (silence, -120 dBFS)" in b and "no events (silence" in b
    r = run_cli("predict", d, "--json", "-", env=env)
    res = json.loads(r.stdout)
    # the line leads with the answer (/predict's top_prediction) and its own confidence
    top, heard = res[0]["top_prediction"], res[0]["heard"]
    assert a.startswith(f"{d / 'a-bursts.wav'}: {top['label']} {heard[0]['seconds']:.1f} s "
                        f"({top['confidence']:.2f})"), a
    assert [x["verdict"] for x in res] == ["sound", "silence"]
    ev = res[0]["events"]
    assert ev and abs(ev[0]["start"] - 3.0) <= 1.0 and abs(ev[-1]["end"] - 7.0) <= 1.0
    assert set(ev[0]) == {"label", "start", "end", "confidence"}
    assert res[1]["events"] == [] and res[1]["level_dbfs"] == -120.0
    assert {"top_prediction", "top_k", "probabilities", "windows"} <= set(res[0])  # unchanged fields
    r = run_cli("predict", d, "--csv", "-", "--events", env=env)
    rows = list(csv.DictReader(io.StringIO(r.stdout)))
    assert rows[0]["verdict"] == "sound" and float(rows[0]["start"]) == ev[0]["start"]
    assert rows[-1]["verdict"] == "silence" and rows[-1]["label"] == ""
    assert len(rows) == len(ev) + 1


def test_a_horn_that_only_one_window_names_is_not_outvoted():
    """As measured with a real model: of the windows holding a 1-s horn in music, one
    names it (the one where it is loudest relative to the music); the level shows where."""
    L, hop, T = 4.0, 1.0, 20.0
    starts = np.arange(0, T - L + 1e-9, hop)
    probs = np.tile([0.8, 0.1, 0.1], (len(starts), 1))
    probs[9] = [0.35, 0.6, 0.05]  # the window 9-13 s says horn
    levels = np.full(int(T / P.frame_seconds), -26.0)
    levels[98:113] = -14.0  # the horn at 10-11 s, as the 0.5-s envelope smears it
    ev = detect_events(starts, L, probs, levels, LABELS, P)
    horn = [e for e in ev if e.label == "horn"]
    assert len(horn) == 1 and abs(horn[0].start - 10.0) <= 1.0 and abs(horn[0].end - 11.0) <= 1.0, ev
    assert [e.label for e in ev] == ["music", "horn"] and ev[0].end == T


def test_real_horn_inside_real_street_music(clf):
    """A real car horn mixed into 20 s of real street music at 10 s is reported there,
    inside the music. The horn (its loudest second, repeated) is made as short and the
    music as loud as this model still hears it: the first of a ladder of mixes in which
    any window names it. None at all fails: a check that stopped running when the model
    changed would be no check. (The rule for a horn only one window names is tested on
    known numbers above.)"""
    sr = clf.sample_rate
    music = np.tile(load_audio(EXAMPLES / "108041-9-0-2.flac", sr), 6)[:20 * sr]
    horn = load_audio(EXAMPLES / "24074-1-0-0.flac", sr)
    i = max(0, int(np.argmax(np.abs(horn))) - sr // 4)
    honk = horn[i:i + sr]
    tried = []
    for seconds, music_rms in [(1, 0.05), (1, 0.02), (2, 0.05), (2, 0.02), (2, 0.01)]:
        h = np.tile(honk, seconds)
        x = music * (music_rms / np.sqrt(np.mean(music ** 2)))
        x[10 * sr:10 * sr + len(h)] += h * (0.2 / np.sqrt(np.mean(h ** 2)))
        pred = clf.classify_waveform(x, sr)
        horns = [e for e in pred.events if e.label == "car_horn"]
        tried.append((seconds, music_rms, [w.label for w in pred.windows], pred.events))
        if horns or any(w.label == "car_horn" for w in pred.windows):  # heard: the events say where
            assert horns, f"a window names the horn but no event does: {pred.events}"
            assert abs(horns[0].start - 10) <= 1.0 and abs(horns[0].end - (10 + seconds)) <= 1.0, tried[-1]
            assert any(e.label != "car_horn" and e.start <= horns[0].start and e.end >= horns[0].end
                       for e in pred.events), tried[-1]
            return
    pytest.fail(f"the model names the horn in no mix, not even 2 s of it over music 26 dB down: {tried}")


# ------------------------------------------------------------------ issue #21: honest answers

def test_windows_that_agree_are_not_lost_to_unsure_neighbours():
    """Issue #21's drilling: after 2 s of near-silence (-65 dBFS noise, at the threshold)
    the windows holding the sound whole say A (one of them just over the threshold); the
    windows straddling the quiet are unsure. The old rule needed every covering window to
    agree, so those unsure windows made the onset 1 s late (or lost the sound)."""
    L, T = 4.0, 22.0
    starts = np.arange(0, T - L + 1e-9, 1.0)
    probs = np.full((len(starts), 3), [0.4, 0.35, 0.25])  # unsure of everything
    for i, s in enumerate(starts):
        if 11 <= s <= 13:
            probs[i] = [0.05, 0.05, 0.9] if s != 12 else [0.23, 0.23, 0.54]
    levels = np.full(int(T / P.frame_seconds), -65.0)
    levels[::2] = -64.9  # the noise floor wobbles around SILENCE_DBFS
    levels[120:160] = -22.0  # the sound at 12-16 s
    p = EventParams.from_settings(Settings(unknown_threshold=0.5))
    ev = detect_events(starts, L, probs, levels, LABELS, p, end_time=T)
    assert [e.label for e in ev] == ["dog"], ev
    assert abs(ev[0].start - 12.0) <= 0.5 and abs(ev[0].end - 16.0) <= 0.5, ev
    assert ev[0].confidence >= 0.5


def test_no_event_under_the_unknown_threshold():
    # windows that are sure (0.6, 0.7) next to windows just under the threshold (0.45)
    L, T = 4.0, 16.0
    starts = np.arange(0, T - L + 1e-9, 1.0)
    probs = np.tile([0.45, 0.3, 0.25], (len(starts), 1))
    probs[4:7] = [0.7, 0.2, 0.1]
    probs[7] = [0.2, 0.6, 0.2]
    levels = np.full(int(T / P.frame_seconds), -30.0)
    p = EventParams.from_settings(Settings(unknown_threshold=0.5))
    ev = detect_events(starts, L, probs, levels, LABELS, p, end_time=T)
    assert ev and all(e.confidence >= 0.5 for e in ev), ev
    assert {e.label for e in ev} <= {"music", "horn"}


def test_events_stop_where_the_audio_does():
    # 1.133 s of sound: 12 frames of 0.1 s, the last one partial
    T = 1.133
    levels = np.full(int(np.ceil(T / P.frame_seconds)), -20.0)
    ev = detect_events([0.0], 4.0, np.array([[0.9, 0.05, 0.05]]), levels, LABELS, P, end_time=T)
    assert [(e.label, e.start, e.end) for e in ev] == [("music", 0.0, T)]  # not 1.2
    # shorter than MIN_EVENT_SECONDS: still one event, the whole file
    ev = detect_events([0.0], 4.0, np.array([[0.9, 0.05, 0.05]]), levels[:3], LABELS, P, end_time=0.3)
    assert [(e.start, e.end) for e in ev] == [(0.0, 0.3)]


@pytest.mark.parametrize("seconds", [1.133, 0.3, 9.05])
def test_real_model_events_end_within_the_file(clf, tmp_path, seconds):
    sr = 22050
    x = noise(seconds, sr, 0.2, seed=5) + tone(700, seconds, sr, 0.1)
    path = tmp_path / "short.wav"
    sf.write(path, x, sr, subtype="PCM_16")
    pred = clf.classify_file(path)
    assert pred.duration == pytest.approx(seconds, abs=1e-3)
    assert pred.events, pred  # NEVER_UNKNOWN: loud throughout, so something is heard
    assert all(0.0 <= e.start < e.end <= pred.duration for e in pred.events), pred.events
    assert max(e.end for e in pred.events) == pytest.approx(pred.duration, abs=0.11)
    assert all(w.end <= pred.duration + 1e-4 for w in pred.windows)


def test_real_model_answers_are_honest_about_the_threshold(tmp_path):
    """The bundled model with its calibrated threshold, on generated sounds and silence:
    no event under the threshold, windows under it flagged "unknown", silent windows
    without a label, and the file's answer consistent with its events."""
    clf = load_classifier(settings=Settings())
    thr = clf.event_params.unknown_threshold
    assert thr > 0  # the bundled model is calibrated
    sr = clf.sample_rate
    z = lambda s: np.zeros(int(s * sr), np.float32)  # noqa: E731
    x = np.concatenate([z(3), tone(440, 4, sr), z(4), noise(4, sr, 0.1, seed=2), z(4),
                        (noise(3, sr, 0.3, seed=3) * ((np.arange(3 * sr) // (sr // 8)) % 2)).astype(np.float32),
                        z(3)])
    path = tmp_path / "generated.wav"
    sf.write(path, x, sr, subtype="PCM_16")
    pred = clf.classify_file(path)
    d = pred.to_dict()
    assert all(e.confidence >= thr for e in pred.events), pred.events
    for w in d["windows"]:
        if w["verdict"] == "silence":
            assert w["label"] is None
        else:
            assert w["label"] in clf.labels
            assert (w["verdict"] == "unknown") == (w["confidence"] < thr), w
    assert d["windows"][0]["verdict"] == "silence" or d["windows"][0]["window_end"] > 3.0
    assert {h["label"] for h in d["heard"]} == {e.label for e in pred.events}
    if pred.events:
        assert d["top_prediction"]["label"] == d["heard"][0]["label"] and d["top_prediction_reason"] is None
        assert d["verdict"] == "sound"
    else:
        assert d["top_prediction"] is None and d["top_prediction_reason"] == "nothing heard confidently"
        assert d["verdict"] == "unknown" and d["top_k"]


def test_heard_longest_first():
    from envaudio.predict import heard_classes

    ev = [Event("music", 0, 20, 0.7), Event("horn", 10, 11, 0.9), Event("dog", 22, 24, 0.6),
          Event("dog", 30, 33, 0.8)]
    h = heard_classes(nest_short_events(ev))
    assert [(x.label, x.seconds) for x in h] == [("music", 20), ("dog", 5), ("horn", 1)]
    assert h[1].peak_confidence == 0.8 and h[1].confidence == pytest.approx((0.6 * 2 + 0.8 * 3) / 5)
    assert set(h[0].to_dict()) == {"label", "seconds", "peak_confidence", "confidence"}


# ------------------------------------------------------------------ issue #30: one answer

def test_python_leads_with_the_answer_and_names_the_average(clf):
    """`Prediction.top_prediction` is the answer /predict gives (the class heard longest);
    the windows' average is `average_label`, and `top_label` still works, warning that it
    is that average, not the answer."""
    sr = clf.sample_rate
    parts = []
    for f in ["102871-8-0-0.flac", "100652-3-0-0.flac", "104817-4-0-0.flac"]:
        parts += [load_audio(EXAMPLES / f, sr), np.zeros(2 * sr, np.float32)]
    pred = clf.classify_waveform(np.concatenate(parts), sr)
    d = pred.to_dict()
    top = pred.top_prediction
    assert top is pred.heard[0] and pred.top_prediction_reason is None
    assert d["top_prediction"] == {"label": top.label, "confidence": top.confidence}
    assert repr(pred).startswith(f"Prediction(top_prediction={top.label!r} ({top.confidence:.2f}, "), repr(pred)
    assert pred.average_label == clf.labels[int(np.argmax(pred.probabilities))]
    assert pred.top_k(1)[0] == (pred.average_label, pred.average_confidence)
    with pytest.warns(DeprecationWarning, match="windows' average, not the answer"):
        assert pred.top_label == pred.average_label
    with pytest.warns(DeprecationWarning):
        assert pred.top_confidence == pred.average_confidence
    silent = clf.classify_waveform(np.zeros(5 * sr, np.float32), sr)
    assert silent.top_prediction is None and silent.top_prediction_reason == "silence"
    assert repr(silent).startswith("Prediction(top_prediction=None (silence), verdict='silence'")
