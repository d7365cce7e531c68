"""Decoding audio: any common file -> mono float32 at the model's sample rate.

soundfile (libsndfile) is tried first for what it reads natively (WAV of any bit depth,
FLAC, OGG, MP3): it is exact and needs no subprocess. Everything else (M4A/AAC, WMA,
video containers...) goes to the decoder named by AUDIO_LOADER, then to the others.

Every decoder hands over mono blocks at the file's own rate; they are checked and
resampled block by block, so with `DecodeLimits` (the server's uploads) memory and time
stay bounded by the duration limit whatever the file's header claims: decoding stops at
the limit. ffmpeg only gets audio demuxers and the one input (no playlists, no other
files or URLs), on stdin unless the container needs seeking.
"""

from __future__ import annotations

import ctypes
import io
import os
import selectors
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import time
from contextlib import closing
from functools import partial
from pathlib import Path
from typing import Iterator, Union

import numpy as np

from .errors import AudioError
from .limits import SLACK_SECONDS, AudioTooLong, InputLimits  # noqa: F401 (AudioTooLong: re-exported)

SAMPLE_RATE = 22050


def decode_rate(rates) -> int:
    """The rate audio is decoded at before each front end resamples it to its own: the
    same on every path (the training cache, `Classifier`, the server), so the features a
    member gets never depend on which other members share its model."""
    return max([SAMPLE_RATE, *rates])


AudioSource = Union[str, os.PathLike, bytes]

# Demuxers ffmpeg may use (`ffmpeg -demuxers`): audio containers only. Left out on purpose:
# playlists and scripts (hls, concat...) that open further files or URLs, images, video.
FFMPEG_FORMATS = ("wav,w64,flac,ogg,mp3,aac,ac3,eac3,mov,mp4,m4a,3gp,3g2,mj2,matroska,webm,"
                  "caf,aiff,amr,amrnb,amrwb,wv,ape,tta,asf,au,voc")
# MP4/QuickTime may keep their index at the end, so ffmpeg must be able to seek: such
# uploads go through a temp file instead of a pipe. (The leading atom's type.)
_SEEKABLE_ONLY = (b"ftyp", b"moov", b"mdat", b"free", b"skip", b"wide")
_BLOCK_SAMPLES = 1 << 18  # per read: 1 MB of float32, whatever the channel count
_LIMIT_SLACK_SECONDS = SLACK_SECONDS  # decoder padding allowed past the duration limit


class Undecodable(AudioError):
    """None of the decoders tried can read the file."""


DecodeLimits = InputLimits  # the name decoding has used (limits.py has the checks)


def downmix(frames: np.ndarray) -> np.ndarray:
    """(samples, channels) -> mono float32, the channels' mean: the same numbers as
    `frames.mean(axis=1)` (the channels added in order, then divided), ~10x faster: numpy
    reduces a 2-wide inner axis one row at a time (~1.5 ms for 4 s of 44.1-kHz stereo)."""
    frames = np.asarray(frames, dtype=np.float32)
    channels = frames.shape[1]
    if channels == 1:
        return frames[:, 0].copy()
    if channels >= 8:  # numpy sums 8 or more in another order (pairwise): its own mean, rare enough
        return frames.mean(axis=1)
    out = frames[:, 0] + frames[:, 1]
    for c in range(2, channels):
        out += frames[:, c]
    out /= np.float32(channels)
    return out


def load_audio(
    source: AudioSource,
    sr: int = SAMPLE_RATE,
    loader: str = "ffmpeg",
    ffmpeg_timeout: float = 20.0,
    limits: DecodeLimits | None = None,
    decoders: tuple[str, ...] | None = None,
) -> np.ndarray:
    """Decode `source` (a path or the file's bytes) to mono float32 at `sr` Hz. `decoders`:
    only these, in this order (default: AUDIO_LOADER's order); Undecodable when none can."""
    limits = limits or DecodeLimits()
    if isinstance(source, (bytes, bytearray, memoryview)):
        data = bytes(source)
        if not data:
            raise AudioError("the file is empty")
        return _decode(data, None, sr, loader, ffmpeg_timeout, limits, decoders)
    path = Path(source)
    if not path.is_file():
        raise AudioError(f"no such file: {path}")
    if path.stat().st_size == 0:
        raise AudioError(f"{path.name}: the file is empty")
    return _decode(None, path, sr, loader, ffmpeg_timeout, limits, decoders)


