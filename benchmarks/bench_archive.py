"""Throughput of `envaudio analyze`: audio-hours analysed per wall-clock hour, for local
workers and (when Ray is installed) as many Ray actors on a loopback Ray head, and Ray's
overhead against local workers of the same count (issue #29's bar: at most 15 % on at
least an hour of audio).

    python benchmarks/bench_archive.py --files 12 --minutes 5 --workers 2 --repeat 2   # 1 h of audio
    python benchmarks/bench_archive.py --files 4 --minutes 3                  # 1 and 2 workers

Generated long audio (tones, noise bursts and quiet stretches, 22,050 Hz FLAC); every run
writes a fresh OUT with csv,json; the time includes starting the workers and loading the
model in each (what a real run pays once), so short archives understate the steady rate.
A Ray actor runs one ONNX Runtime thread (it holds one CPU of the cluster), a local worker
its share of the cores: compare them at as many workers as cores, where both use one thread.
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


def ray_head(temp: str, cpus: int = 2) -> tuple[subprocess.Popen, str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0", "RAY_USAGE_STATS_ENABLED": "0"}
    os.environ.update({k: env[k] for k in ("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "RAY_USAGE_STATS_ENABLED")})
    ray = str(Path(sys.executable).with_name("ray"))
    p = subprocess.Popen([ray, "start", "--head", "--block", "--node-ip-address", "127.0.0.1", "--port", str(port),
                          "--num-cpus", str(cpus), "--include-dashboard=false", "--disable-usage-stats",
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
    ap.add_argument("--workers", default="1,2", help="worker / actor counts to run, comma separated "
                    "(default: %(default)s)")
    ap.add_argument("--model", default=None, help="model name or file (default: the default model)")
    ap.add_argument("--repeat", type=int, default=1, help="runs of each, local and Ray in turn (medians)")
    ap.add_argument("--no-ray", action="store_true")
    args = ap.parse_args()
    counts = [int(w) for w in args.workers.split(",") if w.strip()]
    if args.model:
        os.environ["ENVAUDIO_MODEL"] = args.model
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "in"
        hours = make_archive(src, args.files, args.minutes)
        print(f"{args.files} files x {args.minutes:g} min = {hours:.2f} h of audio; {os.cpu_count()} CPUs; "
              f"load average {os.getloadavg()[0]:.1f}")
        if args.no_ray or importlib.util.find_spec("ray") is None:
            for w in counts:
                print(f"local {w} worker(s): {run(src, 'local', w):7.0f} audio-hours per hour", flush=True)
            print("ray: not installed (pip install 'envaudio[ray]'), skipped")
            return
        temp = os.path.join(tmp, "ray")
        head, address = ray_head(temp, max(counts))
        try:
            for w in counts:  # local and Ray in turn, so a change of the machine's load hits both
                local, ray = [], []
                for k in range(args.repeat):
                    local.append(run(src, "local", w))
                    print(f"local {w} worker(s): {local[-1]:7.0f} audio-hours per hour", flush=True)
                    ray.append(run(src, "ray", w, address))
                    print(f"ray   {w} actor(s):   {ray[-1]:7.0f} audio-hours per hour (load average "
                          f"{os.getloadavg()[0]:.1f})", flush=True)
                lm, rm = float(np.median(local)), float(np.median(ray))
                overhead = 100 * (1 - rm / lm)
                print(f"{w}: median local {lm:.0f}, Ray {rm:.0f} audio-hours per hour: Ray's overhead "
                      f"{overhead:+.1f} % ({'within' if overhead <= 15 else 'over'} the 15 % bar)", flush=True)
        finally:
            os.killpg(head.pid, signal.SIGTERM)
            try:
                head.wait(60)
            except subprocess.TimeoutExpired:
                os.killpg(head.pid, signal.SIGKILL)


if __name__ == "__main__":
    main()
