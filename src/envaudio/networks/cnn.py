"""The from-scratch CNN and its front end: the 22,050 Hz log-mel in dB of `features.py`.

The training augmentations live here too, because they are written for this front end's
values (dB, a floor `top_db` below the peak)."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from .. import recipes
from ..features import log_mel_spectrogram
from ..frontends import FeatureConfig

NAME = "cnn"
Frontend = FeatureConfig
RECIPE = recipes.CNN  # the settings' defaults


def frontend(settings) -> FeatureConfig:
    """The front end a new model gets (from SAMPLE_RATE, N_MELS, ... in the settings)."""
    return settings.features


def features(waves: np.ndarray, fe: FeatureConfig) -> np.ndarray:
    """Windows (B, samples) at fe.sample_rate -> (B, n_mels, frames) log-mel in dB."""
    return log_mel_spectrogram(waves, fe)


def _conv_block(c_in: int, c_out: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(inplace=True),
        nn.Conv2d(c_out, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(inplace=True),
    )


class AudioCNN(nn.Module):
    """VGG-style 2D CNN over (mel, time). Each input is standardised on its own, so the
    network does not depend on recording level; pooling over time is mean + max so both
    sustained sounds and short events (gun shot, car horn) leave a trace."""

    def __init__(self, n_classes: int = 10, width: int = 16, dropout: float = 0.3):
        super().__init__()
        chans = [width, width * 2, width * 4, width * 8]
        blocks, c_in = [], 1
        for c in chans:
            blocks += [_conv_block(c_in, c), nn.MaxPool2d(2)]
            c_in = c
        self.features = nn.Sequential(*blocks)
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(c_in, n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (B, n_mels, frames) log-mel in dB -> logits (B, n_classes)."""
        mu = x.mean(dim=(1, 2), keepdim=True)
        sd = x.std(dim=(1, 2), keepdim=True).clamp_min(1e-3)
        h = self.features(((x - mu) / sd).unsqueeze(1))
        h = h.mean(dim=2)  # over frequency
        h = h.mean(dim=2) + h.amax(dim=2)  # over time
        return self.fc(self.dropout(h))


def build(arch: dict, n_classes: int) -> AudioCNN:
    return AudioCNN(n_classes=n_classes, width=int(arch.get("width", 16)),
                    dropout=float(arch.get("dropout", 0.3)))


def default_arch(hp) -> dict:
    return {"width": hp.model_width, "dropout": hp.dropout}


def param_groups(net: AudioCNN, hp) -> list[dict]:
    return [{"params": list(net.parameters()), "lr": hp.learning_rate}]


def for_inference(net: nn.Module) -> nn.Module:
    """Fold each BatchNorm into the convolution before it and use the channels-last layout
    oneDNN prefers: same outputs (to float rounding), about 2x the throughput on CPU."""
    from torch.nn.utils.fusion import fuse_conv_bn_eval

    for seq in [m for m in net.modules() if isinstance(m, nn.Sequential)]:
        layers = list(seq.children())
        for i, (a, b) in enumerate(zip(layers, layers[1:])):
            if isinstance(a, nn.Conv2d) and isinstance(b, nn.BatchNorm2d):
                seq[i], seq[i + 1] = fuse_conv_bn_eval(a, b), nn.Identity()
    return net.to(memory_format=torch.channels_last)


# ------------------------------------------------------------------ augmentation (dB log-mel)

def time_roll(x: torch.Tensor, dim: int) -> torch.Tensor:
    """Circular shift of each example by a random number of frames along `dim` (clips are
    looped to the window, so a roll is a plausible different start time)."""
    t = x.shape[dim]
    shape = [1] * x.dim()
    shape[0], shape[dim] = x.shape[0], 1
    shift = torch.randint(0, t, shape, device=x.device)
    ar = [1] * x.dim()
    ar[dim] = t
    idx = (torch.arange(t, device=x.device).view(ar) + shift) % t
    return torch.gather(x, dim, idx.expand_as(x))


def _stretch(x: torch.Tensor, amount: float) -> torch.Tensor:
    """Random time stretch and frequency (pitch-like) scaling via an affine resampling of
    the spectrogram image."""
    b = x.shape[0]
    st = 1 + (torch.rand(b, device=x.device) * 2 - 1) * amount
    sf = 1 + (torch.rand(b, device=x.device) * 2 - 1) * amount * 0.5
    theta = torch.zeros(b, 2, 3, device=x.device)
    theta[:, 0, 0] = st
    theta[:, 1, 1] = sf
    theta[:, 1, 2] = sf - 1  # keep the lowest band anchored: scale away from the bottom row
    grid = F.affine_grid(theta, (b, 1, *x.shape[1:]), align_corners=False)
    return F.grid_sample(x.unsqueeze(1), grid, mode="bilinear", padding_mode="border",
                         align_corners=False).squeeze(1)


