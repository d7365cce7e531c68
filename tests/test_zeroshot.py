"""The zero-shot member: an AudioSet classifier (YAMNet's, mn04's) with its classes mapped
to ours.

Always: with random weights written in each release's layout, the member's probabilities
are softmax(mean of the mapped AudioSet logits / T) of the AudioSet network itself; YAMNet's
runs its tower once beside a trained head on the same tower; mn04's head function starts
any mn04 on the mapped classes. With the real weights in ../shared: the bundled examples are
their classes."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from envaudio.audio import load_audio, resample
from envaudio.graphs import stack_of
from envaudio.combine import combine_payloads
from envaudio.loading import from_payload, load_model
from envaudio.model import member_state, model_payload
from envaudio.errors import ModelError
from envaudio.networks import mn04, yamnet
from envaudio.predict import Classifier
from envaudio.settings import BUNDLED_MODEL, Settings
from envaudio.zeroshot import URBANSOUND8K, zero_shot_payload
from conftest import ROOT, noise, run_cli, tone

PRETRAINED = ROOT.parent / "shared" / "pretrained" / "yamnet"
NAMES = [f"sound {i}" for i in range(yamnet.N_AUDIOSET)]
MAP = {"hum": ["sound 3", "sound 7"], "beep": ["sound 11"], "hiss": ["sound 500", "sound 2", "sound 9"]}


@pytest.fixture(scope="module")
def fake_release(tmp_path_factory):
    """yamnet.npz (random weights, the release's key layout) and yamnet_class_map.csv."""
    d = tmp_path_factory.mktemp("yamnet")
    torch.manual_seed(0)
    net = yamnet.AudioSetYamnet()
    arrays = {}
    for k, v in net.state_dict().items():
        k = k.replace("tower.layer1.1.", "layer1.conv.").removeprefix("tower.")
        arrays[k] = v.numpy()
    np.savez(d / "yamnet.npz", **arrays)
    (d / "yamnet_class_map.csv").write_text(
        "index,mid,display_name\n" + "".join(f'{i},/m/{i},"{n}"\n' for i, n in enumerate(NAMES)))
    (d / "map.json").write_text(json.dumps(MAP))
    return d


def test_the_member_is_the_audioset_classifier_mapped(fake_release, tmp_path):
    out = tmp_path / "zs.pt"
    r = run_cli("zero-shot", "--pretrained", fake_release / "yamnet.npz", "--map", fake_release / "map.json",
                "--temperature", "2", "--out", out)
    assert r.returncode == 0, r.stderr
    model = load_model(out)
    assert model.labels == ["beep", "hiss", "hum"]
    x = (tone(700, 4.0, 16000) + noise(4.0, sr=16000, amp=0.05)).astype(np.float32)
    got = Classifier(model, Settings()).classify_waveform(x, 16000).probabilities

    ref = yamnet.AudioSetYamnet()
    ref.load_state_dict(yamnet.read_npz(fake_release / "yamnet.npz"))
    spec = torch.from_numpy(yamnet.features(x[None], model.members[0].frontend))
    with torch.inference_mode():
        e = ref.tower(yamnet.patches(spec, 96).reshape(-1, 1, 96, 64)).mean(dim=(2, 3)).mean(0)
        logits = ref.logits(e).numpy()
    z = np.array([logits[[NAMES.index(n) for n in MAP[label]]].mean() for label in model.labels]) / 2
    want = np.exp(z - z.max()) / np.exp(z - z.max()).sum()
    assert np.allclose(got, want, atol=1e-5)
    card = json.loads((tmp_path / "zs.pt.card.json").read_text())
    assert card["zero_shot"]["temperature"] == 2 and card["train_folds"] is None


def test_beside_a_trained_head_the_tower_runs_once(fake_release):
    zs = zero_shot_payload(fake_release / "yamnet.npz", fake_release / "yamnet_class_map.csv", Settings(), MAP)
    torch.manual_seed(1)
    trained = yamnet.YamnetClassifier(3)
    yamnet.load_pretrained(trained, fake_release / "yamnet.npz")  # a head trained on the frozen tower
    head = model_payload([{**zs["members"][0], "state": member_state(trained)}], zs["labels"], {})
    model = from_payload(combine_payloads([head, zs]))
    stack = stack_of(model)
    assert stack.nets[0].tower is stack.nets[1].tower
    calls = []
    hook = stack.nets[0].tower.layer14.register_forward_hook(lambda *a: calls.append(1))
    x = noise(4.0, sr=16000, amp=0.1)
    with torch.inference_mode():
        p = stack(torch.from_numpy(yamnet.features(x[None], model.members[0].frontend))).numpy()
    hook.remove()
    assert len(calls) == 1
    singles = [Classifier(from_payload(pl), Settings()).classify_waveform(x, 16000).probabilities
               for pl in (head, zs)]
    assert np.allclose(p[:, 0], np.stack(singles), atol=1e-5)


@pytest.mark.parametrize("case, message", [
    ("unknown", "'beep': not AudioSet classes of YAMNet: ['no such sound']"),
    ("no-class-map", "YAMNet's class map not found"),
    ("not-weights", "not YAMNet's weights"),
    ("bad-json", "cannot read it as JSON"),
    ("empty", "a classifier needs at least 2 classes; the map gives 0"),
])
def test_bad_input_is_one_clear_line(fake_release, tmp_path, case, message):
    args = ["--pretrained", fake_release / "yamnet.npz", "--map", fake_release / "map.json"]
    if case == "unknown":
        (tmp_path / "m.json").write_text(json.dumps({"beep": ["no such sound"], "hum": ["sound 3"]}))
        args[3] = tmp_path / "m.json"
    elif case == "no-class-map":
        args += ["--class-map", tmp_path / "missing.csv"]
    elif case == "not-weights":
        (tmp_path / "yamnet.npz").write_bytes(b"not an npz")
        args[1] = tmp_path / "yamnet.npz"
        args += ["--class-map", fake_release / "yamnet_class_map.csv"]
    elif case == "empty":  # not UrbanSound8K's map in its place
        (tmp_path / "m.json").write_text("{}")
        args[3] = tmp_path / "m.json"
    else:
        (tmp_path / "m.json").write_text("{beep")
        args[3] = tmp_path / "m.json"
    r = run_cli("zero-shot", *args, "--out", tmp_path / "zs.pt")
    assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and message in r.stderr, r.stderr
    assert not (tmp_path / "zs.pt").exists()


def test_with_the_real_weights_a_dog_bark_is_a_dog_bark(tmp_path):
    if not (PRETRAINED / "yamnet.npz").is_file():
        pytest.skip("YAMNet weights not present in ../shared/pretrained/yamnet")
    payload = zero_shot_payload(PRETRAINED / "yamnet.npz", PRETRAINED / "yamnet_class_map.csv", Settings())
    model = from_payload(payload)
    assert model.labels == sorted(URBANSOUND8K)
    clip = BUNDLED_MODEL.parent / "examples" / "100652-3-0-0.flac"  # UrbanSound8K, class 3: dog_bark
    wave = load_audio(clip, 22050)
    pred = Classifier(model, Settings()).classify_waveform(resample(wave, 22050, 16000), 16000)
    assert model.labels[int(np.argmax(pred.probabilities))] == "dog_bark"


# ------------------------------------------------------------------ mn04 (EfficientAT's AudioSet network)

MN04_PRETRAINED = ROOT.parent / "shared" / "pretrained" / "efficientat-mn04"
MN04_NAMES = [f"sound {i}" for i in range(mn04.N_AUDIOSET)]


@pytest.fixture(scope="module")
def fake_mn04(tmp_path_factory):
    """mn04's weights folder: a random AudioSet network's state dict (the release's keys, with
    BatchNorm statistics that matter) and class_labels_indices.csv."""
    d = tmp_path_factory.mktemp("efficientat-mn04")
    torch.manual_seed(0)
    net = mn04.Mn04Classifier()
    for m in net.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.3, 0.3)
            m.running_var.uniform_(0.5, 2.0)
    torch.nn.init.normal_(net.head.weight, 0.0, 0.5)  # logits that differ between classes
    torch.nn.init.normal_(net.head.bias, 0.0, 1.0)
    torch.save(net.state_dict(), d / mn04.WEIGHTS_FILE)
    (d / mn04.LABELS_FILE).write_text(
        "index,mid,display_name\n" + "".join(f'{i},/m/{i},"{n}"\n' for i, n in enumerate(MN04_NAMES)))
    (d / "map.json").write_text(json.dumps(MAP))
    return d


