"""Helpers for the server tests (and benchmarks/): generated audio files, hostile ones
included, multipart bodies, a real `envaudio serve` process on a free loopback port, and
its memory."""

from __future__ import annotations

import base64
import io
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf

MODEL_SR = 22050


# ---- audio -----------------------------------------------------------------------

def tone(freq=440.0, seconds=1.0, sr=MODEL_SR, amp=0.3) -> np.ndarray:
    t = np.arange(int(round(seconds * sr))) / sr
    return (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def noise(seconds=1.0, sr=MODEL_SR, amp=0.2, seed=0) -> np.ndarray:
    return (amp * np.random.default_rng(seed).standard_normal(int(round(seconds * sr)))).astype(np.float32)


def clicks(seconds=1.0, sr=MODEL_SR, every=0.1, amp=0.8) -> np.ndarray:
    x = np.zeros(int(round(seconds * sr)), dtype=np.float32)
    x[:: max(1, int(every * sr))] = amp
    return x


def noise_bursts(seconds=1.0, sr=MODEL_SR, seed=0) -> np.ndarray:
    x = noise(seconds, sr, 0.3, seed)
    env = (np.arange(len(x)) // int(0.25 * sr)) % 2 == 0
    return (x * env).astype(np.float32)


def scene(seconds=4.0, sr=MODEL_SR, seed=0) -> np.ndarray:
    """A mix that varies over time (tone + bursts + clicks)."""
    return (tone(330, seconds, sr, 0.2) + noise_bursts(seconds, sr, seed) * 0.5
            + clicks(seconds, sr, 0.37, 0.5)).astype(np.float32)


def encode(x: np.ndarray, sr: int = MODEL_SR, fmt: str = "WAV", subtype: str | None = "PCM_16") -> bytes:
    buf = io.BytesIO()
    sf.write(buf, x, sr, format=fmt, subtype=subtype)
    return buf.getvalue()


def wav(x: np.ndarray, sr: int = MODEL_SR, subtype: str = "PCM_16") -> bytes:
    return encode(x, sr, "WAV", subtype)


def ffmpeg_encode(x: np.ndarray, sr: int, ext: str, *args: str) -> bytes:
    """Encode with the ffmpeg CLI (formats libsndfile can't write, e.g. M4A/AAC)."""
    with tempfile.TemporaryDirectory() as d:
        src, dst = Path(d) / "in.wav", Path(d) / f"out{ext}"
        sf.write(src, x, sr, subtype="PCM_16")
        subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-y", "-i", str(src), *args, str(dst)],
                       check=True, timeout=60)
        return dst.read_bytes()


# ---- hostile files -----------------------------------------------------------------------
# Cheap to make: a minute of silence is encoded once and its frames repeated.

def _adts(source: str, seconds: float, bitrate: str) -> bytes:
    return subprocess.run(
        ["ffmpeg", "-nostdin", "-v", "error", "-f", "lavfi", "-i", source, "-t", str(seconds), "-ac", "1",
         "-c:a", "aac", "-b:a", bitrate, "-f", "adts", "pipe:1"], capture_output=True, check=True, timeout=60).stdout


def aac_silence(seconds: float, sr: int = 8000) -> bytes:
    """ADTS AAC (raw frames, no container) of `seconds` of silence at 8 kb/s: 3 h is ~0.9 MB."""
    minute = _adts(f"anullsrc=r={sr}:cl=mono", 60, "8k")
    return minute * max(1, int(round(seconds / 60)))  # ADTS frames just follow each other


def aac_bomb(seconds: float, sr: int = 8000) -> bytes:
    """aac_silence after 10 s of noise at 64 kb/s: a duration estimated from the bit rate of
    the first frames (ffprobe's, for ADTS) comes out far too short (~210 s for 3 h)."""
    return _adts(f"anoisesrc=r={sr}:a=0.5", 10, "64k") + aac_silence(seconds, sr)


def _mp4_atoms(buf: bytearray, start: int, end: int):
    """(type, offset of the payload) of every atom, depth first."""
    pos = start
    while pos + 8 <= end:
        size, kind = struct.unpack_from(">I4s", buf, pos)
        head = 8
        if size == 1:
            size, head = struct.unpack_from(">Q", buf, pos + 8)[0], 16
        size = size or end - pos
        yield kind, pos + head
        if kind in (b"moov", b"trak", b"mdia"):
            yield from _mp4_atoms(buf, pos + head, pos + size)
        pos += size


def m4a_claiming(seconds: float, claims: float = 4.0) -> bytes:
    """An M4A holding `seconds` of AAC silence whose header says it lasts `claims` s
    (movie, track and media durations patched; the sample tables still hold it all), moov
    at the end (the index ffmpeg must seek to)."""
    with tempfile.TemporaryDirectory() as d:
        src, dst = Path(d) / "in.aac", Path(d) / "out.m4a"
        src.write_bytes(aac_silence(seconds))
        subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-y", "-i", str(src), "-c", "copy", str(dst)],
                       check=True, timeout=60)
        buf = bytearray(dst.read_bytes())
    movie_scale = media_scale = None
    for kind, at in _mp4_atoms(buf, 0, len(buf)):  # version-0 boxes, as ffmpeg writes them
        if kind == b"mvhd":
            movie_scale = struct.unpack_from(">I", buf, at + 12)[0]
            struct.pack_into(">I", buf, at + 16, int(claims * movie_scale))
        elif kind == b"tkhd":
            struct.pack_into(">I", buf, at + 20, int(claims * movie_scale))
        elif kind == b"mdhd":
            media_scale = struct.unpack_from(">I", buf, at + 12)[0]
            struct.pack_into(">I", buf, at + 16, int(claims * media_scale))
    assert movie_scale and media_scale, "no mvhd/mdhd found"
    return bytes(buf)


