"""Every layout a dataset can come in: UrbanSound8K, or your own recordings as a folder per
class or a CSV.

    folder per class   DIR/<label>/**/*.wav|flac|ogg|mp3|...   (the folder name is the label)
    CSV (--table)      file,label[,fold]   (paths relative to the CSV; `envaudio prepare`'s
                       file_path,label,fold tables are read too)

Without folds, clips are split per class (splits.py). Everything is checked before anything is
trained or written: a problem is one line that names the files.
"""

from __future__ import annotations

import csv
import os
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import DatasetError
from ..fileio import AUDIO_EXTS
from .clips import Clip
from .urbansound8k import US8K_CITATION, prepare_dataset


@dataclass
class Dataset:
    clips: list[Clip]
    labels: list[str]
    layout: str  # "urbansound8k", "folders" or "table"
    source: str
    has_folds: bool
    warnings: list[str] = field(default_factory=list)

    @property
    def name(self) -> str:
        return "UrbanSound8K" if self.layout == "urbansound8k" else Path(self.source).name

    def describe(self) -> str:
        """One line for the log: which layout was detected, and what is in it."""
        kind = {"urbansound8k": "UrbanSound8K layout", "folders": "a folder per class",
                "table": "a CSV table"}[self.layout]
        folds = f", folds {sorted({c.fold for c in self.clips})}" if self.has_folds else ", no folds"
        return (f"{self.source}: {kind}; {len(self.clips)} clips, {len(self.labels)} classes "
                f"({', '.join(self.labels)}){folds}")

    def card(self) -> dict:
        return {"dataset": self.name, "dataset_layout": self.layout,
                "dataset_citation": US8K_CITATION if self.layout == "urbansound8k" else None}


def _names(paths, root: Path | None = None, limit: int = 3) -> str:
    shown = [os.path.relpath(p, root) if root else str(p) for p in list(paths)[:limit]]
    more = len(paths) - len(shown)
    return ", ".join(shown) + (f" (+{more} more)" if more > 0 else "")


def _audio_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in AUDIO_EXTS
                  and not any(part.startswith(".") for part in p.relative_to(folder).parts))


def read_class_folders(root: Path) -> Dataset:
    """DIR/<label>/**/<audio>: every sub-folder is a class."""
    folders = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    files = {f.name: _audio_files(f) for f in folders}
    empty = [f"{root / name}" for name, found in files.items() if not found]
    if empty:
        raise DatasetError(f"class folder(s) with no audio files ({', '.join(AUDIO_EXTS)}): {_names(empty)}")
    labels = sorted(files)
    clips = [Clip(str(p.resolve()), label, 0, labels.index(label)) for label in labels for p in files[label]]
    loose = [p for p in root.iterdir() if p.is_file() and p.suffix.lower() in AUDIO_EXTS]
    warnings = [f"ignored {len(loose)} audio file(s) directly in {root} (not in a class folder): "
                f"{_names([p.name for p in loose])}"] if loose else []
    return Dataset(clips, labels, "folders", str(root), False, warnings)


def _table_path(table: Path, name: str) -> Path:
    p = Path(name).expanduser()
    return p if p.is_absolute() else table.parent / p


