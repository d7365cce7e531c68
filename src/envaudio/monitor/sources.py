"""Where `envaudio monitor` hears from: a sound card, stdin (WAV or raw PCM), any URL
ffmpeg reads, or a file. Each source hands over mono float32 blocks at the classifier's
rate (resampled as they come, as files are for `predict`, so a recording gives the same
samples, and the same events, whichever way it arrives).

A source that cannot be opened raises SourceError with one line for a person (an
unreachable URL, a device that does not exist, a stream ffmpeg cannot read); one that
stops after working returns None from `read()` (the end) or raises SourceLost (dropped
or stalled: the monitor reconnects).
"""

from __future__ import annotations

import shutil
import struct
import sys
import time
from pathlib import Path

import numpy as np

from ..audio import downmix
from ..errors import UserError

BLOCK_SECONDS = 0.5  # what one read hands over (a live source's latency)
RAW_FORMATS = {"s16le": ("<i2", 32768.0), "s32le": ("<i4", 2147483648.0), "f32le": ("<f4", 1.0),
               "f64le": ("<f8", 1.0), "u8": ("u1", 128.0), "s24le": (None, 8388608.0)}


class SourceError(UserError):
    """The source cannot be opened or read at all."""


class SourceLost(Exception):
    """A source that was working stopped (a dropped connection, a stall, a device gone)."""


class _ToRate:
    """Native-rate mono blocks -> blocks at `sr` (soxr's stream: the same samples as
    resampling the whole recording)."""

    def __init__(self, rate: int, sr: int):
        self.stream = None
        if rate != sr:
            import soxr

            self.stream = soxr.ResampleStream(rate, sr, 1, dtype="float32", quality="HQ")

    def __call__(self, x: np.ndarray, last: bool = False) -> np.ndarray:
        x = np.asarray(x, dtype=np.float32)
        return self.stream.resample_chunk(x, last=last) if self.stream is not None else x


class Source:
    """`open()`, then `read()` -> a block at `sr` (None at the end), `close()`. `live`:
    audio arrives at the pace it is made (a sound card, a network stream, --realtime), so
    the monitor drops what it cannot keep up with rather than falling behind."""

    live = False
    reconnects = False  # worth opening again when lost (a network stream, a device)
    name = "source"

    def __init__(self, sr: int):
        self.sr = sr
        self.resample: _ToRate | None = None

    def open(self) -> None:
        raise NotImplementedError

    def read(self) -> np.ndarray | None:
        raise NotImplementedError

    def close(self) -> None:
        self.resample = None  # (its soxr object freed now, not left to a blocked reader thread at exit)


# --- stdin ------------------------------------------------------------------------------

