"""ONNX export and the inference backends: the exported files reproduce the PyTorch model,
the README's plain-Python example runs on them, and INFERENCE_BACKEND=onnxruntime gives
torch's probabilities in predict, evaluate and the server."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf

from envaudio import graphs, npfeatures, onnxcache
from envaudio.evaluate import evaluate_clips
from envaudio.datasets.layouts import load_clips
from envaudio.features import log_mel_spectrogram
from envaudio.loading import load_model
from envaudio.model import model_payload, save_model
from envaudio.networks import yamnet
from envaudio.predict import Classifier
from envaudio.settings import FeatureConfig, Settings
from conftest import CLASSES, ROOT, clicks, noise, random_member, run_cli, tone


@pytest.fixture(scope="module")
def mixed_path(tmp_path_factory):
    """Two CNN members and a YAMNet member (random weights), weighted, with a temperature."""
    path = tmp_path_factory.mktemp("m") / "mixed.pt"
    payload = model_payload([random_member("cnn", 1), random_member("cnn", 2), random_member("yamnet", 3)], CLASSES,
                            {"name": "test"}, {"rule": "weighted", "weights": [0.2, 0.3, 0.5]},
                            calibration={"temperature": 1.5})
    save_model(path, payload)
    return path


@pytest.fixture(scope="module")
def exported(mixed_path, tmp_path_factory):
    out = tmp_path_factory.mktemp("onnx") / "export"
    r = run_cli("export", mixed_path, "--format", "onnx", "--out", out)
    assert r.returncode == 0, r.stderr
    return out, r.stdout


def test_export_writes_members_manifest_and_features(exported):
    out, stdout = exported
    meta = json.loads((out / "model.json").read_text())
    assert meta["labels"] == CLASSES and meta["opset"] >= 17
    assert [m["network"] for m in meta["members"]] == ["cnn", "cnn", "yamnet"]
    assert [m["frontend"] for m in meta["members"]] == [0, 0, 1]  # one front end, two members
    assert [f["kind"] for f in meta["frontends"]] == ["logmel", "yamnet"]
    assert np.allclose(meta["combine"]["weights"], [0.2, 0.3, 0.5])
    assert meta["calibration"]["temperature"] == 1.5 and meta["window"]["seconds"] == 4.0
    for m in meta["members"]:
        assert (out / m["file"]).stat().st_size > 10_000
    # the check ran, and its figure is printed and saved
    printed = float(re.search(r"max abs difference ([0-9.e+-]+)", stdout).group(1))
    assert printed <= 1e-4 and meta["check"]["max_abs_difference"] <= 1e-4
    assert (out / "envaudio_features.py").read_text() == (ROOT / "src/envaudio/npfeatures.py").read_text()


def test_onnx_members_match_torch_on_real_audio(exported, mixed_path):
    """Each member file, fed by the numpy features, gives the PyTorch member's probabilities."""
    ort = onnxcache.onnxruntime()
    out, _ = exported
    meta = json.loads((out / "model.json").read_text())
    model = load_model(mixed_path, backend="torch")
    x = np.stack([tone(300, 4.0, 16000), noise(4.0, 16000), clicks(4.0, 16000)])
    x22 = np.stack([tone(300, 4.0), noise(4.0), clicks(4.0)])
    torch_p = model.predict_member_windows(model.featurize({22050: x22, 16000: x}), engine="torch")
    for i, m in enumerate(meta["members"]):
        fe = meta["frontends"][m["frontend"]]
        feats = npfeatures.features(x22 if fe["sample_rate"] == 22050 else x, fe)
        p = ort.InferenceSession(str(out / m["file"])).run(None, {"features": feats})[0]
        assert np.abs(p - torch_p[i]).max() <= 1e-4


