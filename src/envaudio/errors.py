"""Errors meant for a person: `envaudio` prints their message as one line (no traceback)
and exits non-zero; the server turns them into 4xx answers. Torch-free, so the command
line can catch them without loading any network code."""

from __future__ import annotations


class UserError(Exception):
    """Base: the message says what was wrong and, where it can, what to do."""


class SettingsError(UserError, ValueError):
    """A setting from the environment has a value that cannot be used."""


class AudioError(UserError, ValueError):
    """Input that cannot be turned into audio. The message is meant for a person."""


class DatasetError(UserError, ValueError):
    """A data root or table that cannot be used; the message says what to fix."""


class ModelError(UserError, RuntimeError):
    """A model file that is missing or cannot be used."""


class BackendError(UserError, RuntimeError):
    """INFERENCE_BACKEND names an engine that cannot run here."""
