"""REST API, in process (TestClient), with the bundled model and generated audio.

The bundled model may be an untrained placeholder: nothing here asserts which class wins,
only the structure, validity and consistency of the answers."""

from __future__ import annotations

import base64
import json
import shutil
import struct
import tempfile

import numpy as np
import pytest
from fastapi.testclient import TestClient

from envaudio import load_classifier
from envaudio.server import create_app, schemas
from envaudio.server.spectrogram import decode_payload, pool_time, spectrogram_payload
from envaudio.settings import BUNDLED_MODELS, DEFAULT_MODEL, Settings
from server_helpers import (clicks, decode_spectrogram, encode, ffmpeg_encode, multipart, noise,
                            noise_bursts, scene, tone, wav)

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def client_for(app) -> TestClient:
    """A TestClient with a Host the app answers for (not TestClient's "testserver")."""
    return TestClient(app, base_url="http://localhost")


@pytest.fixture(scope="module")
def classifier():
    return load_classifier()


VIEW = load_classifier().cfg  # the spectrogram view's log-mel (loaded once more: cheap, and usable in helpers)


@pytest.fixture(scope="module")
def client(classifier):
    with client_for(create_app(classifier.settings, classifier)) as c:
        yield c


def make_client(classifier, **settings):
    s = classifier.settings.replace(**settings)
    return client_for(create_app(s, classifier))


def post_file(client, data: bytes, name="clip.wav", ctype="audio/wav", path="/predict", **params):
    return client.post(path, files={"file": (name, data, ctype)}, params=params)


def check_prediction(d: dict, labels: list[str], top_k: int = 3) -> schemas.PredictResponse:
    r = schemas.PredictResponse.model_validate(d)
    probs = np.array([d["probabilities"][l] for l in labels])
    assert list(d["probabilities"]) == labels
    assert np.all((probs >= 0) & (probs <= 1)) and abs(probs.sum() - 1) < 1e-3
    # top_k: the windows' mean guesses (none for silence)
    if d["verdict"] == "silence":
        assert d["top_k"] == []
    else:
        assert len(d["top_k"]) == top_k and d["top_k"][0]["label"] == labels[int(np.argmax(probs))]
        assert d["top_k"][0]["confidence"] == pytest.approx(probs.max())
    confs = [t["confidence"] for t in d["top_k"]]
    assert confs == sorted(confs, reverse=True)
    for t in d["top_k"]:
        assert d["probabilities"][t["label"]] == t["confidence"]
    # top_prediction (issue #21: it was the mean's argmax, a class even for silence): the
    # class heard longest, or null with the reason
    heard = d["heard"]
    assert [h["seconds"] for h in heard] == sorted((h["seconds"] for h in heard), reverse=True)
    assert {h["label"] for h in heard} == {e["label"] for e in d["events"]}
    if heard and d["verdict"] == "sound":
        assert d["top_prediction"]["label"] == heard[0]["label"] and d["top_prediction_reason"] is None
        assert d["top_prediction"]["confidence"] == pytest.approx(heard[0]["confidence"], abs=1e-4)
    else:
        assert d["top_prediction"] is None
        assert d["top_prediction_reason"] == ("silence" if d["verdict"] == "silence" else "nothing heard confidently")
    assert d["windows"], "at least one window"
    for w in d["windows"]:
        wp = np.array([w["probabilities"][l] for l in labels])
        assert abs(wp.sum() - 1) < 1e-3
        assert w["label"] == (None if w["verdict"] == "silence" else labels[int(np.argmax(wp))])
        assert 0 <= w["window_start"] < w["window_end"] <= d["duration"] + 1e-4  # ends rounded to 0.1 ms
    mean = np.mean([[w["probabilities"][l] for l in labels] for w in d["windows"]], axis=0)
    assert np.allclose(mean, probs, atol=1e-4)  # the file's answer is the windows' average
    return r


