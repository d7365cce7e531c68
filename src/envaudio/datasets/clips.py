"""A clip: one labelled recording in a dataset, and the clip table `prepare` writes."""

from __future__ import annotations

import csv
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable


TABLE_COLUMNS = ("file_path", "label", "fold", "classID", "salience")


@dataclass(frozen=True)
class Clip:
    file_path: str
    label: str
    fold: int
    class_id: int
    salience: int = 1


def write_table(clips: Iterable[Clip], out: str | os.PathLike) -> None:
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(TABLE_COLUMNS)
        for c in clips:
            w.writerow([c.file_path, c.label, c.fold, c.class_id, c.salience])
