"""What makes an analysis resumable: a small record per audio file, written last.

Under OUT/.envaudio-analyze/:

    files/<path in IN>.json   the file's record (manifest): the audio's size and mtime, the
                              model and settings it was analysed with, status ok|error (and
                              the reason), duration, events, and every output with its size
    lock                      held (flock) while a run writes OUT

Order of writes for one file: outputs of an earlier analysis that will not be rewritten
are removed, then each output is written atomically (temp file + rename), then the record,
atomically. A file is done when its record matches the audio's size and mtime and the
model and settings, covers the formats asked for, and every output it lists is there with
its size: a kill at any moment leaves either a done file or one that the next run
analyses again. The temp files a kill -9 can leave (`NAME.XXXXXXXX.tmp`) are removed when
the next run starts.
"""

from __future__ import annotations

import errno
import fcntl
import hashlib
import json
import os
import re
from pathlib import Path

from ..fileio import atomic_write
from .errors import OutputError

STATE_DIR = ".envaudio-analyze"
RECORD_VERSION = 1
_TEMP = re.compile(r"\.[a-z0-9_]{8}\.tmp$")  # fileio.atomic_write's temp names (mkstemp)


def state_dir(out: Path) -> Path:
    return out / STATE_DIR


def record_path(out: Path, rel: str) -> Path:
    return state_dir(out) / "files" / (rel + ".json")


def source_stamp(path: Path) -> dict:
    st = path.stat()
    return {"size": st.st_size, "mtime_ns": st.st_mtime_ns}


def file_sha256(path: str | os.PathLike) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def config_key(model_sha: str, settings, top_k: int) -> str:
    """What the results depend on besides the audio: the model file's contents and the
    settings of windows and events (the per-class thresholds' contents included). A change
    of any of them analyses every file again."""
    s = settings
    knobs = [model_sha, s.window_overlap, s.event_hop_seconds, s.event_frame_seconds, s.level_block_seconds,
             s.min_event_seconds, s.max_gap_seconds, s.silence_dbfs, s.unknown_threshold, top_k, RECORD_VERSION]
    if s.thresholds or s.min_confidence:  # per-class thresholds: their contents (a changed file re-analyses)
        from ..thresholds import read_thresholds

        knobs.append([sorted(read_thresholds(s.thresholds).items()), s.min_confidence])
    if s.calibration_db or s.levels_interval_seconds != 60.0:  # the levels tables' (kept out otherwise:
        knobs.append(["levels", s.calibration_db, s.levels_interval_seconds])  # older OUTs stay done)
    return hashlib.sha256(json.dumps(knobs).encode()).hexdigest()[:16]


def read_record(out: Path, rel: str) -> dict | None:
    try:
        rec = json.loads(record_path(out, rel).read_text())
    except (OSError, ValueError):
        return None
    return rec if isinstance(rec, dict) and rec.get("version") == RECORD_VERSION else None


def write_record(out: Path, rel: str, record: dict) -> None:
    data = (json.dumps({"version": RECORD_VERSION, **record}, indent=1) + "\n").encode()
    atomic_write(record_path(out, rel), lambda f: f.write(data))


def outputs_present(out: Path, record: dict) -> bool:
    for name, size in (record.get("outputs") or {}).items():
        try:
            if (out / name).stat().st_size != size:
                return False
        except OSError:
            return False
    return True


def is_done(record: dict | None, stamp: dict, config: str, formats, embeddings: bool, out: Path,
            retry_errors: bool = False) -> bool:
    """Whether the file of `record` needs no analysis (see the module's docstring)."""
    if not record or record.get("source") != stamp or record.get("config") != config:
        return False
    if record.get("status") == "error":
        return not retry_errors
    if record.get("status") != "ok":
        return False
    if not set(formats) <= set(record.get("formats") or ()):
        return False
    if embeddings and not record.get("embeddings"):
        return False
    return outputs_present(out, record)


def write_file_result(out: Path, rel: str, outputs: dict[str, bytes], record: dict) -> None:
    """One file's outputs, then its record (the order that makes a kill harmless)."""
    old = read_record(out, rel)
    keep = set(outputs)
    for name in (old or {}).get("outputs") or {}:
        if name not in keep:
            try:
                (out / name).unlink()
            except FileNotFoundError:
                pass
    for name, data in outputs.items():
        atomic_write(out / name, lambda f, data=data: f.write(data))
    write_record(out, rel, {**record, "outputs": {name: len(data) for name, data in outputs.items()}})


def write_if_changed(path: Path, data: bytes) -> bool:
    """Atomically write `data` unless the file already holds exactly it (a resumed run that
    had nothing to do rewrites nothing)."""
    try:
        if path.read_bytes() == data:
            return False
    except OSError:
        pass
    atomic_write(path, lambda f: f.write(data))
    return True


def remove_temp_files(out: Path) -> int:
    """Delete what a killed atomic_write left behind under OUT; how many."""
    n = 0
    for root, _dirs, files in os.walk(out):
        for name in files:
            if _TEMP.search(name):
                try:
                    os.unlink(os.path.join(root, name))
                    n += 1
                except FileNotFoundError:
                    pass
    return n


class OutLock:
    """An exclusive lock on OUT for one run (two runs writing one OUT would race)."""

    def __init__(self, out: Path):
        self.path = state_dir(out) / "lock"
        self.fd: int | None = None

    def __enter__(self) -> "OutLock":
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as e:
            os.close(self.fd)
            self.fd = None
            if e.errno in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
                raise OutputError(f"--out {self.path.parent.parent}: another `envaudio analyze` is writing "
                                  "this folder (wait for it, or choose another --out)") from None
            raise
        return self

    def __exit__(self, *exc) -> None:
        if self.fd is not None:
            fcntl.flock(self.fd, fcntl.LOCK_UN)
            os.close(self.fd)
            self.fd = None