def hls_playlist(target: Path, live: bool = False) -> bytes:
    """An HLS playlist naming a file on the server's own disk; `live`: no end marker, so a
    player keeps waiting for more segments."""
    text = f"#EXTM3U\n#EXT-X-TARGETDURATION:10\n#EXT-X-MEDIA-SEQUENCE:0\n#EXTINF:4.0,\n{target}\n"
    return (text + ("" if live else "#EXT-X-ENDLIST\n")).encode()


def wav_at_rate(x: np.ndarray, rate: int) -> bytes:
    """A 16-bit WAV whose header says `rate` Hz (any value, 1 Hz included)."""
    data = bytearray(wav(x, 8000))
    struct.pack_into("<II", data, 24, rate, rate * 2)  # fmt: sample rate, byte rate
    return bytes(data)


def flac_unknown_length(x: np.ndarray, sr: int = MODEL_SR) -> bytes:
    """FLAC as a streaming encoder writes it: raw PCM on a pipe in, FLAC on a pipe out, so
    the header's total_samples stays 0 (legal: "unknown")."""
    pcm = (np.clip(x, -1, 1) * 32767).astype("<i2").tobytes()
    out = subprocess.run(["flac", "-s", "--force-raw-format", "--endian=little", "--sign=signed",
                          "--channels=1", "--bps=16", f"--sample-rate={sr}", "--no-seektable", "-c", "-"],
                         input=pcm, capture_output=True, check=True, timeout=60).stdout
    assert out[:4] == b"fLaC" and int.from_bytes(out[18:26], "big") & ((1 << 36) - 1) == 0
    return out


def peak_rss_mb(pid: int) -> tuple[float, float]:
    """(VmRSS, VmHWM) of a process, in MB."""
    status = Path(f"/proc/{pid}/status").read_text()
    rss, hwm = (int(re.search(rf"{k}:\s+(\d+) kB", status).group(1)) / 1024 for k in ("VmRSS", "VmHWM"))
    return rss, hwm


# For a server whose memory is measured: glibc then maps every block of 64 KB or more on
# its own and gives freed memory back at once, so RSS follows what is in use; otherwise a
# request would reuse what an earlier one freed and look cheaper than it is.
EXACT_RSS_ENV = {"MALLOC_MMAP_THRESHOLD_": "65536", "MALLOC_TRIM_THRESHOLD_": "0"}


class RssIncrease:
    """The peak memory a process gained during the `with` block, in MB (`.mb`): its peak
    RSS is reset at the start (/proc/PID/clear_refs), read at the end."""

    def __init__(self, pid: int):
        self.pid, self.mb = pid, None

    def __enter__(self) -> "RssIncrease":
        Path(f"/proc/{self.pid}/clear_refs").write_text("5")
        self.start = peak_rss_mb(self.pid)[0]
        return self

    def __exit__(self, *exc) -> None:
        self.mb = peak_rss_mb(self.pid)[1] - self.start


