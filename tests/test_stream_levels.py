"""The live stream on the streaming core (issue #28), against a real `envaudio serve`: each
prediction carries the A-weighted level of the latest hop and since the start, and its
events are the recording's own (as /predict and `predict` give them), each marked final
once the stream has moved past it; /predict gives the file's LAeq and LAFmax."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from envaudio import load_classifier
from envaudio.audio import load_audio
from server_helpers import ServerProcess, stream_messages, tone, wav

SR = 16000  # the client's rate: the server resamples it as a file is
EXAMPLES = Path(__file__).resolve().parents[1] / "src" / "envaudio" / "assets" / "examples"


@pytest.fixture(scope="module")
def server():
    with ServerProcess() as srv:
        yield srv
        srv.assert_clean_log()


def stream(server, x: np.ndarray) -> list[dict]:
    """The predictions of `x` streamed at SR in 0.25-s frames."""
    return [m for m in stream_messages(server, x, SR) if m["type"] == "prediction"]


def test_each_prediction_has_the_hops_laeq(server):
    """A 1-kHz tone of amplitude 0.1 (-23.0 dBFS): LAeq of the latest hop and since the
    start, within 0.1 dB, in dBFS (no calibration)."""
    preds = stream(server, tone(1000, 8.0, SR, 0.1))
    assert len(preds) >= 8
    for p in preds:
        lv = p["levels"]
        assert lv["unit"] == "dBFS"
        assert lv["laeq"] == pytest.approx(-23.01, abs=0.1) and lv["lamax"] == pytest.approx(-23.01, abs=0.15)
        assert lv["laeq_total"] == pytest.approx(-23.01, abs=0.1)


def test_events_are_the_recordings_and_become_final(server):
    clips = [load_audio(p, SR) for p in sorted(EXAMPLES.glob("*.flac"))[:3]]
    z = np.zeros(8 * SR, np.float32)
    x = np.concatenate([z[:SR], clips[0], z, clips[1], z, clips[2], z, z])
    preds = stream(server, x)
    final = {(e["label"], e["start"], e["end"]) for p in preds for e in p["events"] if e["final"]}
    shown = {(e["label"], e["start"], e["end"]) for p in preds for e in p["events"]}
    want = load_classifier().classify_waveform(x, SR).events
    assert len(want) >= 3
    whole = {(e.label, e.start, e.end) for e in want}
    assert final <= whole  # final events are the whole recording's
    assert {k for k in whole if k[2] < len(x) / SR - 25} <= final  # and given once the stream moved past them
    assert shown >= final
    for p in preds:  # a final event is never shown again as not final
        keys = [(e["label"], e["start"], e["end"]) for e in p["events"] if not e["final"]]
        assert not set(keys) & {k for k in final if k[2] < p["time"] - 25}


def test_predict_gives_the_files_levels(server):
    import httpx

    r = httpx.post(server.base + "/predict", files={"file": ("t.wav", wav(tone(1000, 6.0, SR, 0.1), SR), "audio/wav")},
                   params={"reduce_payload": True}, timeout=60)
    assert r.status_code == 200, r.text
    lv = r.json()["levels"]
    assert lv["unit"] == "dBFS" and lv["laeq"] == pytest.approx(-23.01, abs=0.1)
    assert lv["lamax"] == pytest.approx(-23.01, abs=0.1)
