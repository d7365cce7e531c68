"""EfficientAT's mn04_as (F. Schmid, K. Koutini, G. Widmer, ICASSP 2023; MIT licence) in
PyTorch: an AudioSet MobileNetV3 at width 0.4 (0.99M parameters, mAP 0.432), written here
from the weights folder's README so its state dict (`mn04_as_mAP_432.pt`) loads strictly
and can be fine-tuned.

Front end (32 kHz mono, `Mn04Frontend`): pre-emphasis y[n] = x[n] - 0.97 x[n-1]; a
1024-point STFT of hop 320 (100 frames/s) with a symmetric Hann window of 800 samples,
centred with reflect padding; power; 128 Kaldi-style mel bands 0-15,000 Hz (triangles on
the mel scale 1127 ln(1 + f/700), peak 1, no area normalisation, nothing from the Nyquist
bin); log(mel + 1e-5); (x + 4.5) / 5. `features` gives (B, 128, frames), 400 frames for a
4-s window.

Network (`Mn04Classifier`, parameter names as the published state dict): MobileNetV3-Large's
15 inverted-residual blocks with channels scaled by 0.4 (rounded to multiples of 8), one
input channel, a 3x3 stride-2 stem, squeeze-excitation (channel, sigmoid gate) where
MobileNetV3 has it, BatchNorm eps 0.001, a last 1x1 conv to 384 channels; then the 'mlp'
head: mean over (mel, time) -> the 384-d embedding -> Linear 512 -> Hardswish -> Dropout ->
Linear n_classes. AudioSet's 527 outputs are multi-label (sigmoid); a model for our classes
keeps the pretrained 384 -> 512 layer and gets a new last layer.
"""

from __future__ import annotations

import csv
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F

from .. import recipes
from . import cnn
from .mn04_frontend import Mn04Frontend, features, kaldi_mel_banks, log_mel, mel_centres  # noqa: F401 (the module API)

NAME = "mn04"
N_AUDIOSET = 527
WIDTH = 0.4
EMBEDDING_SIZE = 384  # channels of the last conv (6 x the last block's 64)
HIDDEN = 512  # the mlp head's hidden layer (1280 x 0.4)
WEIGHTS_FILE = "mn04_as_mAP_432.pt"
LABELS_FILE = "class_labels_indices.csv"
BN_EPS = 0.001
BN_MOMENTUM = 0.01


# ------------------------------------------------------------------ front end


# ------------------------------------------------------------------ network

