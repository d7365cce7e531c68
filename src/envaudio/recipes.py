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

RECIPES = {"cnn": CNN, "yamnet": YAMNET}
SMALL_RECIPES = {"yamnet": YAMNET_SMALL}  # the networks that have a small-data recipe
# Layers a pretrained network has (for --freeze-layers); 0: nothing to freeze.
LAYERS = {"yamnet": 14}


def recipe(backbone: str, small: bool = False) -> dict:
    return (SMALL_RECIPES if small else RECIPES).get(backbone, {})
