"""`envaudio prepare`: index an UrbanSound8K folder into a clip table."""

from __future__ import annotations

from .common import warn


def add_parser(sub) -> None:
    p = sub.add_parser("prepare", help="index an UrbanSound8K folder into a file_path,label,fold table")
    p.add_argument("--data-root", required=True, help="UrbanSound8K folder (with metadata/ and audio/)")
    p.add_argument("--out", default="data/urbansound8k.csv", help="table to write (default: %(default)s)")


def run(args) -> int:
    from ..datasets.clips import write_table
    from ..datasets.urbansound8k import prepare_dataset

    ds = prepare_dataset(args.data_root)
    write_table(ds.clips, args.out)
    counts = {f: sum(c.fold == f for c in ds.clips) for f in ds.folds}
    print(f"{len(ds.clips)} clips in folds {', '.join(f'{f} ({n})' for f, n in counts.items())}")
    print(f"{len(ds.labels)} classes: {', '.join(ds.labels)}")
    if ds.missing:
        warn(f"{len(ds.missing)} clip(s) listed in the metadata have no audio file, "
             f"e.g. {', '.join(ds.missing[:3])}")
    print(f"wrote {args.out}")
    return 0
