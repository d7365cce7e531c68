"""Serving speed, end to end over HTTP/WebSocket against a real `envaudio serve`.

Starts `envaudio serve` on a free loopback port (a subprocess), then measures:
  * POST /predict of a 4-s clip: p50/p95 latency, default payload and reduce_payload=true,
    and the payload size;
  * WS /ws/predict: per-update latency (send the 0.5-s frame that completes a hop ->
    prediction received) p50/p95, and the server's compute_ms;
  * throughput (requests/s) of /predict with N concurrent clients.
With --workers-compare, the throughput part runs against 1 and 2 workers. --backend sets
the server's INFERENCE_BACKEND; --rounds repeats the /predict latency measurement and
prints the median of the rounds' p50s (the machine is shared: single runs move).

Target (issue 13): /predict p50 <= 6 ms end to end, 3x faster than the original design's
server, which measured 19.0 ms p50 on this machine for the same kind of clip.

    python benchmarks/bench_api.py [--clip FILE] [--requests 200] [--concurrency 8]
                                   [--workers-compare] [--model FILE] [--backend B] [--rounds R]
"""

from __future__ import annotations

import argparse
import io
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import numpy as np
import soundfile as sf
from websockets.sync.client import connect

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_CLIP = ROOT / "src" / "envaudio" / "assets" / "examples" / "102871-8-0-0.flac"


def pct(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q))


def fmt_ms(values: list[float]) -> str:
    return f"p50 {pct(values, 50) * 1000:6.1f} ms   p95 {pct(values, 95) * 1000:6.1f} ms   (n={len(values)})"


class Server:
    def __init__(self, workers: int = 1, model: str | None = None, backend: str | None = None):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.base = f"http://127.0.0.1:{self.port}"
        exe = Path(sys.executable).with_name("envaudio")
        cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "envaudio"]
        cmd += ["serve", "--host", "127.0.0.1", "--port", str(self.port), "--workers", str(workers)]
        if model:
            cmd += ["--model", model]
        env = dict(os.environ)
        if backend:
            env["ENVAUDIO_INFERENCE_BACKEND"] = backend
        self.command = (f"ENVAUDIO_INFERENCE_BACKEND={backend} " if backend else "") + " ".join(cmd)
        self.log = tempfile.TemporaryFile()
        self.proc = subprocess.Popen(cmd, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True,
                                     env=env)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                self.log.seek(0)
                raise SystemExit(f"server exited:\n{self.log.read().decode(errors='replace')}")
            try:
                if httpx.get(self.base + "/health", timeout=2).status_code == 200:
                    # with several workers, wait until each one can answer
                    time.sleep(1.0 if workers > 1 else 0)
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        self.stop()
        raise SystemExit("server did not start")

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


def bench_predict(base: str, clip: bytes, name: str, n: int) -> dict:
    """Sequential requests, alternating the default payload and reduce_payload=true (so
    both see the same background load)."""
    variants = {"default": {}, "reduce_payload": {"reduce_payload": "true"}}
    out = {key: ([], [], 0) for key in variants}
    files = {"file": (name, clip, "application/octet-stream")}
    with httpx.Client(base_url=base, timeout=60) as c:
        for _ in range(5):  # warm-up
            for params in variants.values():
                c.post("/predict", files=files, params=params).raise_for_status()
        for _ in range(n):
            for key, params in variants.items():
                t0 = time.perf_counter()
                r = c.post("/predict", files=files, params=params)
                elapsed = time.perf_counter() - t0
                r.raise_for_status()
                times, compute, _ = out[key]
                times.append(elapsed)
                compute.append(r.json()["compute_ms"] / 1000)
                out[key] = (times, compute, len(r.content))
    return out


def bench_ws(base: str, n_updates: int, sr: int) -> tuple[list[float], list[float], int]:
    """Round trip per update: the frame that completes a hop -> its prediction."""
    rng = np.random.default_rng(0)
    hop = sr // 2
    latencies, compute, size = [], [], 0
    with connect(base.replace("http", "ws") + "/ws/predict", max_size=2**24) as ws:
        ws.send(json.dumps({"sample_rate": sr}))
        json.loads(ws.recv(timeout=30))
        ws.send((0.1 * rng.standard_normal(4 * sr - hop)).astype("<f4").tobytes())
        while json.loads(ws.recv(timeout=30))["type"] != "status":
            pass
        for i in range(n_updates + 3):
            frame = (0.1 * rng.standard_normal(hop)).astype("<f4").tobytes()
            t0 = time.perf_counter()
            ws.send(frame)
            while True:
                raw = ws.recv(timeout=30)
                m = json.loads(raw)
                if m["type"] == "prediction":
                    break
            if i >= 3:  # warm-up
                latencies.append(time.perf_counter() - t0)
                compute.append(m["compute_ms"] / 1000)
                size = len(raw)
    return latencies, compute, size