class StdinSource(Source):
    """A WAV stream (its header read as it comes: a pipe's header may give no length) or,
    with `raw_rate`, raw PCM of `raw_format` and `channels`."""

    name = "stdin"

    def __init__(self, sr: int, raw_rate: int | None = None, raw_format: str = "s16le", channels: int = 1,
                 stream=None):
        super().__init__(sr)
        # The file descriptor, read with os.read: a thread blocked in a buffered read holds
        # its lock, and the interpreter aborts at exit waiting for it (SIGTERM while stdin
        # is open but quiet).
        self.fd = (stream if stream is not None else sys.stdin).fileno()
        self.raw_rate, self.fmt, self.channels = raw_rate, raw_format, channels
        self.left: int | None = None  # bytes of the WAV's data chunk left, when its size is known
        self.done = False

    def open(self) -> None:
        if self.raw_rate is None:
            self.rate, self.channels, self.fmt = self._wav_header()
        else:
            if self.fmt not in RAW_FORMATS:
                raise SourceError(f"--format {self.fmt}: use one of {', '.join(RAW_FORMATS)}")
            self.rate = self.raw_rate
        if self.rate < 1000 or self.channels < 1:
            raise SourceError(f"stdin: a sample rate of {self.rate} Hz and {self.channels} channel(s) "
                              "cannot be analysed")
        self.width = 3 if self.fmt == "s24le" else np.dtype(RAW_FORMATS[self.fmt][0]).itemsize
        self.resample = _ToRate(self.rate, self.sr)

    def _exactly(self, n: int) -> bytes:
        import os

        out = bytearray()
        while len(out) < n:
            b = os.read(self.fd, min(n - len(out), 1 << 20))
            if not b:
                break
            out += b
        return bytes(out)

    def _wav_header(self) -> tuple[int, int, str]:
        head = self._exactly(12)
        if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
            raise SourceError("stdin is not a WAV stream (for raw PCM give --rate and --format)")
        rate = channels = fmt = None
        while True:
            ch = self._exactly(8)
            if len(ch) < 8:
                raise SourceError("stdin: the WAV stream ends before its audio")
            cid, size = ch[:4], struct.unpack("<I", ch[4:])[0]
            if cid == b"data":
                if fmt is None:
                    raise SourceError("stdin: the WAV stream has no format chunk before its audio")
                self.left = None if size in (0, 0xFFFFFFFF) else size
                return rate, channels, fmt
            body = self._exactly(size + (size & 1))
            if cid == b"fmt ":
                tag, channels, rate = struct.unpack("<HHI", body[:8])
                bits = struct.unpack("<H", body[14:16])[0]
                if tag == 0xFFFE and len(body) >= 26:
                    tag = struct.unpack("<H", body[24:26])[0]
                fmt = {(1, 8): "u8", (1, 16): "s16le", (1, 24): "s24le", (1, 32): "s32le",
                       (3, 32): "f32le", (3, 64): "f64le"}.get((tag, bits))
                if fmt is None:
                    raise SourceError(f"stdin: WAV of format {tag} with {bits}-bit samples is not supported "
                                      "(PCM 8/16/24/32-bit or float 32/64)")

    def read(self) -> np.ndarray | None:
        if self.done:
            return None
        frame = self.width * self.channels
        want = max(1, int(self.rate * BLOCK_SECONDS)) * frame
        if self.left is not None:
            want = min(want, self.left - self.left % frame)
        data = self._exactly(want) if want > 0 else b""
        if self.left is not None:
            self.left -= len(data)
        data = data[:len(data) - len(data) % frame]
        if len(data) < want or want == 0:
            self.done = True
        if not data:
            return self.resample(np.zeros(0, np.float32), last=True)
        return self.resample(self._samples(data), last=self.done)

    def _samples(self, data: bytes) -> np.ndarray:
        dtype, scale = RAW_FORMATS[self.fmt]
        if self.fmt == "s24le":
            b = np.frombuffer(data, np.uint8).reshape(-1, 3).astype(np.int32)
            x = (b[:, 0] | (b[:, 1] << 8) | (b[:, 2] << 16)) << 8 >> 8
            x = x.astype(np.float32) / scale
        elif self.fmt == "u8":
            x = (np.frombuffer(data, dtype).astype(np.float32) - 128.0) / scale
        else:
            x = np.frombuffer(data, dtype).astype(np.float32)
            if scale != 1.0:
                x = x / np.float32(scale)
        x = x.reshape(-1, self.channels)
        return downmix(x)


# --- a file -----------------------------------------------------------------------------

class FileSource(Source):
    """A local file, decoded as `predict` decodes it; as fast as it can be analysed, or at
    its own pace with `realtime`."""

    def __init__(self, sr: int, path: str, realtime: bool = False, stall_timeout: float = 20.0):
        super().__init__(sr)
        self.path, self.live, self.stall = Path(path), realtime, stall_timeout
        self.name = str(path)

    def open(self) -> None:
        from ..errors import AudioError
        from ..listen.decode import DecodedFile

        try:  # the first block now: a file that cannot be read is an error before the run starts
            self.blocks = iter(DecodedFile(self.path, self.sr, stall_timeout=self.stall))
            self.first = next(self.blocks, None)
        except AudioError as e:
            raise SourceError(str(e)) from None
        self.t0, self.sent = time.monotonic(), 0

    def read(self) -> np.ndarray | None:
        from ..errors import AudioError

        try:
            if self.first is not None:
                x, self.first = self.first, None
            else:
                x = next(self.blocks)
        except StopIteration:
            return None
        except AudioError as e:
            raise SourceError(str(e)) from None
        if self.live:  # at the recording's own pace
            self.sent += len(x)
            wait = self.t0 + self.sent / self.sr - time.monotonic()
            if wait > 0:
                time.sleep(wait)
        return x


# --- ffmpeg: URLs and ALSA --------------------------------------------------------------