def test_numpy_features_are_the_package_features():
    x = (tone(1000, 3.0) + noise(3.0, amp=0.05)).astype(np.float32)
    assert np.array_equal(npfeatures.features(x[None], FeatureConfig().to_dict()),
                          log_mel_spectrogram(x[None], FeatureConfig()))
    y = noise(4.0, 16000)[None]
    fe = yamnet.YamnetFrontend()
    assert np.array_equal(npfeatures.features(y, fe.to_dict()), yamnet.features(y, fe))


def _readme_example() -> str:
    text = (ROOT / "docs" / "export.md").read_text()  # the README's export page
    block = text.split("<!-- onnx-example -->", 1)[1]
    return re.search(r"```python\n(.*?)```", block, re.S).group(1)


def test_readme_plain_python_example_runs_on_the_export(exported, mixed_path, tmp_path):
    """The README's snippet (onnxruntime + numpy + soundfile + soxr; it imports nothing of
    envaudio) gives envaudio's answer for the first window."""
    out, _ = exported
    wav = tmp_path / "scene.wav"
    sf.write(wav, (tone(600, 5.0) + noise(5.0, amp=0.05)).astype(np.float32), 22050, subtype="FLOAT")
    script = out / "classify.py"  # where the README says to save it
    script.write_text(_readme_example())
    r = subprocess.run([sys.executable, "classify.py", str(wav)], cwd=out, capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    label, conf = r.stdout.split()[:2]
    clf = Classifier(load_model(mixed_path, backend="torch"), Settings())
    first = clf.classify_waveform(sf.read(wav, dtype="float32")[0], 22050).windows[0]
    assert label == first.label and abs(float(conf) - first.confidence) < 1e-3


def test_onnxruntime_backend_gives_torch_probabilities(mixed_path):
    x = (tone(440, 9.0) + noise(9.0, amp=0.1)).astype(np.float32)  # 4 windows, batched
    probs = {b: Classifier(load_model(mixed_path, backend=b), Settings()).classify_waveform(x, 22050)
             for b in ("torch", "onnxruntime")}
    assert len(probs["torch"].windows) == 4
    assert np.abs(probs["torch"].probabilities - probs["onnxruntime"].probabilities).max() <= 1e-4


def test_yamnet_pads_are_folded_into_its_convolutions(mixed_path, tmp_path):
    """The engine's graph (a model file's, built from the training file), as ONNX Runtime
    optimises it, keeps no Pad and no BatchNormalization: YAMNet's 'SAME' pads went into
    the convolutions (they cost ~12 % of the networks' time as separate ops), and so did
    the CNN's BatchNorm, which the graph keeps apart so that its weights stay as stored."""
    import onnx

    from envaudio.model import read_payload

    graph = graphs.payload_graph(read_payload(mixed_path))[0]
    ops = {n.op_type for n in onnx.load_from_string(graph).graph.node}
    assert {"Pad", "BatchNormalization"} <= ops  # YAMNet pads and the CNN's BatchNorm...
    so = onnxcache.session_options(1)
    so.optimized_model_filepath = str(tmp_path / "optimised.onnx")
    onnxcache.onnxruntime().InferenceSession(graph, so, providers=["CPUExecutionProvider"])
    ops = {n.op_type for n in onnx.load(str(tmp_path / "optimised.onnx")).graph.node}
    assert "Conv" in ops and not ops & {"Pad", "BatchNormalization"}  # ...folded by ONNX Runtime


def test_evaluate_with_each_backend(mixed_path, tiny_dataset):
    clips, _ = load_clips(str(tiny_dataset))
    res = {b: evaluate_clips(load_model(mixed_path, backend=b), clips, workers=1, progress=False)
           for b in ("torch", "onnxruntime")}
    assert np.abs(res["torch"].probabilities - res["onnxruntime"].probabilities).max() <= 1e-4


def test_backend_setting_and_cli_errors(tmp_path, mixed_path):
    r = run_cli("predict", ROOT / "src/envaudio/assets/examples", "--model", mixed_path,
                env={"INFERENCE_BACKEND": "onnxruntime"})
    assert r.returncode == 0, r.stderr
    r = run_cli("predict", "x.wav", env={"ENVAUDIO_INFERENCE_BACKEND": "tensorrt"})
    assert r.returncode == 2 and "INFERENCE_BACKEND must be one of" in r.stderr
    assert "Traceback" not in r.stderr
    r = run_cli("export", tmp_path / "missing.pt", "--out", tmp_path / "o")
    assert r.returncode == 2 and "model file not found" in r.stderr and "Traceback" not in r.stderr
    r = run_cli("export", mixed_path, "--out", tmp_path / "o", "--folds", "1")
    assert r.returncode == 2 and "--data-root" in r.stderr


def test_int8_export_reports_the_accuracy_change(mixed_path, tiny_dataset, tmp_path):
    out = tmp_path / "q"
    r = run_cli("export", mixed_path, "--out", out, "--int8", "--data-root", tiny_dataset, "--folds", "3")
    assert r.returncode == 0, r.stderr
    meta = json.loads((out / "model.json").read_text())
    q = meta["int8"]
    assert all((out / f).is_file() for f in q["files"])
    assert set(q["accuracy"]) == {"float32", "int8"} and q["held_out_clips"] == 12
    assert "held-out accuracy" in r.stdout + r.stderr
    # without data the change is not measured, and it says so
    r = run_cli("export", mixed_path, "--out", tmp_path / "q2", "--int8")
    assert r.returncode == 0 and "accuracy change not measured" in r.stderr


def test_an_mn04_member_exports_with_numpy_features(tmp_path):
    """A CNN and an mn04 member (random weights): the export's check passes, and each member
    file fed by the shipped numpy features gives the PyTorch member's probabilities; the
    ONNX Runtime backend classifies as torch does."""
    import torch

    from envaudio.model import member_state
    from envaudio.networks import create_model, mn04

    torch.manual_seed(4)
    net = create_model("mn04", len(CLASSES), {})
    for m in net.modules():  # BatchNorm statistics of a trained network, not the identity
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.3, 0.3)
            m.running_var.uniform_(0.5, 2.0)
    fe = mn04.Mn04Frontend()
    member = {"network": "mn04", "arch": mn04.default_arch(Settings()), "features": fe.to_dict(),
              "state": member_state(net)}
    path = tmp_path / "mn04.pt"
    save_model(path, model_payload([random_member("cnn", 1), member], CLASSES, {"name": "test"}))
    out = tmp_path / "export"
    r = run_cli("export", path, "--format", "onnx", "--out", out)
    assert r.returncode == 0, r.stderr
    meta = json.loads((out / "model.json").read_text())
    assert [f["kind"] for f in meta["frontends"]] == ["logmel", "mn04"]
    assert meta["check"]["max_abs_difference"] <= 1e-4

    ort = onnxcache.onnxruntime()
    model = load_model(path, backend="torch")
    x32 = np.stack([tone(300, 4.0, 32000), noise(4.0, 32000), clicks(4.0, 32000)])
    x22 = np.stack([tone(300, 4.0), noise(4.0), clicks(4.0)])
    torch_p = model.predict_member_windows(model.featurize({22050: x22, 32000: x32}), engine="torch")
    feats = npfeatures.features(x32, meta["frontends"][1])
    assert np.array_equal(feats, mn04.features(x32, fe))
    p = ort.InferenceSession(str(out / meta["members"][1]["file"])).run(None, {"features": feats})[0]
    assert np.abs(p - torch_p[1]).max() <= 1e-4

    wave = (tone(440, 9.0) + noise(9.0, amp=0.1)).astype(np.float32)
    probs = {b: Classifier(load_model(path, backend=b), Settings()).classify_waveform(wave, 22050)
             for b in ("torch", "onnxruntime")}
    assert np.abs(probs["torch"].probabilities - probs["onnxruntime"].probabilities).max() <= 1e-4