def bench_throughput(base: str, clip: bytes, name: str, clients: int, total: int, reduce: bool) -> tuple[float, list[float]]:
    per_client = max(1, total // clients)
    lat: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()
    barrier = threading.Barrier(clients + 1)

    def run():
        with httpx.Client(base_url=base, timeout=120) as c:
            files = {"file": (name, clip, "application/octet-stream")}
            params = {"reduce_payload": "true"} if reduce else {}
            c.post("/predict", files=files, params=params)  # connect + warm
            barrier.wait()
            for _ in range(per_client):
                t0 = time.perf_counter()
                r = c.post("/predict", files=files, params=params)
                dt = time.perf_counter() - t0
                with lock:
                    lat.append(dt)
                    if r.status_code != 200:
                        errors.append(f"{r.status_code} {r.text[:100]}")

    threads = [threading.Thread(target=run) for _ in range(clients)]
    for t in threads:
        t.start()
    barrier.wait()
    t0 = time.perf_counter()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - t0
    if errors:
        raise SystemExit(f"{len(errors)} errors under load, e.g. {errors[0]}")
    return len(lat) / elapsed, lat


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--clip", default=str(DEFAULT_CLIP), help="audio file to POST (default: a bundled 4-s example)")
    ap.add_argument("--requests", type=int, default=200, help="sequential requests per latency measurement")
    ap.add_argument("--ws-updates", type=int, default=60)
    ap.add_argument("--ws-rate", type=int, default=48000, help="client sample rate of the stream")
    ap.add_argument("--concurrency", type=int, default=8)
    ap.add_argument("--load-requests", type=int, default=240, help="total requests in the throughput test")
    ap.add_argument("--workers-compare", action="store_true", help="throughput with 1 and with 2 workers")
    ap.add_argument("--model", default=None)
    ap.add_argument("--backend", default=None, help="INFERENCE_BACKEND of the server (default: its own, auto)")
    ap.add_argument("--rounds", type=int, default=1, help="repeat the /predict latency measurement")
    args = ap.parse_args()

    clip_path = Path(args.clip)
    clip = clip_path.read_bytes()
    info = sf.info(io.BytesIO(clip))
    print(f"clip: {clip_path.name} ({info.duration:.2f} s, {info.samplerate} Hz, {len(clip) / 1024:.0f} KB)")
    print(f"machine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}")

    with Server(1, args.model, args.backend) as srv:
        print(f"server: {srv.command}\n")
        p50s: dict[str, list[float]] = {}
        for _ in range(args.rounds):
            res = bench_predict(srv.base, clip, clip_path.name, args.requests)
            for key, (times, compute, size) in res.items():
                p50s.setdefault(key, []).append(pct(times, 50))
                print(f"POST /predict [{key:14s}] end-to-end {fmt_ms(times)}")
                print(f"{'':31s}server compute p50 {pct(compute, 50) * 1000:5.1f} ms   payload {size / 1024:.1f} KB")
        if args.rounds > 1:
            for key, values in p50s.items():
                print(f"POST /predict [{key:14s}] median of {args.rounds} rounds' p50: "
                      f"{float(np.median(values)) * 1000:.1f} ms  ({', '.join(f'{v * 1000:.1f}' for v in values)})")
        lat, compute, size = bench_ws(srv.base, args.ws_updates, args.ws_rate)
        print(f"WS update ({args.ws_rate} Hz client)  round trip {fmt_ms(lat)}")
        print(f"{'':31s}server compute p50 {pct(compute, 50) * 1000:5.1f} ms   p95 {pct(compute, 95) * 1000:5.1f} ms"
              f"   message {size / 1024:.1f} KB")
        if not args.workers_compare:
            for reduce in (False, True):
                rps, lat = bench_throughput(srv.base, clip, clip_path.name, args.concurrency,
                                            args.load_requests, reduce)
                tag = "reduce_payload" if reduce else "default"
                print(f"throughput [{tag:14s}] {args.concurrency} clients: {rps:6.1f} req/s   latency {fmt_ms(lat)}")

    if args.workers_compare:
        print()
        for workers in (1, 2):
            with Server(workers, args.model, args.backend) as srv:
                for reduce in (False, True):
                    rps, lat = bench_throughput(srv.base, clip, clip_path.name, args.concurrency,
                                                args.load_requests, reduce)
                    tag = "reduce_payload" if reduce else "default"
                    print(f"workers={workers} [{tag:14s}] {args.concurrency} clients: {rps:6.1f} req/s   "
                          f"latency {fmt_ms(lat)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
