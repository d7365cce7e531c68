"""Mistakes in what `envaudio analyze` was asked to do: one line for a person, nothing
written. Torch-free."""

from __future__ import annotations

from ..errors import UserError


class ArchiveError(UserError, ValueError):
    """Base of the analysis's errors."""


class InputError(ArchiveError):
    """IN is missing or holds no audio."""


class OutputError(ArchiveError):
    """OUT cannot be written (or another run is writing it)."""


class FormatError(ArchiveError):
    """An unknown --format name."""


class EngineError(ArchiveError):
    """--engine / --workers / --address that cannot be used (Ray not installed...)."""
