"""A member that learns nothing from UrbanSound8K: YAMNet's own AudioSet classifier, its
classes mapped to ours.

YAMNet scores 521 AudioSet classes, and most UrbanSound8K classes are among them under
other names ("Bark", "Jackhammer", "Idling"...). Each of our classes gets the mean of its
AudioSet classes' logits, divided by a temperature; that is linear in the embedding, so the
member is an ordinary YAMNet member with a fixed head (mapping x AudioSet logit layer / T)
on the untouched AudioSet tower. In a model that also holds a trained head on that tower,
the tower runs once for both (networks/yamnet.py, `forward_shared`), and the file stores it
once (model.combine_payloads).

What it knows comes from ~2 M AudioSet clips, not from the ~2,000 recordings the other
members learn from: alone it is the weakest member (docs/MODEL_CARD.md, "What was tried"), but its
errors are different ones, and a quarter of the combination's weight moved held-out
accuracy up on both folds tried.
"""

from __future__ import annotations

import csv
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from .errors import DatasetError
from .settings import Settings

# UrbanSound8K class -> the AudioSet classes (YAMNet's display names) it covers.
URBANSOUND8K = {
    "air_conditioner": ["Air conditioning", "Mechanical fan"],
    "car_horn": ["Vehicle horn, car horn, honking", "Air horn, truck horn", "Toot", "Car alarm"],
    "children_playing": ["Children playing", "Child speech, kid speaking", "Children shouting"],
    "dog_bark": ["Dog", "Bark", "Yip", "Bow-wow", "Growling", "Howl"],
    "drilling": ["Drill", "Power tool", "Dental drill, dentist's drill"],
    "engine_idling": ["Idling", "Engine", "Medium engine (mid frequency)", "Heavy engine (low frequency)",
                      "Light engine (high frequency)", "Engine starting", "Motor vehicle (road)"],
    "gun_shot": ["Gunshot, gunfire", "Machine gun", "Cap gun", "Fusillade", "Artillery fire"],
    "jackhammer": ["Jackhammer"],
    "siren": ["Siren", "Police car (siren)", "Ambulance (siren)", "Fire engine, fire truck (siren)",
              "Civil defense siren", "Emergency vehicle"],
    "street_music": ["Music", "Musical instrument", "Guitar", "Drum", "Singing", "Brass instrument", "Accordion"],
}
# AudioSet logits are spread wider than a trained head's: T = 3 makes the member's
# probabilities about as sure as the others' (chosen with the weight on held-out folds 1, 2).
TEMPERATURE = 3.0


def read_class_names(path: str | Path) -> list[str]:
    """YAMNet's yamnet_class_map.csv (index,mid,display_name) -> the 521 display names."""
    # Imported here, as everything that loads torch: the command-line parser reads TEMPERATURE.
    from .errors import ModelError
    from .networks.yamnet import N_AUDIOSET

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"YAMNet's class map not found: {path} (yamnet_class_map.csv, released "
                                "with the weights; give it with --class-map)")
    with path.open(newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    names = [r.get("display_name", "") for r in rows]
    if len(names) != N_AUDIOSET or not all(names):
        raise ModelError(f"{path}: expected {N_AUDIOSET} rows with a display_name, found {len(names)}")
    return names


def mapping_matrix(mapping: dict[str, list[str]], names: list[str]) -> tuple[list[str], np.ndarray]:
    """-> (our labels, sorted; (n_labels, 521) rows averaging each label's AudioSet classes)."""
    from .errors import ModelError

    if len(mapping) < 2:
        raise ModelError(f"a classifier needs at least 2 classes; the map gives {len(mapping)}")
    index = {n: i for i, n in enumerate(names)}
    labels = sorted(mapping)
    M = np.zeros((len(labels), len(names)))
    for row, label in enumerate(labels):
        unknown = [n for n in mapping[label] if n not in index]
        if unknown or not mapping[label]:
            raise ModelError(f"{label!r}: not AudioSet classes of YAMNet: {unknown or '(none given)'}")
        M[row, [index[n] for n in mapping[label]]] = 1.0 / len(mapping[label])
    return labels, M


def zero_shot_net(weights: dict, M: np.ndarray, temperature: float):
    """YAMNet's tower with the head M @ (AudioSet logit layer) / T."""
    import torch

    from .networks import yamnet

    net = yamnet.YamnetClassifier(len(M), patch_hop=yamnet.PATCH_FRAMES)
    yamnet.load_pretrained(net, weights)
    m = torch.from_numpy(M).float() / temperature
    with torch.no_grad():
        net.head.weight.copy_(m @ weights["logits.weight"])
        net.head.bias.copy_(m @ weights["logits.bias"])
    return net.eval()


def zero_shot_payload(pretrained: str | Path, class_map: str | Path, settings: Settings,
                      mapping: dict[str, list[str]] | None = None, temperature: float = TEMPERATURE) -> dict:
    """A one-member model file's payload (see the module's docstring)."""
    from .errors import ModelError
    from .model import member_state, model_payload
    from .networks import yamnet

    if not temperature > 0:
        raise ModelError("the temperature must be positive")
    mapping = URBANSOUND8K if mapping is None else mapping
    labels, M = mapping_matrix(mapping, read_class_names(class_map))
    try:
        weights = yamnet.read_npz(pretrained)
    except FileNotFoundError:
        raise
    except Exception as e:  # not an npz, or another network's
        raise ModelError(f"{pretrained}: not YAMNet's weights ({e})") from None
    net = zero_shot_net(weights, M, temperature)
    fe = yamnet.frontend(settings)
    member = {"network": yamnet.NAME, "arch": {"patch_hop": net.patch_hop, "dropout": 0.0, "hidden": 0},
              "features": fe.to_dict(), "state": member_state(net)}
    card = {
        "name": "envaudio zero-shot YAMNet (AudioSet classes mapped)",
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "dataset": "none: YAMNet's AudioSet classifier, untrained on these classes",
        "train_folds": None, "training_seconds": 0.0, "members": 1,
        "zero_shot": {"temperature": temperature, "audioset_classes": {l: list(mapping[l]) for l in labels}},
        "labels": labels,
    }
    return model_payload([member], labels, card)


def read_map(path: str | Path) -> dict[str, list[str]]:
    """A --map JSON file: {"label": ["AudioSet class", ...], ...}."""
    import json

    try:
        mapping = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise DatasetError(f"--map {path}: cannot read it as JSON ({e})") from None
    if not isinstance(mapping, dict) or not all(
            isinstance(v, list) and all(isinstance(n, str) for n in v) for v in mapping.values()):
        raise DatasetError(f'--map {path}: write {{"label": ["AudioSet class", ...], ...}}')
    return mapping