def audioset_logits(folder, x: np.ndarray) -> np.ndarray:
    net = mn04.audioset_model(folder)
    with torch.inference_mode():
        return net(torch.from_numpy(mn04.features(x, mn04.Mn04Frontend()))).numpy()


def test_the_mn04_member_is_its_audioset_classifier_mapped(fake_mn04, tmp_path):
    out = tmp_path / "zs.pt"
    r = run_cli("zero-shot", "--backbone", "mn04", "--pretrained", fake_mn04, "--map", fake_mn04 / "map.json",
                "--temperature", "2", "--out", out)
    assert r.returncode == 0, r.stderr
    model = load_model(out)
    assert model.labels == ["beep", "hiss", "hum"] and model.members[0].network == "mn04"
    x = (tone(700, 4.0, 32000) + noise(4.0, sr=32000, amp=0.05)).astype(np.float32)
    got = Classifier(model, Settings()).classify_waveform(x, 32000).probabilities
    logits = audioset_logits(fake_mn04, x[None])[0]
    z = np.array([logits[[MN04_NAMES.index(n) for n in MAP[label]]].mean() for label in model.labels]) / 2
    want = np.exp(z - z.max()) / np.exp(z - z.max()).sum()
    assert np.abs(want - want.mean()).max() > 0.01  # not a uniform answer that any head would give
    assert np.allclose(got, want, atol=1e-4)
    card = json.loads((tmp_path / "zs.pt.card.json").read_text())
    assert card["zero_shot"]["network"] == "mn04" and card["zero_shot"]["temperature"] == 2
    assert "Schmid" in card["pretrained_citation"]
    # the .pt itself works as well as its folder (the class list is found beside it)
    r = run_cli("zero-shot", "--backbone", "mn04", "--pretrained", fake_mn04 / mn04.WEIGHTS_FILE,
                "--map", fake_mn04 / "map.json", "--temperature", "2", "--out", tmp_path / "zs2.pt")
    assert r.returncode == 0, r.stderr


