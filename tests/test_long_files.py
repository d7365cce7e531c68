"""Recordings longer than MAX_AUDIO_SECONDS through `envaudio analyze` (issue #29, part 0):
analysed whole (no error), their levels table written, the progress told within the file
by local workers (one, and a pool), a change of --calibration-db analysed again."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from envaudio.archive.run import Job, analyze, run_local
from envaudio.audio import load_audio
from envaudio.settings import get_settings

EXAMPLES = Path(__file__).resolve().parents[1] / "src" / "envaudio" / "assets" / "examples"
SR = 16000


@pytest.fixture(scope="module")
def long_file(tmp_path_factory) -> Path:
    """11 minutes: silence, with a clip every two minutes and a 1-kHz tone (-23 dBFS) in
    the last minute."""
    clips = [load_audio(p, SR) for p in sorted(EXAMPLES.glob("*.flac"))]
    x = np.zeros(11 * 60 * SR, np.float32)
    for i, c in enumerate(clips[:5]):
        x[(60 + 120 * i) * SR:(60 + 120 * i) * SR + len(c)] = c
    t = np.arange(60 * SR) / SR
    x[10 * 60 * SR:] = 0.1 * np.sin(2 * np.pi * 1000 * t)
    path = tmp_path_factory.mktemp("long") / "eleven.flac"
    sf.write(path, x, SR)
    return path


def test_analyze_takes_a_long_file_and_writes_its_levels(long_file, tmp_path):
    out = tmp_path / "out"
    s = analyze(long_file, out, progress=False)
    assert not s.errors and s.analysed == 1
    d = json.loads((out / "eleven.flac.json").read_text())
    assert d["duration"] == pytest.approx(660.0, abs=0.01) and len(d["events"]) >= 4
    assert d["levels"]["unit"] == "dBFS"
    with open(out / "eleven.flac.levels.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 11 and [float(r["start_s"]) for r in rows] == [60.0 * i for i in range(11)]
    assert float(rows[-1]["laeq"]) == pytest.approx(-23.01, abs=0.1) and rows[-1]["unit"] == "dBFS"
    for r in rows:
        assert sum(float(v) for k, v in r.items() if k.startswith("share_")) == pytest.approx(1.0, abs=2e-3) \
            or float(r["laeq"]) <= -119.9  # digital silence: no energy to share
    # a new calibration: the levels change, so the file is analysed again
    s2 = analyze(long_file, out, progress=False, settings=get_settings().replace(calibration_db=100.0))
    assert s2.analysed == 1 and s2.skipped == 0
    with open(out / "eleven.flac.levels.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert float(rows[-1]["laeq"]) == pytest.approx(76.99, abs=0.1) and rows[-1]["unit"] == "dB"
    assert analyze(long_file, out, progress=False,
                   settings=get_settings().replace(calibration_db=100.0)).skipped == 1


@pytest.mark.parametrize("workers", [1, 2])
def test_progress_moves_within_a_file(long_file, workers):
    """A local worker (and each process of a pool) tells how far into the file it is."""
    from envaudio.archive.state import source_stamp

    seen: list[tuple[str, float]] = []
    jobs = [Job("eleven.flac", long_file, source_stamp(long_file), 660.0)]
    if workers == 2:  # two jobs, one per process
        jobs.append(Job("again.flac", long_file, source_stamp(long_file), 660.0))
    results = list(run_local(jobs, workers, None, ("json",), False, 3, get_settings(),
                             lambda rel, sec: seen.append((rel, sec))))
    assert all(r["status"] == "ok" for r in results)
    mine = [sec for rel, sec in seen if rel == "eleven.flac"]
    assert len(mine) >= 3 and mine == sorted(mine) and 0 < mine[0] < 660.0
