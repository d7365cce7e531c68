"""A loaded model: its members' networks built from a model file and ready to run.

`load_model` reads a model file (model.py, the format), builds each member's network
with its front end (networks/), and picks who runs them (engines.py: PyTorch or ONNX
Runtime). The members' class probabilities are combined by the file's rule and
calibrated (temperature) before anyone sees them.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch.nn as nn

from .engines import engine_for, resolve_backend
from .errors import ModelError
from .frontends import FeatureConfig
from .model import member_state, read_payload
from .networks import frontend_features, frontend_from_dict, get_network, network_of
from .settings import BUNDLED_MODELS, Settings, get_settings

BATCH = 32  # windows per forward pass at inference: the fastest size measured on CPU


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
    cache_dir: str | None = None  # where the ONNX Runtime engine keeps its graph (None: no cache)

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


def build_member(d: dict, n_classes: int, inference: bool = True) -> Member:
    module = get_network(d["network"])
    net = module.build(d["arch"], n_classes)
    net.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in d["state"].items()})
    net.eval()
    if inference:
        net = module.for_inference(net)
    return Member(d["network"], dict(d["arch"]), frontend_from_dict(d["features"]), net)


def from_payload(payload: dict, path: str = "", inference: bool = True, backend: str = "torch",
                 cache_dir: str | None = None) -> LoadedModel:
    labels = list(payload["labels"])
    members = [build_member(d, len(labels), inference) for d in payload["members"]]
    return LoadedModel(members=members, labels=labels, combine=dict(payload.get("combine") or {"rule": "mean"}),
                       calibration=payload.get("calibration"), card=dict(payload.get("card", {})),
                       path=path, backend=backend, cache_dir=cache_dir)


def load_model(path: str | os.PathLike | None = None, backend: str | None = None,
               settings: Settings | None = None) -> LoadedModel:
    """Load a model file or a bundled model by name (default: the settings' MODEL), to be
    run by `backend` (default INFERENCE_BACKEND; "auto" is resolved here, so a missing
    engine fails now). The ONNX Runtime engine keeps its graph in the settings' CACHE_DIR."""
    s = settings or get_settings()
    path = s.model_file(path)
    if not path.is_file() and path.suffix == "" and len(path.parts) == 1:
        raise ModelError(f"no model file {str(path)!r}, and no bundled model of that name (bundled: "
                         f"{', '.join(BUNDLED_MODELS)})")
    backend = resolve_backend(backend or s.inference_backend)
    payload = read_payload(path)
    try:
        return from_payload(payload, str(path), backend=backend, cache_dir=s.cache_dir)
    except ModelError:
        raise
    except Exception as e:
        raise ModelError(f"{path} is not a usable envaudio model: {e}") from None
