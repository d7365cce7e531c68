"""`envaudio monitor -` on hours of audio through stdin: throughput and memory.

Streams a WAV made on the fly (no file on disk: faint noise, with the example clips at
random levels every 10-50 s, so there are events, quiet and levels to compute) into a real
`envaudio monitor -` through a pipe, samples the monitor's resident memory every 2 s from
/proc, and prints how long the run took against the audio's length and how the memory
moved after the first five minutes (issue #28: <= 1/20 of real time, < 50 MB of growth over
an hour).

    .venv/bin/python benchmarks/bench_monitor.py --hours 1 [--model fast] [--rate 44100]
"""

from __future__ import annotations

import argparse
import csv
import struct
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path


ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
from scenes import scene_blocks  # noqa: E402  (beside this file)


def rss_mb(pid: int) -> float:
    try:
        for line in open(f"/proc/{pid}/status"):
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


def audio_blocks(seconds: float, rate: int, seed: int = 0):
    """Blocks of 10 s of int16 PCM: noise at -50 dBFS, an example clip every 10-50 s."""
    for x in scene_blocks(seconds, rate, 10, (10, 50), seed=seed):
        yield (x * 32767).astype("<i2").tobytes()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--hours", type=float, default=1.0)
    ap.add_argument("--rate", type=int, default=44100, help="the stream's sample rate")
    ap.add_argument("--model", default=None)
    ap.add_argument("--out", default=None, help="the monitor's DIR (default: a temporary folder)")
    args = ap.parse_args()
    seconds = args.hours * 3600
    out = Path(args.out or tempfile.mkdtemp(prefix="bench-monitor-"))
    cmd = [sys.executable, "-m", "envaudio", "monitor", "-", "--out", str(out), "--quiet"]
    if args.model:
        cmd += ["--model", args.model]
    proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stderr=subprocess.PIPE)
    samples: list[tuple[float, float, float]] = []  # (wall s, audio s written, RSS MB)
    sent = [0.0]

    def writer() -> None:
        header = (b"RIFF" + struct.pack("<I", 0xFFFFFFFF) + b"WAVEfmt "
                  + struct.pack("<IHHIIHH", 16, 1, 1, args.rate, args.rate * 2, 2, 16) + b"data"
                  + struct.pack("<I", 0xFFFFFFFF))
        proc.stdin.write(header)
        for b in audio_blocks(seconds, args.rate):
            proc.stdin.write(b)
            sent[0] += len(b) / 2 / args.rate
        proc.stdin.close()

    t0 = time.perf_counter()
    w = threading.Thread(target=writer, daemon=True)
    w.start()
    while proc.poll() is None:
        samples.append((time.perf_counter() - t0, sent[0], rss_mb(proc.pid)))
        time.sleep(2.0)
    wall = time.perf_counter() - t0
    err = proc.stderr.read().decode(errors="replace")
    if proc.returncode != 0:
        print(err, file=sys.stderr)
        return 1
    rss = [(a, r) for _, a, r in samples if r == r]
    after5 = [r for a, r in rss if a >= 300] or [r for _, r in rss]
    events = list(csv.DictReader(open(out / "events.csv")))
    rows = list(csv.DictReader(open(out / "levels.csv")))
    print(f"audio: {seconds / 3600:.2f} h at {args.rate} Hz through stdin; model: {args.model or 'default'}")
    print(f"wall: {wall:.1f} s = 1/{seconds / wall:.0f} of real time ({seconds / wall:.0f}x faster than real time)")
    print(f"RSS: {after5[0]:.0f} MB after 5 min of audio, {max(r for _, r in rss):.0f} MB at most, "
          f"{rss[-1][1]:.0f} MB at the end: growth after 5 min {max(after5) - after5[0]:+.0f} MB")
    marks = [m * 600 for m in range(1, int(seconds // 600) + 1)]
    if marks:
        print("RSS along the run (MB at audio minute): " + ", ".join(
            f"{m // 60}: {next((r for a, r in rss if a >= m), rss[-1][1]):.0f}" for m in marks))
    print(f"outputs: {len(events)} events, {len(rows)} rows of levels.csv in {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
