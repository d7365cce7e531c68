"""The input limits (limits.py): one check, one message, whichever way the audio comes in
(the Python API, the command line, REST /predict). Real WAV files written to disk."""

from __future__ import annotations

import pytest
import soundfile as sf
from fastapi.testclient import TestClient

from envaudio.errors import AudioError
from envaudio.limits import (AudioTooLong, AudioTooShort, BadSampleRate, InputLimits, check_audio,
                             check_rate)
from envaudio.predict import load_classifier
from envaudio.server import create_app
from envaudio.settings import Settings
from conftest import noise, run_cli

S = Settings()
SHORT = "the audio is too short to classify (9.98 ms; the minimum is 50 ms, MIN_AUDIO_SECONDS)"


def rate_message(rate: int) -> str:
    return f"the sample rate is {rate} Hz; accepted: 1000 to 384000 Hz (MIN_SAMPLE_RATE, MAX_SAMPLE_RATE)"


def test_check_audio_messages():
    check_audio(22050, 22050, S)  # 1 s at 22,050 Hz: fine
    check_audio(int(0.05 * 22050) + 1, 22050, S)  # just over the 50-ms minimum
    with pytest.raises(AudioTooShort) as e:
        check_audio(220, 22050, S)
    assert str(e.value) == SHORT and isinstance(e.value, AudioError)
    with pytest.raises(AudioTooShort, match=r"too short to classify \(0 ms"):
        check_audio(0, 22050, S)
    for rate in (500, 2_000_000, 0):
        with pytest.raises(BadSampleRate) as e:
            check_audio(100_000, rate, S)
        assert str(e.value) == rate_message(rate)
    with pytest.raises(BadSampleRate):
        check_rate(999, S)
    check_rate(1000, S)
    check_rate(384000, S)
    # too long: MAX_AUDIO_SECONDS plus the decoders' 0.5 s of slack
    check_audio(int(600.5 * 16000), 16000, S)
    with pytest.raises(AudioTooLong) as e:
        check_audio(int(600.5 * 16000) + 1, 16000, S)
    assert str(e.value) == "the audio is longer than the limit of 600 s (MAX_AUDIO_SECONDS)" and e.value.limit == 600
    with pytest.raises(AudioTooShort, match="^clip.wav: the audio is too short"):
        check_audio(1, 22050, S, name="clip.wav")
    # the settings decide; InputLimits() bounds nothing
    check_audio(5, 500, S.replace(min_audio_seconds=0.0, min_sample_rate=100))
    InputLimits().check(1, 1)
    with pytest.raises(AudioTooLong, match="limit of 2 s"):
        check_audio(3 * 8000, 8000, S.replace(max_audio_seconds=2.0))


def short_at(rate: int) -> str:
    """The message for 10 ms at 22,050 Hz decoded at `rate` (the bundled model's)."""
    import numpy as np
    import soxr

    n = len(soxr.resample(np.zeros(220, np.float32), 22050, rate, quality="HQ"))
    return f"the audio is too short to classify ({n / rate * 1000:.3g} ms; the minimum is 50 ms, MIN_AUDIO_SECONDS)"


@pytest.fixture(scope="module")
def bad_files(tmp_path_factory, clf):
    """Real WAV files the limits refuse, and the message each should get."""
    d = tmp_path_factory.mktemp("bad")
    files = {
        "ten-ms.wav": (noise(0.01, 22050, 0.2), 22050, short_at(clf.sample_rate)),
        "rate-500.wav": (noise(1.0, 500, 0.2), 500, rate_message(500)),
        "rate-2mhz.wav": (noise(0.5, 2_000_000, 0.2), 2_000_000, rate_message(2_000_000)),
    }
    out = {}
    for name, (x, sr, message) in files.items():
        sf.write(d / name, x, sr, subtype="PCM_16")
        out[d / name] = message
    return out


@pytest.fixture(scope="module")
def clf():
    return load_classifier()


def test_python_api_refuses_what_the_server_refuses(clf, bad_files):
    for path, message in bad_files.items():
        with pytest.raises(AudioError) as e:
            clf.classify_file(path)
        assert str(e.value) == f"{path.name}: {message}"
        with pytest.raises(AudioError) as e:  # the same from the file's bytes
            clf.classify_file(path.read_bytes())
        assert str(e.value) == f"upload: {message}"
    # a waveform in memory at its own rate
    with pytest.raises(BadSampleRate) as e:
        clf.classify_waveform(noise(1.0, 500, 0.2), 500)
    assert str(e.value) == rate_message(500)
    with pytest.raises(AudioTooShort) as e:
        clf.classify_waveform(noise(0.01, 22050, 0.2), 22050)
    assert str(e.value) == SHORT


def test_rest_api_gives_the_same_message(clf, bad_files):
    with TestClient(create_app(clf.settings, clf), base_url="http://localhost") as c:
        for path, message in bad_files.items():
            r = c.post("/predict", files={"file": (path.name, path.read_bytes(), "audio/wav")})
            assert r.status_code == 422, r.text
            assert r.json()["detail"] == f"upload: {message}"


def test_command_line_gives_the_same_message(bad_files, tmp_path):
    good = tmp_path / "ok.wav"
    sf.write(good, noise(1.0, 22050, 0.2), 22050, subtype="PCM_16")
    r = run_cli("predict", good, *bad_files)
    assert r.returncode == 1, r.stdout + r.stderr
    for path, message in bad_files.items():
        assert f"envaudio predict: error: {path}: {message}" in r.stderr, r.stderr
    assert "car_horn" not in r.stdout.split(str(good))[-1]  # nothing classified for the refused files
    assert "1 file(s) classified, 3 failed" in r.stderr


def test_too_long_is_for_uploads_only(tmp_path):
    """MAX_AUDIO_SECONDS bounds the server's uploads (413, one message); local files and
    waveforms take any length (issue #29: an archive's recordings are hours long)."""
    path = tmp_path / "five-s.wav"
    sf.write(path, noise(5.0, 16000, 0.2), 16000, subtype="PCM_16")
    message = "the audio is longer than the limit of 2 s (MAX_AUDIO_SECONDS)"
    clf = load_classifier(settings=Settings(max_audio_seconds=2.0))
    assert clf.classify_file(path).duration == pytest.approx(5.0, abs=1e-3)
    assert clf.classify_waveform(noise(5.0, 16000, 0.2), 16000).duration == pytest.approx(5.0, abs=1e-3)
    with TestClient(create_app(clf.settings, clf), base_url="http://localhost") as c:
        r = c.post("/predict", files={"file": (path.name, path.read_bytes(), "audio/wav")})
        assert r.status_code == 413 and r.json()["detail"] == message, r.text
    r = run_cli("predict", path, env={"ENVAUDIO_MAX_AUDIO_SECONDS": "2"})
    assert r.returncode == 0 and "MAX_AUDIO_SECONDS" not in r.stderr, r.stderr
    assert "5.0 s, 2 window(s)" in r.stdout, r.stdout
