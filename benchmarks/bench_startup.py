"""Start-up of the lean install (issue #27): `envaudio predict CLIP` wall time and peak
memory (median of N runs, as `/usr/bin/time -v` reports them), and how long `envaudio
serve` takes to answer /health 200.

    python -m venv /tmp/lean && /tmp/lean/bin/pip install .      # no extras: no PyTorch
    python benchmarks/bench_startup.py --envaudio /tmp/lean/bin/envaudio
    python benchmarks/bench_startup.py --envaudio /tmp/lean/bin/envaudio --model fast --runs 9

Numbers depend on the machine being otherwise idle: run it on one that is.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CLIP = ROOT / "src" / "envaudio" / "assets" / "examples" / "100652-3-0-0.flac"  # 4 s


def timed_run(cmd: list[str], env: dict) -> tuple[float, float]:
    """(wall seconds, max RSS MB) of one run, from /usr/bin/time -v when it is there."""
    time_bin = shutil.which("time") or "/usr/bin/time"
    if os.access(time_bin, os.X_OK):
        r = subprocess.run([time_bin, "-v", *cmd], capture_output=True, text=True, env=env, timeout=300)
        if r.returncode != 0:
            sys.exit(f"failed: {' '.join(cmd)}\n{r.stderr[-2000:]}")
        wall = re.search(r"Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): (?:(\d+):)?(\d+):([\d.]+)", r.stderr)
        h, m, s = (float(wall.group(1) or 0), float(wall.group(2)), float(wall.group(3)))
        rss = float(re.search(r"Maximum resident set size \(kbytes\): (\d+)", r.stderr).group(1)) / 1024
        return h * 3600 + m * 60 + s, rss
    t = time.perf_counter()
    subprocess.run(cmd, capture_output=True, env=env, check=True, timeout=300)
    return time.perf_counter() - t, float("nan")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serve_ready_seconds(envaudio: str, model: str | None, env: dict, timeout: float = 60.0) -> float:
    port = free_port()
    cmd = [envaudio, "serve", "--port", str(port)] + (["--model", model] if model else [])
    t = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env,
                            start_new_session=True)
    try:
        while time.perf_counter() - t < timeout:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1) as r:
                    if r.status == 200:
                        return time.perf_counter() - t
            except OSError:
                time.sleep(0.02)
        return float("nan")
    finally:
        os.killpg(proc.pid, 15)
        proc.wait(timeout=30)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--envaudio", default=shutil.which("envaudio") or "envaudio",
                    help="the envaudio command of the install to measure")
    ap.add_argument("--model", default=None, help="a bundled model's name or a model file (default: the default)")
    ap.add_argument("--clip", default=str(CLIP))
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    env = dict(os.environ, ENVAUDIO_CACHE_DIR=tempfile.mkdtemp(prefix="envaudio-bench-"))
    model = ["--model", args.model] if args.model else []
    python = Path(args.envaudio).resolve().parent / "python"
    torch_found = subprocess.run([str(python), "-c", "import torch"], capture_output=True).returncode == 0
    print(f"install: {args.envaudio} (torch importable: {torch_found})")
    timed_run([args.envaudio, "predict", args.clip, *model], env)  # the first run compiles .pyc files
    runs = [timed_run([args.envaudio, "predict", args.clip, *model], env) for _ in range(args.runs)]
    walls, rss = zip(*runs)
    print(f"envaudio predict {Path(args.clip).name}: median {statistics.median(walls):.2f} s wall "
          f"(runs {', '.join(f'{w:.2f}' for w in walls)}), median {statistics.median(rss):.0f} MB max RSS")
    ready = [serve_ready_seconds(args.envaudio, args.model, env) for _ in range(3)]
    print(f"envaudio serve: /health 200 after median {statistics.median(ready):.2f} s "
          f"(runs {', '.join(f'{r:.2f}' for r in ready)})")


if __name__ == "__main__":
    main()