def test_mn04_zero_shot_head_starts_any_mn04_on_the_mapped_classes(fake_mn04):
    """The function a distilled student's head can start from: on a network with the
    pretrained layers, its logits are M @ AudioSet logits / T."""
    from envaudio.zeroshot import mn04_map, mn04_zero_shot_head

    labels, M = mn04_map(fake_mn04, MAP)
    assert labels == ["beep", "hiss", "hum"] and M.shape == (3, mn04.N_AUDIOSET)
    assert np.allclose(M.sum(1), 1) and M[labels.index("hum"), MN04_NAMES.index("sound 7")] == 0.5
    torch.manual_seed(3)
    net = mn04.build({"dropout": 0.3}, len(labels))
    mn04.load_pretrained(net, fake_mn04)
    assert mn04_zero_shot_head(net, fake_mn04, M, 4.0) is net
    x = np.stack([noise(4.0, sr=32000, seed=s) for s in range(2)])
    with torch.inference_mode():
        got = net.eval()(torch.from_numpy(mn04.features(x, mn04.Mn04Frontend()))).numpy()
    np.testing.assert_allclose(got, audioset_logits(fake_mn04, x) @ M.T / 4.0, atol=1e-4)
    with pytest.raises(ModelError, match="do not fit"):
        mn04_zero_shot_head(mn04.build({}, 5), fake_mn04, M, 4.0)


@pytest.mark.parametrize("case, message", [
    ("unknown", "'beep': not AudioSet classes of mn04: ['no such sound']"),
    ("no-class-list", "mn04's class list not found"),
    ("yamnet-weights", "not mn04's weights"),
    ("folder-for-yamnet", "add --backbone mn04"),
])
def test_mn04_bad_input_is_one_clear_line(fake_mn04, fake_release, tmp_path, case, message):
    args = ["--backbone", "mn04", "--pretrained", fake_mn04, "--map", fake_mn04 / "map.json"]
    if case == "unknown":
        (tmp_path / "m.json").write_text(json.dumps({"beep": ["no such sound"], "hum": ["sound 3"]}))
        args[5] = tmp_path / "m.json"
    elif case == "no-class-list":
        args += ["--class-map", tmp_path / "missing.csv"]
    elif case == "yamnet-weights":
        args[3] = fake_release / "yamnet.npz"
        args += ["--class-map", fake_mn04 / mn04.LABELS_FILE]
    else:
        args = args[2:]  # YAMNet, the default, given mn04's folder
    r = run_cli("zero-shot", *args, "--out", tmp_path / "zs.pt")
    assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and message in r.stderr, r.stderr
    assert not (tmp_path / "zs.pt").exists()


def test_with_mn04s_real_weights_the_examples_are_their_classes():
    if not (MN04_PRETRAINED / mn04.WEIGHTS_FILE).is_file():
        pytest.skip("mn04 weights not present in ../shared/pretrained/efficientat-mn04")
    names = mn04.audioset_labels(MN04_PRETRAINED)
    assert all(n in names for classes in URBANSOUND8K.values() for n in classes)
    model = from_payload(zero_shot_payload(MN04_PRETRAINED, MN04_PRETRAINED / mn04.LABELS_FILE, Settings(),
                                           backbone="mn04"))
    assert model.labels == sorted(URBANSOUND8K)
    clf = Classifier(model, Settings())
    for clip, want in [("100652-3-0-0.flac", "dog_bark"), ("102871-8-0-0.flac", "siren")]:
        wave = load_audio(BUNDLED_MODEL.parent / "examples" / clip, 32000)
        pred = clf.classify_waveform(wave, 32000)
        assert model.labels[int(np.argmax(pred.probabilities))] == want, clip