def check_spectrogram(sp: dict, duration: float, n_mels: int = 64) -> np.ndarray:
    schemas.Spectrogram.model_validate(sp)
    assert sp["encoding"] == "uint8-base64"
    q = decode_spectrogram(sp)
    assert sp["shape"][0] == n_mels == len(sp["mel_frequencies"])
    assert sp["db_min"] < sp["db_max"]
    assert sp["duration"] == pytest.approx(duration, abs=1e-3)
    view = VIEW  # the bundled default's view: its CNN's 22,050-Hz log-mel, or one for display
    assert sp["sample_rate"] == view.sample_rate and sp["hop_length"] == view.hop_length and sp["n_fft"] == 1024
    assert sp["fmin"] == 0 and sp["fmax"] == view.sample_rate / 2
    assert np.all(np.diff(sp["mel_frequencies"]) > 0)
    ticks = [t["value"] for t in sp["time_ticks"]]
    assert ticks[0] == 0 and ticks == sorted(ticks) and ticks[-1] <= duration + 1e-6
    for t in sp["freq_ticks"]:
        assert 0 <= t["position"] <= n_mels - 1 and sp["fmin"] <= t["value"] <= sp["fmax"]
    for t in sp["db_ticks"]:
        assert sp["db_min"] <= t["value"] <= sp["db_max"]
    return q


# ---- service endpoints ---------------------------------------------------------------

def test_health_labels_config(client, classifier):
    h = client.get("/health")
    assert h.status_code == 200
    assert h.json()["status"] == "ok" and h.json()["model_loaded"] is True
    assert h.json()["n_classes"] == len(classifier.labels)
    lab = client.get("/labels").json()
    assert lab == {"labels": classifier.labels, "n_classes": len(classifier.labels)}
    cfg = client.get("/config").json()
    schemas.ConfigResponse.model_validate(cfg)
    assert cfg["sample_rate"] == classifier.sample_rate and cfg["duration"] == 4.0
    assert cfg["n_mels"] == classifier.cfg.n_mels == 64  # the spectrogram view's
    view = classifier.cfg  # the CNN's 22,050-Hz log-mel, or one for display at the decoding rate
    assert cfg["spectrogram_sample_rate"] == view.sample_rate and cfg["hop_length"] == view.hop_length
    assert cfg["n_fft"] == 1024 and cfg["window_overlap"] == 0.5
    assert 1 + int(view.sample_rate * 4.0) // cfg["hop_length"] == 173  # a window's columns, whatever the rate
    assert cfg["spectrogram_source"] == ("cnn" if view.sample_rate == 22050 else "display")
    assert cfg["stream_duration"] == 4.0 and cfg["stream_hop_seconds"] == 0.5
    assert cfg["max_upload_mb"] == 50 and cfg["labels"] == classifier.labels
    # which bundled model is loaded: the default one here (fast or accurate by name)
    assert h.json()["model_name"] == cfg["model_name"] == DEFAULT_MODEL
    assert cfg["model"] == BUNDLED_MODELS[DEFAULT_MODEL].name


def test_model_not_loaded_is_503_with_reason(tmp_path):
    s = Settings.from_env(model_path=str(tmp_path / "missing.pt"))
    with client_for(create_app(s)) as c:
        h = c.get("/health")
        assert h.status_code == 503
        assert h.json()["model_loaded"] is False and "missing.pt" in h.json()["detail"]
        r = post_file(c, wav(tone(seconds=1)))
        assert r.status_code == 503 and "missing.pt" in r.json()["detail"]
        assert c.get("/config").status_code == 503
        assert c.get("/examples").status_code == 200  # the rest still works
        from starlette.websockets import WebSocketDisconnect

        with c.websocket_connect("ws://localhost/ws/predict") as ws:
            assert "missing.pt" in ws.receive_json()["error"]
            with pytest.raises(WebSocketDisconnect) as info:
                ws.receive_json()
            assert info.value.code == 1011


def test_openapi_documents_the_api(client):
    spec = client.get("/openapi.json").json()
    for path in ("/health", "/labels", "/config", "/predict", "/spectrogram", "/examples"):
        assert path in spec["paths"], path
    body = spec["paths"]["/predict"]["post"]["requestBody"]["content"]["multipart/form-data"]
    assert body["schema"]["required"] == ["file"]
    params = {p["name"] for p in spec["paths"]["/predict"]["post"]["parameters"]}
    assert params == {"top_k", "reduce_payload"}
    assert "Spectrogram" in spec["components"]["schemas"]
    assert client.get("/docs").status_code == 200


