"""The `envaudio` command: one module per subcommand, each with `add_parser(sub)` and `run(args)`.

Parsing imports no torch: `envaudio serve --workers N`'s master process parses the same
command line and must stay small. A command's `run` imports what it needs.

A command's arguments are parsed by its own parser, intermixed (`envaudio predict a.mp3
--events b.m4a` gives two files): argparse's top-level parser hands a command everything
after its name and reports what the command left over itself, with the top-level usage,
which says nothing of the command's options.
"""

from __future__ import annotations

import argparse
import importlib
import os
import signal
import sys

from ..errors import UserError
from ..settings import get_settings
from .common import version

# Subcommand -> module, in the order `envaudio --help` lists them.
COMMANDS = {"prepare": "prepare", "train": "train", "distill": "distill", "combine": "combine", "zero-shot": "zero_shot",
            "calibrate": "calibrate", "export": "export", "evaluate": "evaluate", "predict": "predict",
            "analyze": "analyze", "evaluate-events": "evaluate_events", "segments": "segments",
            "thresholds": "thresholds", "monitor": "monitor", "serve": "serve"}
EPILOG = "Run `envaudio COMMAND --help` for a command's options."
# What the commands that train or write training files need beyond the lean install
# (`pip install envaudio`: predict, analyze, serve, evaluate): envaudio[train]'s packages.
TRAINING_PACKAGES = {"train": ("torch", "onnx", "matplotlib"), "distill": ("torch", "onnx", "matplotlib"),
                     "combine": ("torch", "onnx"), "zero-shot": ("torch", "onnx"), "calibrate": ("torch", "onnx"),
                     "export": ("torch", "onnx")}


def missing_packages(command: str) -> list[str]:
    """The packages `command` needs that cannot be imported (tried: the command imports
    them next anyway)."""
    missing = []
    for name in TRAINING_PACKAGES.get(command, ()):
        try:
            importlib.import_module(name)
        except ImportError:
            missing.append(name)
    return missing


def _module(command: str):
    return importlib.import_module(f"{__name__}.{COMMANDS[command]}")


def build_parser() -> argparse.ArgumentParser:
    get_settings()  # a bad ENVAUDIO_* variable fails here, before any parsing
    parser = argparse.ArgumentParser(prog="envaudio", description="Environmental sound classifier.",
                                     epilog=EPILOG)
    parser.add_argument("--version", action="version", version=f"envaudio {version()}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for command in COMMANDS:
        _module(command).add_parser(sub)
    return parser


def parse(parser: argparse.ArgumentParser, argv: list[str]) -> argparse.Namespace:
    """`argv` parsed: envaudio's own options before the command (`--version`, `--help`),
    then the command's arguments by the command's parser, options and positionals
    intermixed; its errors print its usage ("usage: envaudio predict ...")."""
    at = next((i for i, a in enumerate(argv) if not a.startswith("-")), None)
    if at is None or argv[at] not in COMMANDS:
        return parser.parse_args(argv)  # --version, --help, no command, or not a command
    parser.parse_args(argv[:at])  # an unknown option before the command: the top-level error
    command = argv[at]
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices[command]
    try:
        args = sub.parse_intermixed_args(argv[at + 1:])
    except TypeError:  # a parser intermixing cannot handle (a positional in an exclusive group)
        args = sub.parse_args(argv[at + 1:])
    args.command = command
    return args


def main(argv: list[str] | None = None) -> int:
    try:
        parser = build_parser()
    except UserError as e:  # a bad ENVAUDIO_* variable: say which, no traceback
        print(f"envaudio: error: {e}", file=sys.stderr)
        return 2
    args = parse(parser, sys.argv[1:] if argv is None else list(argv))
    if not args.command:
        parser.print_help()
        return 2
    missing = missing_packages(args.command)
    if missing:  # the lean install: one line, no traceback
        print(f"envaudio {args.command}: error: needs the training packages ({', '.join(missing)} not installed): "
              "install envaudio[train]", file=sys.stderr)
        return 2
    try:
        return int(_module(args.command).run(args) or 0)
    except BrokenPipeError:  # the reader of our output left (`| head`): stop quietly
        # Python would report the pipe again when it flushes stdout at exit.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 128 + signal.SIGPIPE
    except KeyboardInterrupt:
        print(f"envaudio {args.command}: interrupted", file=sys.stderr)
        return 130
    except (UserError, OSError) as e:  # meant for a person (OSError: a missing file, an unwritable output)
        print(f"envaudio {args.command}: error: {e}", file=sys.stderr)
        return 2
