"""The ONNX Runtime engine's graph cache (onnxcache.py): a second load reads the graph
back instead of exporting it, with the same probabilities; a damaged file, an unwritable
folder or a changed model never give a wrong answer."""

from __future__ import annotations

import numpy as np
import pytest

from envaudio import onnxcache
from envaudio.loading import load_model
from envaudio.model import model_payload, save_model
from envaudio.predict import Classifier
from envaudio.settings import Settings
from conftest import CLASSES, clicks, noise, random_member, tone


def _model_file(path, seed: int):
    members = [random_member("cnn", seed), random_member("yamnet", seed + 1)]
    save_model(path, model_payload(members, CLASSES, {"name": "t"}))
    return path


@pytest.fixture(scope="module")
def model_path(tmp_path_factory):
    return _model_file(tmp_path_factory.mktemp("m") / "model.pt", 1)


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("ENVAUDIO_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache" / "onnx"


AUDIO = (tone(440, 9.0) + noise(9.0, amp=0.1) + clicks(9.0, amp=0.3)).astype(np.float32)  # 4 windows


def _probs(path) -> np.ndarray:
    clf = Classifier(load_model(path, backend="onnxruntime"), Settings())
    return np.stack([w.probabilities[l] for w in clf.classify_waveform(AUDIO, 22050).windows for l in CLASSES])


def _files(cache):
    return sorted(cache.glob(f"*{onnxcache.SUFFIX}"))


def test_second_load_reads_the_cached_graph_with_identical_probabilities(model_path, cache):
    first = _probs(model_path)
    (f,) = _files(cache)
    inode = f.stat().st_ino
    second = _probs(model_path)
    assert _files(cache) == [f] and f.stat().st_ino == inode  # read back, not written again
    assert np.array_equal(first, second)
    torch_p = Classifier(load_model(model_path, backend="torch"), Settings()).classify_waveform(AUDIO, 22050)
    assert np.abs(torch_p.windows[0].probabilities[CLASSES[0]] - first[0]) <= 1e-4


@pytest.mark.parametrize("damage", ["flip", "truncate", "empty"])
def test_a_damaged_cache_file_is_replaced_by_a_fresh_export(model_path, cache, damage):
    good = _probs(model_path)
    (f,) = _files(cache)
    data = bytearray(f.read_bytes())
    if damage == "flip":  # bytes of the weights: still a loadable graph, but not the model
        for i in range(len(data) // 2, len(data), 997):
            data[i] ^= 0x40
    elif damage == "truncate":
        data = data[: len(data) // 3]
    else:
        data = bytearray()
    f.write_bytes(bytes(data))
    assert np.array_equal(_probs(model_path), good)
    assert onnxcache._read(f) is not None  # rewritten whole


def test_an_unwritable_cache_folder_only_means_exporting(model_path, tmp_path, monkeypatch):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the cache folder would be")
    monkeypatch.setenv("ENVAUDIO_CACHE_DIR", str(blocker))
    uncached = _probs(model_path)
    monkeypatch.setenv("ENVAUDIO_CACHE_DIR", str(tmp_path / "ok"))
    assert np.array_equal(uncached, _probs(model_path))


def test_another_model_gets_its_own_graph_and_old_graphs_are_pruned(model_path, cache, tmp_path, monkeypatch):
    monkeypatch.setattr(onnxcache, "KEEP", 2)
    a = _probs(model_path)
    b = _probs(_model_file(tmp_path / "other.pt", 7))
    assert len(_files(cache)) == 2 and not np.allclose(a, b)
    _probs(_model_file(tmp_path / "third.pt", 11))
    assert len(_files(cache)) == 2  # the least recently used one went
    assert np.array_equal(_probs(model_path), a)  # re-exported, same answer
