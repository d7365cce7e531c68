"""`envaudio monitor` as a sensor runs it: real processes, real WAV on stdin through a pipe,
raw PCM, a stream served by ffmpeg on loopback that drops and comes back, signals,
kill -9, Prometheus, daily files, calibrated levels, and bad input (one line, non-zero)."""

from __future__ import annotations

import contextlib
import csv
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from envaudio.audio import load_audio
from server_helpers import free_port

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "src" / "envaudio" / "assets" / "examples"
HAS_FFMPEG = shutil.which("ffmpeg") is not None
SR = 44100  # the recordings' own rate: the monitor resamples them as predict does


def scene(seconds_between: float = 8.0, repeat: int = 1) -> np.ndarray:
    """The example clips (sounds the model knows), apart, at 44.1 kHz."""
    clips = [load_audio(p, SR) for p in sorted(EXAMPLES.glob("*.flac"))]
    z = np.zeros(int(seconds_between * SR), np.float32)
    return np.concatenate([z[:SR]] + [np.concatenate([c, z]) for c in clips] * repeat)


def monitor(*args, stdin=None, timeout=600, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "envaudio", "monitor", *map(str, args)], stdin=stdin,
                          capture_output=True, text=True, timeout=timeout, **kw)


def start_monitor(*args, **kw) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "envaudio", "monitor", *map(str, args)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, **kw)


def rows(path: Path) -> list[dict]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def events_of(d: Path) -> list[tuple]:
    return [(r["label"], float(r["start_s"]), float(r["end_s"])) for r in rows(d / "events.csv")]


def wait_for(cond, timeout: float = 120.0, what: str = "") -> None:
    t = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < t, f"timed out waiting for {what}"
        time.sleep(0.2)


def one_clear_line(r) -> str:
    lines = [l for l in r.stderr.splitlines() if l.strip()]
    assert r.returncode != 0 and len(lines) == 1 and "Traceback" not in r.stderr, r.stderr
    return lines[0]


def test_stdin_wav_gives_predicts_events(tmp_path):
    """A WAV piped on stdin: the events of `predict --events` on the same file, each with
    its level; levels.csv's shares sum to 1 and its LAeq is the audio's."""
    wav = tmp_path / "scene.wav"
    sf.write(wav, scene(), SR, subtype="PCM_16")
    with open(wav, "rb") as f:
        r = monitor("-", "--out", tmp_path / "out", "--interval", "20", "--save-clips", "dog_bark", stdin=f)
    assert r.returncode == 0, r.stderr
    p = subprocess.run([sys.executable, "-m", "envaudio", "predict", str(wav), "--events", "--json", "-"],
                       capture_output=True, text=True, timeout=600)
    want = json.loads(p.stdout)[0]["events"]
    got = rows(tmp_path / "out" / "events.csv")
    assert len(want) >= 5
    assert [(e["label"], e["start"], e["end"]) for e in want] == events_of(tmp_path / "out")
    assert np.allclose([float(e["confidence"]) for e in want], [float(g["confidence"]) for g in got], atol=1e-4)
    assert all(-60 < float(g["laeq"]) < 0 and g["unit"] == "dBFS" for g in got)
    for g in got:  # the clips of the class asked for, with a second of context each side
        if g["label"] != "dog_bark":
            assert g["clip"] == ""
            continue
        info = sf.info(str(tmp_path / "out" / g["clip"]))
        assert g["clip"].endswith("_dog_bark.flac") and info.format == "FLAC"
        want = min(float(g["end_s"]) + 1.0, len(scene()) / SR) - max(0.0, float(g["start_s"]) - 1.0)
        assert info.duration == pytest.approx(want, abs=0.05)
    levels = rows(tmp_path / "out" / "levels.csv")
    assert [float(l["start_s"]) for l in levels] == [20.0 * i for i in range(len(levels))]
    for l in levels:
        shares = sum(float(v) for k, v in l.items() if k.startswith("share_"))
        assert shares == pytest.approx(1.0, abs=2e-3)
    x = scene()
    energy = sum(10 ** (float(l["laeq"]) / 10) * float(l["audio_s"]) for l in levels) / (len(x) / SR)
    assert 10 * np.log10(energy) == pytest.approx(json.loads(p.stdout)[0]["levels"]["laeq"], abs=0.1)


