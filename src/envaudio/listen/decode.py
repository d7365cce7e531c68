"""A local file of any length, decoded in blocks at the classifier's rate, for the streaming
core. The same decoders as audio.load_audio (libsndfile first, ffmpeg for what it cannot
read or for MP3), block for block the same samples, but handed on as they come instead of
gathered: an hour or a day of audio never sits in memory. ffmpeg's limit is on stalls (no
output for FFMPEG_TIMEOUT_SECONDS), not on the whole decode, which for a day of MP3 takes
minutes."""

from __future__ import annotations

import os
import selectors
import shutil
import subprocess
import time
from pathlib import Path
from typing import Iterator

import numpy as np

from ..audio import _BLOCK_SAMPLES, _OVERFLOW, FFMPEG_FORMATS, Undecodable, _is_mpeg, _wav_header, mono_blocks
from ..errors import AudioError
from ..limits import InputLimits


class DecodedFile:
    """Iterate over a file's mono float32 blocks at `sr`. `rate` (the file's own),
    `frames` (samples read at that rate) and `estimate` (its duration from the header, s,
    or None) are known once iteration has begun."""

    def __init__(self, path: str | os.PathLike, sr: int, limits: InputLimits | None = None,
                 loader: str = "ffmpeg", stall_timeout: float = 20.0):
        self.path = Path(path)
        self.name = self.path.name
        self.sr, self.limits = sr, limits or InputLimits()
        self.loader, self.stall_timeout = loader, stall_timeout
        self.rate: int | None = None
        self.frames = 0
        self.estimate: float | None = None
        if not self.path.is_file():
            raise AudioError(f"no such file: {self.path}")
        if self.path.stat().st_size == 0:
            raise AudioError(f"{self.name}: the file is empty")

    def __iter__(self) -> Iterator[np.ndarray]:
        import soxr

        stream = None
        out = 0
        for rate, block in self._blocks():
            if self.rate is None:
                self.limits.check_rate(rate, self.name)
                self.rate = rate
                if rate != self.sr:
                    stream = soxr.ResampleStream(rate, self.sr, 1, dtype="float32", quality="HQ")
            self.frames += len(block)
            if not np.isfinite(block).all():
                raise AudioError(f"{self.name}: the audio contains NaN or infinite samples")
            y = stream.resample_chunk(block) if stream is not None else block
            out += len(y)
            yield self._finite(y)
        if self.frames == 0:
            raise AudioError(f"{self.name}: the file holds no audio samples")
        if stream is not None:
            y = stream.resample_chunk(np.zeros(0, np.float32), last=True)
            out += len(y)
            yield self._finite(y)

    def _finite(self, y: np.ndarray) -> np.ndarray:
        if not np.isfinite(y).all():
            raise AudioError(f"{self.name}: {_OVERFLOW}")
        return y

    def _blocks(self) -> Iterator[tuple[int, np.ndarray]]:
        """(the file's rate, a mono block at it): libsndfile, else ffmpeg (as load_audio)."""
        with self.path.open("rb") as fh:
            head = fh.read(4)
        have_ffmpeg = shutil.which("ffmpeg") is not None
        if not (_is_mpeg(head) and have_ffmpeg) and self.loader != "librosa":
            import soundfile as sf

            try:
                f = sf.SoundFile(str(self.path))
            except Exception:
                f = None
            if f is not None:
                with f:
                    self.estimate = f.frames / f.samplerate if f.frames > 0 else None
                    for block in mono_blocks(f):
                        yield f.samplerate, block
                    return
        if not have_ffmpeg:
            raise Undecodable(f"{self.name}: could not decode this file as audio (unsupported or corrupt format)")
        yield from self._ffmpeg()

    def _ffmpeg(self) -> Iterator[tuple[int, np.ndarray]]:
        cmd = ["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-protocol_whitelist", "file",
               "-format_whitelist", FFMPEG_FORMATS, "-i", f"file:{self.path}", "-map", "0:a:0", "-ac", "1",
               "-c:a", "pcm_f32le", "-bitexact", "-map_metadata", "-1", "-f", "wav", "pipe:1"]
        pipe = FfmpegPipe(cmd, self.stall_timeout)
        try:
            rate = None
            for rate, block in pipe.blocks():
                yield rate, block
            if rate is None:
                raise Undecodable(f"{self.name}: could not decode this file as audio (unsupported or corrupt format)")
        finally:
            pipe.close()


class FfmpegPipe:
    """ffmpeg writing a float32 mono WAV on stdout, read in blocks with a limit on stalls
    (no output for `stall_timeout` s). A process that exits non-zero before any audio is
    an error (`error()`: the end of what it said); after audio, the end of the stream."""

    def __init__(self, cmd: list[str], stall_timeout: float = 20.0, stdin=None):
        self.stall = stall_timeout
        self.proc = subprocess.Popen(cmd, stdin=stdin if stdin is not None else subprocess.DEVNULL,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
        self.stderr = bytearray()

    def error(self) -> str:
        lines = [l for l in self.stderr.decode(errors="replace").splitlines() if l.strip()]
        return lines[-1].strip() if lines else f"ffmpeg exited with status {self.proc.poll()}"

    def blocks(self, block_bytes: int = _BLOCK_SAMPLES * 4) -> Iterator[tuple[int, np.ndarray]]:
        sel = selectors.DefaultSelector()
        sel.register(self.proc.stdout, selectors.EVENT_READ)
        sel.register(self.proc.stderr, selectors.EVENT_READ)
        pending, rate, last = bytearray(), None, time.monotonic()
        with sel:
            while sel.get_map():
                events = sel.select(max(0.0, self.stall - (time.monotonic() - last)))
                if not events:
                    raise AudioError(f"no audio for {self.stall:g} s (FFMPEG_TIMEOUT_SECONDS)")
                for key, _ in events:
                    chunk = os.read(key.fd, 1 << 16)
                    if not chunk:
                        sel.unregister(key.fileobj)
                        continue
                    if key.fileobj is self.proc.stderr:
                        self.stderr += chunk
                        del self.stderr[:-4096]
                        continue
                    last = time.monotonic()
                    pending += chunk
                    if rate is None:
                        try:
                            header = _wav_header(pending)
                        except RuntimeError:
                            raise AudioError("ffmpeg wrote no WAV header") from None
                        if header is None:
                            continue
                        rate, offset = header
                        del pending[:offset]
                    usable = len(pending) - len(pending) % 4
                    if usable >= block_bytes:
                        yield rate, np.frombuffer(bytes(pending[:usable]), dtype="<f4")
                        del pending[:usable]
        usable = len(pending) - len(pending) % 4
        if rate is not None and usable:
            yield rate, np.frombuffer(bytes(pending[:usable]), dtype="<f4")
        if self.proc.wait() != 0 and rate is None:
            return

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        for pipe in (self.proc.stdout, self.proc.stderr):
            if pipe is not None and not pipe.closed:
                pipe.close()