class FfmpegSource(Source):
    """Anything ffmpeg reads live: a URL (rtsp, http(s), udp, srt, Icecast...) or an ALSA
    device (`-f alsa`). ffmpeg decodes to float32 mono WAV at the stream's own rate."""

    live = True
    reconnects = True

    def __init__(self, sr: int, url: str, input_args: tuple[str, ...] = (), stall_timeout: float = 20.0):
        super().__init__(sr)
        self.url, self.input_args, self.stall = url, input_args, stall_timeout
        self.name = url
        self.pipe = None

    def open(self) -> None:
        from ..errors import AudioError
        from ..listen.decode import FfmpegPipe

        if shutil.which("ffmpeg") is None:
            raise SourceError(f"{self.name}: reading it needs ffmpeg, which is not installed")
        cmd = ["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", *self.input_args, "-i", self.url,
               "-map", "0:a:0", "-ac", "1", "-c:a", "pcm_f32le", "-f", "wav", "pipe:1"]
        self.pipe = FfmpegPipe(cmd, self.stall)
        self.blocks = self.pipe.blocks(block_bytes=4096 * 4)
        try:
            rate, first = next(self.blocks)
        except StopIteration:
            err = self.pipe.error()
            self.close()
            if err.startswith(self.url + ":"):  # ffmpeg names the input; the user knows it as SOURCE
                err = err[len(self.url) + 1:].lstrip()
            raise SourceError(f"{self.name}: {err}") from None
        except AudioError as e:
            self.close()
            raise SourceError(f"{self.name}: {e}") from None
        self.resample = _ToRate(rate, self.sr)
        self.first = first

    def read(self) -> np.ndarray | None:
        from ..errors import AudioError

        if self.first is not None:
            x, self.first = self.first, None
            return self.resample(x)
        try:
            return self.resample(next(self.blocks)[1])
        except StopIteration:
            raise SourceLost(f"{self.name}: the stream ended ({self.pipe.error()})") from None
        except AudioError as e:
            raise SourceLost(f"{self.name}: {e}") from None

    def close(self) -> None:
        if self.pipe is not None:
            self.pipe.close()
            self.pipe = None


# --- PortAudio ----------------------------------------------------------------------------

class PortAudioSource(Source):
    """A sound card through PortAudio (`pip install 'envaudio[mic]'`)."""

    live = True
    reconnects = True

    def __init__(self, sr: int, device: str | None):
        super().__init__(sr)
        self.device = device
        self.name = f"mic:{device}" if device else "mic"
        self.stream = None

    def open(self) -> None:
        import queue

        import sounddevice as sd

        try:
            info = sd.query_devices(self.device, "input")
        except (ValueError, sd.PortAudioError) as e:
            raise SourceError(f"{self.name}: no such input device ({e})") from None
        self.rate = int(info["default_samplerate"])
        self.q: queue.Queue = queue.Queue(maxsize=64)
        self.lost = False

        def callback(indata, frames, t, status):  # PortAudio's thread: never blocks
            try:
                self.q.put_nowait(indata[:, 0].copy())
            except queue.Full:
                self.lost = True

        try:
            self.stream = sd.InputStream(device=self.device, channels=1, samplerate=self.rate, dtype="float32",
                                         blocksize=int(self.rate * BLOCK_SECONDS), callback=callback)
            self.stream.start()
        except Exception as e:
            raise SourceError(f"{self.name}: cannot open the device ({e})") from None
        self.resample = _ToRate(self.rate, self.sr)

    def read(self) -> np.ndarray | None:
        import queue

        try:
            return self.resample(self.q.get(timeout=5.0))
        except queue.Empty:
            raise SourceLost(f"{self.name}: no audio from the device for 5 s") from None

    def close(self) -> None:
        if self.stream is not None:
            self.stream.close()
            self.stream = None


def make_source(spec: str, sr: int, *, rate: int | None = None, fmt: str = "s16le", channels: int = 1,
                realtime: bool = False, stall_timeout: float = 20.0) -> Source:
    """SOURCE as `envaudio monitor` takes it: `-`, `mic`, `mic:NAME`, a URL, or a file."""
    if spec == "-":
        return StdinSource(sr, rate, fmt, channels)
    if spec == "mic" or spec.startswith("mic:"):
        device = spec[4:] or None
        try:
            import sounddevice  # noqa: F401
        except (ImportError, OSError):  # no PortAudio: ALSA through ffmpeg
            src = FfmpegSource(sr, device or "default", ("-f", "alsa"), stall_timeout)
            src.name = spec
            return src
        return PortAudioSource(sr, device)
    if "://" in spec:
        return FfmpegSource(sr, spec, ("-rw_timeout", str(int(stall_timeout * 1e6))) if spec.split("://")[0]
                            in ("http", "https", "rtmp", "tcp", "srt", "udp") else (), stall_timeout)
    path = Path(spec).expanduser()
    if not path.exists():
        raise SourceError(f"{spec}: no such file (SOURCE is a file, -, mic, mic:NAME or a URL)")
    return FileSource(sr, str(path), realtime, stall_timeout)