def _decode(data: bytes | None, path: Path | None, sr: int, loader: str, timeout: float,
            limits: DecodeLimits, decoders: tuple[str, ...] | None = None) -> np.ndarray:
    order = decoders or {
        "ffmpeg": ("soundfile", "ffmpeg", "librosa"),
        "soundfile": ("soundfile", "librosa", "ffmpeg"),
        "librosa": ("librosa", "soundfile", "ffmpeg"),
    }.get(loader)
    if order is None:
        raise AudioError(f"unknown AUDIO_LOADER {loader!r} (use ffmpeg, soundfile or librosa)")
    name = path.name if path else "upload"
    for decoder in order:
        sink = _Sink(sr, limits, name)
        try:
            if decoder == "soundfile":
                _read_soundfile(data, path, sink)
            elif decoder == "ffmpeg":
                if shutil.which("ffmpeg") is None:
                    continue
                _read_ffmpeg(data, path, sink, timeout, limits.max_seconds)
            elif data is None:
                _read_librosa(path, sink, limits.max_seconds)
            else:  # librosa reads bytes only through libsndfile: the soundfile decoder's job
                continue
        except AudioError:
            raise
        except Exception:  # this decoder can't read it: try the next one
            continue
        return sink.finish()
    raise Undecodable(
        f"{name}: could not decode this file as audio (unsupported or corrupt format)"
    )


class _Sink:
    """Mono blocks at the source's rate -> one array at `sr`. Each block is checked as it
    comes and the duration limit is enforced on what was read so far, so a file cannot
    make the decoder hold more than the limit's worth of audio. Up to ONE_SHOT_SECONDS
    are resampled in one call at the end (a clip: ~1.5x faster than soxr's stream), longer
    audio as it comes, streamed: the same samples either way, in bounded memory."""

    ONE_SHOT_SECONDS = 60.0

    def __init__(self, sr: int, limits: DecodeLimits, name: str):
        self.sr, self.limits, self.name = sr, limits, name
        self.blocks: list[np.ndarray] = []  # at `sr`, or while held for one call at the source's rate
        self.frames = 0
        self.max_frames: int | None = None
        self.rate = sr
        self.stream = None

    def start(self, rate: int) -> None:
        self.limits.check_rate(rate, self.name)
        self.max_frames = self.limits.max_samples(rate)
        self.rate = rate

    def add(self, block: np.ndarray) -> None:
        block = np.asarray(block, dtype=np.float32).reshape(-1)
        self.frames += len(block)
        if self.max_frames is not None and self.frames > self.max_frames:
            raise AudioTooLong(self.limits.max_seconds)
        _require_finite(block, f"{self.name}: the audio contains NaN or infinite samples")
        if self.stream is not None:
            self._keep(self.stream.resample_chunk(block))
        else:
            self.blocks.append(block)
            # long audio to resample: streamed from here on
            if self.rate != self.sr and self.frames > self.ONE_SHOT_SECONDS * self.rate:
                import soxr

                self.stream = soxr.ResampleStream(self.rate, self.sr, 1, dtype="float32", quality="HQ")
                held, self.blocks = np.concatenate(self.blocks), []
                self._keep(self.stream.resample_chunk(held))

    def _keep(self, block: np.ndarray) -> None:
        _require_finite(block, f"{self.name}: {_OVERFLOW}")
        self.blocks.append(block)

    def finish(self) -> np.ndarray:
        if self.frames == 0:
            raise AudioError(f"{self.name}: the file holds no audio samples")
        if self.stream is not None:
            self._keep(self.stream.resample_chunk(np.zeros(0, np.float32), last=True))
        wave = np.concatenate(self.blocks) if self.blocks else np.zeros(0, np.float32)
        if self.rate != self.sr and self.stream is None:
            import soxr

            wave = soxr.resample(wave, self.rate, self.sr, quality="HQ")
            _require_finite(wave, f"{self.name}: {_OVERFLOW}")
        self.limits.check_length(len(wave), self.sr, self.name)
        return wave


_OVERFLOW = "the samples are too large: resampling them overflowed to infinity"


def _require_finite(x: np.ndarray, message: str) -> None:
    if not np.isfinite(x).all():
        raise AudioError(message)


def _is_mpeg(head: bytes) -> bool:
    """An MP3 (an ID3 tag, or an MPEG audio frame's sync word)."""
    return head[:3] == b"ID3" or (len(head) > 1 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0)


def _read_soundfile(data: bytes | None, path: Path | None, sink: _Sink) -> None:
    import soundfile as sf

    if data is not None:
        head = data[:4]
    else:
        with path.open("rb") as fh:
            head = fh.read(4)
    if _is_mpeg(head) and shutil.which("ffmpeg"):
        # libsndfile's mpg123 prints its notes on a damaged MP3 straight to stderr (the
        # process's, not Python's); ffmpeg reads MP3 too, and its messages are kept.
        raise ValueError("MP3: left to ffmpeg")
    with sf.SoundFile(io.BytesIO(data) if data is not None else str(path)) as f:
        sink.start(f.samplerate)
        for block in mono_blocks(f):
            sink.add(block)


