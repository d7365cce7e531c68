"""mn04 (EfficientAT's AudioSet MobileNetV3, width 0.4): the front end against its formulas
and an independent numpy STFT, the network's shapes, training and inference forms always;
with the weights in ../shared, the strict load and the AudioSet classes of the sample clips
and of real UrbanSound8K clips."""

from __future__ import annotations

import copy
import json
import csv
import math
from types import SimpleNamespace

import numpy as np
import pytest
import soundfile as sf
import torch

from envaudio.networks import frontend_features, frontend_from_dict, get_network, mn04 as M, network_of
from conftest import ROOT, SUBSET, noise, tone

PRETRAINED = ROOT.parent / "shared" / "pretrained" / "efficientat-mn04"
FE = M.Mn04Frontend()
NP_TORCH_ATOL = 5e-4  # numpy's and torch's float32 front ends, on the normalised log-mel
HP = SimpleNamespace(learning_rate=1e-3, backbone_lr_scale=0.1, freeze_layers=0, mixup_alpha=0.4,
                     spec_augment=True, time_mask_param=24, freq_mask_param=10, num_time_masks=2,
                     num_freq_masks=2, dropout=0.3)


@pytest.fixture(scope="module")
def pretrained():
    if not (PRETRAINED / M.WEIGHTS_FILE).is_file():
        pytest.skip("mn04 weights not present in ../shared/pretrained/efficientat-mn04")
    return PRETRAINED


@pytest.fixture(scope="module")
def audioset(pretrained):
    torch.manual_seed(0)
    return M.audioset_model(pretrained), M.audioset_labels(pretrained)


def top_classes(model_labels, wave: np.ndarray, k: int = 5, fe: M.Mn04Frontend | None = None) -> list[str]:
    """The k leading AudioSet classes of a clip (by default the whole clip as one window)."""
    net, labels = model_labels
    fe = fe or M.Mn04Frontend(duration=len(wave) / 32000)
    with torch.no_grad():
        scores = torch.sigmoid(net(torch.from_numpy(M.features(wave[None], fe))))[0]
    return [labels[i] for i in scores.topk(k).indices.tolist()]


# ------------------------------------------------------------------ front end

def test_mel_banks_follow_the_kaldi_formula():
    banks = M.kaldi_mel_banks(128, 1024, 32000, 0.0, 15000.0)
    assert banks.shape == (128, 513)
    assert np.all(banks[:, 512] == 0)  # the Nyquist column
    assert banks.min() == 0 and banks.max() <= 1.0
    assert np.all(banks.max(axis=1) > 0)  # no empty band, even the narrow lowest ones

    # the formula, one (band, bin) at a time
    mel = lambda f: 1127.0 * math.log(1.0 + f / 700.0)  # noqa: E731
    step = (mel(15000.0) - mel(0.0)) / (128 + 1)
    for band in (0, 1, 17, 64, 100, 127):
        lo, mid, hi = (mel(0.0) + (band + j) * step for j in range(3))
        for k in range(512):
            m = mel(k * 32000 / 1024)
            want = max(0.0, min((m - lo) / (mid - lo), (hi - m) / (hi - mid)))
            assert banks[band, k] == pytest.approx(want, abs=1e-12)
    # nothing above 15 kHz (bin 480), no normalisation of area: the top bands reach near 1
    assert np.all(banks[:, 481:] == 0)
    assert banks[120:].max(axis=1).min() > 0.8

    # a 1 kHz tone lands in the band whose centre is nearest 1 kHz
    band = int(np.argmin(np.abs(M.mel_centres(FE) - 1000)))
    assert int(M.features(tone(1000, 4.0, 32000), FE).mean(1).argmax()) == band


