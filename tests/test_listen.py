"""The streaming core with the bundled model: a recording gives the same windows and events
whether it is classified whole (the pass predict made before streaming: every window,
then detect_events over everything), pushed in chunks of any size, or read from a file in
blocks; events come out before the end of the stream, once each; files longer than
MAX_AUDIO_SECONDS go through the command line."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from envaudio import load_classifier
from envaudio.audio import load_audio, resample
from envaudio.events import detect_events, level_envelope
from envaudio.listen import Listener
from envaudio.loading import BATCH
from envaudio.windows import cut_at, window_grid
from conftest import run_cli

EXAMPLES = Path(__file__).resolve().parents[1] / "src" / "envaudio" / "assets" / "examples"


@pytest.fixture(scope="module")
def clf():
    return load_classifier()


def whole_file(clf, wave: np.ndarray):
    """predict's pass over a whole waveform before the streaming core: both window grids
    at once (quiet event windows left out), batches of BATCH, detect_events over all."""
    p, sr, L, s = clf.event_params, clf.sample_rate, clf.window_seconds, clf.settings
    waves = clf.at_model_rates(wave, sr)
    levels = level_envelope(waves[sr], sr, p)
    coarse = window_grid(waves, L, s.window_overlap)
    hop = min(s.event_hop_seconds, L)
    fine = window_grid(waves, L, 1.0 - hop / L) if hop < L else []
    active = np.concatenate([[0], np.cumsum(levels >= p.silence_dbfs)])
    lo = np.clip((np.asarray(fine) / p.frame_seconds).astype(int), 0, len(levels))
    hi = np.clip(np.ceil((np.asarray(fine) + L) / p.frame_seconds).astype(int), 0, len(levels))
    fine = [t for t, a, b in zip(fine, lo, hi) if active[b] > active[a]]
    starts = sorted(set(coarse) | set(fine))
    probs = np.concatenate([clf.model.predict_windows(clf.model.featurize(cut_at(waves, starts[i:i + BATCH], L)))
                            for i in range(0, len(starts), BATCH)])
    events = detect_events(starts, L, probs, levels, clf.labels, p, end_time=len(waves[sr]) / sr)
    in_coarse = set(coarse)
    return [t for t in starts if t in in_coarse], probs[[t in in_coarse for t in starts]], events


def clip(name: str, sr: int) -> np.ndarray:
    return load_audio(EXAMPLES / name, sr)


def scene(sr: int) -> np.ndarray:
    """Real sounds the model knows (the example clips), apart and back to back, with quiet
    gaps long enough for the stream to be cut in, and a stretch of faint noise."""
    z = lambda s: np.zeros(int(s * sr), np.float32)  # noqa: E731
    noise = (np.random.default_rng(0).standard_normal(int(6 * sr)) * 0.003).astype(np.float32)
    names = sorted(p.name for p in EXAMPLES.glob("*.flac"))
    c = [clip(n, sr) for n in names]
    return np.concatenate([z(1.3), c[0], z(7), c[1], c[2], z(2), c[3], z(8), noise, c[4], z(6.5), c[5], z(3)])


def key(events) -> list[tuple]:
    return [(e.label, e.start, e.end, round(e.confidence, 5)) for e in events]


def test_whole_chunked_and_file_give_the_same(clf, tmp_path):
    sr = clf.sample_rate
    x = scene(sr)
    starts, probs, events = whole_file(clf, x)
    assert len(events) >= 4
    pred = clf.classify_waveform(x, sr)
    assert [w.start for w in pred.windows] == [round(t, 4) for t in starts]
    assert np.abs(np.array([list(w.probabilities.values()) for w in pred.windows]) - probs).max() < 1e-5
    assert key(pred.events) == key(events)
    # pushed in chunks of odd sizes, as a stream arrives: the same, and events before the end
    rng = np.random.default_rng(1)
    listener, got, early, i = Listener(clf, sr), [], 0, 0
    while i < len(x):
        n = int(rng.integers(200, 3 * sr))
        up = listener.push(x[i:i + n])
        got += up.events
        early += len(up.events)
        i += n
    got += listener.finish().events
    assert key(got) == key(events)
    assert early >= 1  # given when final, not all at the end (files: 32 windows a batch)
    # a file on disk at another rate: read in blocks, resampled as they come
    path = tmp_path / "scene.wav"
    sf.write(path, resample(x, sr, 44100), 44100, subtype="FLOAT")
    from_file = clf.classify_file(path)
    _, _, want = whole_file(clf, load_audio(path, sr))
    assert key(from_file.events) == key(want)


def test_each_event_is_given_once_and_in_order(clf):
    sr = clf.sample_rate
    x = scene(sr)
    listener = Listener(clf, sr, batch=1)  # live: every window classified as soon as it can be
    events, early = [], 0
    for i in range(0, len(x), sr // 10):
        events += listener.push(x[i:i + sr // 10]).events
    early = list(events)
    events += listener.finish().events
    # every event followed by a gap and 25 s of audio was given before the end
    assert early and all(e in early for e in events if e.end < len(x) / sr - 25)
    assert key(events) == key(whole_file(clf, x)[2])
    assert [e.start for e in events] == sorted(e.start for e in events)


def test_levels_of_a_prediction(clf):
    """/predict's and the JSON's `levels`: a 1-kHz tone of amplitude 0.1 reads -23.0 dBFS."""
    sr = clf.sample_rate
    t = np.arange(6 * sr) / sr
    pred = clf.classify_waveform((0.1 * np.sin(2 * np.pi * 1000 * t)).astype(np.float32), sr)
    d = pred.to_dict()["levels"]
    assert d["unit"] == "dBFS" and d["laeq"] == pytest.approx(-23.01, abs=0.1)
    assert d["lamax"] == pytest.approx(-23.01, abs=0.1) and d["l90"] == pytest.approx(-23.01, abs=0.1)


@pytest.mark.slow
def test_a_file_longer_than_max_audio_seconds_through_predict(clf, tmp_path):
    """11 minutes (MAX_AUDIO_SECONDS is 600 s, for uploads): `envaudio predict --events`
    reads it in blocks and gives the events of the whole-file pass."""
    sr = clf.sample_rate
    z = lambda s: np.zeros(int(s * sr), np.float32)  # noqa: E731
    x = np.concatenate([z(60), clip("100652-3-0-0.flac", sr), z(300), clip("102305-6-0-0.flac", sr), z(292)])
    path = tmp_path / "eleven-minutes.flac"
    sf.write(path, x, sr)
    want = whole_file(clf, x)[2]
    r = run_cli("predict", path, "--events", "--json", "-")
    assert r.returncode == 0, r.stderr
    import json

    got = json.loads(r.stdout)[0]
    assert got["duration"] == pytest.approx(660.0, abs=0.01)
    assert [(e["label"], e["start"], e["end"]) for e in got["events"]] == [(e.label, e.start, e.end) for e in want]
    assert {e.label for e in want} >= {"dog_bark", "gun_shot"}