def test_docs_page_needs_no_internet(client):
    """Swagger UI's script and style come from this server, not a CDN."""
    import re

    page = client.get("/docs").text
    urls = re.findall(r"""(?:src|href)=["']([^"']+)["']""", page) + re.findall(r"url: *'([^']+)'", page)
    assert urls and all(u.startswith("/") for u in urls), urls
    for u in urls:
        r = client.get(u)
        assert r.status_code == 200 and len(r.content) > 100, u
    assert "SwaggerUIBundle" in client.get("/docs-assets/swagger-ui-bundle.js").text[:200000]


# ---- /predict ------------------------------------------------------------------------

def test_predict_4s_clip_structure_and_payload_size(client, classifier):
    r = post_file(client, wav(scene(4.0)))
    assert r.status_code == 200, r.text
    d = r.json()
    check_prediction(d, classifier.labels)
    assert d["duration"] == pytest.approx(4.0) and d["sample_rate"] == classifier.sample_rate
    assert [(w["window_start"], w["window_end"]) for w in d["windows"]] == [(0.0, 4.0)]
    q = check_spectrogram(d["spectrogram"], 4.0)
    assert q.shape == (64, 173) and q.min() == 0 and q.max() == 255
    assert d["spectrogram"]["frame_seconds"] == pytest.approx(VIEW.hop_length / VIEW.sample_rate)
    assert len(r.content) < 25_000, f"payload is {len(r.content)} bytes"


def test_reduce_payload_leaves_spectrogram_out(client, classifier):
    data = wav(scene(4.0))
    full = post_file(client, data).json()
    small = post_file(client, data, reduce_payload="true")
    assert small.status_code == 200
    d = small.json()
    assert "spectrogram" not in d or d["spectrogram"] is None
    check_prediction(d, classifier.labels)
    assert d["probabilities"] == full["probabilities"] and d["windows"] == full["windows"]
    assert len(small.content) < 5_000


@pytest.mark.parametrize("k", [1, 5, 10])
def test_top_k(client, classifier, k):
    d = post_file(client, wav(noise(2.0)), top_k=k).json()
    check_prediction(d, classifier.labels, top_k=k)


@pytest.mark.parametrize("k", ["0", "11", "-1", "three"])
def test_top_k_out_of_range_is_422(client, k):
    r = post_file(client, wav(noise(1.0)), top_k=k)
    assert r.status_code == 422 and "top_k" in r.json()["detail"]


def test_20s_file_gives_9_windows_mapped_to_spectrogram_columns(client, classifier):
    r = post_file(client, wav(scene(20.0)))
    assert r.status_code == 200, r.text
    d = r.json()
    check_prediction(d, classifier.labels)
    spans = [(w["window_start"], w["window_end"]) for w in d["windows"]]
    assert spans == [(float(s), float(s + 4)) for s in range(0, 17, 2)]
    sp = d["spectrogram"]
    q = check_spectrogram(sp, 20.0)
    assert q.shape == (64, 1 + 20 * VIEW.sample_rate // VIEW.hop_length)
    last = d["windows"][-1]
    assert round(last["window_end"] / sp["frame_seconds"]) == q.shape[1] - 1


def test_short_silent_and_clicky_audio(client, classifier):
    for x, dur in [(clicks(0.1), 0.1), (np.zeros(22050, np.float32), 1.0), (noise_bursts(3.0), 3.0)]:
        r = post_file(client, wav(x))
        assert r.status_code == 200, r.text
        d = r.json()
        check_prediction(d, classifier.labels)
        assert d["duration"] == pytest.approx(dur, abs=1e-3)
        assert d["windows"][0]["window_start"] == 0 and d["windows"][0]["window_end"] == pytest.approx(dur, abs=1e-3)
        check_spectrogram(d["spectrogram"], dur)


FORMATS = [  # (sample rate, channels, format, subtype)
    (22050, 1, "WAV", "PCM_16"),
    (44100, 2, "WAV", "PCM_24"),
    (8000, 1, "WAV", "FLOAT"),
    (16000, 1, "WAV", "PCM_U8"),
    (48000, 2, "FLAC", "PCM_16"),
    (32000, 1, "OGG", "VORBIS"),
    (44100, 1, "MP3", "MPEG_LAYER_III"),
]


@pytest.mark.parametrize("sr,channels,fmt,subtype", FORMATS)
def test_formats_rates_bit_depths_channels(client, classifier, sr, channels, fmt, subtype):
    x = tone(523.25, 2.5, sr)
    if channels == 2:
        x = np.stack([x, noise(2.5, sr, 0.1)], axis=1)
    data = encode(x, sr, fmt, subtype)
    r = post_file(client, data, name=f"clip.{fmt.lower()}", ctype="application/octet-stream")
    assert r.status_code == 200, r.text
    d = r.json()
    check_prediction(d, classifier.labels)
    assert d["duration"] == pytest.approx(2.5, abs=0.1)  # lossy codecs pad a little
    assert d["sample_rate"] == classifier.sample_rate
    check_spectrogram(d["spectrogram"], d["duration"])


@pytest.mark.parametrize("loader", ["soundfile", "librosa", "ffmpeg"])
def test_audio_loader_setting(classifier, loader):
    with make_client(classifier, audio_loader=loader) as c:
        assert c.app.state.serving.classifier.settings.audio_loader == loader
        r = post_file(c, encode(tone(440, 1.5, 16000), 16000, "FLAC", "PCM_16"), name="a.flac")
        assert r.status_code == 200, r.text
        assert r.json()["duration"] == pytest.approx(1.5, abs=1e-3)
        assert post_file(c, b"definitely not audio" * 50).status_code == 422


@pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="needs ffmpeg")
def test_m4a_goes_through_ffmpeg(client, classifier):
    data = ffmpeg_encode(tone(440, 2.0, 44100), 44100, ".m4a", "-c:a", "aac", "-b:a", "64k")
    r = post_file(client, data, name="clip.m4a", ctype="audio/mp4")
    assert r.status_code == 200, r.text
    check_prediction(r.json(), classifier.labels)
    assert r.json()["duration"] == pytest.approx(2.0, abs=0.1)


