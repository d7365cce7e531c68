"""The lean install (issue #27): predict, analyze and serve with PyTorch, librosa and
matplotlib unimportable, giving the probabilities of the PyTorch path; the commands that
need envaudio[train] say so in one line.

The processes here run with a sitecustomize on PYTHONPATH whose import hook refuses those
packages (as a venv without them would: ImportError), so what they import is what a
`pip install envaudio` without extras must do without.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import httpx
import numpy as np
import pytest
import soundfile as sf

from conftest import EXAMPLES, ROOT, clicks, noise, tone
from server_helpers import ServerProcess

BLOCKED = ("torch", "torchaudio", "librosa", "matplotlib")
TRAINING_FILE = ROOT / "models" / "accurate.pt"

SITECUSTOMIZE = f'''
import sys

BLOCKED = {BLOCKED!r}


class _NoTrainingPackages:
    """What a venv without envaudio[train] looks like: these packages do not import."""

    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in BLOCKED:
            raise ModuleNotFoundError(f"No module named {{name!r}} (blocked by tests/test_lean.py)", name=name)
        return None


sys.meta_path.insert(0, _NoTrainingPackages())
'''


@pytest.fixture(scope="module")
def lean_env(tmp_path_factory) -> dict[str, str]:
    d = tmp_path_factory.mktemp("lean")
    (d / "sitecustomize.py").write_text(SITECUSTOMIZE)
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(d), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    return env


def lean(env, *args, timeout=300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "envaudio", *map(str, args)], capture_output=True, text=True,
                          env=env, timeout=timeout)


@pytest.fixture(scope="module")
def generated(tmp_path_factory) -> Path:
    """Generated audio of several windows: a tone, then noise, then clicks (22,050 Hz)."""
    path = tmp_path_factory.mktemp("gen") / "scene.wav"
    x = np.concatenate([tone(440, 4.0) + noise(4.0, amp=0.02), noise(4.0, amp=0.2), clicks(3.0)])
    sf.write(path, x.astype(np.float32), 22050, subtype="FLOAT")
    return path


def test_the_blocker_blocks(lean_env):
    code = "import importlib\nfor m in ('torch', 'librosa', 'matplotlib'):\n" \
           "    try:\n        importlib.import_module(m)\n    except ImportError:\n        continue\n" \
           "    raise SystemExit(m + ' imported')"
    r = subprocess.run([sys.executable, "-c", code], env=lean_env, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr


def torch_path(files: list[Path]) -> dict[str, np.ndarray]:
    """The bundled model's training file run by PyTorch eager (the reference), per file:
    every window's probabilities (n_windows, n_classes)."""
    from envaudio.loading import load_model
    from envaudio.predict import Classifier
    from envaudio.settings import Settings

    clf = Classifier(load_model(TRAINING_FILE, backend="torch"), Settings())
    return {str(f): np.array([[w.probabilities[l] for l in clf.labels] for w in clf.classify_file(f).windows])
            for f in files}


def test_predict_without_torch_gives_the_torch_probabilities(lean_env, generated):
    files = sorted(EXAMPLES.glob("*.flac")) + [generated]
    r = lean(lean_env, "predict", *files, "--model", "accurate", "--json", "-")
    assert r.returncode == 0, r.stderr
    got = {d["file"]: d for d in json.loads(r.stdout)}
    want = torch_path(files)
    for f in files:
        d = got[str(f)]
        labels = list(d["probabilities"])
        p = np.array([[w["probabilities"][l] for l in labels] for w in d["windows"]])
        assert p.shape == want[str(f)].shape and len(p) >= 1
        assert np.abs(p - want[str(f)]).max() <= 1e-5, (f, np.abs(p - want[str(f)]).max())
        assert [labels[i] for i in p.argmax(1)] == [labels[i] for i in want[str(f)].argmax(1)]
    manifest = json.loads((EXAMPLES / "examples.json").read_text())["examples"]
    right = sum((got[str(EXAMPLES / e["file"])]["top_prediction"] or {}).get("label") == e["label"] for e in manifest)
    assert right >= len(manifest) - 1


def test_analyze_without_torch_writes_results_and_embeddings(lean_env, tmp_path, generated):
    src = tmp_path / "archive"
    src.mkdir()
    for f in sorted(EXAMPLES.glob("*.flac"))[:2] + [generated]:
        (src / f.name).write_bytes(f.read_bytes())
    r = lean(lean_env, "analyze", src, "--out", tmp_path / "out", "--embeddings", "--workers", "1", "--quiet")
    assert r.returncode == 0, r.stderr
    for f in src.iterdir():
        result = json.loads((tmp_path / "out" / (f.name + ".json")).read_text())
        e = np.load(tmp_path / "out" / (f.name + ".embeddings.npy"))
        # the first member's last linear layer's input: mn04's 512-d hidden layer (fast)
        assert e.shape == (len(result["windows"]), 512) and np.isfinite(e).all()


def test_serve_without_torch_answers_health_and_predict(lean_env, generated):
    env = {k: v for k, v in lean_env.items() if k in ("PYTHONPATH",)}
    with ServerProcess("--model", "accurate", env=env) as srv:
        h = httpx.get(srv.base + "/health", timeout=10).json()
        assert h["status"] == "ok" and h["model"] == "accurate.envaudio" and h["threads"] >= 1
        r = httpx.post(srv.base + "/predict", files={"file": ("scene.wav", generated.read_bytes(), "audio/wav")},
                       timeout=60)
        assert r.status_code == 200, r.text
        assert r.json()["top_k"] and r.json()["windows"]
        srv.assert_clean_log()


@pytest.mark.parametrize("command", [["train", "--data-root", "x", "--out", "m.pt"],
                                     ["distill", "--data-root", "x", "--out", "s.pt"],
                                     ["combine", "a.pt", "b.pt", "--out", "c.pt"],
                                     ["export", "models/accurate.pt", "--format", "envaudio"]])
def test_training_commands_without_torch_say_what_to_install(lean_env, command):
    r = lean(lean_env, *command)
    assert r.returncode == 2 and r.stdout == ""
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "install envaudio[train]" in lines[0] and "torch" in lines[0], r.stderr


def test_a_training_file_without_torch_is_one_clear_line(lean_env, generated):
    r = lean(lean_env, "predict", generated, "--model", TRAINING_FILE)
    assert r.returncode == 2
    line = r.stderr.strip()
    assert "\n" not in line and "training file" in line and "envaudio[train]" in line, r.stderr
    assert "Traceback" not in r.stderr


def test_bundled_model_files_fit_the_size_budget():
    """Issue #26's budget, in the package: the default model file <= 5 MB (when it is the
    fast one), all bundled model files <= 20 MB together, and no training file (.pt)."""
    from envaudio.modelfile import is_model_file, read_meta
    from envaudio.settings import BUNDLED_MODELS, DEFAULT_MODEL, PACKAGE_DIR

    present = {name: path for name, path in BUNDLED_MODELS.items() if path.is_file()}
    assert DEFAULT_MODEL in present and "accurate" in present
    assert sum(p.stat().st_size for p in present.values()) <= 20e6
    if DEFAULT_MODEL == "fast":
        assert present["fast"].stat().st_size <= 5e6
    for name, path in present.items():
        assert is_model_file(path), name
        meta = read_meta(path)
        assert meta["format_version"] == 3 and meta["labels"] and meta["source"]["check"]["max_abs_difference"] <= 1e-4
    assert not list((PACKAGE_DIR / "assets").rglob("*.pt"))
