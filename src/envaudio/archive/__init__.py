"""Archive analysis: `envaudio analyze IN --out OUT` over folders of recordings.

Every audio file under IN (fileio.AUDIO_EXTS, recursively) is classified once; its
results are written under OUT at the same relative path as soon as it is done, each file
atomically; a small record per file, written last (state.py), makes a re-run skip what is
done and unchanged, and a run killed at any moment resumable. Files that cannot be
decoded go to OUT/errors.csv and the run goes on. Formats: formats.py. Local worker
processes or Ray actors (ray_engine.py) each load the model once. docs/archives.md.
"""

from .errors import ArchiveError, EngineError, FormatError, InputError, OutputError
from .formats import DEFAULT_FORMATS, FORMATS, read_audacity, read_events_csv, read_raven
from .run import Summary, analyze

__all__ = ["analyze", "Summary", "ArchiveError", "InputError", "OutputError", "FormatError", "EngineError",
           "FORMATS", "DEFAULT_FORMATS", "read_audacity", "read_raven", "read_events_csv"]
