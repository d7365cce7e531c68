"""Temperature scaling and the unknown threshold: the fitting functions on known
numbers, and `envaudio calibrate` end to end on tiny models trained here."""

import json
import subprocess
import sys

import numpy as np
import pytest

from envaudio.calibration import choose_threshold, ece, fit_temperature
from envaudio.loading import calibrate, load_model
from envaudio.predict import Classifier
from envaudio.settings import Settings
from conftest import ROOT, run_cli, tone, write_dataset


def overconfident(n=2000, k=5, seed=0):
    """Labels drawn from softmax(z), reported as softmax(3 z): too sure of themselves."""
    rng = np.random.default_rng(seed)
    z = rng.normal(0, 1.2, (n, k))
    true_p = np.exp(z) / np.exp(z).sum(1, keepdims=True)
    y = np.array([rng.choice(k, p=p) for p in true_p])
    return calibrate(true_p, {"temperature": 1 / 3}), y


def test_temperature_undoes_overconfidence():
    p, y = overconfident()
    t = fit_temperature(p, y)
    assert 2.5 < t < 3.5
    assert ece(calibrate(p, {"temperature": t}), y) < 0.5 * ece(p, y)


def test_ece_of_a_perfectly_calibrated_and_a_wrong_model():
    y = np.array([0, 1] * 50)
    assert ece(np.tile([1.0, 0.0], (100, 1)), y) == pytest.approx(0.5)
    assert ece(np.tile([0.5, 0.5], (100, 1)), y) == pytest.approx(0.0)


def test_threshold_loses_at_most_a_tenth_of_the_right_answers():
    # class 0 said with 0.5-0.95 where right, 0.4-0.6 where wrong (the truth was class 1)
    right = np.linspace(0.5, 0.95, 100)
    wrong = np.linspace(0.4, 0.6, 40)
    conf = np.concatenate([right, wrong])
    probs = np.stack([conf, (1 - conf) / 2, (1 - conf) / 2], 1)
    y = np.array([0] * 100 + [1] * 40)
    t = choose_threshold(probs, y)
    assert (right < t).mean() <= 0.1 and (right < t).mean() >= 0.09  # the highest such threshold
    assert (wrong < t).mean() > 0.5  # and most wrong answers become "unknown"
    assert choose_threshold(probs, y, 0.0) == pytest.approx(0.5)


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    """Two tiny CNNs on generated sounds, each held out from one fold (one of them is also
    the model calibrated: any model file of the same labels will do)."""
    work = tmp_path_factory.mktemp("cal")
    root = write_dataset(work / "us8k", per_class=6, folds=(1, 2, 3), ext=".flac")
    out = {"root": root, "work": work}
    for name, folds in (("f23", "2,3"), ("f13", "1,3")):
        r = run_cli("train", "--data-root", root, "--train-folds", folds, "--val-folds", "none",
                    "--epochs", "1", "--batch-size", "8", "--out", work / name / "model.pt", "--quiet")
        assert r.returncode == 0, r.stderr
        out[name] = work / name / "model.pt"
    out["all"] = out["f13"]
    return out


def test_calibrate_command(models, tmp_path):
    ood = tmp_path / "ood"
    subprocess.run([sys.executable, str(ROOT / "scripts" / "make_ood_audio.py"), str(ood), "--per-kind", "2",
                    "--seconds", "2"], check=True, capture_output=True)
    target = tmp_path / "target.pt"
    report = tmp_path / "docs" / "calibration.json"
    r = run_cli("calibrate", "--model", models["all"], "--out", target, "--data-root", models["root"],
                "--heldout", f"{models['f23']}:1", "--heldout", f"{models['f13']}:2",
                "--ood", ood, "--report", report, "--quiet")
    assert r.returncode == 0, r.stderr
    assert "ECE" in r.stdout and "unknown threshold" in r.stdout
    rep = json.loads(report.read_text())
    assert rep["pooled"]["before"]["n"] == 2 * 3 * 6
    assert rep["pooled"]["after"]["nll"] <= rep["pooled"]["before"]["nll"] + 1e-9  # fitted to lower it
    assert len(rep["cross_fitted"]) == 2 and rep["ood"]["n"] == 6
    assert set(rep["ood"]["by_kind"]) == {"speech", "instrument", "birdsong"}
    m = load_model(target)
    assert m.calibration["temperature"] == pytest.approx(rep["temperature"])
    assert m.calibration["unknown_threshold"] == pytest.approx(rep["unknown_threshold"])
    # the probabilities the model gives are the tempered ones
    raw = load_model(models["all"])
    x = tone(300, 2.0)
    p_raw = Classifier(raw, Settings()).classify_waveform(x).probabilities
    p_cal = Classifier(m, Settings()).classify_waveform(x).probabilities
    assert np.allclose(p_cal, calibrate(p_raw[None].astype(np.float64), m.calibration)[0], atol=1e-4)
    assert Classifier(m, Settings()).event_params.unknown_threshold == pytest.approx(rep["unknown_threshold"])


def test_calibrate_refuses_a_model_that_saw_the_fold(models, tmp_path):
    r = run_cli("calibrate", "--model", models["all"], "--out", tmp_path / "x.pt", "--data-root", models["root"],
                "--heldout", f"{models['f23']}:2", "--report", tmp_path / "r.json", "--quiet")
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert "was trained on fold(s) [2]: not held-out data" in r.stderr
    r = run_cli("calibrate", "--model", models["all"], "--data-root", models["root"], "--heldout", "nofolds")
    assert r.returncode == 2 and "write MODEL:FOLDS" in r.stderr
