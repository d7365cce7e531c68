"""`envaudio analyze IN --out OUT`: classify a whole archive of recordings, resumably
(src/envaudio/archive; docs/archives.md)."""

from __future__ import annotations


def add_parser(sub):
    import argparse

    from ..archive.command import EPILOG, HELP, add_arguments

    p = sub.add_parser("analyze", help=HELP, description=HELP[0].upper() + HELP[1:] + ".", epilog=EPILOG,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(p)
    p.set_defaults(func=run)
    return p


def run(args) -> int:
    from ..archive.command import run as run_analyze

    return run_analyze(args)