def test_predict_matches_the_python_api(client, classifier):
    data = wav(scene(9.0, seed=3))
    d = post_file(client, data).json()
    direct = classifier.classify_file(data)
    assert np.allclose([d["probabilities"][l] for l in classifier.labels], direct.probabilities, atol=1e-4)
    assert len(d["windows"]) == len(direct.windows)
    again = post_file(client, data).json()
    assert again["probabilities"] == d["probabilities"]
    assert again["spectrogram"] == d["spectrogram"]


def test_spectrogram_endpoint_matches_predict(client):
    data = wav(scene(6.0))
    r = post_file(client, data, path="/spectrogram")
    assert r.status_code == 200, r.text
    d = r.json()
    schemas.SpectrogramResponse.model_validate(d)
    assert d["duration"] == pytest.approx(6.0) and set(d) >= {"spectrogram", "duration", "sample_rate"}
    assert d["spectrogram"] == post_file(client, data).json()["spectrogram"]


def test_spectrogram_quantization_roundtrip(classifier):
    from envaudio.features import log_mel_spectrogram

    cfg = classifier.cfg
    db = log_mel_spectrogram(scene(4.0), cfg, fixed=False)
    payload = spectrogram_payload(db, cfg, 4.0)
    back = decode_payload(payload)
    step = (payload["db_max"] - payload["db_min"]) / 255
    assert np.abs(back - db).max() <= step / 2 + 1e-3
    # row 0 = lowest band: a low tone is brightest in the low rows
    low = spectrogram_payload(log_mel_spectrogram(tone(150, 2.0), cfg, fixed=False), cfg, 2.0)
    rows = decode_spectrogram(low).mean(axis=1)
    assert int(np.argmax(rows)) < 8


def test_silence_is_drawn_dark_under_a_readable_colour_bar(classifier):
    from envaudio.features import log_mel_spectrogram

    cfg = classifier.cfg
    for x in (np.zeros(22050, np.float32), noise(1.0, amp=1e-5)):  # digital silence, faint hiss
        payload = spectrogram_payload(log_mel_spectrogram(x, cfg, fixed=False), cfg, 1.0)
        assert payload["db_max"] - payload["db_min"] >= 40 and len(payload["db_ticks"]) >= 3
        levels = np.frombuffer(base64.b64decode(payload["data"]), np.uint8)
        assert levels.max() < 255  # not stretched over the whole colour scale
    assert levels.min() == 0 and set(np.frombuffer(base64.b64decode(spectrogram_payload(
        log_mel_spectrogram(np.zeros(22050, np.float32), cfg, fixed=False), cfg, 1.0)["data"]), np.uint8)) == {0}


