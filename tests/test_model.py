"""The model file format: members with different front ends in one file, the combination
rule, float16 storage, and version 1 files."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf
import torch
import torch.nn.functional as F

from envaudio.audio import resample
from envaudio.errors import ModelError
from envaudio.combine import combine_payloads
from envaudio.loading import from_payload, load_model
from envaudio.torchload import member_nets
from envaudio.model import member_state, model_payload, save_model
from envaudio.networks import cnn, create_model, yamnet
from envaudio.predict import Classifier
from envaudio.settings import FeatureConfig, Settings
from conftest import noise, run_cli, tone

LABELS = ["a", "b", "c"]


def _member(network: str, seed: int) -> dict:
    torch.manual_seed(seed)
    fe = FeatureConfig() if network == "cnn" else yamnet.YamnetFrontend()
    arch = {"width": 4} if network == "cnn" else {}
    net = create_model(network, len(LABELS), arch)
    return {"network": network, "arch": arch, "features": fe.to_dict(), "state": member_state(net)}


@pytest.fixture(scope="module")
def mixed(tmp_path_factory):
    """A model of one CNN and one YAMNet member (random weights), saved and loaded."""
    path = tmp_path_factory.mktemp("m") / "mixed.pt"
    payload = model_payload([_member("cnn", 1), _member("yamnet", 2)], LABELS, {"name": "test"},
                            {"rule": "weighted", "weights": [0.25, 0.75]})
    save_model(path, payload)
    return load_model(path)


def test_each_member_gets_exactly_its_own_features(mixed):
    """22,050 Hz log-mel (dB) for the CNN, YAMNet's 16 kHz log-mel for YAMNet, from one file."""
    assert mixed.sample_rates == [22050, 16000] and len(mixed.frontends) == 2
    x = (tone(440, 3.0) + noise(3.0, amp=0.05)).astype(np.float32)  # 22,050 Hz
    clf = Classifier(mixed, Settings())
    pred = clf.classify_waveform(x, 22050)
    cnn_fe, y_fe = mixed.members[0].frontend, mixed.members[1].frontend
    want_cnn = cnn.features(x[None], cnn_fe)
    want_y = yamnet.features(resample(x, 22050, 16000)[None], y_fe)
    assert np.array_equal(pred.features[cnn_fe.key()], want_cnn)
    assert np.array_equal(pred.features[y_fe.key()], want_y)
    assert want_cnn.shape == (1, 64, 173) and want_y.shape == (1, 398, 64)
    with torch.inference_mode():
        p = [F.softmax(net(torch.from_numpy(f)), -1).numpy()[0]
             for net, f in zip(member_nets(mixed), (want_cnn, want_y))]
    assert np.allclose(pred.probabilities, 0.25 * p[0] + 0.75 * p[1], atol=1e-6)


def test_long_audio_windows_line_up_across_rates(mixed):
    clf = Classifier(mixed, Settings())
    pred = clf.classify_waveform(noise(9.0, amp=0.1), 22050)
    assert [w.start for w in pred.windows] == [0.0, 2.0, 4.0, 5.0]
    assert all(len(f) == 4 for f in pred.features.values())


def test_combine_and_half_storage(tmp_path, mixed):
    a = model_payload([_member("cnn", 1)], LABELS, {"train_folds": [1]})
    b = model_payload([_member("yamnet", 2), _member("yamnet", 3)], LABELS, {"train_folds": [2]})
    full = from_payload(combine_payloads([a, b]))
    assert full.combine == {"rule": "mean"} and np.allclose(full.weights(), 1 / 3)
    weighted = from_payload(combine_payloads([a, b], [0.5, 0.5]))
    assert np.allclose(weighted.weights(), [0.5, 0.25, 0.25])
    half = combine_payloads([a, b], half=True)
    assert all(v.dtype == torch.float16 for m in half["members"] for v in m["state"].values()
               if v.is_floating_point())
    x = noise(4.0, amp=0.1)
    p_full = Classifier(full, Settings()).classify_waveform(x).probabilities
    p_half = Classifier(from_payload(half), Settings()).classify_waveform(x).probabilities
    assert np.abs(p_full - p_half).max() < 2e-3
    with pytest.raises(ModelError, match="different labels"):
        combine_payloads([a, model_payload([_member("cnn", 1)], ["x", "y", "z"], {})])


