"""Events, verdict and level through the REST API (in process) and the live stream
(a real `envaudio serve`), with generated audio at known times."""

from __future__ import annotations

import numpy as np
import pytest
from fastapi.testclient import TestClient

from envaudio import load_classifier
from envaudio.server import create_app, schemas
from envaudio.settings import Settings
from server_helpers import ServerProcess, noise, stream_messages, wav

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")
SR = 22050
NEVER_UNKNOWN = "1e-06"  # where events are is judged, not whether the model is sure of noise


@pytest.fixture(scope="module")
def client():
    clf = load_classifier(settings=Settings(unknown_threshold=float(NEVER_UNKNOWN)))
    with TestClient(create_app(clf.settings, clf), base_url="http://localhost") as c:
        yield c


def predict(client, x: np.ndarray, sr: int = SR) -> dict:
    r = client.post("/predict", files={"file": ("a.wav", wav(x, sr), "audio/wav")}, params={"reduce_payload": True})
    assert r.status_code == 200, r.text
    d = r.json()
    schemas.PredictResponse.model_validate(d)
    return d


def test_predict_events_at_known_times(client):
    z = lambda s: np.zeros(int(s * SR), np.float32)  # noqa: E731
    x = np.concatenate([z(3), noise(5, SR, 0.2, seed=1), z(4), noise(3, SR, 0.3, seed=2), z(3)])
    d = predict(client, x)
    assert d["verdict"] == "sound" and -25 < d["level_dbfs"] < -5
    ev = d["events"]
    for a, b in [(3.0, 8.0), (12.0, 15.0)]:
        inside = [e for e in ev if e["start"] < b and e["end"] > a]
        assert inside and abs(min(e["start"] for e in inside) - a) <= 1.0
        assert abs(max(e["end"] for e in inside) - b) <= 1.0
    assert not [e for e in ev if e["start"] >= 9.0 and e["end"] <= 11.0]  # the quiet gap
    assert len(d["windows"]) == 8 and d["windows"][1]["window_start"] == 2.0  # unchanged grid


@pytest.mark.parametrize("level", [None, -70])
def test_predict_silence(client, level):
    x = np.zeros(8 * SR, np.float32) if level is None else noise(8, SR, 10 ** (level / 20), seed=4)
    d = predict(client, x)
    assert d["verdict"] == "silence" and d["events"] == []
    assert d["level_dbfs"] == (-120.0 if level is None else pytest.approx(level, abs=1.5))


def test_config_tells_the_thresholds(client):
    cfg = client.get("/config").json()
    schemas.ConfigResponse.model_validate(cfg)
    assert cfg["silence_dbfs"] == -65.0 and cfg["event_hop_seconds"] == 1.0
    assert cfg["unknown_threshold"] == float(NEVER_UNKNOWN)


@pytest.fixture(scope="module")
def server():
    with ServerProcess(env={"ENVAUDIO_UNKNOWN_THRESHOLD": NEVER_UNKNOWN}) as srv:
        yield srv
        srv.assert_clean_log()


def test_stream_silence_then_sound_then_history(server):
    sr = 16000
    x = np.concatenate([np.zeros(6 * sr, np.float32), noise(4, sr, 0.2, seed=5), np.zeros(3 * sr, np.float32)])
    msgs = stream_messages(server, x, sr)
    status = [m for m in msgs if m["type"] == "status"]
    preds = [m for m in msgs if m["type"] == "prediction"]
    assert status and all(schemas.WsStatus.model_validate(m) for m in status)
    assert status[0]["current_dbfs"] == -120.0
    for p in preds:
        schemas.WsPrediction.model_validate(p)
    by_time = {p["time"]: p for p in preds}
    assert by_time[5.0]["verdict"] == "silence" and by_time[5.0]["events"] == []
    assert by_time[5.0]["level_dbfs"] == -120.0
    assert by_time[8.0]["verdict"] != "silence" and by_time[8.0]["current_dbfs"] > -25
    last = by_time[13.0]
    assert last["current_dbfs"] == -120.0
    ev = last["events"]  # the recent history: the burst at 6-10 s of the stream
    assert ev and abs(ev[0]["start"] - 6.0) <= 1.0 and abs(ev[-1]["end"] - 10.0) <= 1.0