def test_long_file_is_max_pooled_to_at_most_2000_columns(client):
    data = wav(clicks(90.0, 8000, every=7.3), 8000)  # 90 s -> 3876 STFT frames
    r = post_file(client, data, path="/spectrogram")
    assert r.status_code == 200, r.text
    sp = r.json()["spectrogram"]
    q = check_spectrogram(sp, 90.0)
    assert q.shape[1] <= 2000 and sp["time_downsample"] == 2
    assert sp["frame_seconds"] == pytest.approx(2 * VIEW.hop_length / VIEW.sample_rate)
    assert q.shape[1] * sp["frame_seconds"] == pytest.approx(90.0, abs=2 * sp["frame_seconds"])
    # max-pooling keeps the clicks visible
    assert (q.max(axis=0) > 200).sum() >= 10


def test_pool_time():
    db = np.arange(2 * 4001, dtype=np.float32).reshape(2, 4001)
    pooled, f = pool_time(db, 2000)
    assert f == 3 and pooled.shape == (2, 1334) and pooled[0, 0] == 2 and pooled[1, -1] == db[1, -1]
    same, f1 = pool_time(db[:, :2000], 2000)
    assert f1 == 1 and same.shape == (2, 2000)


# ---- bad input: always a 4xx with a readable detail, never a 500 ------------------------

def _truncated_header() -> bytes:
    return wav(tone(seconds=1.0))[:30]


def _unsupported_codec_wav() -> bytes:
    """A WAV whose fmt chunk names a codec nobody implements (format tag 0x7A7A)."""
    payload = bytes(4000)
    fmt = struct.pack("<HHIIHH", 0x7A7A, 1, 22050, 44100, 2, 16)
    body = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt + b"data" + struct.pack("<I", len(payload)) + payload
    return b"RIFF" + struct.pack("<I", len(body)) + body


def _nan_wav() -> bytes:
    x = tone(seconds=1.0)
    x[100] = np.nan
    return wav(x, subtype="FLOAT")


BAD_UPLOADS = {
    "random bytes": (np.random.default_rng(0).bytes(50_000), 422),
    "empty": (b"", 400),
    "text": (b"hello, this is not audio\n" * 100, 422),
    "truncated header": (_truncated_header(), 422),
    "unsupported codec": (_unsupported_codec_wav(), 422),
    "NaN samples": (_nan_wav(), 422),
    "json": (json.dumps({"audio": [0.1, 0.2]}).encode(), 422),
    "png": (base64.b64decode("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=="), 422),
}


@pytest.mark.parametrize("name", list(BAD_UPLOADS))
@pytest.mark.parametrize("path", ["/predict", "/spectrogram"])
def test_bad_uploads_are_4xx_with_detail(client, name, path):
    data, status = BAD_UPLOADS[name]
    r = post_file(client, data, path=path)
    assert r.status_code == status, (name, r.status_code, r.text)
    detail = r.json()["detail"]
    assert isinstance(detail, str) and len(detail) > 5


def _huge(seconds: float, sr: int, level: float) -> np.ndarray:
    return np.where(noise(seconds, sr) > 0, level, -level).astype(np.float32)


@pytest.mark.parametrize("path", ["/predict", "/spectrogram"])
def test_samples_that_overflow_when_resampled_are_422(client, path):
    """Finite float32 samples near the maximum become inf in the resampler."""
    r = post_file(client, wav(_huge(2.0, 44100, 3e38), 44100, subtype="FLOAT"), path=path)
    assert r.status_code == 422, r.text
    assert "overflowed" in r.json()["detail"]


