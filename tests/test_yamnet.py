"""YAMNet in PyTorch: the front end and the tower's shapes and padding always; with the
pretrained weights in ../shared, the published reference vectors and AudioSet classes."""

from __future__ import annotations

import csv

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from envaudio.networks import yamnet as Y
from conftest import ROOT, noise, tone

PRETRAINED = ROOT.parent / "shared" / "pretrained" / "yamnet"
FE = Y.YamnetFrontend()


@pytest.fixture(scope="module")
def pretrained():
    if not (PRETRAINED / "yamnet.npz").is_file():
        pytest.skip("YAMNet weights not present in ../shared/pretrained/yamnet")
    return PRETRAINED


def test_front_end_shapes_and_padding():
    # 2 s -> zero-padded to 15,600 + 3 x 7,680 samples -> 240 frames -> 4 patches of 96 x 64
    spec = Y.reference_log_mel(noise(2.0, sr=16000))
    assert spec.shape == (240, 64)
    assert Y.patches(spec[None]).shape == (1, 4, 96, 64)
    assert Y.pad_for_patches(100, FE) == 15600  # at least one patch
    # our 4-s window: 398 frames without padding, 4 patches at the classifier's hop of 96
    x = Y.features(noise(4.0, sr=16000), FE)
    assert x.shape == (FE.n_frames, 64) == (398, 64)
    assert Y.patches(torch.from_numpy(x)[None], 96).shape == (1, 4, 96, 64)


def test_mel_matrix_is_htk_without_area_normalisation():
    m = Y.mel_matrix().numpy()
    assert m.shape == (257, 64) and np.all(m[0] == 0)  # DC row zero
    # triangles of peak 1 sampled at the FFT bins (no area normalisation: wide bands are not lower)
    assert m.max() <= 1.0 and m.max(axis=0).min() > 0.6 and m[:, -1].max() > 0.9
    # a 1 kHz tone lands in the band whose centre is nearest 1 kHz
    band = int(np.argmin(np.abs(Y.mel_centres(FE) - 1000)))
    assert int(Y.reference_log_mel(tone(1000, 1.0, 16000)).mean(0).argmax()) == band


def test_same_padding_is_asymmetric_for_stride_2():
    pad = Y.SamePad(2)
    x = torch.ones(1, 1, 96, 64)
    y = pad(x)
    assert y.shape == (1, 1, 97, 65)
    assert y[0, 0, 0].sum() == 64 and y[0, 0, -1].sum() == 0  # nothing on top, a row at the bottom
    assert torch.equal(Y.SamePad(1)(x), F.pad(x, (1, 1, 1, 1)))


def test_tower_shapes_and_the_inference_form_match():
    torch.manual_seed(0)
    net = Y.YamnetClassifier(10).eval()
    x = torch.randn(3, FE.n_frames, 64)
    assert net.tower(torch.randn(2, 1, 96, 64)).shape == (2, 1024, 3, 2)
    with torch.inference_mode():
        before = net(x)
        after = Y.for_inference(net)(x)
    assert before.shape == (3, 10)
    assert torch.allclose(before, after, atol=1e-5)


def test_reference_vectors_reproduced(pretrained):
    """README tolerances: log-mel within 5e-3, embeddings and scores within 1e-3."""
    ref = np.load(pretrained / "reference.npz")
    net = Y.load_pretrained(Y.AudioSetYamnet().eval(), pretrained / "yamnet.npz")
    names = [r[2] for r in csv.reader(open(pretrained / "yamnet_class_map.csv"))][1:]
    tops = {}
    for clip in ("clip0", "clip1", "clip2", "tone"):
        spec = Y.reference_log_mel(ref[f"{clip}.waveform_16k"])
        assert np.abs(spec.numpy() - ref[f"{clip}.log_mel"]).max() < 5e-3
        with torch.inference_mode():
            emb, scores = net(Y.patches(spec[None])[0])
        assert np.abs(emb.numpy() - ref[f"{clip}.embeddings"]).max() < 1e-3
        assert np.abs(scores.numpy() - ref[f"{clip}.scores"]).max() < 1e-3
        tops[clip] = [names[i] for i in scores.mean(0).argsort(descending=True)[:3]]
    assert str(ref["clip0.name"]).startswith("100652-3")  # the bundled dog-bark example
    assert "Dog" in tops["clip0"], tops["clip0"]
    assert tops["tone"][0] == "Beep, bleep", tops["tone"]


def test_pretrained_weights_load_into_the_classifier(pretrained):
    net = Y.load_pretrained(Y.YamnetClassifier(10), pretrained / "yamnet.npz")
    ref = Y.read_npz(pretrained / "yamnet.npz")
    assert torch.equal(net.tower.layer14.pointwise.weight, ref["tower.layer14.pointwise.weight"])
    assert torch.equal(net.tower.layer1[1].bias, ref["tower.layer1.1.bias"])
    with pytest.raises(FileNotFoundError):
        Y.read_npz(pretrained / "missing.npz")
