"""A training run's set-up: the recipe, the settings, the data and its folds.

The settings are the network's recipe (recipes.py; the small-data one for small datasets)
over the defaults, then the environment (ENVAUDIO_*), then the options."""

from __future__ import annotations

from pathlib import Path

from ..datasets.layouts import check_classes, load_dataset
from ..datasets.splits import TEST_FOLD, TRAIN_FOLD, VAL_FOLD, cv_folds, parse_folds, split_folds
from .. import recipes
from ..errors import DatasetError
from ..recipes import SMALL_RECIPES
from ..settings import Settings, get_settings
from .config import TrainConfig


def choose_recipe(asked: str, backbone: str, clips_per_class: float, small_below: int) -> str:
    """"full" or "small" (the network's small-data recipe). auto: small for small datasets."""
    if asked == "small" and backbone not in SMALL_RECIPES:
        raise DatasetError("--recipe small is for fine-tuning YAMNet or mn04 (give --pretrained)")
    if asked == "auto":
        return "small" if backbone in SMALL_RECIPES and clips_per_class < small_below else "full"
    return asked


def backbone_of(pretrained: str) -> str:
    """The network whose weights --pretrained names: mn04's folder or .pt, else YAMNet's npz."""
    path = Path(pretrained)
    return "mn04" if path.is_dir() or path.suffix == ".pt" else "yamnet"


def check_pretrained(backbone: str, pretrained: str | None) -> None:
    """The weights a pretrained network needs, there and of its kind (read when training
    starts; nothing is downloaded)."""
    if backbone not in recipes.LAYERS:
        return
    if not pretrained:
        raise DatasetError(f"--backbone {backbone} needs --pretrained PATH ({recipes.WEIGHTS[backbone]}; "
                           "nothing is downloaded)")
    path = Path(pretrained)
    if backbone == "mn04":
        from ..networks.mn04 import WEIGHTS_FILE

        if path.suffix == ".npz":
            raise DatasetError(f"--backbone mn04 takes {recipes.WEIGHTS['mn04']}, not {path.name}")
        if path.is_dir():
            path = path / WEIGHTS_FILE
    if not path.is_file():
        raise DatasetError(f"pretrained weights not found: {path}")


def build_config(overrides: dict, *, backbone: str | None = None, pretrained: str | None = None,
                 recipe: str = "auto", members: int = 1, device: str = "auto", workers: int | None = None,
                 progress: bool = True, clips_per_class: float = float("inf"),
                 settings: Settings | None = None) -> TrainConfig:
    """The run's configuration: the network's recipe over the defaults, then the environment
    (ENVAUDIO_*), then `overrides` (settings names, e.g. from the command line)."""
    s = settings or get_settings()
    pretrained = pretrained or s.pretrained or None
    backbone = backbone or (backbone_of(pretrained) if pretrained else "cnn")
    check_pretrained(backbone, pretrained)
    recipe = choose_recipe(recipe, backbone, clips_per_class, s.small_data_clips_per_class)
    from_env = s.names_in_env()
    s = s.replace(**{k: v for k, v in recipes.recipe(backbone, recipe == "small").items() if k not in from_env})
    s = s.replace(**overrides)
    s.validate()
    layers = recipes.LAYERS.get(backbone, 0)
    if layers and not 0 <= s.freeze_layers <= layers:
        raise DatasetError(f"--freeze-layers must be between 0 and {layers} ({backbone} has {layers} layers)")
    if s.epochs < 1 or s.batch_size < 1 or members < 1:
        raise DatasetError("--epochs, --batch-size and --members must be at least 1")
    return TrainConfig(settings=s, members=members, device=device, workers=workers, progress=progress,
                       backbone=backbone, pretrained=pretrained if backbone in recipes.LAYERS else None,
                       recipe=recipe)


def load_training_data(data_root: str | None, table: str | None, settings: Settings):
    """(the dataset, its warnings): errors raise, before anything is trained."""
    ds = load_dataset(data_root, table)
    min_clips = 1 if ds.has_folds else 2  # without folds a split needs two (cv_folds checks K)
    return ds, ds.warnings + check_classes(ds, min_clips, settings.min_clips_per_class)


def plan_folds(ds, s: Settings, train_folds: str | None = None, val_folds: str | None = None,
               test_folds: str | None = None, cv: int | None = None, val_split_given: bool = False,
               test_split_given: bool = False) -> tuple[list, list[int] | None, list[int], list[int], dict]:
    """(clips with folds, train folds, validation folds, test folds, the card's dataset
    fields). The data's own folds when it has them (UrbanSound8K: 1-8 train, 9 validates;
    another table: its last fold validates); else a stratified split with the seed. cv:
    None, 0 (over the data's folds) or K folds to make."""
    card = ds.card()
    if ds.has_folds:
        if cv and cv > 0:
            raise DatasetError(f"{ds.source} has its own folds: use --cv without a number to "
                               "cross-validate over them")
        if val_split_given or test_split_given:
            raise DatasetError(f"{ds.source} has its own folds: choose them with --val-folds/--test-folds "
                               "(--val-split/--test-split are for data without folds)")
        folds = sorted({c.fold for c in ds.clips})
        default_train, default_val = (("1-8", "9") if ds.layout == "urbansound8k"
                                      else (",".join(map(str, folds[:-1])), str(folds[-1])))
        val_text = val_folds or default_val
        val = [] if str(val_text).lower() == "none" else parse_folds(val_text)
        train = [f for f in parse_folds(train_folds or default_train) if f not in val]
        test = parse_folds(test_folds) if test_folds else []
        return ds.clips, train, val, test, card
    if train_folds or val_folds or test_folds:
        raise DatasetError(f"{ds.source} has no folds: use --val-split/--test-split or --cv K instead "
                           "of --train-folds/--val-folds/--test-folds")
    card.update(train_folds=None, val_folds=None)
    if cv is not None:
        if cv <= 0:
            raise DatasetError(f"{ds.source} has no folds: say how many to make, e.g. --cv 5")
        card["split"] = {"cv": cv, "seed": s.seed}
        return cv_folds(ds.clips, cv, s.seed), None, [], [], card
    test_fraction = s.test_fraction if test_split_given else 0.0
    card["split"] = {"seed": s.seed, "val_fraction": s.val_fraction, "test_fraction": test_fraction}
    clips = split_folds(ds.clips, s.val_fraction, test_fraction, s.seed)
    return (clips, [TRAIN_FOLD], [VAL_FOLD] if s.val_fraction > 0 else [],
            [TEST_FOLD] if test_fraction > 0 else [], card)