def reference_log_mel(wave: np.ndarray) -> np.ndarray:
    """The README's front end in float64 numpy, written independently of the module:
    pre-emphasis, reflect-padded centred frames, the 800-sample symmetric Hann window in the
    middle of each 1024-sample frame, |rFFT|^2, the Kaldi banks, log, (x + 4.5) / 5."""
    x = wave.astype(np.float64)
    x = x[1:] - 0.97 * x[:-1]
    x = np.pad(x, 512, mode="reflect")
    n = 1 + (len(x) - 1024) // 320
    frames = np.stack([x[i * 320:i * 320 + 1024] for i in range(n)])
    window = np.zeros(1024)
    window[112:912] = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(800) / 799)
    power = np.abs(np.fft.rfft(frames * window, axis=1)) ** 2
    mel = M.kaldi_mel_banks() @ power.T
    return (np.log(mel + 1e-5) + 4.5) / 5


def test_feature_function_for_4_s_windows():
    waves = np.stack([noise(4.0, sr=32000, seed=s) for s in range(3)])
    x = M.features(waves, FE)
    assert FE.n_samples == 128000 and FE.n_frames == 400
    assert isinstance(x, np.ndarray) and x.dtype == np.float32 and x.shape == (3, 128, 400)
    np.testing.assert_allclose(x[1], reference_log_mel(waves[1]), atol=2e-3)
    # the same through the registry, and as tensors (on the tensor's device, differentiable)
    np.testing.assert_array_equal(frontend_features(FE, waves), x)
    t = torch.from_numpy(waves).requires_grad_()
    xt = M.features(t, FE)
    assert isinstance(xt, torch.Tensor) and xt.dtype == torch.float32 and xt.shape == (3, 128, 400)
    torch.testing.assert_close(xt.detach(), torch.from_numpy(x), rtol=0, atol=NP_TORCH_ATOL)
    xt.sum().backward()
    assert t.grad is not None and torch.isfinite(t.grad).all()
    # one window -> one spectrogram; short clips are looped to the window, long ones cut
    assert M.features(waves[0], FE).shape == (128, 400)
    short = noise(1.0, sr=32000)
    np.testing.assert_array_equal(M.features(short, FE), M.features(np.tile(short, 4), FE))
    np.testing.assert_array_equal(M.features(np.tile(short, 5), FE), M.features(np.tile(short, 4), FE))
    # silence is the floor log(1e-5), normalised
    floor = (math.log(1e-5) + 4.5) / 5
    np.testing.assert_allclose(M.features(np.zeros(128000, np.float32), FE), floor, atol=1e-6)


def real_or_generated_clips(tmp_path) -> list[np.ndarray]:
    """Waveforms at 32 kHz decoded from files: UrbanSound8K clips of several classes and
    sample rates when the subset is present, else tones, noise and clicks written as WAV at
    22,050 and 44,100 Hz; each file read and resampled as envaudio reads audio."""
    from envaudio.audio import load_audio

    names = ["101415-3-0-2.flac", "157867-8-0-0.flac", "100652-3-0-0.flac"]
    if (SUBSET / "metadata" / "UrbanSound8K.csv").is_file():
        with open(SUBSET / "metadata" / "UrbanSound8K.csv", newline="") as f:
            rows = list(csv.DictReader(f))
        picks = [r for r in rows if r["slice_file_name"] in names] + rows[::400]
        paths = [SUBSET / "audio" / f"fold{r['fold']}" / r["slice_file_name"] for r in picks]
    else:
        paths = []
        for i, (sr, x) in enumerate([(22050, tone(440, 4.0, 22050) + noise(4.0, 22050, 0.02)),
                                     (44100, noise(4.0, 44100, 0.3, seed=1)),
                                     (22050, np.concatenate([tone(3000, 1.0, 22050), np.zeros(22050, np.float32)]))]):
            paths.append(tmp_path / f"clip{i}.wav")
            sf.write(paths[-1], x, sr, subtype="PCM_16")
    return [load_audio(p, 32000) for p in paths]


