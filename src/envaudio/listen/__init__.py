"""The streaming core (runtime layer): audio in chunks -> windows classified, sound levels
and final events (core.py); decoding files and streams in chunks (decode.py)."""

from .core import Listener, Update, Window

__all__ = ["Listener", "Update", "Window"]
