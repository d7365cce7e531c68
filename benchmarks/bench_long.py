"""Recordings of hours through `envaudio analyze` (issue #29, part 0): wall time and peak
memory of a real run on one generated file.

Writes one recording (FLAC, 16-bit, written block by block): `--kind busy` is faint noise
with the example clips at random levels every 10-50 s (every window of the event grid is
classified); `--kind quiet` is digital silence with a clip every 10 minutes (a day of an
archive's nights: most windows are skipped as quiet). Then runs `envaudio analyze FILE
--out OUT` under /usr/bin/time and prints the wall time, the peak resident memory (max
RSS), the audio's length and what was written.

    .venv/bin/python benchmarks/bench_long.py --hours 3 --kind busy
    .venv/bin/python benchmarks/bench_long.py --hours 24 --kind quiet
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import soundfile as sf

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
from scenes import scene_blocks  # noqa: E402  (beside this file)


def write_recording(path: Path, hours: float, kind: str, rate: int = 32000, seed: int = 0) -> None:
    gap = (10, 50) if kind == "busy" else (600, 600)
    with sf.SoundFile(str(path), "w", rate, 1, format="FLAC", subtype="PCM_16") as f:
        for x in scene_blocks(hours * 3600, rate, 60, gap, noise=kind == "busy", seed=seed):
            f.write(x)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--hours", type=float, default=3.0)
    ap.add_argument("--kind", choices=("busy", "quiet"), default="busy")
    ap.add_argument("--dir", default=None, help="where the recording and OUT go (default: a temporary folder)")
    ap.add_argument("--model", default=None)
    args = ap.parse_args()
    d = Path(args.dir or tempfile.mkdtemp(prefix="bench-long-"))
    d.mkdir(parents=True, exist_ok=True)
    rec = d / f"{args.kind}-{args.hours:g}h.flac"
    if not rec.exists():
        t = time.perf_counter()
        write_recording(rec, args.hours, args.kind)
        print(f"wrote {rec} ({rec.stat().st_size / 1e6:.0f} MB) in {time.perf_counter() - t:.0f} s")
    out = d / f"out-{rec.stem}"
    cmd = ["/usr/bin/time", "-v", sys.executable, "-m", "envaudio", "analyze", str(rec), "--out", str(out), "--quiet"]
    if args.model:
        cmd += ["--model", args.model]
    t = time.perf_counter()
    r = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.perf_counter() - t
    if r.returncode != 0:
        print(r.stdout, r.stderr, file=sys.stderr)
        return 1
    rss = next(int(l.split()[-1]) for l in r.stderr.splitlines() if "Maximum resident set size" in l) / 1024
    cpu = sum(float(l.split()[-1]) for l in r.stderr.splitlines()
              if "User time" in l or "System time" in l)
    summary = json.loads((out / "summary.json").read_text())
    seconds = summary["audio_seconds"]
    print(f"{args.kind} recording of {seconds / 3600:.2f} h through analyze: {wall:.0f} s wall "
          f"(1/{seconds / wall:.0f} of real time), {cpu:.0f} s CPU, max RSS {rss:.0f} MB")
    levels = list((out).glob("*.levels.csv"))
    print(f"outputs: {summary['events']} events; {len(levels[0].read_text().splitlines()) - 1 if levels else 0} "
          f"rows of levels; errors {summary['errors']}; in {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
