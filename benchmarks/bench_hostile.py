"""Hostile input against a real `envaudio serve`: what each costs the server.

Builds the inputs of the hardening review (decode bombs, playlists naming a file on the
server's disk, absurd sample rates, truncated files, overflowing samples, deeply nested
JSON on the WebSocket, slow clients), sends each to `envaudio serve` on a free loopback
port and prints, per input: the answer, the wall time and the server process's peak
memory increase during it (its VmHWM, reset before each input via /proc/PID/clear_refs).
Linux only; needs ffmpeg (and the flac tool for the streamed FLAC).

    python benchmarks/bench_hostile.py [--model FILE]
"""

from __future__ import annotations

import argparse
import json
import socket
import sys
import time
from pathlib import Path

import httpx
import numpy as np
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from server_helpers import (EXACT_RSS_ENV, RssIncrease, ServerProcess, aac_bomb, flac_unknown_length,  # noqa: E402
                            hls_playlist, m4a_claiming, noise, scene, tone, wav, wav_at_rate)

EXAMPLE = ROOT / "src" / "envaudio" / "assets" / "examples" / "100652-3-0-0.flac"


def uploads() -> list[tuple[str, bytes]]:
    huge = np.where(noise(2.0, 44100) > 0, 3e38, -3e38).astype(np.float32)
    clip = wav(noise(3.0))
    return [
        ("normal 4-s WAV (baseline)", wav(scene(4.0))),
        ("ADTS AAC, 3 h of silence (probe says ~210 s)", aac_bomb(3 * 3600)),
        ("M4A claiming 4 s, holding 6 h", m4a_claiming(6 * 3600, claims=4.0)),
        ("HLS playlist naming a local FLAC", hls_playlist(EXAMPLE)),
        ("'live' HLS playlist (no end marker)", hls_playlist(EXAMPLE, live=True)),
        ("ffconcat script naming a local FLAC", f"ffconcat version 1.0\nfile {EXAMPLE}\n".encode()),
        ("WAV, 599 samples at 1 Hz", wav_at_rate(noise(599 / 8000, 8000), 1)),
        ("WAV at 400 kHz", wav_at_rate(noise(1.0, 8000), 400_000)),
        ("WAV cut to 60 bytes", clip[:60]),
        ("WAV cut to 100 bytes", clip[:100]),
        ("WAV of 1 sample", wav(np.full(1, 0.5, np.float32))),
        ("float WAV near 3e38 at 44.1 kHz (overflows when resampled)", wav(huge, 44100, "FLOAT")),
        ("streamed FLAC, total_samples = 0 (legal)", flac_unknown_length(tone(440, 4.0))),
        ("normal 10-min WAV at 8 kHz (accepted: at the duration limit)", wav(noise(600.0, 8000), 8000)),
    ]


def post(base: str, data: bytes, path: str = "/predict") -> httpx.Response:
    return httpx.post(base + path, files={"file": ("upload", data, "application/octet-stream")},
                      params={"reduce_payload": "true"} if path == "/predict" else None, timeout=120)


def ws_case(srv: ServerProcess, first: str, then: bytes | str | None = None) -> str:
    """What the server answers on a stream: the messages' types, the close code."""
    out = []
    with connect(srv.ws_base + "/ws/predict", open_timeout=20, max_size=2**24) as ws:
        try:
            ws.send(first)
            out.append(json.loads(ws.recv(timeout=20))["type"])
            if then is not None:
                ws.send(then)
                out.append(json.loads(ws.recv(timeout=20))["type"])
                ws.send(noise(0.5, 16000).tobytes())  # and the stream goes on?
                out.append(json.loads(ws.recv(timeout=20))["type"])
            else:
                ws.recv(timeout=20)
        except ConnectionClosed as e:
            out.append(f"close {e.rcvd.code if e.rcvd else '-'}")
    return ", ".join(out)


def slow_client(srv: ServerProcess, head: bytes, trickle: bytes) -> str:
    """Send `head`, then `trickle` a byte every 0.25 s, until the server answers."""
    with socket.create_connection(("127.0.0.1", srv.port)) as s:
        s.sendall(head)
        s.settimeout(0.25)
        data = b""
        for byte in trickle:
            try:
                s.sendall(bytes([byte]))
                data += s.recv(65536)
            except socket.timeout:
                continue
            except OSError:
                break
            if data:
                break
    return data.split(b"\r\n", 1)[0].decode(errors="replace")


def row(name: str, size: int | None, status, seconds: float, mb: float) -> None:
    size_s = "" if size is None else (f"{size / 1e6:.2f} MB" if size >= 100_000 else f"{size:,} B")
    print(f"| {name} | {size_s} | {status} | {seconds:.2f} s | {mb:+.0f} MB |", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default=None)
    args = ap.parse_args()
    cases = uploads()
    srv = ServerProcess(*(["--model", args.model] if args.model else []),
                        env={"ENVAUDIO_SERVE_WORKERS": None, "ENVAUDIO_TORCH_THREADS": None, **EXACT_RSS_ENV})
    try:
        print(f"envaudio serve on {srv.base}, default settings (MAX_AUDIO_SECONDS 600, MAX_UPLOAD_MB 50, "
              "HEADER_TIMEOUT_SECONDS 10, UPLOAD_TIMEOUT_SECONDS 60)\n")
        print("| input | size | answer | time | server peak RSS |")
        print("| --- | ---: | --- | ---: | ---: |")
        post(srv.base, wav(scene(4.0)))  # warm
        for name, data in cases:
            with RssIncrease(srv.proc.pid) as mem:
                t0 = time.monotonic()
                r = post(srv.base, data)
                seconds = time.monotonic() - t0
            detail = r.json().get("detail", "") if r.status_code != 200 else f"{r.json()['duration']:.1f} s classified"
            row(name, len(data), f"{r.status_code} {detail}", seconds, mem.mb)
        for name, first, then in [
            ("WS config `[`x100000 `]`x100000", "[" * 100_000 + "]" * 100_000, None),
            ("WS the same mid-stream", json.dumps({"sample_rate": 16000}), "[" * 100_000 + "]" * 100_000),
            ("WS 4 s at 3e38 (overflows when resampled), then 0.5 s of noise", json.dumps({"sample_rate": 16000}),
             np.full(64000, 3e38, "<f4").tobytes()),
        ]:
            with RssIncrease(srv.proc.pid) as mem:
                t0 = time.monotonic()
                answer = ws_case(srv, first, then)
                seconds = time.monotonic() - t0
            row(name, None, answer, seconds, mem.mb)
        for name, head, trickle in [
            ("headers at 1 byte / 0.25 s", b"", b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: " + b"a" * 400),
            ("upload body at 1 byte / 0.25 s",
             b"POST /predict HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: multipart/form-data; boundary=x\r\n"
             b"Content-Length: 100000\r\n\r\n--x\r\nContent-Disposition: form-data; name=\"file\"; "
             b"filename=\"a.wav\"\r\n\r\n", b"a" * 400),
        ]:
            t0 = time.monotonic()
            answer = slow_client(srv, head, trickle)
            row(name, None, answer, time.monotonic() - t0, 0.0)
        t0 = time.monotonic()
        r = httpx.get(srv.base + "/health", headers={"Host": "evil.example"}, timeout=10)
        row("GET /health with Host: evil.example (DNS rebinding)", None, f"{r.status_code} {r.json()['detail']}",
            time.monotonic() - t0, 0.0)
    finally:
        srv.stop()


if __name__ == "__main__":
    main()
