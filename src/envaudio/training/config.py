"""One training run's configuration: the settings (every hyper-parameter) and how to run."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ..networks import get_network
from ..settings import Settings


# Hyper-parameters recorded in the model card (read from the settings object).
TRAIN_KEYS = ("epochs", "batch_size", "learning_rate", "weight_decay", "patience", "seed",
              "model_width", "dropout", "mixup_alpha", "spec_augment", "time_mask_param",
              "freq_mask_param", "num_time_masks", "num_freq_masks", "stretch", "eq_db",
              "lowpass_p", "wave_augment", "wave_augment_p", "class_weights", "ema_decay", "label_smoothing",
              "backbone_lr_scale", "freeze_layers", "keep_best", "max_windows_per_file")


@dataclass
class TrainConfig:
    """One training run: the hyper-parameters come from the settings object (one place for
    every default, overridable from the environment); the rest says how to run."""

    settings: Settings = field(default_factory=Settings)
    members: int = 1
    device: str = "auto"
    workers: int | None = None
    progress: bool = True
    backbone: str = "cnn"  # a name in networks.NETWORKS
    pretrained: str | None = None  # weights to start from (YAMNet's npz)
    recipe: str = "full"  # "small": the small-data recipe was applied (recorded in the card)

    @property
    def network(self):
        return get_network(self.backbone)

    @property
    def arch(self) -> dict:
        return self.network.default_arch(self.settings)

    @property
    def frontend(self):
        return self.network.frontend(self.settings)

    def hyperparameters(self) -> dict:
        return {"backbone": self.backbone, "pretrained": Path(self.pretrained).name if self.pretrained else None,
                "members": self.members, "recipe": self.recipe, **{k: getattr(self.settings, k) for k in TRAIN_KEYS}}


@dataclass
class TrainResult:
    model_path: str | None
    members: list[dict]
    history: list[dict]
    val_metrics: dict | None
    best_epochs: list[int]
    seconds: float
    card: dict = field(default_factory=dict)
