"""Files on disk: writes that a kill cannot leave half done, and finding audio files.

Torch-free (model.py saves torch pickles with `atomic_write`)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

# What a folder's audio files end with (what `predict DIR`, datasets and archives pick up).
AUDIO_EXTS = (".wav", ".flac", ".ogg", ".mp3", ".aiff", ".aif", ".m4a")


def atomic_write(path: str | os.PathLike, write) -> None:
    """write(file object) to a temp file in the same folder, then rename: a kill mid-write
    never leaves a truncated file behind."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)  # mkstemp makes 0600; a model file is meant to be shared
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def is_audio_file(path: Path) -> bool:
    return path.suffix.lower() in AUDIO_EXTS


def audio_files(inputs: list[str | os.PathLike], skipped: list[Path] | None = None) -> list[Path]:
    """Files, and the audio files found under folders (recursively, sorted); a folder
    without audio or a missing path is an error (FileNotFoundError). The other files
    found under the folders are appended to `skipped`."""
    files: list[Path] = []
    for item in inputs:
        p = Path(item)
        if p.is_dir():
            every = sorted(q for q in p.rglob("*") if q.is_file() and not q.name.startswith("."))
            found = [q for q in every if is_audio_file(q)]
            if skipped is not None:
                skipped.extend(q for q in every if not is_audio_file(q))
            if not found:
                raise FileNotFoundError(f"no audio files in folder {p}")
            files.extend(found)
        elif p.is_file():
            files.append(p)
        else:
            raise FileNotFoundError(f"no such file or folder: {p}")
    return files
