"""What `envaudio monitor` writes under DIR: events.csv, levels.csv, gaps.csv (one file per
UTC day with --rotate daily) and the clips of chosen classes.

Every row is one write() of a whole line to a file opened for appending, so a monitor
killed with -9 leaves every line it wrote whole (the kernel finishes a write it has
begun); a line cut by a power loss is removed when the file is opened again. Rows are
written as they become final, never rewritten.
"""

from __future__ import annotations

import csv
import io
import os
from datetime import datetime, timedelta, timezone
from pathlib import Path

from ..errors import UserError

EVENT_COLUMNS = ["start_time", "end_time", "start_s", "end_s", "label", "confidence", "laeq", "lamax", "unit", "clip"]
GAP_COLUMNS = ["start_time", "end_time", "start_s", "end_s", "seconds", "reason"]


def level_columns(labels: list[str]) -> list[str]:
    from ..levels import LEVEL_COLUMNS

    return ["start_time", "start_s", "end_s", "audio_s", *LEVEL_COLUMNS, "unit",
            *(f"share_{l}" for l in labels), "share_unlabelled"]


def iso(t: datetime) -> str:
    """ISO 8601 in UTC to the millisecond: 2024-06-11T14:30:00.000Z."""
    return t.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}Z"


class OutputError(UserError):
    pass


def prepare_dir(d: str | os.PathLike) -> Path:
    """DIR made and checked writable, or one clear line."""
    d = Path(d)
    if d.exists() and not d.is_dir():
        raise OutputError(f"--out {d}: exists and is not a folder")
    try:
        d.mkdir(parents=True, exist_ok=True)
        probe = d / ".envaudio-monitor-probe"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as e:
        raise OutputError(f"--out {d}: cannot write there ({e.strerror or e})") from None
    return d


class CsvLog:
    """Rows appended to DIR/NAME.csv, or DIR/NAME-YYYY-MM-DD.csv by each row's UTC day
    (`daily`). A file is opened once per day and kept open."""

    def __init__(self, folder: Path, name: str, columns: list[str], daily: bool = False):
        self.folder, self.name, self.columns, self.daily = folder, name, columns, daily
        self.fd: int | None = None
        self.day: str | None = None

    def path_for(self, day: str | None) -> Path:
        return self.folder / (f"{self.name}-{day}.csv" if self.daily and day else f"{self.name}.csv")

    def _open(self, day: str | None) -> None:
        self.close()
        path = self.path_for(day)
        header = self._line(self.columns)
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o644)
        except OSError as e:
            raise OutputError(f"{path}: cannot write ({e.strerror or e})") from None
        size = os.fstat(fd).st_size
        if size:
            with open(path, "rb") as f:
                head = f.readline()
                if head != header:
                    os.close(fd)
                    raise OutputError(f"{path} has other columns (another model or version?): "
                                      "choose another --out, or move the file away")
                f.seek(max(0, size - 1))
                if f.read(1) != b"\n":  # a line cut short (power loss): removed
                    f.seek(0)
                    data = f.read()
                    os.ftruncate(fd, data.rfind(b"\n") + 1)
        else:
            os.write(fd, header)
        self.fd, self.day = fd, day

    @staticmethod
    def _line(values) -> bytes:
        buf = io.StringIO()
        csv.writer(buf, lineterminator="\n").writerow(values)
        return buf.getvalue().encode()

    def write(self, row: dict, when: datetime | None = None) -> Path:
        day = when.astimezone(timezone.utc).strftime("%Y-%m-%d") if (self.daily and when) else None
        if self.fd is None or day != self.day:
            self._open(day)
        os.write(self.fd, self._line([row.get(c, "") for c in self.columns]))
        return self.path_for(day)

    def sync(self) -> None:
        if self.fd is not None:
            os.fsync(self.fd)

    def close(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None


class Clips:
    """The audio of chosen classes' events (with a second of context), as FLAC under
    DIR/clips/YYYY-MM-DD/, named by time and class: 20240611T143005.120Z_car_horn.flac. The
    last `keep_seconds` of audio are kept for it (a ring); an event older than that is saved
    in part."""

    def __init__(self, folder: Path, labels: set[str], sr: int, keep_seconds: float = 180.0, context: float = 1.0):
        import numpy as np

        self.folder, self.labels, self.sr, self.context = folder / "clips", labels, sr, context
        self.buf = np.zeros(int(keep_seconds * sr), np.float32)
        self.pos = 0  # next write index
        self.filled = 0
        self.end = 0.0  # run seconds at the newest sample

    def wants(self, label: str) -> bool:
        return "all" in self.labels or label in self.labels

    def push(self, x, end_s: float) -> None:
        import numpy as np

        x = np.asarray(x, np.float32)[-len(self.buf):]
        n, cap = len(x), len(self.buf)
        k = min(n, cap - self.pos)
        self.buf[self.pos:self.pos + k] = x[:k]
        self.buf[:n - k] = x[k:]
        self.pos = (self.pos + n) % cap
        self.filled = min(cap, self.filled + n)
        self.end = end_s

    def save(self, label: str, start_s: float, end_s: float, when: datetime) -> str:
        """Write the clip; its path relative to DIR ("" if its audio is gone)."""
        import numpy as np
        import soundfile as sf

        oldest = self.end - self.filled / self.sr
        first = max(0, int(round((start_s - self.context - oldest) * self.sr)))
        last = min(self.filled, int(round((end_s + self.context - oldest) * self.sr)))
        if last <= first:
            return ""
        ordered = np.concatenate([self.buf[self.pos:], self.buf[:self.pos]])[len(self.buf) - self.filled:]
        day = self.folder / when.astimezone(timezone.utc).strftime("%Y-%m-%d")
        day.mkdir(parents=True, exist_ok=True)
        stamp = when.astimezone(timezone.utc).strftime("%Y%m%dT%H%M%S.") + f"{when.microsecond // 1000:03d}Z"
        path = day / f"{stamp}_{label}.flac"
        sf.write(str(path), ordered[first:last], self.sr, format="FLAC")
        return path.relative_to(self.folder.parent).as_posix()


def at(start: datetime, seconds: float) -> datetime:
    return start + timedelta(seconds=seconds)
