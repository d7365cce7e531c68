"""YAMNet (Google, TensorFlow Model Garden, Apache-2.0) in PyTorch: its front end and
its MobileNetV1 tower, written here from the published description, so AudioSet-pretrained
weights (`yamnet.npz`, float32 in PyTorch layouts) can be fine-tuned.

Front end (16 kHz mono): periodic Hann 400, hop 160, magnitude of a 512-point rFFT, no
centering; HTK mel, 64 bands 125-7,500 Hz, triangles of peak 1 (no area normalisation);
log(mel + 0.001). The original cuts the frames into 96-frame patches (0.96 s, hop 48) and
averages per-patch embeddings; `reference_log_mel` + `patches` reproduce it exactly (the
tests check them against the published vectors). For classification, `YamnetClassifier`
runs the patches of a 4-s window through the tower and a new head.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from .. import npfeatures, recipes
from ..npfeatures import htk_mel_matrix, hz_to_mel_htk, mel_to_hz_htk, yamnet_log_mel
from ..frontends import YamnetFrontend

NAME = "yamnet"

# (stride, output channels) of layers 2..14: depthwise 3x3 (carries the stride) + pointwise 1x1.
BLOCKS = [(1, 64), (2, 128), (1, 128), (2, 256), (1, 256), (2, 512),
          (1, 512), (1, 512), (1, 512), (1, 512), (1, 512), (2, 1024), (1, 1024)]
N_LAYERS = 1 + len(BLOCKS)  # the conv 3x3, then the depthwise-separable blocks
assert N_LAYERS == recipes.LAYERS["yamnet"]
EMBEDDING_SIZE = 1024
PATCH_FRAMES = 96  # 0.96 s
REFERENCE_PATCH_HOP = 48  # the original's patch hop
N_AUDIOSET = 521


def mel_matrix(sample_rate: int = 16000, n_fft: int = 512, n_mels: int = 64,
               fmin: float = 125.0, fmax: float = 7500.0) -> torch.Tensor:
    """(1 + n_fft // 2, n_mels) float64, as tf.signal.linear_to_mel_weight_matrix
    (npfeatures.htk_mel_matrix)."""
    return torch.from_numpy(htk_mel_matrix(sample_rate, n_fft, n_mels, fmin, fmax).copy())


def mel_centres(fe: YamnetFrontend) -> np.ndarray:
    """Centre frequency (Hz) of each band (for axis ticks)."""
    edges = np.linspace(hz_to_mel_htk(fe.fmin), hz_to_mel_htk(fe.fmax), fe.n_mels + 2)
    return mel_to_hz_htk(edges[1:-1])


def pad_for_patches(n: int, fe: YamnetFrontend) -> int:
    """Samples after YAMNet's own padding: at least one patch, then whole patch hops."""
    first = (PATCH_FRAMES - 1) * fe.hop_length + fe.win_length  # 15,600
    step = REFERENCE_PATCH_HOP * fe.hop_length  # 7,680
    return first + max(0, math.ceil((n - first) / step)) * step


def log_mel(wave, fe: YamnetFrontend) -> torch.Tensor:
    """Waveform(s) at 16 kHz, (samples,) or (B, samples) -> log-mel (B?, frames, n_mels),
    no padding: frames = 1 + (samples - 400) // 160 (npfeatures.yamnet_log_mel, float64
    inside)."""
    return torch.from_numpy(yamnet_log_mel(wave, fe))


def reference_log_mel(wave: np.ndarray, fe: YamnetFrontend = YamnetFrontend()) -> torch.Tensor:
    """The original front end exactly: zero-padded at the end to whole patches."""
    wave = np.asarray(wave, dtype=np.float32)
    return log_mel(np.pad(wave, (0, pad_for_patches(len(wave), fe) - len(wave))), fe)


def patches(spec: torch.Tensor, hop: int = REFERENCE_PATCH_HOP) -> torch.Tensor:
    """(B, frames, mels) -> (B, n_patches, 96, mels), a patch every `hop` frames."""
    return spec.unfold(1, PATCH_FRAMES, hop).transpose(-1, -2)


class SamePad(nn.Module):
    """TensorFlow 'SAME' padding for a 3x3 kernel: (0, 1) for stride 2 on even sizes, which is
    what every layer here sees; computed from the size so odd sizes work too."""

    def __init__(self, stride: int):
        super().__init__()
        self.stride = stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pads = []
        # Python ints, not traced sizes: an exported graph (whose sizes other than the batch
        # are fixed) gets constant pads, which ONNX Runtime folds into the convolution.
        for size in (int(x.shape[-1]), int(x.shape[-2])):  # F.pad order: last dim first
            total = max((math.ceil(size / self.stride) - 1) * self.stride + 3 - size, 0)
            pads += [total // 2, total - total // 2]
        return F.pad(x, pads)


class Block(nn.Module):
    def __init__(self, c_in: int, c_out: int, stride: int):
        super().__init__()
        self.pad = SamePad(stride)
        self.depthwise = nn.Conv2d(c_in, c_in, 3, stride=stride, groups=c_in)
        self.pointwise = nn.Conv2d(c_in, c_out, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.depthwise(self.pad(x)))
        return F.relu(self.pointwise(x))


class YamnetTower(nn.Module):
    """MobileNetV1 conv tower: (B, 1, time, mel) log-mel -> (B, 1024, time / 32, mel / 32)."""

    def __init__(self):
        super().__init__()
        self.layer1 = nn.Sequential(SamePad(2), nn.Conv2d(1, 32, 3, stride=2))
        c = 32
        for i, (stride, c_out) in enumerate(BLOCKS, start=2):
            self.add_module(f"layer{i}", Block(c, c_out, stride))
            c = c_out

    def blocks(self) -> list[nn.Module]:
        return [getattr(self, f"layer{i}") for i in range(1, N_LAYERS + 1)]

    def forward(self, x: torch.Tensor, start: int = 0, stop: int | None = None) -> torch.Tensor:
        """Layers start+1 .. stop (all by default): a part of the tower can be run alone."""
        for i, layer in enumerate(self.blocks()[start:stop], start=start):
            x = F.relu(layer(x)) if i == 0 else layer(x)
        return x


class YamnetClassifier(nn.Module):
    """YAMNet tower + a new head: log-mel (B, frames, 64) -> logits (B, n_classes).

    The window's frames are cut into 96-frame patches (every `patch_hop` frames), each
    patch goes through the tower as YAMNet was trained, and the patch embeddings are
    averaged. A hop of 96 (4 patches per 4-s window) scored as well as YAMNet's own 48 in
    a frozen-embedding probe on held-out folds, at half the cost."""

    def __init__(self, n_classes: int, patch_hop: int = 96, dropout: float = 0.3, hidden: int = 0):
        super().__init__()
        self.patch_hop = patch_hop
        self.tower = YamnetTower()
        self.dropout = nn.Dropout(dropout)
        if hidden:
            self.head = nn.Sequential(nn.Linear(EMBEDDING_SIZE, hidden), nn.ReLU(), nn.Dropout(dropout),
                                      nn.Linear(hidden, n_classes))
        else:
            self.head = nn.Linear(EMBEDDING_SIZE, n_classes)

    def patch_batch(self, spec: torch.Tensor) -> tuple[torch.Tensor, int]:
        """(B, frames, 64) -> the patches as one tower batch (B * P, 1, 96, 64), and P."""
        p = patches(spec, self.patch_hop)  # (B, P, 96, 64)
        return p.reshape(-1, 1, *p.shape[2:]), p.shape[1]

    def pooled(self, x: torch.Tensor, n_patches: int, start: int = 0) -> torch.Tensor:
        """Patches (after layer `start`) -> the rest of the tower -> mean patch embedding (B, 1024)."""
        e = self.tower(x, start).mean(dim=(2, 3))
        return e.reshape(-1, n_patches, e.shape[-1]).mean(1)

    def finish(self, x: torch.Tensor, n_patches: int, start: int = 0) -> torch.Tensor:
        """The tower from layer start+1 on, the mean patch embedding and the head -> logits."""
        return self.head(self.dropout(self.pooled(x, n_patches, start)))

    def forward(self, spec: torch.Tensor) -> torch.Tensor:
        return self.finish(*self.patch_batch(spec))


class AudioSetYamnet(nn.Module):
    """The pretrained network as published (tower + 521 AudioSet logits), for checking the
    port against the reference vectors and for zero-shot use."""

    def __init__(self):
        super().__init__()
        self.tower = YamnetTower()
        self.logits = nn.Linear(EMBEDDING_SIZE, N_AUDIOSET)

    def forward(self, patches: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(N, 96, 64) patches -> (embeddings (N, 1024), scores (N, 521), sigmoid)."""
        e = self.tower(patches.unsqueeze(1)).mean(dim=(2, 3))
        return e, torch.sigmoid(self.logits(e))


def read_npz(path: str | Path) -> dict[str, torch.Tensor]:
    """The weights of `yamnet.npz` as tensors named like this module's parameters (tower.*, logits.*)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"pretrained YAMNet weights not found: {path}")
    with np.load(path) as z:
        out = {}
        for k in z.files:
            if k.startswith("layer"):
                out["tower." + k.replace("layer1.conv.", "layer1.1.")] = torch.from_numpy(z[k].copy())
            elif k.startswith("logits."):
                out[k] = torch.from_numpy(z[k].copy())
    if len(out) < 2 + 4 * len(BLOCKS) + 2:
        raise ValueError(f"{path} does not hold YAMNet's weights (found {len(out)} tensors)")
    return out


def load_pretrained(net: nn.Module, path: str | Path | dict[str, torch.Tensor]) -> nn.Module:
    """Copy the pretrained tower (and the AudioSet logits, where `net` has them) into `net`,
    from `yamnet.npz` or from what `read_npz` read of it."""
    weights = path if isinstance(path, dict) else read_npz(path)
    own = net.state_dict()
    take = {k: v for k, v in weights.items() if k in own}
    missing = [k for k in own if k.startswith("tower.") and k not in take]
    if missing:
        raise ValueError(f"pretrained weights lack {missing[:3]}")
    for k, v in take.items():
        if own[k].shape != v.shape:
            raise ValueError(f"{k}: pretrained shape {tuple(v.shape)} != {tuple(own[k].shape)}")
    net.load_state_dict(take, strict=False)
    return net


# ------------------------------------------------------------------ the network-module API

Frontend = YamnetFrontend
RECIPE, SMALL_RECIPE = recipes.YAMNET, recipes.YAMNET_SMALL  # recipes.py: read without torch


def frontend(settings) -> YamnetFrontend:
    """The front end a new model gets: YAMNet's own, with the settings' window and padding."""
    return YamnetFrontend(duration=settings.duration, pad_mode=settings.pad_mode)


def features(waves: np.ndarray, fe: YamnetFrontend) -> np.ndarray:
    """Windows (B, samples) at 16 kHz -> (B, frames, 64) log-mel: the one feature function
    of YAMNet members (training, evaluation, the API and the stream)."""
    return npfeatures.features(waves, fe)


def default_arch(hp) -> dict:
    return {"patch_hop": PATCH_FRAMES, "dropout": hp.dropout, "hidden": 0}


def build(arch: dict, n_classes: int) -> YamnetClassifier:
    return YamnetClassifier(n_classes, patch_hop=int(arch.get("patch_hop", PATCH_FRAMES)),
                            dropout=float(arch.get("dropout", 0.3)), hidden=int(arch.get("hidden", 0)))


def param_groups(net: YamnetClassifier, hp) -> list[dict]:
    """The new head learns at LEARNING_RATE; the pretrained tower at BACKBONE_LR_SCALE times
    that, and its first FREEZE_LAYERS layers not at all."""
    groups = [{"params": list(net.head.parameters()), "lr": hp.learning_rate}]
    tower = []
    for i, layer in enumerate(net.tower.blocks(), start=1):
        frozen = i <= hp.freeze_layers or hp.backbone_lr_scale <= 0
        for p in layer.parameters():
            p.requires_grad_(not frozen)
            if not frozen:
                tower.append(p)
    if tower:
        groups.append({"params": tower, "lr": hp.learning_rate * hp.backbone_lr_scale})
    return groups


def for_inference(net: YamnetClassifier) -> YamnetClassifier:
    """Stride-1 'SAME' padding is symmetric: let the convolution pad (one op fewer per
    layer); channels-last for oneDNN."""
    for layer in net.tower.blocks()[1:]:
        if layer.pad.stride == 1:
            layer.pad = nn.Identity()
            layer.depthwise.padding = (1, 1)
    return net.to(memory_format=torch.channels_last)


def shared_layers(a: YamnetClassifier, b: YamnetClassifier) -> int:
    """How many leading tower layers two members hold identically. A linear head on the
    AudioSet tower and a YAMNet whose layers 11-14 were fine-tuned share layers 1-10: a
    model holding both runs those once (`forward_shared`)."""
    if a.patch_hop != b.patch_hop:
        return 0
    n = 0
    for la, lb in zip(a.tower.blocks(), b.tower.blocks()):
        sa, sb = la.state_dict(), lb.state_dict()
        if sa.keys() != sb.keys() or not all(torch.equal(sa[k], sb[k]) for k in sa):
            break
        n += 1
    return n


def share_towers(nets: list[YamnetClassifier]) -> None:
    """Members whose whole towers are equal (a trained head and the zero-shot head on the
    AudioSet tower) get one tower object, which `forward_shared` then runs once."""
    for j, b in enumerate(nets):
        for a in nets[:j]:
            if a.tower is not b.tower and shared_layers(a, b) == N_LAYERS:
                b.tower = a.tower
                break


def forward_shared(nets: list[YamnetClassifier], spec: torch.Tensor, k: int) -> list[torch.Tensor]:
    """Logits of each of `nets` for one input, their first `k` shared tower layers run once
    (and the rest once per distinct tower object, see `share_towers`)."""
    x, n = nets[0].patch_batch(spec)
    x = nets[0].tower(x, 0, k)
    pooled: dict[int, torch.Tensor] = {}
    out = []
    for net in nets:
        e = pooled.get(id(net.tower))
        if e is None:
            e = pooled[id(net.tower)] = net.pooled(x, n, start=k)
        out.append(net.head(net.dropout(e)))
    return out


def augment(x: torch.Tensor, y: torch.Tensor, hp, fe: YamnetFrontend):
    """A training batch (B, frames, 64) of log(mel + 0.001) and soft labels -> augmented:
    circular time shift, mixup of the mel magnitudes (as sounds add), SpecAugment with
    mask sizes scaled to 10-ms frames."""
    from types import SimpleNamespace

    from .cnn import mixup_weights, spec_augment, time_roll

    x = time_roll(x, 1)
    if hp.mixup_alpha > 0:
        lam, perm = mixup_weights(x.shape[0], hp.mixup_alpha, x.device)
        mag = torch.exp(x) - fe.log_offset
        mag = lam.view(-1, 1, 1) * mag + (1 - lam.view(-1, 1, 1)) * mag[perm]
        x = torch.log(mag.clamp_min(0) + fe.log_offset)
        y = lam.view(-1, 1) * y + (1 - lam.view(-1, 1)) * y[perm]
    if hp.spec_augment:
        # TIME_MASK_PARAM counts the CNN's 23-ms frames: the same seconds here.
        frames = int(round(hp.time_mask_param * 512 / 22050 / (fe.hop_length / fe.sample_rate)))
        masks = SimpleNamespace(num_freq_masks=hp.num_freq_masks, freq_mask_param=hp.freq_mask_param,
                                num_time_masks=hp.num_time_masks, time_mask_param=frames)
        x = spec_augment(x, masks, freq_dim=2, time_dim=1)
    return x, y
