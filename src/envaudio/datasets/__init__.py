"""Datasets: clips and their labels, the layouts they come in, folds, and the feature cache.

    clips.py          Clip, the clip table `prepare` writes
    urbansound8k.py   the official metadata (and its citation)
    layouts.py        every layout: UrbanSound8K, a folder per class, a CSV
    splits.py         folds: parsing, choosing, and splits for data without folds
    cache.py          window features computed once per front end (imports torch)

Import from the submodules: `cache` is the only one that needs torch, and the CLI reads
datasets without it.
"""