def test_raw_pcm_on_stdin(tmp_path):
    x = scene()[: SR * 30]
    pcm = (np.clip(x, -1, 1 - 2 ** -15) * 32768).astype("<i2")
    wav = tmp_path / "same.wav"
    sf.write(wav, pcm.astype(np.float32) / 32768, SR, subtype="PCM_16")
    r = subprocess.run([sys.executable, "-m", "envaudio", "monitor", "-", "--rate", str(SR), "--format", "s16le",
                        "--out", str(tmp_path / "raw"), "--quiet"], input=pcm.tobytes(), capture_output=True, timeout=600)
    assert r.returncode == 0, r.stderr
    with open(wav, "rb") as f:
        assert monitor("-", "--out", tmp_path / "wav", "--quiet", stdin=f).returncode == 0
    assert events_of(tmp_path / "raw") == events_of(tmp_path / "wav") != []


def test_calibrated_levels_of_a_tone(tmp_path):
    """A 1-kHz tone of amplitude 0.1 with --calibration-db 94: every row reads
    20 log10(0.1 / sqrt 2) + 94 = 70.97 dB within 0.1 dB."""
    t = np.arange(SR * 16) / SR
    wav = tmp_path / "tone.wav"
    sf.write(wav, 0.1 * np.sin(2 * np.pi * 1000 * t), SR, subtype="FLOAT")
    r = monitor(wav, "--out", tmp_path / "o", "--interval", "5", "--calibration-db", "94", "--quiet")
    assert r.returncode == 0, r.stderr
    levels = rows(tmp_path / "o" / "levels.csv")
    assert len(levels) == 4 and all(l["unit"] == "dB" for l in levels)
    for l in levels[1:3]:  # away from the recording's start and end
        for k in ("laeq", "lamax", "lamin", "l10", "l50", "l90"):
            assert float(l[k]) == pytest.approx(70.97, abs=0.1), (k, l)


def test_daily_files_and_start_time(tmp_path):
    wav = tmp_path / "scene.wav"
    sf.write(wav, scene(), SR, subtype="PCM_16")
    r = monitor(wav, "--out", tmp_path / "d", "--rotate", "daily", "--start-time", "2024-06-11T23:59:30Z",
                "--interval", "10", "--quiet")
    assert r.returncode == 0, r.stderr
    names = sorted(p.name for p in (tmp_path / "d").glob("*.csv"))
    assert names == ["events-2024-06-11.csv", "events-2024-06-12.csv", "levels-2024-06-11.csv",
                     "levels-2024-06-12.csv"]
    first = rows(tmp_path / "d" / "levels-2024-06-11.csv")
    assert first[0]["start_time"] == "2024-06-11T23:59:30.000Z" and len(first) == 3
    assert rows(tmp_path / "d" / "levels-2024-06-12.csv")[0]["start_time"] == "2024-06-12T00:00:00.000Z"


def feed(proc: subprocess.Popen, x: np.ndarray, seconds: float) -> None:
    """A WAV header (length unknown, as a live pipe gives) and `seconds` of `x`."""
    import struct

    header = (b"RIFF" + struct.pack("<I", 0xFFFFFFFF) + b"WAVEfmt " + struct.pack("<IHHIIHH", 16, 1, 1, SR, SR * 2, 2, 16)
              + b"data" + struct.pack("<I", 0xFFFFFFFF))
    proc.stdin.write(header + (np.clip(x[: int(seconds * SR)], -1, 1) * 32767).astype("<i2").tobytes())
    proc.stdin.flush()


@pytest.mark.slow
def test_sigterm_finishes_the_rows_and_metrics_are_served(tmp_path):
    port = free_port()
    out = tmp_path / "t"
    proc = subprocess.Popen([sys.executable, "-m", "envaudio", "monitor", "-", "--out", str(out), "--interval", "5",
                             "--metrics-port", str(port)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    try:
        feed(proc, scene(), 40)  # the pipe stays open: a live source that has not ended
        wait_for(lambda: (out / "levels.csv").exists() and len(rows(out / "levels.csv")) >= 2, what="rows")
        metrics = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10).read().decode()
        assert "envaudio_monitor_audio_seconds_total" in metrics and "envaudio_monitor_laeq_db" in metrics
        assert 'envaudio_monitor_events_total{label="dog_bark"}' in metrics
        health = json.loads(urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=10).read())
        assert health["status"] == "ok"
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(60) == 0, proc.stderr.read()
    finally:
        if proc.poll() is None:
            proc.kill()
    levels = rows(out / "levels.csv")
    assert float(levels[-1]["end_s"]) == pytest.approx(40.0, abs=0.2)  # the last, partial row written
    assert len(events_of(out)) >= 3