def test_numpy_and_torch_front_ends_agree_on_real_audio(tmp_path):
    """npfeatures (inference, the feature cache, exports) and the torch form (training)
    give the same log-mel, with the length and level handling of `features`."""
    from envaudio import npfeatures

    clips = real_or_generated_clips(tmp_path)
    worst = 0.0
    for fe in (FE, M.Mn04Frontend(duration=3.0, pad_mode="zero", rms_normalize=True)):
        for wave in clips + [wave[:20000] for wave in clips[:2]]:  # and short ones, looped or padded
            a = npfeatures.features(wave[None], fe.to_dict())  # the export's form: a plain dict
            b = M.features(torch.from_numpy(wave[None]), fe).numpy()
            assert a.shape == b.shape == (1, 128, fe.n_frames) and a.dtype == np.float32
            worst = max(worst, float(np.abs(a - b).max()))
            np.testing.assert_array_equal(M.features(wave, fe), a[0])  # arrays go to npfeatures
    assert worst < NP_TORCH_ATOL, worst
    # and both are the README's front end (float64, written independently)
    wave = npfeatures.fix_length(clips[0], FE.n_samples)
    np.testing.assert_allclose(M.features(wave, FE), reference_log_mel(wave), atol=2e-3)


def test_the_mel_banks_have_one_definition():
    """mn04's torch front end takes its banks from npfeatures (which imports nothing of the
    package), and npfeatures' grouped products are those banks, zeros left out."""
    from envaudio import npfeatures
    from envaudio.networks import mn04_frontend

    assert mn04_frontend.kaldi_mel_banks is npfeatures.kaldi_mel_banks is M.kaldi_mel_banks
    banks = npfeatures.kaldi_mel_banks(128, 1024, 32000, 0.0, 15000.0)
    dense = np.zeros((2 * 513, 128), np.float32)
    for bands, lo, hi, w in npfeatures._kaldi_mel_plan(128, 1024, 32000, 0.0, 15000.0):
        dense[lo:hi, bands] = w
    np.testing.assert_array_equal(dense[0::2], banks.T.astype(np.float32))  # the real parts' weights
    np.testing.assert_array_equal(dense[1::2], banks.T.astype(np.float32))  # the imaginary parts'


def test_numpy_features_need_no_torch(tmp_path):
    """The file an export ships (npfeatures.py alone) computes mn04's input where torch
    cannot be imported."""
    import shutil
    import subprocess
    import sys

    from envaudio import npfeatures

    shutil.copyfile(npfeatures.__file__, tmp_path / "envaudio_features.py")
    wave = (tone(1000, 4.0, 32000) + noise(4.0, 32000, 0.05)).astype(np.float32)
    np.save(tmp_path / "wave.npy", wave)
    code = ("import sys; sys.modules['torch'] = None; import numpy as np, envaudio_features as f; "
            f"np.save('out.npy', f.features(np.load('wave.npy')[None], {FE.to_dict()!r}))")
    r = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    np.testing.assert_array_equal(np.load(tmp_path / "out.npy"), M.features(wave[None], FE))


def test_front_end_settings_round_trip_and_registration():
    fe = M.Mn04Frontend(duration=2.0, pad_mode="zero")
    assert frontend_from_dict(fe.to_dict()) == fe and fe.key() != FE.key()
    assert network_of(fe) is M and get_network("mn04") is M
    hp = SimpleNamespace(duration=3.0, pad_mode="zero")
    assert M.frontend(hp) == M.Mn04Frontend(duration=3.0, pad_mode="zero")


# ------------------------------------------------------------------ network

