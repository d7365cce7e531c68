"""`envaudio monitor SOURCE --out DIR`: listen to a sound card, stdin, a network stream or a
file, unattended, and write what was heard and how loud as it goes (docs/monitor.md).

    sources.py   where the audio comes from (mic, -, URLs through ffmpeg, files)
    run.py       the loop: the streaming core, reconnection, gaps, signals
    outputs.py   events.csv, levels.csv, gaps.csv (appended whole lines; daily files), clips
    metrics.py   Prometheus /metrics and /health
"""

from .run import Monitor, Options
from .sources import SourceError, make_source

__all__ = ["Monitor", "Options", "SourceError", "make_source"]