def stream_messages(server, x: np.ndarray, sr: int, chunk: float = 0.25) -> list[dict]:
    """Stream `x` to WS /ws/predict (reduce_payload) in frames of `chunk` s at `sr` Hz and
    collect every message the server answers with (a status or a prediction per frame)."""
    import json

    from websockets.sync.client import connect

    out = []
    with connect(server.ws_base + "/ws/predict?reduce_payload=true", open_timeout=20) as ws:
        ws.send(json.dumps({"sample_rate": sr}))
        assert json.loads(ws.recv(timeout=30))["type"] == "ready"
        n = int(chunk * sr)
        for i in range(0, len(x), n):
            ws.send(x[i:i + n].astype("<f4").tobytes())
            while True:  # the answers to this frame (at most one prediction or status)
                try:
                    out.append(json.loads(ws.recv(timeout=0.5 if out else 60)))
                except TimeoutError:
                    break
                if out[-1]["type"] in ("prediction", "status"):
                    break
    return out


def decode_spectrogram(payload: dict) -> np.ndarray:
    """uint8 payload -> (n_mels, n_frames) uint8."""
    raw = np.frombuffer(base64.b64decode(payload["data"]), dtype=np.uint8)
    assert raw.size == payload["shape"][0] * payload["shape"][1]
    return raw.reshape(payload["shape"])


def multipart(fields: dict[str, tuple[str, bytes, str] | str], boundary: str = "envaudio-test-boundary"
              ) -> tuple[bytes, str]:
    """A multipart/form-data body, built by hand (to send broken or streamed bodies)."""
    out = bytearray()
    for name, value in fields.items():
        out += f"--{boundary}\r\n".encode()
        if isinstance(value, tuple):
            filename, data, ctype = value
            out += (f'Content-Disposition: form-data; name="{name}"; filename="{filename}"\r\n'
                    f"Content-Type: {ctype}\r\n\r\n").encode()
            out += data
        else:
            out += f'Content-Disposition: form-data; name="{name}"\r\n\r\n{value}'.encode()
        out += b"\r\n"
    out += f"--{boundary}--\r\n".encode()
    return bytes(out), f"multipart/form-data; boundary={boundary}"


# ---- a real server ---------------------------------------------------------------------

def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ServerProcess:
    """`python -m envaudio serve` on a free loopback port, until stop()."""

    def __init__(self, *args: str, env: dict[str, str | None] | None = None, workers: int = 1, log_dir: Path | None = None,
                 startup_timeout: float = 90.0):
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.ws_base = f"ws://127.0.0.1:{self.port}"
        e = dict(os.environ)
        for k, v in (env or {}).items():  # None: remove the variable
            if v is None:
                e.pop(k, None)
            else:
                e[k] = v
        self._own_dir = None if log_dir else tempfile.mkdtemp(prefix="envaudio-serve-")
        self.log_path = Path(log_dir or self._own_dir) / f"serve-{self.port}.log"
        self._log = open(self.log_path, "wb")
        cmd = [sys.executable, "-m", "envaudio", "serve", "--host", "127.0.0.1", "--port", str(self.port),
               "--workers", str(workers), *args]
        self.proc = subprocess.Popen(cmd, stdout=self._log, stderr=subprocess.STDOUT, env=e,
                                     start_new_session=True)
        self._wait_ready(startup_timeout)

    def log(self) -> str:
        self._log.flush()
        return self.log_path.read_text(errors="replace")

    def assert_clean_log(self) -> None:
        """Nothing went unhandled: no traceback, no exception uvicorn caught from the app."""
        log = self.log()
        assert "Traceback" not in log and "Exception in ASGI application" not in log, log[-3000:]

    def _wait_ready(self, timeout: float) -> None:
        import httpx

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                message = f"envaudio serve exited with {self.proc.returncode}:\n{self.log()}"
                self.stop()
                raise RuntimeError(message)
            try:
                if httpx.get(self.base + "/health", timeout=2.0).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        message = f"envaudio serve did not become healthy in {timeout} s:\n{self.log()}"
        self.stop()
        raise RuntimeError(message)

    def stop(self) -> None:
        if self.proc.poll() is None:
            # the whole session: uvicorn's worker processes too (started by this object only)
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=5)
        if not self._log.closed:
            self._log.close()
        if self._own_dir:
            shutil.rmtree(self._own_dir, ignore_errors=True)

    def __enter__(self) -> "ServerProcess":
        return self

    def __exit__(self, *exc) -> None:
        self.stop()