def test_version_1_files_still_load(tmp_path):
    """The format before members had their own front ends: one arch, one features dict."""
    m = _member("cnn", 5)
    path = tmp_path / "v1.pt"
    torch.save({"format_version": 1, "arch": {"name": "AudioCNN", **m["arch"]}, "members": [m["state"]],
                "labels": LABELS, "features": {k: v for k, v in m["features"].items() if k != "kind"},
                "card": {}}, path)
    model = load_model(path)
    assert [x.network for x in model.members] == ["cnn"] and model.frontends[0] == FeatureConfig()
    assert Classifier(model, Settings()).classify_waveform(tone(300, 1.0)).probabilities.shape == (3,)


def test_combine_command(tmp_path, mixed):
    a, b = tmp_path / "a.pt", tmp_path / "b.pt"
    save_model(a, model_payload([_member("cnn", 1)], LABELS, {"train_folds": [1, 2]}))
    save_model(b, model_payload([_member("yamnet", 2)], LABELS, {"train_folds": [3]}))
    out = tmp_path / "ab.pt"
    r = run_cli("combine", a, b, "--out", out, "--weights", "0.4,0.6", "--half")
    assert r.returncode == 0, r.stderr
    model = load_model(out)
    assert [m.network for m in model.members] == ["cnn", "yamnet"]
    assert np.allclose(model.weights(), [0.4, 0.6]) and model.card["train_folds"] == [1, 2, 3]
    wav = tmp_path / "x.wav"
    sf.write(wav, tone(500, 2.0), 22050)
    r = run_cli("predict", wav, "--model", out)
    assert r.returncode == 0 and "x.wav" in r.stdout
    r = run_cli("combine", a, b, "--out", out, "--weights", "1")
    assert r.returncode == 2 and "one non-negative weight per model" in r.stderr
    assert "Traceback" not in r.stderr


def test_a_combined_model_combines_again_with_its_own_weights():
    a = model_payload([_member("cnn", 1), _member("cnn", 2)], LABELS, {},
                      {"rule": "weighted", "weights": [0.75, 0.25]})
    b = model_payload([_member("yamnet", 3)], LABELS, {})
    both = from_payload(combine_payloads([a, b], [3, 1]))
    assert np.allclose(both.weights(), [0.5625, 0.1875, 0.25])
    # without weights each model counts as many members as it has, shared as it shares them
    assert np.allclose(from_payload(combine_payloads([a, b])).weights(), [0.5, 1 / 6, 1 / 3])


def test_equal_tensors_are_stored_once(tmp_path):
    """Two members with the same YAMNet tower (a trained head and the zero-shot head on the
    AudioSet tower): the file holds the tower once."""
    a, b = _member("yamnet", 4), _member("yamnet", 5)
    b["state"] = {k: (a["state"][k].clone() if k.startswith("tower.") else v) for k, v in b["state"].items()}
    alone = tmp_path / "a.pt"
    save_model(alone, model_payload([a], LABELS, {}))
    pair = tmp_path / "pair.pt"
    save_model(pair, combine_payloads([model_payload([a], LABELS, {}), model_payload([b], LABELS, {})]))
    assert pair.stat().st_size < 1.05 * alone.stat().st_size
    loaded = load_model(pair)
    x = noise(4.0, amp=0.1)
    want = []
    for m in (a, b):
        net = create_model("yamnet", len(LABELS), {})
        net.load_state_dict(m["state"])
        with torch.inference_mode():
            want.append(F.softmax(net.eval()(torch.from_numpy(yamnet.features(resample(x, 22050, 16000)[None],
                                                                              yamnet.YamnetFrontend()))), -1))
    got = Classifier(loaded, Settings()).classify_waveform(x, 22050).probabilities
    assert np.allclose(got, (want[0] + want[1]).numpy()[0] / 2, atol=1e-5)