def test_network_shapes_and_parameter_count():
    torch.manual_seed(0)
    net = M.build(M.default_arch(HP), 10).eval()
    x = torch.from_numpy(M.features(np.stack([noise(4.0, sr=32000, seed=s) for s in range(2)]), FE))
    with torch.no_grad():
        assert net(x).shape == (2, 10)
        assert net(x.unsqueeze(1)).shape == (2, 10)  # (B, 1, 128, frames) as EfficientAT takes it
        assert net.embed(x).shape == (2, M.EMBEDDING_SIZE)
        assert net.feature_maps(x).shape == (2, 384, 4, 13)  # 128 x 400 / 32, rounded up
        assert net(x[..., :100]).shape == (2, 10)  # any length
    audioset = M.Mn04Classifier()
    n_params = sum(p.numel() for p in audioset.parameters())
    n_buffers = sum(b.numel() for b in audioset.buffers())
    assert n_params == 983_599 and n_params + n_buffers == 993_485  # the README's count has the BN statistics
    assert [len(getattr(m, "block", [])) for m in audioset.features][1:4] == [2, 3, 3]  # no expansion in block 1


def test_strict_load(pretrained):
    sd = torch.load(pretrained / M.WEIGHTS_FILE, map_location="cpu", weights_only=True)
    assert len(sd) == 312
    net = M.Mn04Classifier()
    own = net.state_dict()
    assert list(own) == list(sd) and all(own[k].shape == v.shape for k, v in sd.items())
    result = net.load_state_dict(sd, strict=True)
    assert not result.missing_keys and not result.unexpected_keys

    # our classes: everything pretrained but the new last layer
    torch.manual_seed(0)
    net10 = M.build({}, 10)
    fresh = {k: v.clone() for k, v in net10.state_dict().items() if k.startswith("classifier.5.")}
    M.load_pretrained(net10, pretrained)
    got = net10.state_dict()
    for k, v in sd.items():
        if k.startswith("classifier.5."):
            assert torch.equal(got[k], fresh[k]) and got[k].shape[0] == 10
        else:
            assert torch.equal(got[k], v), k
    # the folder or the file; the network module through the registry
    from envaudio.networks import create_model
    net_b = create_model("mn04", 10, {}, str(pretrained / M.WEIGHTS_FILE))
    assert torch.equal(net_b.state_dict()["features.7.block.1.0.weight"], sd["features.7.block.1.0.weight"])
    with pytest.raises(FileNotFoundError):
        M.load_pretrained(M.build({}, 10), pretrained / "nothing.pt")


def test_sample_clips_give_their_audioset_classes(audioset):
    expected = {"music": {"Music"}, "speech": {"Speech"}, "typing": {"Typing", "Computer keyboard"}}
    tops = {}
    for name, want in expected.items():
        wave, sr = sf.read(PRETRAINED / "sample_audio" / f"{name}.wav", dtype="float32")
        assert sr == 32000 and wave.ndim == 1
        tops[name] = top_classes(audioset, wave)
        assert tops[name][0] in want, (name, tops[name])
    assert {"Typing", "Computer keyboard"} <= set(tops["typing"][:2])
    assert "Musical instrument" in tops["music"]


def urbansound_clip(name: str) -> np.ndarray:
    """An UrbanSound8K clip (22,050 Hz FLAC) resampled to 32 kHz (soxr, as audio.resample)."""
    import soxr

    if not (SUBSET / "metadata" / "UrbanSound8K.csv").is_file():
        pytest.skip("UrbanSound8K subset not present in ../shared/data")
    with open(SUBSET / "metadata" / "UrbanSound8K.csv", newline="") as f:
        row = next((r for r in csv.DictReader(f) if r["slice_file_name"] == name), None)
    if row is None:
        pytest.skip(f"{name} not in the subset")
    wave, sr = sf.read(SUBSET / "audio" / f"fold{row['fold']}" / name, dtype="float32")
    if wave.ndim > 1:
        wave = wave.mean(axis=1)
    return soxr.resample(wave, sr, 32000, quality="HQ").astype(np.float32)


@pytest.mark.parametrize("name, want", [
    ("101415-3-0-2.flac", {"Dog", "Bark"}),  # dog_bark
    ("114587-3-0-4.flac", {"Dog", "Bark"}),  # dog_bark
    ("157867-8-0-0.flac", {"Siren", "Police car (siren)", "Emergency vehicle"}),  # siren
])
def test_urbansound_clips_give_the_matching_audioset_classes(audioset, name, want):
    top = top_classes(audioset, urbansound_clip(name), fe=FE)  # our 4-s window (the clips are 4 s)
    assert want <= set(top), (name, top)