@pytest.mark.slow
def test_kill_9_leaves_every_line_whole(tmp_path):
    out = tmp_path / "k"
    proc = subprocess.Popen([sys.executable, "-m", "envaudio", "monitor", "-", "--out", str(out), "--interval", "2",
                             "--quiet"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    feed(proc, scene(repeat=2), 100)
    wait_for(lambda: (out / "events.csv").exists() and len(rows(out / "events.csv")) >= 4, what="events")
    proc.kill()
    proc.wait(30)
    for name in ("events.csv", "levels.csv"):
        text = (out / name).read_text()
        assert text.endswith("\n")
        lines = list(csv.reader(text.splitlines()))
        assert all(len(l) == len(lines[0]) for l in lines), name


@pytest.mark.slow
@pytest.mark.skipif(not HAS_FFMPEG, reason="ffmpeg not installed")
def test_a_stream_that_drops_is_reconnected(tmp_path):
    """ffmpeg serves a WAV stream on loopback at its own pace (-re); it ends, the monitor
    tries again with backoff, a second server comes up, the monitor goes on: a row in
    gaps.csv, events from both connections, and SIGTERM exits 0."""
    wav = tmp_path / "scene.wav"
    sf.write(wav, scene(seconds_between=3.0)[: SR * 12], SR, subtype="PCM_16")
    port = free_port()
    url = f"tcp://127.0.0.1:{port}"

    def serve() -> subprocess.Popen:
        return subprocess.Popen(["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-re", "-i", str(wav),
                                 "-f", "wav", f"{url}?listen=1"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    out = tmp_path / "s"
    server = serve()
    time.sleep(1.0)
    mon = start_monitor(url, "--out", out, "--interval", "5")
    try:
        server.wait(60)  # the first stream played out
        wait_for(lambda: "trying again" in open_log(mon), 60, "a reconnection attempt")
        server = serve()
        wait_for(lambda: (out / "gaps.csv").exists(), 60, "the gap row")
        server.wait(60)
        time.sleep(1.0)
        mon.send_signal(signal.SIGTERM)
        try:
            assert mon.wait(60) == 0
        except subprocess.TimeoutExpired:
            raise AssertionError(open_log(mon)) from None
    finally:
        for p in (server, mon):
            if p.poll() is None:
                p.kill()
    gaps = rows(out / "gaps.csv")
    assert len(gaps) >= 1 and float(gaps[0]["seconds"]) > 0.5
    ev = events_of(out)
    assert any(s < float(gaps[0]["start_s"]) for _, s, _ in ev) and any(s > float(gaps[0]["end_s"]) for _, s, _ in ev)


def test_rows_after_a_gap_end_on_the_interval_grid():
    """After a gap a segment starts at a wall-clock offset, off the frame grid: every
    row still ends past where it starts (a row that ended where it began hung the
    monitor in a loop) and at the frame nearest the interval's edge."""
    from envaudio.monitor.run import row_end

    fs, per = 0.1, 5.0
    for offset in np.random.default_rng(0).uniform(0.0, 60.0, 500):
        frame, edges = 0, []
        while frame < 300:
            end = row_end(frame, offset, fs, per)
            assert end > frame
            edges.append(offset + end * fs)
            frame = end
        assert all(abs(e - per * round(e / per)) <= fs / 2 + 1e-9 for e in edges), offset
        assert np.allclose(np.diff(edges), per, atol=fs + 1e-9), offset  # no interval skipped


class DroppingSource:
    """A source that works, stops (lost) and comes back: the monitor's own loop
    reconnects it; real audio, the real classifier. `live`: blocks come faster than
    they are analysed and are never waited for (what the queue cannot hold is dropped)."""

    reconnects = True
    name = "test-stream"

    def __init__(self, sr: int, audio: np.ndarray, connections: int = 2, live: bool = False):
        self.sr, self.audio, self.left, self.live = sr, audio, connections, live
        self.blocks: list = []

    def open(self) -> None:
        if not self.left:
            from envaudio.monitor.sources import SourceError

            raise SourceError(f"{self.name}: refused")
        self.left -= 1
        self.blocks = list(np.array_split(self.audio, max(1, len(self.audio) // (self.sr // 2))))

    def read(self):
        from envaudio.monitor.sources import SourceLost

        if not self.blocks:
            if self.left:
                raise SourceLost(f"{self.name}: dropped")
            return None
        return self.blocks.pop(0)

    def close(self) -> None:
        pass


@contextlib.contextmanager
def deadline(seconds: float):
    """A monitor run in this process that loops instead of returning fails the test
    (SIGALRM: the monitor itself takes SIGINT and SIGTERM) rather than hanging the suite."""
    def expire(*_):
        raise TimeoutError(f"the monitor did not return within {seconds:g} s")

    old = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def run_monitor(clf, src, opts, log) -> int:
    """Monitor.run in this process, leaving the test's own SIGINT/SIGTERM handlers as they were."""
    from envaudio.monitor import Monitor

    saved = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        with deadline(120):
            return Monitor(clf, src, opts, log=log).run()
    finally:
        for sig, handler in saved.items():
            signal.signal(sig, handler)


def twelve_seconds(sr: int) -> np.ndarray:
    audio = load_audio(sorted(EXAMPLES.glob("*.flac"))[0], sr)
    return np.concatenate([audio, np.zeros(12 * sr, np.float32)])[: 12 * sr]


def test_a_segment_after_a_gap_off_the_frame_grid_is_written_whole(tmp_path):
    """The run's clock started 17.37 s before the second connection came back: the new
    segment is off the 0.1-s frame grid (the case that hung the monitor); its rows
    follow the 5-s grid to the end and the run returns."""
    from datetime import datetime, timedelta, timezone

    from envaudio.monitor import Options
    from envaudio.predict import load_classifier

    clf = load_classifier()
    src = DroppingSource(clf.sample_rate, twelve_seconds(clf.sample_rate))
    opts = Options(out=str(tmp_path / "g"), interval=5.0, quiet=True,
                   start_time=datetime.now(timezone.utc) - timedelta(seconds=17.37))
    lines: list[str] = []
    assert run_monitor(clf, src, opts, lines.append) == 0
    assert lines == ["envaudio monitor: test-stream: dropped"]
    gaps = rows(tmp_path / "g" / "gaps.csv")
    assert len(gaps) == 1 and float(gaps[0]["end_s"]) >= 17.37
    levels = rows(tmp_path / "g" / "levels.csv")
    after = [r for r in levels if float(r["start_s"]) >= float(gaps[0]["end_s"]) - 1e-6]
    assert len(after) >= 3  # 12 s from ~17.4 s: rows to 20, 25, 30 and the last part
    assert float(after[-1]["end_s"]) == pytest.approx(float(gaps[0]["end_s"]) + 12.0, abs=0.11)
    for r in after[:-1]:
        assert float(r["end_s"]) == pytest.approx(5.0 * round(float(r["end_s"]) / 5.0), abs=0.051)


def test_a_live_source_faster_than_the_analysis_loses_nothing_unaccounted(tmp_path):
    """Two connections of 12 s each, handed over at once: what the queue cannot hold is
    dropped, and every dropped second is a gap row, up to the moment the connection is
    lost: heard + dropped = sent."""
    from envaudio.monitor import Options
    from envaudio.predict import load_classifier

    clf = load_classifier()
    src = DroppingSource(clf.sample_rate, twelve_seconds(clf.sample_rate), live=True)
    assert run_monitor(clf, src, Options(out=str(tmp_path / "d"), interval=5.0, quiet=True), lambda _: None) == 0
    heard = sum(float(r["end_s"]) - float(r["start_s"]) for r in rows(tmp_path / "d" / "levels.csv"))
    dropped = [r for r in rows(tmp_path / "d" / "gaps.csv") if r["reason"].startswith("dropped")]
    assert dropped, "nothing was dropped: the source was not faster than the analysis"
    assert heard + sum(float(r["seconds"]) for r in dropped) == pytest.approx(24.0, abs=0.05)


_LOG: dict = {}


def open_log(proc: subprocess.Popen) -> str:
    """What the process has written to stderr so far (read without blocking)."""
    fd = proc.stderr.fileno()
    os.set_blocking(fd, False)
    try:
        chunk = os.read(fd, 1 << 16)
    except BlockingIOError:
        chunk = b""
    _LOG[proc.pid] = _LOG.get(proc.pid, "") + chunk.decode(errors="replace")
    return _LOG[proc.pid]


@pytest.mark.skipif(not HAS_FFMPEG, reason="ffmpeg not installed")
def test_bad_input_is_one_line(tmp_path):
    port = free_port()  # nothing listens there
    line = one_clear_line(monitor(f"tcp://127.0.0.1:{port}", "--out", tmp_path / "a"))
    assert line.startswith("envaudio monitor: error: tcp://127.0.0.1") and "refused" in line.lower()
    line = one_clear_line(monitor("mic:no-such-device", "--out", tmp_path / "b"))
    assert line.startswith("envaudio monitor: error: mic:no-such-device")
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    line = one_clear_line(monitor("-", "--out", blocker / "sub"))
    assert "cannot write there" in line or "not a folder" in line
    line = one_clear_line(monitor("-", "--out", tmp_path / "c", input="this is not audio\n" * 10))
    assert "not a WAV stream" in line
    notes = tmp_path / "notes.wav"
    notes.write_text("hello\n" * 100)
    line = one_clear_line(monitor(notes, "--out", tmp_path / "d"))
    assert "could not decode" in line
    line = one_clear_line(monitor("-", "--out", tmp_path / "e", "--save-clips", "unicorn"))
    assert "unicorn" in line
