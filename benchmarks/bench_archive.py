"""Throughput of `envaudio analyze`: audio-hours analysed per wall-clock hour, for 1 and 2
local workers and (when Ray is installed) 1 and 2 Ray actors on a loopback Ray head.

    python benchmarks/bench_archive.py --files 4 --minutes 3

Generated long audio (tones, noise bursts and quiet stretches, 22,050 Hz FLAC); every run
writes a fresh OUT with csv,json; the time includes starting the workers and loading the
model in each (what a real run pays once), so short archives understate the steady rate.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf

SR = 22050


def make_archive(root: Path, files: int, minutes: float) -> float:
    rng = np.random.default_rng(0)
    n = int(minutes * 60 * SR)
    t = np.arange(n) / SR
    for i in range(files):
        x = 0.003 * rng.standard_normal(n).astype(np.float32)
        for _ in range(int(minutes * 6)):  # a sound every ~10 s
            a = int(rng.uniform(0, n - 3 * SR))
            b = a + int(rng.uniform(1, 3) * SR)
            f = rng.uniform(100, 2000)
            x[a:b] += (0.3 * np.sin(2 * np.pi * f * t[a:b]) if rng.random() < 0.5
                       else 0.2 * rng.standard_normal(b - a)).astype(np.float32)
        d = root / f"site{i % 2}"
        d.mkdir(parents=True, exist_ok=True)
        sf.write(d / f"rec{i}.flac", x, SR)
    return files * minutes / 60


def run(src: Path, engine: str, workers: int, address: str | None = None) -> float:
    from envaudio.archive import analyze

    with tempfile.TemporaryDirectory() as out:
        t0 = time.perf_counter()
        s = analyze(src, out, "csv,json", workers=workers, engine=engine, address=address, progress=False)
        wall = time.perf_counter() - t0
    return s.seconds_this_run / wall


def ray_head(temp: str) -> tuple[subprocess.Popen, str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0", "RAY_USAGE_STATS_ENABLED": "0"}
    os.environ.update({k: env[k] for k in ("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "RAY_USAGE_STATS_ENABLED")})
    ray = str(Path(sys.executable).with_name("ray"))
    p = subprocess.Popen([ray, "start", "--head", "--block", "--node-ip-address", "127.0.0.1", "--port", str(port),
                          "--num-cpus", "2", "--include-dashboard=false", "--disable-usage-stats",
                          "--object-store-memory", str(300 * 1024 * 1024), "--temp-dir", temp],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True, env=env)
    for _ in range(360):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return p, f"127.0.0.1:{port}"
        except OSError:
            time.sleep(0.5)
    raise SystemExit("the Ray head did not come up")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--files", type=int, default=4)
    ap.add_argument("--minutes", type=float, default=3.0, help="length of each file")
    ap.add_argument("--no-ray", action="store_true")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "in"
        hours = make_archive(src, args.files, args.minutes)
        print(f"{args.files} files x {args.minutes:g} min = {hours:.2f} h of audio; {os.cpu_count()} CPUs")
        rows = [("local", 1), ("local", 2)]
        for engine, w in rows:
            print(f"{engine:5} {w} worker(s): {run(src, engine, w):7.0f} audio-hours per hour", flush=True)
        if args.no_ray or importlib.util.find_spec("ray") is None:
            print("ray: not installed (pip install 'envaudio[ray]'), skipped")
            return
        temp = os.path.join(tmp, "ray")
        head, address = ray_head(temp)
        try:
            for w in (1, 2):
                print(f"ray   {w} actor(s):   {run(src, 'ray', w, address):7.0f} audio-hours per hour", flush=True)
        finally:
            os.killpg(head.pid, signal.SIGTERM)
            try:
                head.wait(60)
            except subprocess.TimeoutExpired:
                os.killpg(head.pid, signal.SIGKILL)


if __name__ == "__main__":
    main()
