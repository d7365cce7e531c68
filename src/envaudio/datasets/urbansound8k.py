"""UrbanSound8K: reading the official metadata into clips.

An UrbanSound8K root has `metadata/UrbanSound8K.csv` and `audio/fold{N}/`. The official
download ships WAV; other copies (like the project's FLAC subset) keep the official names
with another extension, so a file is found by its stem too.
"""

from __future__ import annotations

import csv
import os
from dataclasses import dataclass
from pathlib import Path

from ..errors import DatasetError
from ..fileio import AUDIO_EXTS
from .clips import Clip


@dataclass
class PreparedDataset:
    clips: list[Clip]
    missing: list[str]
    root: Path

    @property
    def folds(self) -> list[int]:
        return sorted({c.fold for c in self.clips})

    @property
    def labels(self) -> list[str]:
        """Class names ordered by classID (the official order)."""
        by_id = {c.class_id: c.label for c in self.clips}
        return [by_id[i] for i in sorted(by_id)]


def _find_audio(folder: Path, name: str, index: dict[str, str]) -> Path | None:
    exact = folder / name
    if exact.is_file():
        return exact
    alt = index.get(Path(name).stem)
    return folder / alt if alt else None


def prepare_dataset(root: str | os.PathLike) -> PreparedDataset:
    """Read an UrbanSound8K root; keep the rows whose audio exists."""
    root = Path(root)
    meta = root / "metadata" / "UrbanSound8K.csv"
    if not root.is_dir():
        raise DatasetError(f"data root not found: {root}")
    if not meta.is_file():
        raise DatasetError(f"{meta} not found: is {root} an extracted UrbanSound8K download?")
    indexes: dict[int, dict[str, str]] = {}
    clips, missing = [], []
    with open(meta, newline="") as f:
        reader = csv.DictReader(f)
        need = {"slice_file_name", "fold", "classID", "class"}
        if not need.issubset(reader.fieldnames or []):
            raise DatasetError(f"{meta} lacks columns {sorted(need - set(reader.fieldnames or []))}")
        for row in reader:
            fold = int(row["fold"])
            folder = root / "audio" / f"fold{fold}"
            if fold not in indexes:
                indexes[fold] = ({Path(p).stem: p for p in os.listdir(folder)
                                  if p.lower().endswith(AUDIO_EXTS)} if folder.is_dir() else {})
            path = _find_audio(folder, row["slice_file_name"], indexes[fold])
            if path is None:
                missing.append(f"fold{fold}/{row['slice_file_name']}")
                continue
            clips.append(Clip(str(path.resolve()), row["class"], fold, int(row["classID"]),
                              int(row.get("salience") or 1)))
    if not clips:
        raise DatasetError(f"no audio files of {meta} were found under {root / 'audio'}")
    return PreparedDataset(clips, missing, root)


US8K_CITATION = ("J. Salamon, C. Jacoby and J. P. Bello, 'A Dataset and Taxonomy for Urban Sound "
                 "Research', 22nd ACM International Conference on Multimedia, Orlando USA, 2014.")