# ------------------------------------------------------------------ training and inference

def test_build_forward_backward_and_param_groups():
    torch.manual_seed(0)
    net = M.build({"dropout": 0.3}, 10).train()
    waves = torch.from_numpy(np.stack([noise(4.0, sr=32000, seed=s) for s in range(4)]))
    x = M.features(waves, FE)
    y = torch.nn.functional.one_hot(torch.tensor([0, 3, 5, 9]), 10).float()
    xa, ya = M.augment(x, y, HP, FE)
    assert xa.shape == x.shape and ya.shape == y.shape and torch.isfinite(xa).all()
    assert torch.allclose(ya.sum(1), torch.ones(4))
    groups = M.param_groups(net, SimpleNamespace(**{**vars(HP), "freeze_layers": 3}))
    assert groups[0]["lr"] == HP.learning_rate and groups[1]["lr"] == pytest.approx(HP.learning_rate * 0.1)
    opt = torch.optim.SGD(groups, lr=HP.learning_rate)
    loss = torch.nn.functional.cross_entropy(net(xa), ya)
    loss.backward()
    assert net.head.weight.grad is not None and net.head.weight.grad.abs().sum() > 0
    assert net.features[5].block[0][0].weight.grad.abs().sum() > 0  # a trained block
    assert all(p.grad is None for p in net.features[:3].parameters())  # FREEZE_LAYERS=3: frozen
    n_trained = sum(len(g["params"]) for g in groups)
    assert n_trained == sum(p.requires_grad for p in net.parameters())
    opt.step()


def test_for_inference_matches_the_eval_network():
    torch.manual_seed(0)
    net = M.build({}, 10)
    for m in net.modules():  # BatchNorm statistics that make the folding matter
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 2.0)
            m.weight.data.uniform_(0.5, 1.5)
            m.bias.data.uniform_(-0.2, 0.2)
    net.eval()
    fast = M.for_inference(copy.deepcopy(net))
    assert not fast.training
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in fast.modules())
    x = torch.from_numpy(M.features(np.stack([noise(4.0, sr=32000, seed=s) for s in range(3)]), FE))
    with torch.no_grad():
        want = net(x)
        torch.testing.assert_close(fast(x), want, rtol=1e-4, atol=1e-4)
        torch.testing.assert_close(fast(x[:1]), want[:1], rtol=1e-4, atol=1e-4)


def test_for_inference_keeps_the_pretrained_scores(audioset):
    net, _ = audioset
    fast = M.for_inference(copy.deepcopy(net))
    wave, _ = sf.read(PRETRAINED / "sample_audio" / "speech.wav", dtype="float32")
    x = torch.from_numpy(M.features(wave[None], M.Mn04Frontend(duration=10.0)))
    with torch.no_grad():
        torch.testing.assert_close(torch.sigmoid(fast(x)), torch.sigmoid(net(x)), rtol=0, atol=1e-4)


# ------------------------------------------------------------------ envaudio train --backbone mn04

