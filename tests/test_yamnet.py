"""YAMNet in PyTorch: the front end and the tower's shapes and padding always; with the
pretrained weights in ../shared, the published reference vectors and AudioSet classes."""

from __future__ import annotations

import csv
from pathlib import Path

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


def _keras_weights_from(npz: dict[str, np.ndarray], rng) -> dict[str, np.ndarray]:
    """Keras-layout YAMNet weights with random batch-norm statistics whose folding gives `npz`
    back (kernels un-scaled, beta shifted): what the official yamnet.h5 looks like."""
    w = {}

    def unfold(kernel_keras, bias, bn):
        var = rng.uniform(0.2, 3.0, bias.shape).astype(np.float32)
        mean = rng.normal(0, 1, bias.shape).astype(np.float32)
        scale = 1 / np.sqrt(var + 1e-4)
        w.update({f"{bn}/moving_variance": var, f"{bn}/moving_mean": mean, f"{bn}/beta": bias + mean * scale})
        return kernel_keras / scale  # scale acts on the last (output) axis in Keras layout

    w["layer1/conv/kernel"] = unfold(npz["layer1.conv.weight"].transpose(2, 3, 1, 0), npz["layer1.conv.bias"],
                                     "layer1/conv/bn")
    for i in range(2, 15):
        dw = npz[f"layer{i}.depthwise.weight"].transpose(2, 3, 0, 1)  # [kh, kw, C, 1]
        w[f"layer{i}/depthwise_conv/depthwise_kernel"] = unfold(
            dw.transpose(0, 1, 3, 2), npz[f"layer{i}.depthwise.bias"], f"layer{i}/depthwise_conv/bn").transpose(0, 1, 3, 2)
        w[f"layer{i}/pointwise_conv/kernel"] = unfold(npz[f"layer{i}.pointwise.weight"].transpose(2, 3, 1, 0),
                                                      npz[f"layer{i}.pointwise.bias"], f"layer{i}/pointwise_conv/bn")
    w["logits/kernel"], w["logits/bias"] = npz["logits.weight"].T, npz["logits.bias"]
    return w


def test_official_keras_weights_convert_to_the_npz(tmp_path):
    """scripts/yamnet_h5_to_npz.py: a Keras weights file (nested groups, ':0' names, batch norm
    separate) -> the npz layout `--pretrained` reads, batch norm folded."""
    h5py = pytest.importorskip("h5py")
    import importlib.util

    from envaudio.networks.yamnet import AudioSetYamnet, load_pretrained

    spec = importlib.util.spec_from_file_location("conv", Path(__file__).parents[1] / "scripts" / "yamnet_h5_to_npz.py")
    conv = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(conv)
    torch.manual_seed(0)
    state = AudioSetYamnet().state_dict()
    npz = {k.replace("tower.", "").replace("layer1.1.", "layer1.conv."): v.numpy() for k, v in state.items()}
    keras = _keras_weights_from(npz, np.random.default_rng(0))
    with h5py.File(tmp_path / "yamnet.h5", "w") as f:  # Keras 2 layout: group per layer, full weight names
        for name, v in keras.items():
            layer = name.rsplit("/", 1)[0]
            f.create_dataset(f"{layer}/{name}:0", data=v)
    assert conv.main([str(tmp_path / "yamnet.h5"), str(tmp_path / "yamnet.npz")]) == 0
    got = np.load(tmp_path / "yamnet.npz")
    assert sorted(got.files) == sorted(npz)
    for k, v in npz.items():
        np.testing.assert_allclose(got[k], v, rtol=1e-4, atol=1e-5, err_msg=k)
    net = load_pretrained(AudioSetYamnet(), tmp_path / "yamnet.npz")  # loads as the training input
    assert torch.allclose(net.logits.weight, state["logits.weight"], atol=1e-5)
    assert conv.main([str(tmp_path / "yamnet.npz"), str(tmp_path / "x.npz")]) == 1  # not an h5: one clear line


def test_members_sharing_their_first_layers_run_them_once_with_the_same_result():
    """A linear head on the AudioSet tower and a YAMNet fine-tuned from layer 11 on hold
    layers 1-10 identically: the engine runs those once and gets each member's output."""
    from envaudio.graphs import MemberStack

    torch.manual_seed(0)
    head_only, top_tuned, other = (Y.build({"patch_hop": 96}, 10).eval() for _ in range(3))
    top_tuned.tower.load_state_dict(head_only.tower.state_dict())
    with torch.no_grad():
        for layer in top_tuned.tower.blocks()[10:]:
            layer.pointwise.weight.mul_(1.1)
    assert Y.shared_layers(head_only, top_tuned) == 10
    assert Y.shared_layers(head_only, other) == 0
    nets = [head_only, top_tuned, other]
    stack = MemberStack(nets, [0, 0, 0], ["yamnet"] * 3).eval()
    assert [(members, k) for _, members, k in stack.groups] == [([0, 1], 10), ([2], 0)]
    assert stack.groups[0][0] is Y
    spec = torch.randn(3, 398, 64)
    with torch.no_grad():
        got = stack(spec)
        want = torch.stack([F.softmax(n(spec), -1) for n in nets])
    assert torch.allclose(got, want, atol=1e-6)
    assert not torch.allclose(got[0], got[1])  # the two members really differ after layer 10