def read_table_layout(table: str | os.PathLike) -> Dataset:
    """A CSV of file,label[,fold] (or `envaudio prepare`'s file_path,label,fold,classID)."""
    table = Path(table)
    if not table.is_file():
        raise DatasetError(f"table not found: {table}")
    with open(table, newline="", encoding="utf-8-sig") as f:
        reader = csv.DictReader(f)
        cols = [c.strip() for c in reader.fieldnames or []]
        file_col = "file" if "file" in cols else "file_path" if "file_path" in cols else None
        if file_col is None or "label" not in cols:
            raise DatasetError(f"{table} needs a header with the columns file,label (and optionally fold); "
                               f"it has {','.join(cols) or 'no header'}")
        rows = [{k.strip(): (v or "").strip() for k, v in r.items() if k} for r in reader]
    if not rows:
        raise DatasetError(f"{table} lists no files")
    blank = [i + 2 for i, r in enumerate(rows) if not r[file_col] or not r["label"]]
    if blank:
        raise DatasetError(f"{table}: empty file or label on line(s) {_names([str(n) for n in blank], limit=5)}")
    has_folds = "fold" in cols and any(r.get("fold") for r in rows)
    if has_folds:
        bad = [i + 2 for i, r in enumerate(rows) if not r.get("fold", "").isdigit()]
        if bad:
            raise DatasetError(f"{table}: the fold must be a whole number on every line; "
                               f"not on line(s) {_names([str(n) for n in bad], limit=5)}")
    paths = [_table_path(table, r[file_col]) for r in rows]
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        raise DatasetError(f"{table}: {len(missing)} listed file(s) not found: {_names(missing)}")
    by_id = {int(r["classID"]): r["label"] for r in rows if r.get("classID", "").isdigit()}
    labels = ([by_id[i] for i in sorted(by_id)] if len(by_id) == len({r["label"] for r in rows})
              else sorted({r["label"] for r in rows}))
    clips = [Clip(str(p.resolve()), r["label"], int(r["fold"]) if has_folds else 0, labels.index(r["label"]))
             for p, r in zip(paths, rows)]
    return Dataset(clips, labels, "table", str(table), has_folds)


def load_dataset(data_root: str | None = None, table: str | None = None) -> Dataset:
    """Detect the layout: --table is a CSV; a data root is UrbanSound8K when it has
    metadata/UrbanSound8K.csv, else a folder per class."""
    if table:
        return read_table_layout(table)
    if not data_root:
        raise DatasetError("give --data-root (an UrbanSound8K folder or a folder per class) or --table (a CSV)")
    root = Path(data_root).expanduser()
    if not root.is_dir():
        raise DatasetError(f"data root not found: {root}")
    if (root / "metadata" / "UrbanSound8K.csv").is_file():
        ds = prepare_dataset(root)
        warnings = ([f"{len(ds.missing)} clip(s) listed in the metadata have no audio file, "
                     f"e.g. {_names(ds.missing)}"] if ds.missing else [])
        return Dataset(ds.clips, ds.labels, "urbansound8k", str(root), True, warnings)
    if not any(p.is_dir() and not p.name.startswith(".") for p in root.iterdir()):
        raise DatasetError(f"{root} is neither an UrbanSound8K folder (metadata/UrbanSound8K.csv) nor a "
                           "folder per class (DIR/<label>/*.wav): it has no sub-folders")
    return read_class_folders(root)


def check_classes(ds: Dataset, min_clips: int, recommended: int) -> list[str]:
    """Errors (raised) for fewer than two classes or too few clips in a class; warnings
    (returned) for classes below the recommended size."""
    if len(ds.labels) < 2:
        raise DatasetError(f"{ds.source}: only one class ({ds.labels[0] if ds.labels else 'none'}); "
                           "a classifier needs at least two")
    counts = {l: [c.file_path for c in ds.clips if c.label == l] for l in ds.labels}
    few = {l: files for l, files in counts.items() if len(files) < min_clips}
    if few:
        l, files = next(iter(few.items()))
        raise DatasetError(f"{len(few)} class(es) with fewer than {min_clips} clips: {', '.join(few)} "
                           f"(e.g. {l}: {_names(files)})")
    small = [f"{l} ({len(files)})" for l, files in counts.items() if len(files) < recommended]
    return [f"{len(small)} class(es) with fewer than {recommended} clips (more give a better model): "
            f"{', '.join(small)}"] if small else []


def load_clips(data_root: str | None = None, table: str | None = None) -> tuple[list[Clip], list[str]]:
    """Clips from a data root or a table (any layout `load_dataset` knows), and the label order."""
    ds = load_dataset(data_root, table)
    return ds.clips, ds.labels