def test_train_options_take_mn04_weights(tmp_path):
    """--pretrained takes mn04's folder or .pt (and picks mn04 by itself), YAMNet keeps its
    npz, and each misuse is a clear error before any data is read."""
    from envaudio.errors import DatasetError
    from envaudio.recipes import LAYERS, MN04, MN04_SMALL
    from envaudio.settings import Settings
    from envaudio.training.setup import build_config

    folder = tmp_path / "efficientat-mn04"
    folder.mkdir()
    (folder / M.WEIGHTS_FILE).write_bytes(b"weights")  # only its presence is checked here
    (tmp_path / "yamnet.npz").write_bytes(b"npz")
    s = Settings(cache_dir=str(tmp_path / "cache"))
    for given in (dict(backbone="mn04", pretrained=str(folder)), dict(pretrained=str(folder)),
                  dict(pretrained=str(folder / M.WEIGHTS_FILE))):
        cfg = build_config({}, settings=s, **given)
        assert cfg.backbone == "mn04" and cfg.pretrained == given["pretrained"] and cfg.recipe == "full"
        assert cfg.settings.epochs == MN04["epochs"] and cfg.hyperparameters()["backbone"] == "mn04"
    cfg = build_config({}, pretrained=str(folder), clips_per_class=15, settings=s)
    assert cfg.recipe == "small" and cfg.settings.freeze_layers == MN04_SMALL["freeze_layers"]
    assert build_config({}, pretrained=str(tmp_path / "yamnet.npz"), settings=s).backbone == "yamnet"
    assert LAYERS["mn04"] == M.N_LAYERS == len(M.Mn04Classifier().features)
    for given, message in [
        (dict(backbone="mn04"), "--backbone mn04 needs --pretrained PATH"),
        (dict(backbone="mn04", pretrained=str(tmp_path / "yamnet.npz")), "--backbone mn04 takes"),
        (dict(backbone="mn04", pretrained=str(tmp_path)), "pretrained weights not found"),  # no .pt in it
        (dict(backbone="yamnet", pretrained=str(folder)), "pretrained weights not found"),
        (dict(backbone="cnn", recipe="small"), "--recipe small is for fine-tuning YAMNet or mn04"),
    ]:
        with pytest.raises(DatasetError, match=message):
            build_config({}, settings=s, **given)
    with pytest.raises(DatasetError, match="between 0 and 17"):
        build_config({"freeze_layers": 18}, backbone="mn04", pretrained=str(folder), settings=s)


def test_train_fine_tunes_mn04_and_predict_runs_the_model(pretrained, tmp_path):
    """The real command on generated audio (3 classes x 4 clips, the small-data recipe,
    1 epoch): layers 1-12 keep AudioSet's weights, the rest learned, and the model file
    classifies a WAV with `envaudio predict`."""
    from conftest import CUSTOM_CLASSES, make_custom_sound, run_cli, write_class_folders
    from envaudio.loading import load_model

    data = write_class_folders(tmp_path / "data", per_class=4)
    out = tmp_path / "m.pt"
    r = run_cli("train", "--data-root", data, "--backbone", "mn04", "--pretrained", pretrained,
                "--epochs", "1", "--val-split", "0", "--out", out, "--quiet",
                env={"ENVAUDIO_CACHE_DIR": str(tmp_path / "cache")})
    assert r.returncode == 0, r.stderr
    assert "recipe: small (mn04 layers 1-12 frozen" in r.stdout
    card = json.loads((tmp_path / "m.pt.card.json").read_text())
    assert card["train_config"]["backbone"] == "mn04" and card["train_config"]["recipe"] == "small"
    payload = torch.load(out, weights_only=True)
    member = payload["members"][0]
    assert member["network"] == "mn04" and member["features"]["kind"] == "mn04"
    sd = torch.load(pretrained / M.WEIGHTS_FILE, weights_only=True)
    state = member["state"]
    assert torch.equal(state["features.5.block.0.0.weight"].float(), sd["features.5.block.0.0.weight"])  # frozen
    assert not torch.equal(state["features.16.0.weight"].float(), sd["features.16.0.weight"])  # tuned
    assert state["classifier.5.weight"].shape == (len(CUSTOM_CLASSES), M.HIDDEN)

    model = load_model(out)
    assert model.labels == sorted(CUSTOM_CLASSES) and model.members[0].network == "mn04"
    wav = tmp_path / "tone.wav"
    sf.write(wav, make_custom_sound(0, 5.0, 44100, 7), 44100)
    r = run_cli("predict", wav, "--model", out)
    assert r.returncode == 0, r.stderr
    assert any(label in r.stdout for label in CUSTOM_CLASSES), r.stdout