def test_features_that_overflow_are_422(classifier):
    """Without RMS normalisation (a model may be trained so), loud-but-finite samples at the
    model's rate overflow in the STFT: the model's output and the spectrogram are checked."""
    import dataclasses

    from envaudio.predict import Classifier

    members = [dataclasses.replace(m, frontend=dataclasses.replace(m.frontend, rms_normalize=False))
               for m in classifier.model.members]
    clf = Classifier(dataclasses.replace(classifier.model, members=members), classifier.settings)
    # The spectrogram view is a member's front end (then it overflows too), or a display
    # log-mel of its own, RMS-normalised, which stays finite.
    view_overflows = clf.cfg in clf.model.frontends
    assert clf.cfg.rms_normalize is not view_overflows
    with client_for(create_app(classifier.settings, clf)) as c:
        rate = clf.sample_rate
        data = wav(_huge(2.0, rate, 1e30), rate, subtype="FLOAT")
        for path, params in (("/predict", {}), ("/predict", {"reduce_payload": "true"}), ("/spectrogram", {})):
            r = post_file(c, data, path=path, **params)
            if path == "/spectrogram" and not view_overflows:
                assert r.status_code == 200, r.text
                continue
            assert r.status_code == 422 and "not finite" in r.json()["detail"], (path, r.text)
        assert post_file(c, wav(noise(2.0))).status_code == 200


