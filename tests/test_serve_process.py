"""`envaudio serve` as a real process: startup, concurrency, limits on the wire, workers."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest
from websockets.sync.client import connect

from envaudio.settings import BUNDLED_MODEL
from server_helpers import ServerProcess, free_port, multipart, noise, peak_rss_mb, scene, wav

# the thread counts asserted below are the defaults: ignore the caller's overrides
CLEAN_ENV = {"ENVAUDIO_TORCH_THREADS": None, "ENVAUDIO_SERVE_WORKERS": None}


@pytest.fixture(scope="module")
def server():
    with ServerProcess(env={"MAX_UPLOAD_MB": "20", **CLEAN_ENV}) as srv:
        yield srv
        srv.assert_clean_log()


def post(server, data: bytes, path="/predict", timeout=120, **params):
    return httpx.post(server.base + path, files={"file": ("a.wav", data, "audio/wav")},
                      params=params, timeout=timeout)


def stream_ws(server, seconds: float, sr: int, results: dict, key: str) -> None:
    try:
        with connect(server.ws_base + "/ws/predict", open_timeout=30, max_size=2**24) as ws:
            ws.send(json.dumps({"sample_rate": sr}))
            assert json.loads(ws.recv(timeout=30))["type"] == "ready"
            x = scene(seconds, sr, seed=len(key))
            chunk = sr // 4
            for i in range(0, len(x), chunk):
                ws.send(x[i:i + chunk].tobytes())
            times, n_expected = [], int((seconds - 4.0) / 0.5) + 1
            while len(times) < n_expected:
                m = json.loads(ws.recv(timeout=60))
                if m["type"] == "prediction":
                    times.append(m["time"])
                elif m["type"] == "error":
                    raise AssertionError(m)
            results[key] = times
    except BaseException as e:  # reported by the main thread
        results[key] = e


def test_serves_health_predict_and_docs(server):
    h = httpx.get(server.base + "/health", timeout=10).json()
    assert h["status"] == "ok" and h["model"] == BUNDLED_MODEL.name
    assert h["torch_threads"] == max(1, (os.cpu_count() or 1) // 1)
    r = post(server, wav(scene(4.0)))
    assert r.status_code == 200 and r.json()["windows"][0]["window_end"] == 4.0
    assert r.headers["content-type"] == "application/json"
    assert httpx.get(server.base + "/docs", timeout=10).status_code == 200
    assert httpx.get(server.base + "/config", timeout=10).json()["max_upload_mb"] == 20  # env reached the app


def test_two_streams_and_predictions_at_once(server):
    results: dict = {}
    threads = [threading.Thread(target=stream_ws, args=(server, 6.0, 16000, results, "ws-a")),
               threading.Thread(target=stream_ws, args=(server, 5.0, 44100, results, "ws-bb"))]
    for i in range(4):
        threads.append(threading.Thread(target=lambda i=i: results.__setitem__(
            f"predict-{i}", post(server, wav(scene(4.0 + 3 * i, seed=i))))))
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert results["ws-a"] == [4.0, 4.5, 5.0, 5.5, 6.0], results["ws-a"]
    assert results["ws-bb"] == [4.0, 4.5, 5.0], results["ws-bb"]
    for i in range(4):
        r = results[f"predict-{i}"]
        assert r.status_code == 200, r.text
        assert len(r.json()["windows"]) == len(range(0, 3 * i + 1, 2)) + (i % 2)


def test_health_answers_while_a_long_prediction_runs(server):
    long_file = wav(noise(600.0, 8000, 0.2), 8000)  # 10 minutes (the limit), 9.6 MB
    box: dict = {}

    def long_predict():
        t0 = time.monotonic()
        box["response"] = post(server, long_file, reduce_payload="true")
        box["done"] = time.monotonic() - t0

    t = threading.Thread(target=long_predict)
    t.start()
    latencies = []
    with httpx.Client(base_url=server.base, timeout=10) as c:
        while t.is_alive():
            t0 = time.monotonic()
            assert c.get("/health").status_code == 200
            latencies.append(time.monotonic() - t0)
            time.sleep(0.02)
    t.join()
    r = box["response"]
    assert r.status_code == 200, r.text
    assert len(r.json()["windows"]) == 299
    assert len(latencies) >= 3, f"prediction took {box['done']:.2f} s, {len(latencies)} health checks"
    assert max(latencies) < 1.0, latencies


def _raw_request(port: int, head: bytes, body_parts: list[bytes]) -> bytes:
    """Send a hand-made HTTP request (possibly never finishing its body) and return the
    response (head + body)."""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as s:
        s.sendall(head)
        try:
            for part in body_parts:
                s.sendall(part)
        except OSError:
            pass  # the server may close the connection once it has answered
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = s.recv(65536)
            if not chunk:
                return data
            data += chunk
        head_part, _, body = data.partition(b"\r\n\r\n")
        length = next((int(line.split(b":")[1]) for line in head_part.split(b"\r\n")
                       if line.lower().startswith(b"content-length:")), 0)
        while len(body) < length:
            chunk = s.recv(65536)
            if not chunk:
                break
            body += chunk
        return head_part + b"\r\n\r\n" + body


def test_oversized_content_length_is_refused_before_the_body_is_sent(server):
    body, ctype = multipart({"file": ("a.wav", b"RIFF", "audio/wav")})
    head = (f"POST /predict HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: {ctype}\r\n"
            f"Content-Length: {500 * 1024 * 1024}\r\n\r\n").encode()
    t0 = time.monotonic()
    resp = _raw_request(server.port, head, [])  # not a byte of the 500 MB is sent
    assert resp.startswith(b"HTTP/1.1 413"), resp[:200]
    assert b"MAX_UPLOAD_MB" in resp and time.monotonic() - t0 < 10


def test_oversized_chunked_upload_is_cut_off_while_reading(server):
    boundary = "b0undary"
    head = (f"POST /predict HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            f"Content-Type: multipart/form-data; boundary={boundary}\r\n"
            f"Transfer-Encoding: chunked\r\n\r\n").encode()
    first = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.wav\"\r\n"
             f"Content-Type: audio/wav\r\n\r\n").encode()
    mb = b"\x00" * (1024 * 1024)

    def chunk(b: bytes) -> bytes:
        return f"{len(b):x}\r\n".encode() + b + b"\r\n"

    parts = [chunk(first)] + [chunk(mb)] * 40  # 40 MB against a 20 MB limit, never finished
    resp = _raw_request(server.port, head, parts)
    assert resp.startswith(b"HTTP/1.1 413"), resp[:200]
    # and the server is fine afterwards
    assert httpx.get(server.base + "/health", timeout=10).status_code == 200


def test_bad_model_fails_fast_with_a_message(tmp_path):
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a model")
    for model in (bad, tmp_path / "missing.pt"):
        errors = []
        for workers in ("1", "2"):  # checked in this process, or in a subprocess for a master
            out = subprocess.run([sys.executable, "-m", "envaudio", "serve", "--port", str(free_port()),
                                  "--model", str(model), "--workers", workers],
                                 capture_output=True, text=True, timeout=120)
            assert out.returncode == 2, out
            assert out.stderr.startswith("envaudio serve: error:") and model.name in out.stderr, out.stderr
            errors.append(out.stderr)
        assert errors[0] == errors[1]


def test_the_command_line_parser_does_not_load_torch():
    """`envaudio serve --workers N`'s master parses the same command line as every command."""
    code = ("import sys; from envaudio.cli import build_parser; from envaudio.recipes import recipe; "
            "build_parser(); assert 'torch' not in sys.modules, 'torch imported'; "
            "from envaudio.networks import yamnet; assert recipe('yamnet') == yamnet.RECIPE")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr


def test_workers_with_model_from_the_command_line(tmp_path):
    model = tmp_path / "copy-of-cnn.pt"
    shutil.copy(BUNDLED_MODEL, model)
    with ServerProcess("--model", str(model), workers=2, env=CLEAN_ENV) as srv:
        healths = [httpx.get(srv.base + "/health", timeout=10).json() for _ in range(4)]
        assert {h["model"] for h in healths} == {"copy-of-cnn.pt"}
        assert {h["torch_threads"] for h in healths} == {max(1, (os.cpu_count() or 1) // 2)}
        rs = [post(srv, wav(scene(4.0, seed=i))) for i in range(3)]
        assert all(r.status_code == 200 for r in rs)
        assert "2 workers" in srv.log()
        # the master only supervises: no torch, no model (they were ~250 MB)
        master = Path(f"/proc/{srv.proc.pid}")
        if master.exists():
            assert "libtorch" not in (master / "maps").read_text()
            assert peak_rss_mb(srv.proc.pid)[0] < 120, peak_rss_mb(srv.proc.pid)
    assert srv.proc.returncode == 0  # SIGTERM: a clean shutdown