# Integer PCM read as integers and scaled here: libsndfile's own conversion to float costs
# ~8x the read (16-bit stereo WAV), and with these scales, powers of two, the samples are
# the same to the bit (24 bits come left-aligned in int32: exact in float32 too).
_INT_READS = {"PCM_16": ("int16", np.float32(2.0 ** -15)), "PCM_24": ("int32", np.float32(2.0 ** -31))}


def mono_blocks(f) -> Iterator[np.ndarray]:
    """An open soundfile.SoundFile -> mono float32 blocks (about _BLOCK_SAMPLES samples
    read at a time), to the end of the data: a header's frame count may be unset or wrong."""
    frames = max(1, _BLOCK_SAMPLES // f.channels)
    dtype, scale = _INT_READS.get(f.subtype, ("float32", None))
    while True:
        block = f.read(frames, dtype=dtype, always_2d=True)
        if len(block):
            if scale is not None:
                block = block.astype(np.float32)
                block *= scale
            yield downmix(block)
        if len(block) < frames:
            return


def _read_librosa(path: Path, sink: _Sink, max_seconds: float | None) -> None:
    import warnings

    import librosa

    with warnings.catch_warnings(), open(path, "rb") as f:
        warnings.simplefilter("ignore")
        duration = None if max_seconds is None else max_seconds + 2 * _LIMIT_SLACK_SECONDS
        # A file object, not the path: for a path librosa falls back to audioread, which runs
        # ffmpeg without the restrictions above (a playlist would open the files it names).
        wave, native_sr = librosa.load(f, sr=None, mono=True, duration=duration)
    sink.start(native_sr)
    sink.add(wave)


def _read_ffmpeg(data: bytes | None, path: Path | None, sink: _Sink, timeout: float,
                 max_seconds: float | None) -> None:
    """ffmpeg decodes to float32 WAV at the file's own rate (read from the header it
    writes), on stdout, read in chunks; the process is killed as soon as the sink refuses
    (too long, bad rate) or the timeout passes."""
    stdin_data, tmp, pass_fds = None, None, ()
    if path is not None:
        src, protocol = f"file:{path}", "file"
    elif data[4:8] in _SEEKABLE_ONLY:
        # No name on disk (O_TMPFILE where available): nothing is left behind, kill -9 included.
        tmp = tempfile.TemporaryFile(prefix="envaudio-")
        tmp.write(data)
        tmp.flush()
        src, protocol, pass_fds = f"file:/dev/fd/{tmp.fileno()}", "file", (tmp.fileno(),)
    else:
        src, protocol, stdin_data = "pipe:0", "pipe", data
    cut = [] if max_seconds is None else ["-t", f"{max_seconds + 2 * _LIMIT_SLACK_SECONDS:g}"]
    cmd = ["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error",
           "-protocol_whitelist", protocol, "-format_whitelist", FFMPEG_FORMATS, "-i", src,
           "-map", "0:a:0", "-ac", "1", "-c:a", "pcm_f32le", "-bitexact", "-map_metadata", "-1",
           *cut, "-f", "wav", "pipe:1"]
    try:
        with _Ffmpeg(cmd, stdin_data, pass_fds, timeout) as proc, closing(proc.output()) as chunks:
            pending = bytearray()
            rate = None
            for chunk in chunks:
                pending += chunk
                if rate is None:
                    header = _wav_header(pending)
                    if header is None:
                        continue
                    rate, offset = header
                    del pending[:offset]
                    sink.start(rate)
                usable = len(pending) - len(pending) % 4
                if usable >= _BLOCK_SAMPLES * 4:
                    sink.add(np.frombuffer(bytes(pending[:usable]), dtype="<f4"))
                    del pending[:usable]
            if rate is None:
                raise RuntimeError(proc.error())
            usable = len(pending) - len(pending) % 4
            if usable:
                sink.add(np.frombuffer(bytes(pending[:usable]), dtype="<f4"))
    finally:
        if tmp is not None:
            tmp.close()


def _wav_header(buf: bytearray) -> tuple[int, int] | None:
    """(sample rate, offset of the samples) of the WAV ffmpeg writes, None until complete."""
    if len(buf) < 12:
        return None
    if buf[:4] != b"RIFF" or buf[8:12] != b"WAVE":
        raise RuntimeError("ffmpeg wrote no WAV header")
    pos, rate = 12, None
    while len(buf) >= pos + 8:
        cid, size = bytes(buf[pos:pos + 4]), struct.unpack_from("<I", buf, pos + 4)[0]
        if cid == b"data":
            if rate is None:
                raise RuntimeError("WAV data before its format")
            return rate, pos + 8
        if len(buf) < pos + 8 + size:
            return None
        if cid == b"fmt ":
            rate = struct.unpack_from("<I", buf, pos + 12)[0]
        pos += 8 + size + (size & 1)
    if pos > 65536:
        raise RuntimeError("no audio data in ffmpeg's output")
    return None


# Looked up here, not in the forked child: dlopen there could wait on a lock another
# thread of the server held at fork time.
_prctl = ctypes.CDLL(None, use_errno=True).prctl if sys.platform.startswith("linux") else None
_PR_SET_PDEATHSIG = 1


def _die_with_parent(parent: int) -> None:
    """In the child before exec: SIGKILL when the thread that started it ends (it waits on
    the child), so a worker killed by -9 leaves no ffmpeg behind."""
    _prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:  # the parent died before prctl: nobody will read the output
        os._exit(1)


class _Ffmpeg:
    """An ffmpeg process fed `data` on stdin while its stdout is read (no threads: one
    selector loop, so neither pipe can fill up and block the other), within a deadline."""

    def __init__(self, cmd: list[str], data: bytes | None, pass_fds: tuple, timeout: float):
        self.timeout, self.deadline = timeout, time.monotonic() + timeout
        self.proc = subprocess.Popen(
            cmd, stdin=subprocess.PIPE if data is not None else subprocess.DEVNULL,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, pass_fds=pass_fds,
            start_new_session=True,  # a signal to the server's process group is the server's
            preexec_fn=partial(_die_with_parent, os.getpid()) if _prctl is not None else None)
        self.data = memoryview(data) if data is not None else None
        self.stderr = bytearray()

    def __enter__(self) -> "_Ffmpeg":
        return self

    def __exit__(self, *exc) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        for pipe in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
            if pipe is not None and not pipe.closed:
                pipe.close()

    def error(self) -> str:
        return self.stderr.decode(errors="replace")[-300:]

    def output(self):
        sel = selectors.DefaultSelector()
        sent = 0
        if self.data is not None:
            os.set_blocking(self.proc.stdin.fileno(), False)
            sel.register(self.proc.stdin, selectors.EVENT_WRITE)
        sel.register(self.proc.stdout, selectors.EVENT_READ)
        sel.register(self.proc.stderr, selectors.EVENT_READ)
        with sel:
            while sel.get_map():
                left = self.deadline - time.monotonic()
                if left <= 0:
                    raise AudioError(f"decoding took longer than {self.timeout:g} s "
                                     "(FFMPEG_TIMEOUT_SECONDS)")
                for key, _ in sel.select(left):
                    if key.fileobj is self.proc.stdin:
                        try:
                            sent += os.write(key.fd, self.data[sent:sent + (1 << 16)])
                        except BlockingIOError:  # the pipe filled up meanwhile
                            continue
                        except BrokenPipeError:  # ffmpeg stopped reading: it has what it needs
                            sent = len(self.data)
                        if sent >= len(self.data):
                            sel.unregister(key.fileobj)
                            key.fileobj.close()
                        continue
                    chunk = os.read(key.fd, 1 << 16)
                    if not chunk:
                        sel.unregister(key.fileobj)
                    elif key.fileobj is self.proc.stdout:
                        yield chunk
                    else:
                        self.stderr += chunk
                        del self.stderr[:-4096]
        if self.proc.wait(max(0.0, self.deadline - time.monotonic())) != 0:
            raise RuntimeError(self.error())


def resample(wave: np.ndarray, orig_sr: int, target_sr: int) -> np.ndarray:
    """High-quality resampling (soxr, as librosa's default)."""
    if orig_sr == target_sr:
        return np.ascontiguousarray(wave, dtype=np.float32)
    if orig_sr <= 0:
        raise AudioError(f"invalid sample rate {orig_sr}")
    import soxr

    out = soxr.resample(wave, orig_sr, target_sr, quality="HQ").astype(np.float32, copy=False)
    _require_finite(out, _OVERFLOW)  # finite samples near 3e38 can come out infinite
    return out


def check_waveform(wave: np.ndarray) -> np.ndarray:
    """Validate an in-memory waveform (from a stream or the Python API)."""
    wave = np.asarray(wave, dtype=np.float32)
    if wave.ndim == 2:  # (samples, channels) or (channels, samples): mix down
        wave = downmix(wave if wave.shape[1] < wave.shape[0] else wave.T)
    wave = wave.reshape(-1)
    if wave.size == 0:
        raise AudioError("the waveform is empty")
    if not np.all(np.isfinite(wave)):
        raise AudioError("the waveform contains NaN or infinite samples")
    return wave
