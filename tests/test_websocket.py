"""WS /ws/predict against a real `envaudio serve` (websockets client), plus unit tests of
the ring buffer and the cadence."""

from __future__ import annotations

import json

import numpy as np
import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from envaudio.server import schemas
from envaudio.server.stream import RingBuffer
from server_helpers import ServerProcess, decode_spectrogram, noise, scene, tone, wav

RECV_TIMEOUT = 30


@pytest.fixture(scope="module")
def server():
    with ServerProcess() as srv:
        yield srv
        srv.assert_clean_log()  # every bad frame and message above was handled


def ws_connect(server, query: str = "", **kw):
    return connect(server.ws_base + "/ws/predict" + query, open_timeout=20, max_size=2**24, **kw)


def recv(ws) -> dict:
    return json.loads(ws.recv(timeout=RECV_TIMEOUT))


def start(ws, **config) -> dict:
    ws.send(json.dumps({"sample_rate": 16000, **config}))
    msg = recv(ws)
    assert msg["type"] == "ready", msg
    schemas.WsReady.model_validate(msg)
    return msg


def model_rate(server) -> int:
    """The sample rate of the model the server runs (the bundled default's, unless told)."""
    import httpx

    return httpx.get(server.base + "/config", timeout=30).json()["sample_rate"]


def send_audio(ws, x: np.ndarray, chunk: int) -> None:
    for i in range(0, len(x), chunk):
        ws.send(x[i:i + chunk].astype("<f4").tobytes())


def collect(ws, n_predictions: int) -> list[dict]:
    """Messages up to and including the n-th prediction."""
    out, n = [], 0
    while n < n_predictions:
        m = recv(ws)
        out.append(m)
        n += m["type"] == "prediction"
    return out


def without_level(msg: dict) -> dict:
    """A status message without its level meter reading (checked to be a level)."""
    assert -120 <= msg.pop("current_dbfs") <= 0
    return msg


def expect_close(ws, code: int = 1008) -> dict:
    """The error message the server sends before closing, and the close code."""
    err = recv(ws)
    assert err["type"] == "error" and isinstance(err["error"], str)
    with pytest.raises(ConnectionClosed) as info:
        ws.recv(timeout=RECV_TIMEOUT)
    assert info.value.rcvd is not None and info.value.rcvd.code == code
    return err


def check_window_answer(p: dict) -> None:
    """A window's answer by /predict's rule (issue #30): its best class when the verdict is
    "sound", else null with the reason (and no guesses in silence)."""
    if p["verdict"] == "sound":
        assert p["top_prediction"]["label"] == p["top_k"][0]["label"], p
        assert p["top_prediction"]["confidence"] == p["top_k"][0]["confidence"]
        assert p["top_prediction_reason"] is None
    else:
        assert p["top_prediction"] is None, p
        assert p["top_prediction_reason"] == ("silence" if p["verdict"] == "silence" else "nothing heard confidently")
        assert (p["top_k"] == []) == (p["verdict"] == "silence"), p


# ---- protocol --------------------------------------------------------------------------

def test_ready_message(server):
    with ws_connect(server) as ws:
        msg = start(ws, sample_rate=48000, duration=4.0, top_k=5)
        assert msg["sample_rate"] == 48000 and msg["model_sample_rate"] == model_rate(server)
        assert msg["window_seconds"] == 4.0 and msg["hop_seconds"] == 0.5 and msg["top_k"] == 5


def test_cadence_status_then_predictions_every_half_second(server):
    """6 s in 0.25-s chunks at 16 kHz (resampled on the server): status messages while
    the first window fills, then predictions at 4.0, 4.5, 5.0, 5.5, 6.0 s."""
    with ws_connect(server) as ws:
        start(ws, sample_rate=16000)
        send_audio(ws, scene(6.0, 16000), 4000)
        msgs = collect(ws, 5)
    statuses = [m for m in msgs if m["type"] == "status"]
    preds = [m for m in msgs if m["type"] == "prediction"]
    assert [m["type"] for m in msgs] == ["status"] * 15 + ["prediction"] * 5
    assert [s["buffered_seconds"] for s in statuses] == [0.25 * i for i in range(1, 16)]
    assert all(s["window_seconds"] == 4.0 for s in statuses)
    assert [p["time"] for p in preds] == [4.0, 4.5, 5.0, 5.5, 6.0]
    labels = list(preds[0]["probabilities"])
    for p in preds:
        schemas.WsPrediction.model_validate(p)
        assert p["window_start"] == pytest.approx(p["time"] - 4.0) and p["window_end"] == p["time"]
        probs = np.array(list(p["probabilities"].values()))
        assert abs(probs.sum() - 1) < 1e-3 and len(p["top_k"]) == 3
        assert p["top_k"][0]["label"] == labels[int(np.argmax(probs))]
        check_window_answer(p)
        sp = p["spectrogram"]
        assert decode_spectrogram(sp).shape == (64, 173) and sp["duration"] == 4.0
        assert 0 < p["compute_ms"] < 1000


