"""The model file format: one place that writes and reads it.

A model file (torch.save of a plain dict, loadable with weights_only=True):

    {"format_version": 2,
     "labels": [...],
     "members": [{"network": "yamnet" | "cnn", "arch": {...}, "features": {...front end},
                  "state": {...state dict, float16 or float32}}, ...],
     "combine": {"rule": "mean"} | {"rule": "weighted", "weights": [...], "fitted_on": ...},
     "calibration": {"temperature": T, ...}  (optional),
     "card": {...}}

Members may have different front ends (the CNN's 22,050 Hz log-mel, YAMNet's 16 kHz
frames). Version 1 files (CNN members sharing one front end) are upgraded when read.
Turning a payload into runnable networks is loading.py's work.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import torch
import torch.nn as nn

from .errors import ModelError
from .fileio import atomic_torch_save

FORMAT_VERSION = 2


def member_state(net: nn.Module) -> dict:
    net = getattr(net, "module", net)  # unwrap DistributedDataParallel
    return {k: v.detach().cpu().clone() for k, v in net.state_dict().items()}


def model_payload(members: list[dict], labels: list[str], card: dict, combine: dict | None = None,
                  calibration: dict | None = None) -> dict:
    """members: [{"network", "arch", "features", "state"}]."""
    payload = {"format_version": FORMAT_VERSION, "labels": list(labels), "members": members,
               "combine": combine or {"rule": "mean"}, "card": card}
    if calibration:
        payload["calibration"] = calibration
    return payload


def save_model(path: str | os.PathLike, payload: dict) -> None:
    atomic_torch_save(payload, path)


def save_model_files(path: str | os.PathLike, payload: dict) -> None:
    """The model file and, beside it, what people read without loading it: FILE.labels.json
    and FILE.card.json."""
    save_model(path, payload)
    Path(str(path) + ".labels.json").write_text(json.dumps(payload["labels"], indent=1) + "\n")
    Path(str(path) + ".card.json").write_text(json.dumps(payload.get("card", {}), indent=1) + "\n")


def _upgrade(payload: dict) -> dict:
    """Version 1 (CNN members sharing `arch` and `features`) -> version 2."""
    if payload.get("format_version", 1) >= 2:
        return payload
    return {**payload, "format_version": 2, "combine": {"rule": "mean"},
            "members": [{"network": "cnn", "arch": payload["arch"], "features": payload["features"],
                         "state": state} for state in payload["members"]]}


def read_payload(path: str | os.PathLike) -> dict:
    path = Path(path)
    if not path.is_file():
        raise ModelError(f"model file not found: {path}")
    try:
        return _upgrade(torch.load(path, map_location="cpu", weights_only=True))
    except Exception as e:
        raise ModelError(f"{path} is not a usable envaudio model: {e}") from None


def _stored_once(t: torch.Tensor, seen: dict[tuple, list[torch.Tensor]]) -> torch.Tensor:
    """`t`, or an equal tensor met before: torch.save writes a storage once however many
    state dicts hold it."""
    key = (t.dtype, tuple(t.shape))
    for other in seen.setdefault(key, []):
        if torch.equal(other, t):
            return other
    seen[key].append(t)
    return t
