"""The model file format, and a loaded model.

A model file (torch.save of a plain dict, loadable with weights_only=True):

    {"format_version": 2,
     "labels": [...],
     "members": [{"network": "yamnet" | "cnn", "arch": {...}, "features": {...front end},
                  "state": {...state dict, float16 or float32}}, ...],
     "combine": {"rule": "mean"} | {"rule": "weighted", "weights": [...], "fitted_on": ...},
     "calibration": {"temperature": T, ...}  (optional),
     "card": {...}}

Members may have different front ends (the CNN's 22,050 Hz log-mel, YAMNet's 16 kHz
frames): each gets the features it was trained on, computed once per distinct front end.
Their class probabilities are combined by the rule. Version 1 files (CNN members sharing
one front end) still load.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn

from .networks import frontend_from_dict, frontend_features, get_network, network_of

FORMAT_VERSION = 2
BATCH = 32  # windows per forward pass at inference: the fastest size measured on CPU


class ModelError(RuntimeError):
    """A model file that is missing or cannot be used."""


@dataclass
class Member:
    network: str
    arch: dict
    frontend: object
    net: nn.Module

    def to_payload(self, half: bool = False) -> dict:
        state = member_state(self.net)
        if half:
            state = {k: v.half() if v.is_floating_point() else v for k, v in state.items()}
        return {"network": self.network, "arch": dict(self.arch),
                "features": self.frontend.to_dict(), "state": state}


@dataclass
class LoadedModel:
    members: list[Member]
    labels: list[str]
    combine: dict = field(default_factory=lambda: {"rule": "mean"})
    calibration: dict | None = None
    card: dict = field(default_factory=dict)
    path: str = ""
    backend: str = "torch"  # who runs the networks: torch | onnxruntime | auto (engines.py)

    def __post_init__(self):
        durations = {round(m.frontend.duration, 6) for m in self.members}
        if len(durations) != 1:
            raise ModelError(f"members analyse windows of different lengths: {sorted(durations)} s")
        w = self.combine.get("weights")
        if w is not None and len(w) != len(self.members):
            raise ModelError("the combination has one weight per member")
        self._frontends = list({fe.key(): fe for fe in (m.frontend for m in self.members)}.values())

    @property
    def frontends(self) -> list:
        """The distinct front ends, in member order."""
        return self._frontends

    @property
    def duration(self) -> float:
        return self.members[0].frontend.duration

    @property
    def sample_rates(self) -> list[int]:
        return sorted({fe.sample_rate for fe in self.frontends}, reverse=True)

    @property
    def view_frontend(self):
        """The front end the spectrogram view shows: the CNN's log-mel in dB when a member
        uses it, else the default 22,050 Hz log-mel (computed for display only)."""
        from .settings import FeatureConfig

        return next((fe for fe in self.frontends if network_of(fe).NAME == "cnn"), FeatureConfig())

    def featurize(self, windows: dict[int, np.ndarray]) -> dict[str, np.ndarray]:
        """{sample rate: (n, samples) windows} -> {front end key: model input (n, ...)}."""
        return {fe.key(): frontend_features(fe, windows[fe.sample_rate]) for fe in self.frontends}

    def weights(self) -> np.ndarray:
        w = np.asarray(self.combine.get("weights") or [1.0] * len(self.members), dtype=np.float64)
        return w / w.sum()

    def predict_member_windows(self, feats: dict[str, np.ndarray], batch_size: int = BATCH,
                               engine=None) -> np.ndarray:
        """Each member's probabilities (n_members, n, n_classes), in batches of windows, by
        `engine` (a backend name or an engine; default the model's own `backend`)."""
        from .engines import engine_for

        run = engine if callable(engine) else engine_for(self, engine or self.backend)
        return run(feats, batch_size)

    def predict_windows(self, feats: dict[str, np.ndarray], batch_size: int = BATCH, engine=None) -> np.ndarray:
        """Model inputs of n windows -> combined (calibrated) probabilities (n, n_classes)."""
        p = np.tensordot(self.weights(), self.predict_member_windows(feats, batch_size, engine), axes=1)
        return calibrate(p, self.calibration).astype(np.float32)


def calibrate(p: np.ndarray, calibration: dict | None) -> np.ndarray:
    """Temperature scaling of combined probabilities: softmax(log p / T)."""
    t = (calibration or {}).get("temperature")
    if not t or t == 1.0:
        return p
    z = np.log(np.clip(p, 1e-12, 1.0)) / t
    z = np.exp(z - z.max(axis=-1, keepdims=True))
    return z / z.sum(axis=-1, keepdims=True)


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


def atomic_torch_save(obj, path: str | os.PathLike) -> None:
    atomic_write(path, lambda f: torch.save(obj, f))


def atomic_write(path: str | os.PathLike, write) -> None:
    """write(file object) to a temp file in the same folder, then rename: a kill mid-write
    never leaves a truncated file behind."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)  # mkstemp makes 0600; a model file is meant to be shared
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


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


def build_member(d: dict, n_classes: int, inference: bool = True) -> Member:
    module = get_network(d["network"])
    net = module.build(d["arch"], n_classes)
    net.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in d["state"].items()})
    net.eval()
    if inference:
        net = module.for_inference(net)
    return Member(d["network"], dict(d["arch"]), frontend_from_dict(d["features"]), net)


def from_payload(payload: dict, path: str = "", inference: bool = True, backend: str = "torch") -> LoadedModel:
    labels = list(payload["labels"])
    members = [build_member(d, len(labels), inference) for d in payload["members"]]
    return LoadedModel(members=members, labels=labels, combine=dict(payload.get("combine") or {"rule": "mean"}),
                       calibration=payload.get("calibration"), card=dict(payload.get("card", {})),
                       path=path, backend=backend)


def load_model(path: str | os.PathLike | None = None, backend: str | None = None) -> LoadedModel:
    """Load a model file (default: the bundled model), to be run by `backend` (default
    INFERENCE_BACKEND; "auto" is resolved here, so a missing engine fails now)."""
    from .engines import resolve_backend
    from .settings import BUNDLED_MODEL, get_settings

    path = Path(path) if path else BUNDLED_MODEL
    backend = resolve_backend(backend or get_settings().inference_backend)
    payload = read_payload(path)
    try:
        return from_payload(payload, str(path), backend=backend)
    except ModelError:
        raise
    except Exception as e:
        raise ModelError(f"{path} is not a usable envaudio model: {e}") from None


def combine_payloads(payloads: list[dict], weights: list[float] | None = None, card: dict | None = None,
                     half: bool = False) -> dict:
    """One model from several (their members side by side). `weights`: one per input model,
    shared among its members as that model shares its own (equally, unless it is itself a
    weighted combination); default: each model counts as many members as it has, so
    unweighted models give a plain mean over all members. half=True stores floating-point
    weights as float16 (half the file). Tensors that are equal in several members (a
    tower two members kept frozen) are stored once."""
    labels = payloads[0]["labels"]
    for p in payloads[1:]:
        if p["labels"] != labels:
            raise ModelError(f"the models have different labels: {labels} vs {p['labels']}")
    members, member_w = [], []
    seen: dict[tuple, list[torch.Tensor]] = {}
    for i, p in enumerate(payloads):
        own = np.asarray((p.get("combine") or {}).get("weights") or [1.0] * len(p["members"]), dtype=np.float64)
        own = own / own.sum()
        share = weights[i] if weights else float(len(p["members"]))
        for m, w in zip(p["members"], own):
            state = {k: _stored_once(v.half() if half and v.is_floating_point() else v, seen)
                     for k, v in m["state"].items()}
            members.append({**m, "state": state})
            member_w.append(float(share * w))
    plain = not weights and len(set(np.round(member_w, 12))) == 1
    combine = {"rule": "mean"} if plain else {"rule": "weighted", "weights": member_w}
    payload = model_payload(members, labels, card or {}, combine)
    from_payload(payload, inference=False)  # fails here (ModelError) if the members don't fit
    return payload
