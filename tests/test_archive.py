"""`envaudio analyze` (src/envaudio/archive): real audio on disk, the bundled model."""

from __future__ import annotations

import csv
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from envaudio.archive import (FormatError, InputError, OutputError, analyze, read_audacity, read_events_csv,
                              read_raven)
from envaudio.archive.state import STATE_DIR, OutLock

ROOT = Path(__file__).resolve().parents[1]
US8K = ROOT.parent / "shared" / "data" / "urbansound8k-subset"
SR = 22050
ALL = "csv,json,audacity,raven"
# Real clips the bundled model knows, joined with quiet gaps: (file in fold, label).
JOINED = [("fold2/102871-8-0-0.flac", "siren"), ("fold2/100652-3-0-0.flac", "dog_bark"),
          ("fold1/108041-9-0-2.flac", "street_music")]
GAP = 4.0


def tone(seconds, freq=440.0, amp=0.3):
    t = np.arange(int(seconds * SR)) / SR
    return (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def noise(seconds, amp=0.2, seed=0):
    return (amp * np.random.default_rng(seed).standard_normal(int(seconds * SR))).astype(np.float32)


def us8k_clip(name: str) -> Path | None:
    matches = list((US8K / "audio").glob(name)) if US8K.is_dir() else []
    return matches[0] if matches else None


def write_archive(root: Path, joined: bool = True) -> Path:
    """Audio in nested folders, several formats (a .wav and a .flac of one name side by
    side), silence, a corrupt file, a text file to ignore, and the joined real clips."""
    (root / "site1" / "day2").mkdir(parents=True)
    (root / "site2").mkdir()
    sf.write(root / "site1" / "tone.wav", tone(6.0), SR, subtype="PCM_16")
    sf.write(root / "site1" / "tone.flac", tone(5.0, 880.0), SR)
    sf.write(root / "site1" / "day2" / "noise.flac", noise(9.0), SR)
    sf.write(root / "site2" / "hum.ogg", tone(4.5, 120.0) + noise(4.5, 0.01, 1), SR)
    sf.write(root / "site2" / "silence.wav", np.zeros(int(3 * SR), np.float32), SR)
    (root / "site2" / "corrupt.wav").write_bytes(np.random.default_rng(7).bytes(6000))
    (root / "site2" / "notes.txt").write_text("not audio\n")
    if joined and all(us8k_clip(n) for n, _ in JOINED):
        parts = []
        for n, _ in JOINED:
            parts += [load_mono(us8k_clip(n)), noise(GAP, 1e-4, 3)]
        sf.write(root / "joined.flac", np.concatenate(parts[:-1]), SR)
    return root


def load_mono(path: Path) -> np.ndarray:
    from envaudio.audio import load_audio

    return load_audio(path, SR)


def tree(out: Path) -> dict[str, bytes]:
    """Every file under OUT (the lock aside) -> its bytes."""
    return {p.relative_to(out).as_posix(): p.read_bytes() for p in sorted(out.rglob("*"))
            if p.is_file() and p.name != "lock"}


def first_output(out: Path) -> bool:
    """Whether a file's output (not the run's own state) is in OUT yet."""
    return out.is_dir() and any(q.is_file() and STATE_DIR not in q.parts for q in out.rglob("*"))


def mtimes(out: Path) -> dict[str, int]:
    return {p.relative_to(out).as_posix(): p.stat().st_mtime_ns for p in out.rglob("*") if p.is_file()}


@pytest.fixture(scope="module")
def archive(tmp_path_factory) -> Path:
    return write_archive(tmp_path_factory.mktemp("in"))


@pytest.fixture(scope="module")
def clean(archive, tmp_path_factory):
    """One uninterrupted run of every format and the embeddings: (OUT, summary)."""
    out = tmp_path_factory.mktemp("clean") / "out"
    return out, analyze(archive, out, ALL, embeddings=True, progress=False)


@pytest.fixture(scope="module")
def classifier():
    from envaudio.predict import load_classifier

    return load_classifier()


def audio_rels(archive: Path) -> list[str]:
    exts = (".wav", ".flac", ".ogg")
    return sorted(p.relative_to(archive).as_posix() for p in archive.rglob("*") if p.suffix in exts)


# --- bad input: one clear error, nothing written ------------------------------------------

def test_missing_input(tmp_path):
    with pytest.raises(InputError, match="no such file or folder"):
        analyze(tmp_path / "nope", tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_folder_without_audio(tmp_path):
    (tmp_path / "in" / "sub").mkdir(parents=True)
    (tmp_path / "in" / "sub" / "readme.txt").write_text("x")
    with pytest.raises(InputError, match="no audio files"):
        analyze(tmp_path / "in", tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_unknown_format(tmp_path):
    sf.write(tmp_path / "a.wav", tone(1.0), SR)
    with pytest.raises(FormatError, match="unknown --format 'praat'"):
        analyze(tmp_path / "a.wav", tmp_path / "out", "csv,praat")
    assert not (tmp_path / "out").exists()


def test_unwritable_out(tmp_path):
    sf.write(tmp_path / "a.wav", tone(1.0), SR)
    (tmp_path / "file").write_text("x")
    with pytest.raises(OutputError, match="exists and is not a folder"):
        analyze(tmp_path / "a.wav", tmp_path / "file")
    with pytest.raises(OutputError, match="cannot write there"):
        analyze(tmp_path / "a.wav", tmp_path / "file" / "out")  # a file where a folder must go
    with pytest.raises(OutputError, match="cannot write there"):
        analyze(tmp_path / "a.wav", "/proc/envaudio-archive-test")  # a file system that refuses
    assert (tmp_path / "file").read_text() == "x"


def test_out_in_use(tmp_path):
    sf.write(tmp_path / "a.wav", tone(1.0), SR)
    with OutLock(tmp_path / "out"):
        with pytest.raises(OutputError, match="another `envaudio analyze`"):
            analyze(tmp_path / "a.wav", tmp_path / "out")


def test_command_prints_one_line(tmp_path):
    """The command: a usage error is one line on stderr and exit status 2."""
    (tmp_path / "in").mkdir()
    r = subprocess.run([sys.executable, "-m", "envaudio.archive", str(tmp_path / "in"), "--out",
                        str(tmp_path / "out")], capture_output=True, text=True, timeout=120)
    assert r.returncode == 2
    assert r.stderr.strip().count("\n") == 0 and "no audio files" in r.stderr
    r = subprocess.run([sys.executable, "-m", "envaudio.archive", str(tmp_path), "--out", str(tmp_path / "o"),
                        "--format", "wav"], capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "unknown --format" in r.stderr


# --- a clean run --------------------------------------------------------------------------

def test_mirrors_input_and_records_errors(archive, clean):
    out, summary = clean
    rels = audio_rels(archive)
    assert summary.files == len(rels) == summary.analysed and summary.skipped == 0
    ok = [r for r in rels if "corrupt" not in r]
    for rel in ok:
        for suffix in (".json", ".labels.txt", ".selections.txt", ".embeddings.npy"):
            assert (out / (rel + suffix)).is_file(), rel + suffix
    assert not any((out / ("site2/corrupt.wav" + s)).exists() for s in (".json", ".labels.txt"))
    assert (out / "site1" / "tone.wav.json").is_file() and (out / "site1" / "tone.flac.json").is_file()
    assert not list(out.rglob("notes.txt*"))
    with open(out / "errors.csv", newline="") as f:
        errors = list(csv.DictReader(f))
    assert [e["path"] for e in errors] == ["site2/corrupt.wav"]
    assert "could not decode" in errors[0]["reason"]
    assert summary.errors == [("site2/corrupt.wav", errors[0]["reason"])]
    s = json.loads((out / "summary.json").read_text())
    assert s["files"] == len(rels) and s["errors"] == 1 and s["analysed"] == len(ok)
    assert s["audio_seconds"] == pytest.approx(summary.seconds_of_audio)
    assert not [p for p in out.rglob("*.tmp")]


def test_json_is_the_prediction(archive, clean, classifier):
    out, _ = clean
    d = json.loads((out / "site1" / "day2" / "noise.flac.json").read_text())
    want = classifier.classify_file(archive / "site1" / "day2" / "noise.flac").to_dict(3)
    assert d["file"] == "site1/day2/noise.flac"
    assert d["duration"] == pytest.approx(9.0)
    assert [(w["window_start"], w["window_end"], w["label"]) for w in d["windows"]] == \
        [(w["window_start"], w["window_end"], w["label"]) for w in want["windows"]]
    assert d["events"] == want["events"] and d["verdict"] == want["verdict"]
    assert np.allclose([w["confidence"] for w in d["windows"]], [w["confidence"] for w in want["windows"]],
                       atol=1e-5)


def test_formats_parse_back_equal(archive, clean, classifier):
    """Audacity, Raven and the combined CSV say exactly what each file's JSON says."""
    out, _ = clean
    with open(out / "events.csv") as f:
        assert f.readline().strip() == "file,start,end,label,confidence,recording_start,event_start"
    table = read_events_csv(out / "events.csv")
    r4 = lambda *xs: tuple(round(float(x), 4) if not isinstance(x, str) else x for x in xs)  # noqa: E731
    n = 0
    for rel in audio_rels(archive):
        if "corrupt" in rel:
            continue
        events = json.loads((out / (rel + ".json")).read_text())["events"]
        want = [r4(e["start"], e["end"], e["label"], e["confidence"]) for e in events]
        n += len(events)
        aud = read_audacity(out / (rel + ".labels.txt"))
        assert [r4(a["start"], a["end"], a["label"]) for a in aud] == [w[:3] for w in want]
        text = (out / (rel + ".selections.txt")).read_text()
        assert text.splitlines()[0].split("\t") == [
            "Selection", "View", "Channel", "Begin Time (s)", "End Time (s)", "Low Freq (Hz)", "High Freq (Hz)",
            "Label", "Confidence"]
        rav = read_raven(out / (rel + ".selections.txt"))
        assert [r["Selection"] for r in rav] == [str(i) for i in range(1, len(events) + 1)]
        assert all(r["View"] == "Spectrogram 1" and r["Channel"] == "1" for r in rav)
        # the band: 0 Hz to the Nyquist frequency of the audio the default model analyses
        assert all(r["Low Freq (Hz)"] == 0 and r["High Freq (Hz)"] == classifier.sample_rate / 2 for r in rav)
        assert [r4(r["Begin Time (s)"], r["End Time (s)"], r["Label"], r["Confidence"]) for r in rav] == want
        rows = [r for r in table if r["file"] == rel]
        assert [r4(r["start"], r["end"], r["label"], r["confidence"]) for r in rows] == want
    assert len(table) == n


def test_events_of_joined_real_clips(archive, clean):
    """Three UrbanSound8K clips with quiet gaps: three events, at the clips, of their classes."""
    if not (archive / "joined.flac").is_file():
        pytest.skip("UrbanSound8K subset not present in ../shared/data")
    out, summary = clean
    events = read_audacity(out / "joined.flac.labels.txt")
    assert [e["label"] for e in events] == [label for _, label in JOINED]
    for k, e in enumerate(events):
        start = k * (4.0 + GAP)
        assert abs(e["start"] - start) <= 1.0 and abs(e["end"] - (start + 4.0)) <= 1.0, e
    for _, label in JOINED:
        assert summary.events_per_class.get(label, 0) >= 1
    raven = read_raven(out / "joined.flac.selections.txt")
    assert [r["Label"] for r in raven] == [label for _, label in JOINED]
    assert all(0.3 < r["Confidence"] <= 1 for r in raven)


def test_embeddings(archive, clean, classifier, tmp_path):
    from envaudio.modelfile import read_meta

    out, _ = clean
    dim = read_meta(classifier.model.path)["graph"]["embedding_dim"]  # the default model's, whichever it is
    with open(out / "embeddings.csv", newline="") as f:
        index = list(csv.DictReader(f))
    assert list(index[0]) == ["file", "embeddings", "row", "start", "end"]
    rels = [r for r in audio_rels(archive) if "corrupt" not in r]
    assert sorted({r["file"] for r in index}) == rels
    for rel in rels:
        e = np.load(out / (rel + ".embeddings.npy"))
        windows = json.loads((out / (rel + ".json")).read_text())["windows"]
        rows = [r for r in index if r["file"] == rel]
        assert e.shape == (len(windows), dim) and e.dtype == np.float32 and np.isfinite(e).all()
        assert [(float(r["start"]), float(r["end"])) for r in rows] == \
            [(w["window_start"], w["window_end"]) for w in windows]
    # The accurate model's first member is YAMNet: its embedding is the same as running
    # its pooled AudioSet embedding by hand, in PyTorch, from the model's training file.
    import torch

    from envaudio.loading import load_model
    from envaudio.predict import load_classifier
    from envaudio.torchload import member_nets
    from envaudio.windows import cut_at

    acc = load_classifier("accurate")
    assert acc.model.members[0].network == "yamnet"
    one = tmp_path / "in"
    (one / "site1").mkdir(parents=True)
    shutil.copy(archive / "site1" / "tone.wav", one / "site1" / "tone.wav")
    analyze(one, tmp_path / "out", "json", embeddings=True, model="accurate", progress=False)
    net = member_nets(load_model(ROOT / "models" / "accurate.pt"))[0]
    wave = acc.load(archive / "site1" / "tone.wav")
    waves = acc.at_model_rates(wave, acc.sample_rate)
    feats = acc.model.featurize(cut_at(waves, [0.0, 2.0], acc.window_seconds))
    x = torch.from_numpy(feats[acc.model.members[0].frontend.key()])
    with torch.inference_mode():
        want = net.pooled(*net.patch_batch(x)).numpy()
    got = np.load(tmp_path / "out" / "site1" / "tone.wav.embeddings.npy")
    assert got.shape == (2, 1024) and np.allclose(got, want, atol=1e-4)
    # The docs' nearest-neighbour query: a window of the tone's nearest other window is
    # the tone's own, not the noise's or the silence's.
    vecs = np.concatenate([np.load(out / r["embeddings"])[int(r["row"])][None] for r in index])
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True) + 1e-9
    q = next(i for i, r in enumerate(index) if r["file"] == "site1/tone.wav")
    sims = vecs @ vecs[q]
    sims[q] = -np.inf
    assert index[int(np.argmax(sims))]["file"] == "site1/tone.wav"


# --- resuming -----------------------------------------------------------------------------

def test_resumed_run_rewrites_nothing(archive, clean):
    out, first = clean
    before, stamps = tree(out), mtimes(out)
    again = analyze(archive, out, ALL, embeddings=True, progress=False)
    assert again.analysed == 0 and again.skipped == first.files
    assert again.errors == first.errors and again.seconds_of_audio == pytest.approx(first.seconds_of_audio)
    assert tree(out) == before and mtimes(out) == stamps
    # Fewer formats than were written: still done, nothing rewritten.
    analyze(archive, out, "json", progress=False)
    assert mtimes(out) == stamps


def test_changed_file_is_analysed_again(tmp_path):
    src = tmp_path / "in"
    (src / "a").mkdir(parents=True)
    sf.write(src / "a" / "one.wav", tone(3.0), SR)
    sf.write(src / "two.wav", noise(3.0), SR)
    out = tmp_path / "out"
    analyze(src, out, "json,audacity", progress=False)
    stamps = mtimes(out)
    time.sleep(0.01)
    sf.write(src / "two.wav", noise(5.0, seed=5), SR)  # a new recording under the old name
    s = analyze(src, out, "json,audacity", progress=False)
    assert s.analysed == 1 and s.skipped == 1
    now = mtimes(out)
    assert now["a/one.wav.json"] == stamps["a/one.wav.json"]
    assert now["two.wav.json"] != stamps["two.wav.json"]
    assert json.loads((out / "two.wav.json").read_text())["duration"] == pytest.approx(5.0)
    # A format not written before: the files are analysed again, with it.
    s = analyze(src, out, "raven", progress=False)
    assert s.analysed == 2 and (out / "two.wav.selections.txt").is_file()


def test_temp_files_of_a_kill_are_removed(tmp_path):
    sf.write(tmp_path / "a.wav", tone(1.0), SR)
    out = tmp_path / "out"
    (out / "sub").mkdir(parents=True)
    stray = out / "sub" / "a.wav.json.k3j_x9q2.tmp"  # what atomic_write leaves at a kill -9
    stray.write_text("{half")
    analyze(tmp_path / "a.wav", out, "json", progress=False)
    assert not stray.exists()


def test_kill_9_midway_then_resume(archive, clean, tmp_path):
    """`analyze` in a subprocess, killed -9 as soon as its first file's output appears;
    the re-run completes OUT, equal byte for byte to the uninterrupted run's."""
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "envaudio.archive", str(archive), "--out", str(out), "--format", ALL,
           "--embeddings", "--quiet"]
    p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline and p.poll() is None and not first_output(out):
            time.sleep(0.01)
        assert p.poll() is None, "the run ended before it could be killed"
        os.kill(p.pid, signal.SIGKILL)
        p.wait(30)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait(30)
    killed_at = tree(out)
    assert not (out / "summary.json").exists()  # it was stopped before the end
    # Records written whole (a kill during a record's write leaves its temp file, not it).
    done = [k for k in killed_at if k.startswith(STATE_DIR + "/files/") and k.endswith(".json")]
    s = analyze(archive, out, ALL, embeddings=True, progress=False)
    assert s.analysed == s.files - len(done)
    clean_out, _ = clean
    assert tree(out) == tree(clean_out)
    assert not list(out.rglob("*.tmp"))


def test_progress_bar(tmp_path, capsys):
    sf.write(tmp_path / "a.wav", tone(2.0), SR)
    sf.write(tmp_path / "b.wav", noise(2.0), SR)
    analyze(tmp_path, tmp_path / "out", "csv", progress=True)
    err = capsys.readouterr().err
    assert "2/2 files" in err and "h audio" in err and "audio-h/s" in err and "100%" in err


def test_two_workers_same_results(tmp_path, clean, archive):
    """--workers 2: two processes, each with the model; the same events and windows."""
    out = tmp_path / "out"
    s = analyze(archive, out, ALL, workers=2, progress=False)
    assert s.analysed == s.files and s.workers == 2
    clean_out, first = clean
    assert s.errors == first.errors
    assert (out / "events.csv").read_text() == (clean_out / "events.csv").read_text()
    for rel in audio_rels(archive):
        if "corrupt" in rel:
            continue
        a = json.loads((out / (rel + ".json")).read_text())
        b = json.loads((clean_out / (rel + ".json")).read_text())
        assert a["events"] == b["events"]
        assert np.allclose([w["confidence"] for w in a["windows"]], [w["confidence"] for w in b["windows"]],
                           atol=1e-5)


def children_of(pid: int) -> list[int]:
    out = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                if int((d / "stat").read_text().rsplit(")", 1)[1].split()[1]) == pid:
                    out.append(int(d.name))
            except (OSError, ValueError, IndexError):
                pass
    return out


def test_kill_9_with_workers_leaves_no_orphans(tmp_path):
    """--workers 2 killed -9: its worker processes die with it; the re-run completes OUT."""
    src = tmp_path / "in"
    src.mkdir()
    for i in range(4):
        sf.write(src / f"r{i}.flac", noise(40.0, 0.1, seed=i), SR)
    out = tmp_path / "out"
    p = subprocess.Popen([sys.executable, "-m", "envaudio.archive", str(src), "--out", str(out), "--workers", "2",
                          "--format", "json,raven", "--quiet"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline and p.poll() is None and not first_output(out):
            time.sleep(0.01)
        workers = children_of(p.pid)
        assert p.poll() is None and workers, "the run ended before it could be killed"
        os.kill(p.pid, signal.SIGKILL)
        p.wait(30)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait(30)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and any(Path(f"/proc/{w}").exists() for w in workers):
        time.sleep(0.1)
    assert not [w for w in workers if Path(f"/proc/{w}/stat").exists()
                and (Path(f"/proc/{w}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z")]
    s = analyze(src, out, "json,raven", workers=2, progress=False)
    assert s.analysed + s.skipped == 4 and s.analysed >= 1 and not s.errors
    for i in range(4):
        assert json.loads((out / f"r{i}.flac.json").read_text())["duration"] == pytest.approx(40.0)
        assert (out / f"r{i}.flac.selections.txt").read_text().startswith("Selection\tView")
    assert not list(out.rglob("*.tmp"))
