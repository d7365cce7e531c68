"""A member that learns nothing from UrbanSound8K: an AudioSet network's own classifier
(YAMNet's, or EfficientAT mn04's), its classes mapped to ours.

YAMNet scores 521 AudioSet classes, and most UrbanSound8K classes are among them under
other names ("Bark", "Jackhammer", "Idling"...). Each of our classes gets the mean of its
AudioSet classes' logits, divided by a temperature; that is linear in the embedding, so the
member is an ordinary YAMNet member with a fixed head (mapping x AudioSet logit layer / T)
on the untouched AudioSet tower. In a model that also holds a trained head on that tower,
the tower runs once for both (networks/yamnet.py, `forward_shared`), and the file stores it
once (model.combine_payloads).

mn04 (527 AudioSet classes, PANNs' list: every name of the map is in it too) works the same
way: its head is AudioSet's 384 -> 512 -> 527 MLP, and since the 512-unit hidden layer is
kept, the mapped last layer is M @ W_527 / T (bias M @ b_527 / T) on it
(`mn04_zero_shot_head`, which can also start a trained or distilled mn04's head there).

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
# Each network's default temperature (the argmax, so the accuracy, does not depend on it).
# mn04's mapped logits are far less spread than YAMNet's: T = 1.2 gives the lowest log-loss
# of the member alone on held-out folds 1, 2 (T = 3 made it much less sure than it is right).
TEMPERATURES = {"yamnet": TEMPERATURE, "mn04": 1.2}
BACKBONES = ("yamnet", "mn04")
NETWORK_NAMES = {"yamnet": "YAMNet", "mn04": "mn04"}
CLASS_MAPS = {"yamnet": "yamnet_class_map.csv", "mn04": "class_labels_indices.csv"}  # beside the weights


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


def read_mn04_class_names(path: str | Path) -> list[str]:
    """mn04's class_labels_indices.csv (index,mid,display_name; or its folder) -> the 527
    display names in output order."""
    from .errors import ModelError
    from .networks import mn04

    path = Path(path)
    file = path / mn04.LABELS_FILE if path.is_dir() else path
    if not file.is_file():
        raise FileNotFoundError(f"mn04's class list not found: {file} ({mn04.LABELS_FILE}, in the weights "
                                "folder; give it with --class-map)")
    try:
        names = mn04.audioset_labels(file)
    except (KeyError, ValueError) as e:
        raise ModelError(f"{file}: not an index,mid,display_name table ({e})") from None
    if len(names) != mn04.N_AUDIOSET or not all(names):
        raise ModelError(f"{file}: expected {mn04.N_AUDIOSET} rows with a display_name, found {len(names)}")
    return names


def mapping_matrix(mapping: dict[str, list[str]], names: list[str],
                   network: str = "YAMNet") -> tuple[list[str], np.ndarray]:
    """-> (our labels, sorted; (n_labels, len(names)) rows averaging each label's AudioSet
    classes)."""
    from .errors import ModelError

    if len(mapping) < 2:
        raise ModelError(f"a classifier needs at least 2 classes; the map gives {len(mapping)}")
    index = {n: i for i, n in enumerate(names)}
    labels = sorted(mapping)
    M = np.zeros((len(labels), len(names)))
    for row, label in enumerate(labels):
        unknown = [n for n in mapping[label] if n not in index]
        if unknown or not mapping[label]:
            raise ModelError(f"{label!r}: not AudioSet classes of {network}: {unknown or '(none given)'}")
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


def mn04_map(class_map: str | Path, mapping: dict[str, list[str]] | None = None) -> tuple[list[str], np.ndarray]:
    """(our labels, M (n_labels, 527)) for mn04: `mapping` (default UrbanSound8K's) over the
    names of class_labels_indices.csv (the file or the weights folder)."""
    return mapping_matrix(URBANSOUND8K if mapping is None else mapping, read_mn04_class_names(class_map), "mn04")


def mn04_zero_shot_head(net, weights, M: np.ndarray, temperature: float = TEMPERATURES["mn04"]):
    """Write AudioSet's last layer, mapped, into an Mn04Classifier's `head` (in place):
    weight M @ W_527 / T, bias M @ b_527 / T. `weights`: mn04's published state dict (or
    its folder or .pt). The head sits on the 384 -> 512 hidden layer, which must be the
    pretrained one for these logits to mean AudioSet's (mn04.load_pretrained keeps it).
    Returns `net`."""
    import torch

    from .errors import ModelError
    from .networks import mn04

    if not temperature > 0:
        raise ModelError("the temperature must be positive")
    weights = weights if isinstance(weights, dict) else mn04.read_weights(weights)
    w, b = weights["classifier.5.weight"].float(), weights["classifier.5.bias"].float()
    m = torch.as_tensor(np.asarray(M), dtype=torch.float32)
    if m.shape != (net.head.out_features, w.shape[0]) or net.head.in_features != w.shape[1]:
        raise ModelError(f"a map of shape {tuple(m.shape)} and AudioSet's {tuple(w.shape)} layer do not fit "
                         f"a head of {net.head.in_features} -> {net.head.out_features}")
    with torch.no_grad():
        net.head.weight.copy_(m @ w / temperature)
        net.head.bias.copy_(m @ b / temperature)
    return net


def mn04_zero_shot_net(weights: dict, M: np.ndarray, temperature: float):
    """mn04 as published (every layer, the hidden 512 included) with the head M @ W_527 / T."""
    from .networks import mn04

    net = mn04.build({"dropout": 0.0}, len(M))
    mn04.load_pretrained(net, weights)
    return mn04_zero_shot_head(net, weights, M, temperature).eval()


def _read_weights(backbone: str, pretrained: str | Path) -> dict:
    from .errors import ModelError
    from .networks import mn04, yamnet

    try:
        return yamnet.read_npz(pretrained) if backbone == "yamnet" else mn04.read_weights(pretrained)
    except FileNotFoundError:
        raise
    except Exception as e:  # not the file asked for, or another network's
        raise ModelError(f"{pretrained}: not {NETWORK_NAMES[backbone]}'s weights ({e})") from None


def zero_shot_payload(pretrained: str | Path, class_map: str | Path, settings: Settings,
                      mapping: dict[str, list[str]] | None = None, temperature: float | None = None,
                      backbone: str = "yamnet") -> dict:
    """A one-member model file's payload (see the module's docstring). `pretrained`: YAMNet's
    npz, or mn04's folder or .pt; `class_map`: that network's class list."""
    from .errors import ModelError
    from .model import member_state, model_payload
    from .networks import get_network

    if backbone not in BACKBONES:
        raise ModelError(f"zero-shot models are made from {' or '.join(BACKBONES)}, not {backbone!r}")
    temperature = TEMPERATURES[backbone] if temperature is None else temperature
    if not temperature > 0:
        raise ModelError("the temperature must be positive")
    mapping = URBANSOUND8K if mapping is None else mapping
    if backbone == "yamnet":
        labels, M = mapping_matrix(mapping, read_class_names(class_map))
        net = zero_shot_net(_read_weights(backbone, pretrained), M, temperature)
        arch = {"patch_hop": net.patch_hop, "dropout": 0.0, "hidden": 0}
    else:
        labels, M = mn04_map(class_map, mapping)
        from .networks import mn04

        net = mn04_zero_shot_net(_read_weights(backbone, pretrained), M, temperature)
        arch = {"width": mn04.WIDTH, "dropout": 0.0, "hidden": mn04.HIDDEN}
    module = get_network(backbone)
    member = {"network": module.NAME, "arch": arch, "features": module.frontend(settings).to_dict(),
              "state": member_state(net)}
    name = NETWORK_NAMES[backbone]
    card = {
        "name": f"envaudio zero-shot {name} (AudioSet classes mapped)",
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "dataset": f"none: {name}'s AudioSet classifier, untrained on these classes",
        "train_folds": None, "training_seconds": 0.0, "members": 1,
        "zero_shot": {"network": backbone, "temperature": temperature,
                      "audioset_classes": {l: list(mapping[l]) for l in labels}},
        "labels": labels,
    }
    if backbone == "mn04":
        card["pretrained_citation"] = MN04_CITATION
    return model_payload([member], labels, card)


MN04_CITATION = ("EfficientAT mn04_as: F. Schmid, K. Koutini, G. Widmer, \"Efficient Large-Scale Audio "
                 "Tagging via Transformer-to-CNN Knowledge Distillation\", ICASSP 2023 (MIT licence)")


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
