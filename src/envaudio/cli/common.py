"""What several commands share: the data options, output checks, warnings."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from ..thresholds import add_threshold_args, threshold_settings  # noqa: F401  (the commands' options)


def add_data_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data-root", help="an UrbanSound8K folder (metadata/ and audio/fold*/), or a folder "
                   "per class (DIR/<label>/*.wav|flac|...): detected automatically")
    p.add_argument("--table", help="a CSV of file,label[,fold] (paths relative to it; or from "
                   "`envaudio prepare`), instead of --data-root")


def add_quiet(p: argparse.ArgumentParser) -> None:
    p.add_argument("--quiet", action="store_true", help="no progress bars")


def add_workers(p: argparse.ArgumentParser) -> None:
    p.add_argument("--workers", type=int, default=None,
                   help="processes that decode audio and compute features (default: the cores)")


def check_output(path: str | None, option: str, create_parent: bool = False) -> None:
    """Fail before the work, not after it, when an output file cannot be written."""
    if path in (None, "-"):
        return
    p = Path(path)
    if create_parent:
        p.parent.mkdir(parents=True, exist_ok=True)
    if p.is_dir():
        raise IsADirectoryError(f"{option} {p}: is a folder, not a file")
    if not p.parent.is_dir():
        raise FileNotFoundError(f"{option} {p}: no such folder {p.parent}")
    if not os.access(p.parent, os.W_OK) or (p.exists() and not os.access(p, os.W_OK)):
        raise PermissionError(f"{option} {p}: not writable")


def warn(message: str) -> None:
    """`warning: message` on stderr (blank lines first stay first)."""
    body = message.lstrip("\n")
    print(f"{message[:len(message) - len(body)]}warning: {body}", file=sys.stderr)


def version() -> str:
    from .. import __version__

    return __version__
