"""Each network's training recipe: the settings that differ from the defaults.

Plain data, apart from the networks, so that the command line can show the recipes in
its help without loading torch (which `envaudio serve` keeps out of its master process).
The environment and the command line override a recipe.
"""

from __future__ import annotations

# The settings' defaults are the CNN's recipe.
CNN: dict = {}
# Fine-tuning every YAMNet layer, the `--pretrained` default. The bundled model's two YAMNet
# members use other settings on the command line (docs/training.md, with the held-out
# figures of each).
YAMNET = {"epochs": 10, "learning_rate": 1e-3, "backbone_lr_scale": 0.1, "patience": 4,
          "ema_decay": 0.998}
# Small datasets (tens of clips per class): layers 1-10 keep their AudioSet weights, the
# last epoch is kept (a validation split of a few clips is too noisy to pick an epoch).
# As accurate as full fine-tuning on 4 classes x 15 clips, and much faster
# (benchmarks/bench_custom.py).
YAMNET_SMALL = {"epochs": 20, "batch_size": 16, "learning_rate": 1e-3, "backbone_lr_scale": 0.1,
                "freeze_layers": 10, "keep_best": False, "ema_decay": 0.998}

# Fine-tuning EfficientAT's mn04 (AudioSet MobileNetV3, width 0.4; networks/mn04.py): every
# layer, YAMNet's kind of recipe (a new last layer at LEARNING_RATE, the pretrained layers,
# the 384 -> 512 one included, at a tenth of it), with a few more epochs for the smaller
# network. Its 17 layers: the stem, 15 blocks, the last conv.
MN04 = {"epochs": 12, "learning_rate": 1e-3, "backbone_lr_scale": 0.1, "patience": 4,
        "ema_decay": 0.998}
# Small datasets: as YAMNet's, the early layers (the stem and blocks 1-11, to 112 channels)
# keep their AudioSet weights; the last four blocks, the last conv and the head learn.
MN04_SMALL = {"epochs": 20, "batch_size": 16, "learning_rate": 1e-3, "backbone_lr_scale": 0.1,
              "freeze_layers": 12, "keep_best": False, "ema_decay": 0.998}

RECIPES = {"cnn": CNN, "yamnet": YAMNET, "mn04": MN04}
SMALL_RECIPES = {"yamnet": YAMNET_SMALL, "mn04": MN04_SMALL}  # the networks that have a small-data recipe
# Layers a pretrained network has (for --freeze-layers); the networks that load published
# weights (`--pretrained`). A network not here has nothing to freeze.
LAYERS = {"yamnet": 14, "mn04": 17}
# What --pretrained takes for each of them.
WEIGHTS = {"yamnet": "YAMNet's yamnet.npz", "mn04": "the efficientat-mn04 folder or its mn04_as_mAP_432.pt"}


def recipe(backbone: str, small: bool = False) -> dict:
    return (SMALL_RECIPES if small else RECIPES).get(backbone, {})

# Distilling one fast network from a larger model (`envaudio distill`, training/distill.py):
# the student's schedule and loss. Its waveform augmentation is distill_data.Augment.
DISTILL = {"backbone": "mn04", "epochs": 30, "batch_size": 32, "learning_rate": 2e-3,
           "backbone_lr_scale": 0.2, "weight_decay": 1e-3, "warmup": 0.1, "ema_decay": 0.998,
           "kd_temperature": 1.0, "ce_weight": 0.1, "head_init": "zero-shot", "seed": 1234}