def test_stream_at_model_rate_matches_predict(server):
    """At the model's rate nothing is resampled: the streamed window is exactly the clip, so
    the prediction and spectrogram equal those of POST /predict."""
    import httpx

    sr = model_rate(server)
    x = scene(4.0, sr, seed=7)
    rest = httpx.post(server.base + "/predict", files={"file": ("a.wav", wav(x, sr, subtype="FLOAT"), "audio/wav")},
                      timeout=60).json()
    with ws_connect(server) as ws:
        start(ws, sample_rate=sr)
        send_audio(ws, x, sr // 4)
        pred = [m for m in collect(ws, 1) if m["type"] == "prediction"][0]
    assert pred["time"] == 4.0
    for label, p in rest["probabilities"].items():
        assert pred["probabilities"][label] == pytest.approx(p, abs=2e-5)
    # the same picture; /predict's in dBFS, the stream's until its gain_db is taken off
    ws_sp, rest_sp = pred["spectrogram"], rest["spectrogram"]
    step = (rest_sp["db_max"] - rest_sp["db_min"]) / 255
    from envaudio.server.spectrogram import decode_payload

    assert np.allclose(decode_payload(ws_sp) - ws_sp["gain_db"], decode_payload(rest_sp), atol=1.01 * step)
    assert rest_sp["db_max"] <= 0  # a sound well below full scale stays below 0 dBFS


def test_gain_db_gives_the_input_level_back(server):
    """The model sees every window at the same RMS; gain_db says by how much each was
    changed, so a client can draw consecutive windows at their real level."""
    x = tone(440, 4.0, 16000, amp=0.02)
    out = []
    for scale in (1.0, 10.0):  # the same sound, 20 dB louder
        with ws_connect(server) as ws:
            start(ws)
            send_audio(ws, x * scale, 4000)
            pred = [m for m in collect(ws, 1) if m["type"] == "prediction"][0]
        out.append(pred["spectrogram"])
    quiet, loud = out
    # normalised: the model input is the same (to a quantisation step)
    assert np.abs(decode_spectrogram(quiet).astype(int) - decode_spectrogram(loud)).max() <= 1
    assert quiet["db_max"] == pytest.approx(loud["db_max"], abs=0.05)
    assert quiet["gain_db"] - loud["gain_db"] == pytest.approx(20.0, abs=0.01)
    assert quiet["gain_db"] == pytest.approx(20 * np.log10(0.1 / (0.02 / np.sqrt(2))), abs=0.2)


def test_big_frames_crossing_several_hops_give_one_prediction_each(server):
    with ws_connect(server) as ws:
        start(ws, sample_rate=8000)
        send_audio(ws, noise(7.0, 8000), 8000)  # 1-s frames
        msgs = collect(ws, 4)
    assert [m["time"] for m in msgs if m["type"] == "prediction"] == [4.0, 5.0, 6.0, 7.0]


def test_reset_clears_the_buffer(server):
    with ws_connect(server) as ws:
        start(ws)
        send_audio(ws, noise(4.5, 16000), 8000)
        assert [m["time"] for m in collect(ws, 2) if m["type"] == "prediction"] == [4.0, 4.5]
        ws.send("reset")
        assert recv(ws) == {"type": "reset"}
        send_audio(ws, tone(300, 2.0, 16000), 8000)  # half a window: status only
        msgs = [recv(ws) for _ in range(4)]
        assert [m["type"] for m in msgs] == ["status"] * 4
        assert msgs[-1]["buffered_seconds"] == 2.0
        ws.send(json.dumps({"type": "reset"}))
        assert recv(ws)["type"] == "reset"
        send_audio(ws, tone(300, 4.0, 16000), 8000)
        preds = [m for m in collect(ws, 1) if m["type"] == "prediction"]
        assert preds[0]["time"] == 4.0  # counted from the reset


def test_reduce_payload_query(server):
    with ws_connect(server, "?reduce_payload=true") as ws:
        assert start(ws)["reduce_payload"] is True
        send_audio(ws, noise(4.0, 16000), 16000)
        pred = [m for m in collect(ws, 1) if m["type"] == "prediction"][0]
        assert pred.get("spectrogram") is None and len(json.dumps(pred)) < 2000
    with ws_connect(server) as ws:
        start(ws, reduce_payload=True, top_k=1)
        send_audio(ws, noise(4.0, 16000), 16000)
        pred = [m for m in collect(ws, 1) if m["type"] == "prediction"][0]
        assert pred.get("spectrogram") is None and len(pred["top_k"]) == 1


# ---- bad frames: an error message, and the stream goes on ---------------------------------

@pytest.mark.parametrize("frame,needle", [
    (b"\x00" * 6, "multiple of 4"),
    (b"", "empty"),
    (np.array([0.1, np.nan, 0.2], "<f4").tobytes(), "NaN"),
    (np.array([0.1, np.inf], "<f4").tobytes(), "NaN or infinite"),
    (np.zeros(16000 * 6, "<f4").tobytes(), "too long"),
])
def test_bad_frames_get_an_error_and_the_stream_goes_on(server, frame, needle):
    with ws_connect(server) as ws:
        start(ws)
        ws.send(noise(0.5, 16000).tobytes())
        assert without_level(recv(ws)) == {"type": "status", "buffered_seconds": 0.5, "window_seconds": 4.0}
        ws.send(frame)
        err = recv(ws)
        assert err["type"] == "error" and needle in err["error"], err
        ws.send(noise(0.5, 16000).tobytes())  # the bad frame was dropped, not buffered
        assert without_level(recv(ws)) == {"type": "status", "buffered_seconds": 1.0, "window_seconds": 4.0}


def test_unknown_text_and_bad_reconfig_are_not_fatal(server):
    with ws_connect(server) as ws:
        start(ws)
        ws.send("hello?")
        assert "unknown message" in recv(ws)["error"]
        ws.send(json.dumps({"sample_rate": 5}))
        err = recv(ws)
        assert err["type"] == "error" and "previous config" in err["error"]
        ws.send(noise(0.5, 16000).tobytes())
        assert recv(ws)["buffered_seconds"] == 0.5
        ws.send(json.dumps({"sample_rate": 44100}))  # a valid re-config: new stream
        assert recv(ws)["sample_rate"] == 44100
        ws.send(noise(0.5, 44100).tobytes())
        assert recv(ws)["buffered_seconds"] == 0.5


@pytest.mark.parametrize("text", ["[" * 100_000 + "]" * 100_000, "[" * 1500 + "]" * 1500,
                                  '{"sample_rate": ' * 1500, "x" * 100_000])
def test_unparseable_text_mid_stream_is_not_fatal(server, text):
    with ws_connect(server) as ws:
        start(ws)
        ws.send(noise(0.5, 16000).tobytes())
        assert recv(ws)["buffered_seconds"] == 0.5
        ws.send(text)
        assert "unknown message" in recv(ws)["error"]
        ws.send(noise(0.5, 16000).tobytes())
        assert recv(ws)["buffered_seconds"] == 1.0


def test_samples_that_overflow_when_resampled_skip_the_window_not_the_stream(server):
    """Finite float32 samples near the maximum (3e38) become inf in the resampler: those
    windows get an error; once the samples have left the window, predictions resume."""
    huge = np.where(noise(4.0, 16000) > 0, 3e38, -3e38).astype("<f4")
    with ws_connect(server) as ws:
        start(ws, sample_rate=16000)
        send_audio(ws, huge, 16000)
        msgs = [recv(ws) for _ in range(4)]
        assert [m["type"] for m in msgs] == ["status"] * 3 + ["error"], msgs
        assert "overflowed" in msgs[-1]["error"] and "window skipped" in msgs[-1]["error"]
        send_audio(ws, noise(4.0, 16000), 16000)
        msgs = [recv(ws) for _ in range(4)]
        assert [m["type"] for m in msgs] == ["error"] * 3 + ["prediction"], msgs
        assert msgs[-1]["time"] == 8.0


# ---- fatal protocol errors: error message, then close 1008 --------------------------------

@pytest.mark.parametrize("first,needle", [
    (np.zeros(1600, "<f4").tobytes(), "config"),          # audio before the config
    ("not json", "JSON"),
    (json.dumps([16000]), "JSON object"),
    (json.dumps({"duration": 4.0}), "sample_rate"),
    (json.dumps({"sample_rate": 4000}), "sample_rate"),
    (json.dumps({"sample_rate": 1}), "sample_rate"),
    ("[" * 100_000 + "]" * 100_000, "JSON object"),  # deep nesting: RecursionError in json
    ("[" * 1500 + "]" * 1500, "JSON object"),  # short enough to be parsed, still too deep
    (json.dumps({"sample_rate": 400000}), "sample_rate"),
    (json.dumps({"sample_rate": "fast"}), "sample_rate"),
    (json.dumps({"sample_rate": 16000, "duration": 2.0}), "duration"),
    (json.dumps({"sample_rate": 16000, "top_k": 0}), "top_k"),
    (json.dumps({"sample_rate": 16000, "top_k": 11}), "top_k"),
    ("reset", "JSON"),
])
def test_fatal_first_message_closes_with_1008(server, first, needle):
    with ws_connect(server) as ws:
        ws.send(first)
        err = expect_close(ws, 1008)
        assert needle in err["error"], err


def test_duration_close_to_the_model_window_is_accepted(server):
    with ws_connect(server) as ws:
        assert start(ws, duration=4.02)["window_seconds"] == 4.0


def test_foreign_browser_origin_is_refused(server):
    from websockets.exceptions import InvalidStatus

    with pytest.raises(InvalidStatus) as info:
        with connect(server.ws_base + "/ws/predict", origin="http://evil.example", open_timeout=20):
            pass
    assert info.value.response.status_code == 403
    with connect(server.ws_base + "/ws/predict", origin="http://localhost:5173", open_timeout=20) as ws:
        start(ws)


# ---- units -------------------------------------------------------------------------------

def test_ring_buffer_keeps_the_latest_samples_in_order():
    rb = RingBuffer(10)
    rb.write(np.arange(4, dtype=np.float32))
    assert rb.latest().tolist() == [0, 1, 2, 3]
    rb.write(np.arange(4, 12, dtype=np.float32))
    assert rb.latest().tolist() == list(range(2, 12))
    rb.write(np.arange(12, 15, dtype=np.float32))
    assert rb.latest().tolist() == list(range(5, 15))
    rb.write(np.arange(100, 125, dtype=np.float32))  # bigger than the buffer
    assert rb.latest().tolist() == list(range(115, 125))
    rb.clear()
    assert rb.latest().size == 0


def test_a_windows_answer_is_null_in_silence_and_when_unsure():
    """Issue #30: the stream's `top_prediction` was never null although its schema allowed
    it. Silence then noise, on a server whose unknown threshold no window reaches, and on
    one that is never unsure: "silence", "nothing heard confidently", then a class."""
    sr = 16000
    x = np.concatenate([np.zeros(5 * sr, np.float32), noise(5.0, sr, 0.2, seed=3)])
    seen = {}
    for threshold, loud in [("0.999", "unknown"), ("1e-6", "sound")]:
        with ServerProcess(env={"ENVAUDIO_UNKNOWN_THRESHOLD": threshold}) as srv:
            with ws_connect(srv) as ws:
                start(ws, sample_rate=sr)
                send_audio(ws, x, sr // 2)
                preds = [m for m in collect(ws, 13) if m["type"] == "prediction"]
        for p in preds:
            schemas.WsPrediction.model_validate(p)
            check_window_answer(p)
        by_time = {p["time"]: p for p in preds}
        assert by_time[4.5]["verdict"] == "silence" and by_time[4.5]["top_prediction_reason"] == "silence"
        assert by_time[10.0]["verdict"] == loud
        seen[threshold] = by_time[10.0]
    assert seen["0.999"]["top_prediction"] is None and seen["0.999"]["top_k"]
    assert seen["1e-6"]["top_prediction"]["label"] == seen["0.999"]["top_k"][0]["label"]
