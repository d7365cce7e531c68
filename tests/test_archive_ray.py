"""`analyze --engine ray` on a real local Ray cluster (loopback only), against a local run."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from envaudio.archive import EngineError, analyze

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(importlib.util.find_spec("ray") is None,
                                 reason="ray is not installed (pip install 'envaudio[ray]')")]

SR = 22050


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def ray_cli() -> list[str]:
    exe = Path(sys.executable).with_name("ray")
    return [str(exe)] if exe.is_file() else [shutil.which("ray") or "ray"]


# Ray turns 127.0.0.1 into the machine's outward address unless it believes it is a
# single-machine install; this keeps the whole cluster (and the driver) on loopback.
LOOPBACK_ENV = {"RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0", "RAY_USAGE_STATS_ENABLED": "0"}


def pids_using(marker: str) -> list[int]:
    """Processes whose command line names `marker` (the cluster's own temp folder)."""
    out = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit() and int(d.name) != os.getpid():
            try:
                if marker in (d / "cmdline").read_bytes().decode(errors="replace"):
                    out.append(int(d.name))
            except OSError:
                pass
    return out


def wait_for_port(port: int, proc: subprocess.Popen, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"ray start exited with {proc.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.5)
    pytest.fail("the Ray head did not come up")


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """A Ray head on 127.0.0.1 with 2 CPUs (`ray start --head --block` in its own process
    group), stopped by its process group and the PIDs of its processes, never by name:
    `ray stop` kills every Ray-looking process on the machine, this test's driver included."""
    port = free_port()
    os.environ.update(LOOPBACK_ENV)  # the driver (this process) too, before it imports ray
    temp = tmp_path_factory.mktemp("ray")
    cmd = ray_cli() + ["start", "--head", "--block", "--node-ip-address", "127.0.0.1", "--port", str(port),
                       "--num-cpus", "2", "--include-dashboard=false", "--disable-usage-stats",
                       "--object-store-memory", str(200 * 1024 * 1024), "--temp-dir", str(temp)]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
                            env={**os.environ, **LOOPBACK_ENV})
    try:
        wait_for_port(port, proc, 180)
        yield f"127.0.0.1:{port}"
    finally:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(60)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            pass
        deadline = time.monotonic() + 30
        while (left := pids_using(str(temp))) and time.monotonic() < deadline:
            time.sleep(0.5)
        for pid in pids_using(str(temp)):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(30)


def write_archive(root: Path) -> Path:
    (root / "a").mkdir(parents=True)
    t = np.arange(int(6 * SR)) / SR
    sf.write(root / "a" / "tone.wav", (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32), SR)
    rng = np.random.default_rng(0)
    sf.write(root / "a" / "noise.flac", (0.2 * rng.standard_normal(int(9 * SR))).astype(np.float32), SR)
    x = np.zeros(int(10 * SR), np.float32)
    x[int(3 * SR):int(7 * SR)] = 0.3 * np.sin(2 * np.pi * 180 * t[:int(4 * SR)]) + 0.05 * rng.standard_normal(int(4 * SR))
    sf.write(root / "burst.wav", x, SR)
    sf.write(root / "silence.wav", np.zeros(int(2 * SR), np.float32), SR)
    (root / "corrupt.wav").write_bytes(rng.bytes(4000))
    us8k = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "urbansound8k-subset" / "audio"
    clip = us8k / "fold2" / "100652-3-0-0.flac"
    if clip.is_file():
        shutil.copy(clip, root / "a" / "dog.flac")
    return root


def tree(out: Path) -> dict[str, bytes]:
    return {p.relative_to(out).as_posix(): p.read_bytes() for p in sorted(out.rglob("*"))
            if p.is_file() and p.name != "lock"}


def test_ray_equals_local(cluster, tmp_path):
    from ray._private.services import get_node_ip_address

    assert get_node_ip_address() == "127.0.0.1"  # the driver stays on loopback
    src = write_archive(tmp_path / "in")
    local = analyze(src, tmp_path / "local", "csv,json,audacity,raven", workers=2, embeddings=True, progress=False)
    ray_out = tmp_path / "ray"
    s = analyze(src, ray_out, "csv,json,audacity,raven", workers=2, embeddings=True, engine="ray",
                address=cluster, progress=False)
    assert s.analysed == s.files == local.files and s.engine == "ray"
    assert s.errors == local.errors and [p for p, _ in s.errors] == ["corrupt.wav"]
    a, b = tree(tmp_path / "local"), tree(ray_out)
    assert sorted(a) == sorted(b)
    for name in a:
        if name.endswith(".npy"):
            assert np.allclose(np.load(tmp_path / "local" / name), np.load(ray_out / name), atol=1e-5), name
        elif name.endswith((".wav.json", ".flac.json")) and not name.startswith(".envaudio"):
            da, db = json.loads(a[name]), json.loads(b[name])
            assert da["events"] == db["events"], name
            assert np.allclose([w["confidence"] for w in da["windows"]], [w["confidence"] for w in db["windows"]],
                               atol=1e-5)
        else:
            assert a[name] == b[name], name
    # Resumable as a local run: nothing to do, nothing rewritten (Ray is not even asked).
    stamps = {p: (ray_out / p).stat().st_mtime_ns for p in b}
    again = analyze(src, ray_out, "csv,json,audacity,raven", embeddings=True, engine="ray", address=cluster,
                    progress=False)
    assert again.analysed == 0 and again.skipped == s.files
    assert {p: (ray_out / p).stat().st_mtime_ns for p in b} == stamps
    # A file changed since: Ray analyses it alone; a custom --model is shipped to the actors.
    sf.write(src / "silence.wav", np.zeros(int(3 * SR), np.float32), SR)
    from envaudio.settings import BUNDLED_MODEL

    model = tmp_path / "copy.pt"
    shutil.copy(BUNDLED_MODEL, model)
    third = analyze(src, ray_out, "json", engine="ray", address=cluster, model=model, workers=1, progress=False)
    assert third.analysed == 1  # the model is known by its contents: a copy is the same model
    assert json.loads((ray_out / "silence.wav.json").read_text())["duration"] == 3.0
    # Per-class thresholds reach the actors, inline (they never open the file): the same
    # events and the same thresholds said as a local run with them.
    thr = tmp_path / "thresholds.csv"
    thr.write_text("dog_bark,0.99\nengine_idling,0.2\n")
    from envaudio.settings import get_settings

    st = get_settings().replace(thresholds=str(thr))
    analyze(src, tmp_path / "local_thr", "json", settings=st, progress=False)
    analyze(src, tmp_path / "ray_thr", "json", engine="ray", address=cluster, workers=2, settings=st, progress=False)
    a, b = tree(tmp_path / "local_thr"), tree(tmp_path / "ray_thr")
    assert sorted(a) == sorted(b)
    for name in a:
        if name.endswith(".json") and not name.startswith(".envaudio") and name != "summary.json":
            da, db = json.loads(a[name]), json.loads(b[name])
            assert da["events"] == db["events"] and da["unknown_thresholds"] == db["unknown_thresholds"], name
            assert da["unknown_thresholds"]["dog_bark"] == 0.99
    assert a["summary.json"] == b["summary.json"]


def test_ray_bad_address(tmp_path):
    sf.write(tmp_path / "a.wav", np.zeros(SR, np.float32), SR)
    with pytest.raises(EngineError, match="could not connect to Ray at 127.0.0.1:.*nothing answers"):
        analyze(tmp_path / "a.wav", tmp_path / "out", engine="ray", address=f"127.0.0.1:{free_port()}",
                progress=False)