def _random_eq(x: torch.Tensor, max_db: float, lowpass_p: float) -> torch.Tensor:
    """Recording-chain variety: a smooth random gain curve over the mel bands (tilt + one
    slow wiggle, up to +-max_db), and sometimes a low-pass, as from a low-rate recorder."""
    b, m, _ = x.shape
    pos = torch.linspace(-1, 1, m, device=x.device).view(1, m, 1)
    tilt = (torch.rand(b, 1, 1, device=x.device) * 2 - 1) * max_db
    wig = (torch.rand(b, 1, 1, device=x.device) * 2 - 1) * max_db * 0.5
    phase = torch.rand(b, 1, 1, device=x.device) * 6.283
    floor = x.amin(dim=(1, 2), keepdim=True)
    y = torch.maximum(x + tilt * pos + wig * torch.sin(3.14 * pos + phase), floor)
    if lowpass_p > 0:
        cut = (m * (0.55 + 0.4 * torch.rand(b, 1, 1, device=x.device))).long()
        band = torch.arange(m, device=x.device).view(1, m, 1)
        hit = (torch.rand(b, 1, 1, device=x.device) < lowpass_p) & (band >= cut)
        y = torch.where(hit, floor, y)
    return y


def spec_augment(x: torch.Tensor, hp, freq_dim: int, time_dim: int) -> torch.Tensor:
    """SpecAugment: NUM_FREQ_MASKS bands up to FREQ_MASK_PARAM wide and NUM_TIME_MASKS spans
    up to TIME_MASK_PARAM frames, filled with the example's mean."""
    b = x.shape[0]
    fill = x.mean(dim=(1, 2), keepdim=True)
    keep = torch.ones_like(x, dtype=torch.bool)
    for dim, n_masks, width in ((freq_dim, hp.num_freq_masks, hp.freq_mask_param),
                                (time_dim, hp.num_time_masks, hp.time_mask_param)):
        size = x.shape[dim]
        shape = [1, 1, 1]
        shape[dim] = size
        ar = torch.arange(size, device=x.device).view(shape)
        for _ in range(n_masks):
            w = torch.randint(0, width + 1, (b, 1, 1), device=x.device)
            s = (torch.rand(b, 1, 1, device=x.device) * (size - w + 1)).long()
            keep &= ~((ar >= s) & (ar < s + w))
    return torch.where(keep, x, fill)


def mixup_weights(b: int, alpha: float, device) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-example weights >= 0.5 (the first example stays the main one) and partners."""
    lam = torch.distributions.Beta(alpha, alpha).sample((b,)).to(device)
    return torch.maximum(lam, 1 - lam), torch.randperm(b, device=device)


def _mixup(x: torch.Tensor, y: torch.Tensor, alpha: float, top_db: float):
    """Mix pairs of examples as sounds: add their power spectrograms, and their labels by
    the same weight."""
    if alpha <= 0:
        return x, y
    lam, perm = mixup_weights(x.shape[0], alpha, x.device)
    p = torch.pow(10.0, x / 10.0)
    mixed = lam.view(-1, 1, 1) * p + (1 - lam.view(-1, 1, 1)) * p[perm]
    xm = 10.0 * torch.log10(mixed.clamp_min(1e-10))
    xm = torch.maximum(xm, xm.amax(dim=(1, 2), keepdim=True) - top_db)
    ym = lam.view(-1, 1) * y + (1 - lam.view(-1, 1)) * y[perm]
    return xm, ym


def augment(x: torch.Tensor, y: torch.Tensor, hp, fe: FeatureConfig):
    """A training batch (B, n_mels, frames) in dB and soft labels -> augmented."""
    x = time_roll(x, 2)
    if hp.eq_db > 0:
        x = _random_eq(x, hp.eq_db, hp.lowpass_p)
    if hp.stretch > 0:
        x = _stretch(x, hp.stretch)
    x, y = _mixup(x, y, hp.mixup_alpha, fe.top_db)
    if hp.spec_augment:
        x = spec_augment(x, hp, freq_dim=1, time_dim=2)
    return x, y