def make_divisible(v: float, divisor: int = 8) -> int:
    """Round a channel count to the nearest multiple of `divisor` (at least `divisor`), never
    more than 10 % below `v` (MobileNet's rounding)."""
    out = max(divisor, int(v + divisor / 2) // divisor * divisor)
    return out + divisor if out < 0.9 * v else out


# MobileNetV3-Large (Howard et al. 2019, table 1): kernel, expanded, out channels,
# squeeze-excitation, activation ("RE" ReLU, "HS" Hardswish), stride; the stem gives 16.
BLOCKS = [
    (3, 16, 16, False, "RE", 1),
    (3, 64, 24, False, "RE", 2),
    (3, 72, 24, False, "RE", 1),
    (5, 72, 40, True, "RE", 2),
    (5, 120, 40, True, "RE", 1),
    (5, 120, 40, True, "RE", 1),
    (3, 240, 80, False, "HS", 2),
    (3, 200, 80, False, "HS", 1),
    (3, 184, 80, False, "HS", 1),
    (3, 184, 80, False, "HS", 1),
    (3, 480, 112, True, "HS", 1),
    (3, 672, 112, True, "HS", 1),
    (5, 672, 160, True, "HS", 2),
    (5, 960, 160, True, "HS", 1),
    (5, 960, 160, True, "HS", 1),
]
STEM_CHANNELS = 16
N_LAYERS = 2 + len(BLOCKS)  # features.0 (stem) .. features.16 (last conv), for FREEZE_LAYERS
assert N_LAYERS == recipes.LAYERS["mn04"]


def _act(kind: str | None) -> nn.Module:
    return {"RE": nn.ReLU(), "HS": nn.Hardswish(), None: nn.Identity()}[kind]


def conv_bn(c_in: int, c_out: int, kernel: int, stride: int = 1, groups: int = 1,
            act: str | None = None) -> nn.Sequential:
    """Conv (no bias, 'same' padding) -> BatchNorm -> activation: keys 0.weight, 1.*."""
    layers = [nn.Conv2d(c_in, c_out, kernel, stride=stride, padding=(kernel - 1) // 2, groups=groups,
                        bias=False),
              nn.BatchNorm2d(c_out, eps=BN_EPS, momentum=BN_MOMENTUM)]
    if act is not None:
        layers.append(_act(act))
    return nn.Sequential(*layers)


class ChannelGate(nn.Module):
    """Squeeze-excitation over channels: mean over (mel, time) -> fc1 -> ReLU -> fc2 ->
    sigmoid -> a weight per channel."""

    def __init__(self, channels: int, squeeze: int):
        super().__init__()
        self.fc1 = nn.Linear(channels, squeeze)
        self.fc2 = nn.Linear(squeeze, channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = x.mean(dim=(2, 3))
        s = torch.sigmoid(self.fc2(F.relu(self.fc1(s))))
        return x * s[:, :, None, None]


class SqueezeExcite(nn.Module):
    """The checkpoint's SE container (`conc_se_layers.0.fc1...`): EfficientAT can combine
    gates over several axes; mn04_as has the channel one only."""

    def __init__(self, channels: int):
        super().__init__()
        self.conc_se_layers = nn.ModuleList([ChannelGate(channels, make_divisible(channels // 4))])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conc_se_layers[0](x)


class InvertedResidual(nn.Module):
    """1x1 expand (when it widens) -> depthwise k x k (carries the stride) -> SE -> 1x1
    project (linear); a skip connection when the shape is kept."""

    def __init__(self, c_in: int, kernel: int, expanded: int, c_out: int, se: bool, act: str, stride: int):
        super().__init__()
        layers: list[nn.Module] = []
        if expanded != c_in:
            layers.append(conv_bn(c_in, expanded, 1, act=act))
        layers.append(conv_bn(expanded, expanded, kernel, stride, groups=expanded, act=act))
        if se:
            layers.append(SqueezeExcite(expanded))
        layers.append(conv_bn(expanded, c_out, 1))
        self.block = nn.Sequential(*layers)
        self.residual = stride == 1 and c_in == c_out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.block(x)
        return y + x if self.residual else y


class Mn04Classifier(nn.Module):
    """Log-mel (B, 128, frames) (or (B, 1, 128, frames)) -> logits (B, n_classes).
    `embed` gives the 384-d pooled embedding; `features` and `classifier` are named as in
    EfficientAT's state dict."""

    def __init__(self, n_classes: int = N_AUDIOSET, width: float = WIDTH, dropout: float = 0.2,
                 hidden: int = HIDDEN):
        super().__init__()
        ch = lambda c: make_divisible(c * width)  # noqa: E731
        layers: list[nn.Module] = [conv_bn(1, ch(STEM_CHANNELS), 3, stride=2, act="HS")]
        c = ch(STEM_CHANNELS)
        for kernel, expanded, out, se, act, stride in BLOCKS:
            layers.append(InvertedResidual(c, kernel, ch(expanded), ch(out), se, act, stride))
            c = ch(out)
        self.embedding_size = 6 * c
        layers.append(conv_bn(c, self.embedding_size, 1, act="HS"))
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Sequential(
            nn.AdaptiveAvgPool2d(1), nn.Flatten(1),
            nn.Linear(self.embedding_size, hidden), nn.Hardswish(), nn.Dropout(dropout),
            nn.Linear(hidden, n_classes))
        self._init_weights()

    def _init_weights(self) -> None:
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, 0.0, 0.01)
                nn.init.zeros_(m.bias)

    @property
    def head(self) -> nn.Linear:
        """The last layer (new for our classes; AudioSet's 527 in the checkpoint)."""
        return self.classifier[5]

    def feature_maps(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() == 3:
            x = x.unsqueeze(1)
        return self.features(x)

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 128, frames) -> the pooled (B, 384) embedding (before the head)."""
        return self.feature_maps(x).mean(dim=(2, 3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.feature_maps(x))


# ------------------------------------------------------------------ the pretrained weights

def weights_path(path: str | Path) -> Path:
    """The .pt file itself, or the weights folder holding it."""
    path = Path(path)
    if path.is_dir():
        path = path / WEIGHTS_FILE
    if not path.is_file():
        raise FileNotFoundError(f"pretrained mn04 weights not found: {path}")
    return path


def read_weights(path: str | Path) -> dict[str, torch.Tensor]:
    """The published state dict (tensors only, never unpickled code)."""
    sd = torch.load(weights_path(path), map_location="cpu", weights_only=True)
    if not isinstance(sd, dict) or "classifier.5.weight" not in sd:
        raise ValueError(f"{path} does not hold mn04's state dict")
    return sd


def load_pretrained(net: Mn04Classifier, path: str | Path | dict[str, torch.Tensor]) -> Mn04Classifier:
    """Load the whole published state dict into `net` strictly (every key and shape). For
    other than AudioSet's 527 classes the last layer keeps `net`'s own new weights; every
    other tensor, the 384 -> 512 head layer included, is pretrained."""
    weights = dict(path) if isinstance(path, dict) else read_weights(path)
    own = net.state_dict()
    if own["classifier.5.weight"].shape != weights.get("classifier.5.weight", torch.empty(0)).shape:
        for k in ("classifier.5.weight", "classifier.5.bias"):
            weights[k] = own[k]
    for k, v in weights.items():
        if k in own and own[k].shape != v.shape:
            raise ValueError(f"{k}: pretrained shape {tuple(v.shape)} != {tuple(own[k].shape)}")
    net.load_state_dict(weights, strict=True)
    return net


def audioset_model(path: str | Path) -> Mn04Classifier:
    """The network as published (527 AudioSet logits; sigmoid for scores), in eval mode."""
    return load_pretrained(Mn04Classifier(N_AUDIOSET), path).eval()


def audioset_labels(path: str | Path) -> list[str]:
    """The 527 display names in output order, from class_labels_indices.csv (or its folder)."""
    path = Path(path)
    if path.is_dir():
        path = path / LABELS_FILE
    with open(path, newline="", encoding="utf-8") as f:
        rows = sorted(csv.DictReader(f), key=lambda r: int(r["index"]))
    return [r["display_name"] for r in rows]


# ------------------------------------------------------------------ the network-module API

Frontend = Mn04Frontend
RECIPE, SMALL_RECIPE = recipes.MN04, recipes.MN04_SMALL  # recipes.py: read without torch


def frontend(settings) -> Mn04Frontend:
    """The front end a new model gets: mn04's own, with the settings' window and padding."""
    return Mn04Frontend(duration=settings.duration, pad_mode=settings.pad_mode)


def default_arch(hp) -> dict:
    return {"width": WIDTH, "dropout": hp.dropout, "hidden": HIDDEN}


def build(arch: dict, n_classes: int) -> Mn04Classifier:
    return Mn04Classifier(n_classes, width=float(arch.get("width", WIDTH)),
                          dropout=float(arch.get("dropout", 0.2)), hidden=int(arch.get("hidden", HIDDEN)))


def param_groups(net: Mn04Classifier, hp) -> list[dict]:
    """The new last layer learns at LEARNING_RATE; the pretrained rest (conv layers and the
    384 -> 512 layer) at BACKBONE_LR_SCALE times that, and the first FREEZE_LAYERS of
    `features` (stem = 1 .. last conv = 17) not at all."""
    groups = [{"params": list(net.head.parameters()), "lr": hp.learning_rate}]
    rest = []
    for i, layer in enumerate(net.features, start=1):
        frozen = i <= hp.freeze_layers or hp.backbone_lr_scale <= 0
        for p in layer.parameters():
            p.requires_grad_(not frozen)
            if not frozen:
                rest.append(p)
    for p in net.classifier[2].parameters():
        p.requires_grad_(hp.backbone_lr_scale > 0)
        if hp.backbone_lr_scale > 0:
            rest.append(p)
    if rest:
        groups.append({"params": rest, "lr": hp.learning_rate * hp.backbone_lr_scale})
    return groups


def for_inference(net: Mn04Classifier) -> Mn04Classifier:
    """Eval mode, each BatchNorm folded into its convolution, channels-last for oneDNN:
    the same outputs to float rounding (the CNN's folding)."""
    net.eval()
    return cnn.for_inference(net)


def augment(x: torch.Tensor, y: torch.Tensor, hp, fe: Mn04Frontend):
    """A training batch (B, 128, frames) of (log(mel + 1e-5) + 4.5) / 5 and soft labels ->
    augmented: circular time shift, mixup of the mel powers (as sounds add), SpecAugment
    with mask sizes in the CNN's seconds and share of the bands."""
    from types import SimpleNamespace

    from .cnn import mixup_weights, spec_augment, time_roll

    x = time_roll(x, 2)
    if hp.mixup_alpha > 0:
        lam, perm = mixup_weights(x.shape[0], hp.mixup_alpha, x.device)
        power = torch.exp(x * fe.scale - fe.shift) - fe.log_offset
        power = lam.view(-1, 1, 1) * power + (1 - lam.view(-1, 1, 1)) * power[perm]
        x = (torch.log(power.clamp_min(0) + fe.log_offset) + fe.shift) / fe.scale
        y = lam.view(-1, 1) * y + (1 - lam.view(-1, 1)) * y[perm]
    if hp.spec_augment:
        # TIME_MASK_PARAM counts the CNN's 23-ms frames, FREQ_MASK_PARAM its 64 bands.
        frames = int(round(hp.time_mask_param * 512 / 22050 / (fe.hop_length / fe.sample_rate)))
        bands = int(round(hp.freq_mask_param * fe.n_mels / 64))
        masks = SimpleNamespace(num_freq_masks=hp.num_freq_masks, freq_mask_param=bands,
                                num_time_masks=hp.num_time_masks, time_mask_param=frames)
        x = spec_augment(x, masks, freq_dim=1, time_dim=2)
    return x, y