def test_truncated_audio_data_is_never_a_500(client, classifier):
    data = wav(noise(3.0))
    for cut in (44, 45, 1000, len(data) // 2):
        r = post_file(client, data[:cut])
        assert r.status_code in (200, 400, 422), (cut, r.status_code, r.text)
        if r.status_code == 200:
            check_prediction(r.json(), classifier.labels)
        else:
            assert isinstance(r.json()["detail"], str)


@pytest.mark.parametrize("sr", [8000, 22050, 192000])
@pytest.mark.parametrize("n", [1, 2, 100])
def test_a_few_samples_at_any_rate(client, sr, n):
    data = wav(np.full(n, 0.5, np.float32), sr)
    for path in ("/predict", "/spectrogram"):
        r = post_file(client, data, path=path)
        assert r.status_code in (200, 422), (path, r.status_code, r.text)
        if r.status_code == 422:
            assert "too short" in r.json()["detail"]


def test_missing_file_field(client):
    r = client.post("/predict", files={"audio": ("a.wav", wav(tone()), "audio/wav")})
    assert r.status_code == 422 and "'file'" in r.json()["detail"]
    r = client.post("/predict", data={"file": "not a file, a text field"})  # urlencoded
    assert r.status_code == 415
    body, ctype = multipart({"comment": "no file here"})
    r = client.post("/predict", content=body, headers={"content-type": ctype})
    assert r.status_code == 422 and "'file'" in r.json()["detail"]


def test_not_multipart_or_malformed_multipart(client):
    r = client.post("/predict", content=wav(tone()), headers={"content-type": "audio/wav"})
    assert r.status_code == 415 and "multipart/form-data" in r.json()["detail"]
    r = client.post("/predict")
    assert r.status_code == 415
    r = client.post("/predict", content=b"xx", headers={"content-type": "multipart/form-data"})
    assert r.status_code == 400 and "boundary" in r.json()["detail"]
    body, ctype = multipart({"file": ("a.wav", wav(tone()), "audio/wav")})
    r = client.post("/predict", content=body[: len(body) // 2], headers={"content-type": ctype})
    assert r.status_code == 400 and "cut off" in r.json()["detail"]
    r = client.post("/predict", content=b"garbage without any boundary" * 10, headers={"content-type": ctype})
    assert r.status_code == 400 and isinstance(r.json()["detail"], str)


def test_upload_size_limit_413(classifier):
    data = wav(noise(3.0))  # ~130 KB
    with make_client(classifier, max_upload_mb=0.05) as c:  # ~52 KB
        r = post_file(c, data)
        assert r.status_code == 413 and "MAX_UPLOAD_MB" in r.json()["detail"]
        # without Content-Length (chunked): counted while reading
        body, ctype = multipart({"file": ("a.wav", data, "audio/wav")})
        chunks = (body[i:i + 8192] for i in range(0, len(body), 8192))
        r = c.post("/predict", content=chunks, headers={"content-type": ctype})
        assert r.status_code == 413
        # just under the limit passes
        ok = wav(noise(1.0))  # ~44 KB
        assert len(ok) < 0.05 * 1024 * 1024 and post_file(c, ok).status_code == 200


def test_size_limit_from_environment(classifier, monkeypatch):
    monkeypatch.setenv("MAX_UPLOAD_MB", "0.01")
    s = Settings.from_env()
    assert s.max_upload_mb == 0.01
    with client_for(create_app(s, classifier)) as c:
        assert post_file(c, wav(noise(1.0))).status_code == 413


def test_duration_limit_413(classifier):
    with make_client(classifier, max_audio_seconds=5.0) as c:
        r = post_file(c, wav(noise(6.0, 8000), 8000))
        assert r.status_code == 413 and "MAX_AUDIO_SECONDS" in r.json()["detail"]
        r = post_file(c, encode(noise(6.0, 16000), 16000, "OGG", "VORBIS"), path="/spectrogram")
        assert r.status_code == 413
        assert post_file(c, wav(noise(4.5))).status_code == 200


@pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="needs ffmpeg")
def test_duration_limit_applies_to_ffmpeg_formats(classifier):
    data = ffmpeg_encode(noise(7.0, 16000), 16000, ".m4a", "-c:a", "aac", "-b:a", "32k")
    with make_client(classifier, max_audio_seconds=5.0) as c:
        r = post_file(c, data, name="long.m4a")
        assert r.status_code == 413


@pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="needs ffmpeg")
def test_temp_files_are_removed(client, monkeypatch, tmp_path):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    m4a = ffmpeg_encode(tone(440, 1.0, 22050), 22050, ".m4a", "-c:a", "aac")
    for data, _ in list(BAD_UPLOADS.values()) + [(m4a, 200)]:
        post_file(client, data)
    assert list(tmp_path.iterdir()) == []


# ---- CORS, examples, web app ------------------------------------------------------------

def test_cors_allowlist(classifier):
    with make_client(classifier, allowed_origins="http://good.example") as c:
        ok = c.options("/predict", headers={"Origin": "http://good.example",
                                            "Access-Control-Request-Method": "POST"})
        assert ok.headers.get("access-control-allow-origin") == "http://good.example"
        bad = c.options("/predict", headers={"Origin": "http://evil.example",
                                             "Access-Control-Request-Method": "POST"})
        assert "access-control-allow-origin" not in bad.headers
        r = c.get("/health", headers={"Origin": "http://good.example"})
        assert r.headers.get("access-control-allow-origin") == "http://good.example"


def test_examples(client, classifier):
    items = client.get("/examples").json()
    assert len(items) == 6
    for it in items:
        schemas.ExampleItem.model_validate(it)
        assert it["url"] == f"/examples/{it['file']}" and it["source"].startswith("https://freesound.org/")
        assert it["label"] in classifier.labels and "CC BY-NC" in it["attribution"]
    first = items[0]
    r = client.get(first["url"])
    assert r.status_code == 200 and r.headers["content-type"] == "audio/flac" and r.content[:4] == b"fLaC"
    # the example is a valid upload
    d = post_file(client, r.content, name=first["file"], ctype="audio/flac").json()
    check_prediction(d, classifier.labels)


@pytest.mark.parametrize("name", ["nope.flac", "examples.json", "..%2F..%2Fcnn.pt", "%2E%2E"])
def test_example_files_only_from_manifest(client, name):
    r = client.get(f"/examples/{name}")
    assert r.status_code == 404


def test_root_without_web_build_explains_how_to_build(classifier, tmp_path):
    with client_for(create_app(classifier.settings, classifier, web_dir=tmp_path / "none")) as c:
        r = c.get("/")
        assert r.status_code == 200 and "text/html" in r.headers["content-type"]
        assert "npm ci" in r.text and "npm run build" in r.text


def test_root_serves_the_built_web_app_after_the_api(classifier, tmp_path):
    (tmp_path / "assets").mkdir()
    (tmp_path / "index.html").write_text("<!doctype html><div id=root></div>")
    (tmp_path / "assets" / "app.js").write_text("console.log('hi')")
    with client_for(create_app(classifier.settings, classifier, web_dir=tmp_path)) as c:
        assert "id=root" in c.get("/").text
        assert c.get("/assets/app.js").text == "console.log('hi')"
        assert c.get("/health").json()["status"] == "ok"
        assert c.get("/examples").status_code == 200
        assert c.get("/docs").status_code == 200
        assert post_file(c, wav(tone())).status_code == 200


# ---- issue #21: the file's answer --------------------------------------------------------

def test_silence_names_no_class(client, classifier):
    d = post_file(client, wav(np.zeros(5 * 22050, np.float32))).json()
    check_prediction(d, classifier.labels)
    assert d["verdict"] == "silence" and d["events"] == [] and d["heard"] == []
    assert d["top_prediction"] is None and d["top_prediction_reason"] == "silence"
    assert d["top_k"] == []  # was the windows' mean guesses: "siren 0.44" for digital silence
    assert d["windows"] and all(w["label"] is None and w["verdict"] == "silence" for w in d["windows"])


def test_several_sounds_are_all_heard_longest_first(client, classifier):
    """Three bundled recordings (siren, dog bark, drilling) with 2 s of silence between."""
    from envaudio.audio import load_audio
    from conftest import EXAMPLES

    sr = classifier.sample_rate
    files = ["102871-8-0-0.flac", "100652-3-0-0.flac", "104817-4-0-0.flac"]
    parts = []
    for f in files:
        parts += [load_audio(EXAMPLES / f, sr), np.zeros(2 * sr, np.float32)]
    d = post_file(client, wav(np.concatenate(parts), sr), reduce_payload=True).json()
    check_prediction(d, classifier.labels)
    assert d["verdict"] == "sound" and len(d["heard"]) >= 2, d["heard"]
    for h in d["heard"]:
        mine = [e for e in d["events"] if e["label"] == h["label"]]
        assert h["seconds"] == pytest.approx(sum(e["end"] - e["start"] for e in mine), abs=2e-3)
        assert h["peak_confidence"] == pytest.approx(max(e["confidence"] for e in mine), abs=1e-4)
    assert d["top_prediction"]["label"] == d["heard"][0]["label"]


def test_openapi_documents_the_answer_fields(client):
    spec = client.get("/openapi.json").json()
    props = spec["components"]["schemas"]["PredictResponse"]["properties"]
    for name in ("heard", "top_prediction", "top_prediction_reason"):
        assert props[name].get("description"), name
    heard = spec["components"]["schemas"]["HeardClass"]["properties"]
    assert {"label", "seconds", "peak_confidence"} <= set(heard)


# ---- issue #30: one answer everywhere -----------------------------------------------------

@pytest.mark.parametrize("threshold", [None, "0.999"])
def test_python_rest_and_the_command_line_give_one_answer(classifier, tmp_path, threshold):
    """A file of several real sounds (and, with an unknown threshold no window reaches, one
    of none heard confidently): the Python API's `top_prediction`, /predict's and the
    command line's (its JSON and the first words of its line) are one answer."""
    from envaudio.audio import load_audio
    from conftest import EXAMPLES, run_cli

    sr = classifier.sample_rate
    parts = [np.zeros(sr, np.float32)]
    for f in ["108041-9-0-2.flac", "102871-8-0-0.flac", "100652-3-0-0.flac", "104817-4-0-0.flac"]:
        parts += [load_audio(EXAMPLES / f, sr), np.zeros(sr, np.float32)]
    path = tmp_path / "several.wav"
    path.write_bytes(wav(np.concatenate(parts), sr))
    clf = classifier if threshold is None else load_classifier(
        settings=classifier.settings.replace(unknown_threshold=float(threshold)))
    pred = clf.classify_file(path)
    with make_client(clf) as c:
        rest = post_file(c, path.read_bytes(), reduce_payload=True).json()
    env = {} if threshold is None else {"ENVAUDIO_UNKNOWN_THRESHOLD": threshold}
    cli_json = json.loads(run_cli("predict", path, "--json", "-", env=env).stdout)[0]
    line = run_cli("predict", path, env=env).stdout.splitlines()[0].removeprefix(f"{path}: ")
    top = pred.top_prediction
    if threshold is None:
        assert top is not None and pred.verdict == "sound"
        answer = {"label": top.label, "confidence": pytest.approx(top.confidence, abs=1e-4)}
        assert rest["top_prediction"] == answer and cli_json["top_prediction"] == answer
        assert line.startswith(f"{top.label} {top.seconds:.1f} s ({top.confidence:.2f})"), line
    else:
        assert top is None and pred.top_prediction_reason == "nothing heard confidently"
        assert rest["top_prediction"] is None and cli_json["top_prediction"] is None
        assert rest["top_prediction_reason"] == cli_json["top_prediction_reason"] == pred.top_prediction_reason
        assert line.startswith("not sure: nothing heard confidently (best guess "), line
    # the windows' average is told apart: bracketed and named, never the line's first words
    assert f"[windows averaged: {pred.average_label} " in line, line
    assert [t["label"] for t in rest["top_k"]][0] == pred.average_label
