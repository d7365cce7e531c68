"""Helpers for the server tests (and benchmarks/bench_api.py): generated audio files,
multipart bodies, and a real `envaudio serve` process on a free loopback port."""

from __future__ import annotations

import base64
import io
import os
import shutil
import signal
import socket
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
