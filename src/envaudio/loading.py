"""A loaded model, ready to classify, without PyTorch.

`load_model` reads a model file (modelfile.py: model.json and one ONNX graph of every
member) into a `LoadedModel`: the members' front ends (computed in numpy, frontends.py),
the combination, the calibration, and the graph that engines.py runs with ONNX Runtime.
The members' class probabilities are combined by the file's rule and calibrated
(temperature) before anyone sees them.

A training file (NAME.pt, model.py) holds PyTorch state dicts: it is handed to
torchload.py, which needs envaudio[train] (PyTorch). Without it, the error says to use
the model file written beside it, or how to write one. That hand-over, and the PyTorch
engine, are the only ways from here to PyTorch, and both are taken only for a training
file or INFERENCE_BACKEND=torch (pyproject.toml's import contract lists them).
"""

from __future__ import annotations

import os
from importlib import import_module
from dataclasses import dataclass, field

import numpy as np

from .allocator import tune_allocator
from .engines import engine_for, onnxruntime_installed, resolve_backend
from .errors import BackendError, ModelError
from .features import one_blas_thread
from .frontends import FeatureConfig, frontend_from_dict
from .frontends import frontend_features as _features
from .modelfile import SUFFIX, is_model_file, model_path_for, read_model_file
from .settings import BUNDLED_MODELS, Settings, available_cpus, get_settings

BATCH = 32  # windows per forward pass at inference: the fastest size measured on CPU


@dataclass
class Member:
    network: str
    arch: dict
    frontend: object


@dataclass
class LoadedModel:
    members: list[Member]
    labels: list[str]
    combine: dict = field(default_factory=lambda: {"rule": "mean"})
    calibration: dict | None = None
    card: dict = field(default_factory=dict)
    path: str = ""
    backend: str = "onnxruntime"  # who runs the networks: onnxruntime | torch | auto (engines.py)
    cache_dir: str | None = None  # where a training file's graph is kept (onnxcache.py; None: no cache)
    graph: bytes | None = field(default=None, repr=False)  # a model file's ONNX graph
    payload: dict | None = field(default=None, repr=False)  # a training file's content (torchload.py)
    threads: int = 0  # ONNX Runtime's intra-op threads (0: the available cores)

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
        """The distinct front ends, in member order (the graph's inputs features_0, ...)."""
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
        uses it, else a log-mel for display only at the rate the audio is decoded at (the
        model's highest: no resampling for the view, and the whole band the networks hear),
        its hop scaled so a window has as many columns as the CNN's 22,050 Hz view."""
        own = next((fe for fe in self.frontends if getattr(fe, "kind", "logmel") == "logmel"), None)
        if own is not None:
            return own
        base, rate = FeatureConfig(), self.sample_rates[0]
        return FeatureConfig(sample_rate=rate, duration=self.duration,
                             hop_length=max(1, round(base.hop_length * rate / base.sample_rate)))

    def featurize(self, windows: dict[int, np.ndarray]) -> dict[str, np.ndarray]:
        """{sample rate: (n, samples) windows} -> {front end key: model input (n, ...)}."""
        return {fe.key(): _features(fe, windows[fe.sample_rate]) for fe in self.frontends}

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

    def embeddings(self, feats: dict[str, np.ndarray], batch_size: int = BATCH) -> np.ndarray:
        """Model inputs of n windows -> the first member's embeddings (n, dim): the input of
        its last linear layer (`envaudio analyze --embeddings`)."""
        return engine_for(self, self.backend).embed(feats, batch_size)

    @property
    def embedding_member(self) -> str:
        return self.members[0].network


def calibrate(p: np.ndarray, calibration: dict | None) -> np.ndarray:
    """Temperature scaling of combined probabilities: softmax(log p / T)."""
    t = (calibration or {}).get("temperature")
    if not t or t == 1.0:
        return p
    z = np.log(np.clip(p, 1e-12, 1.0)) / t
    z = np.exp(z - z.max(axis=-1, keepdims=True))
    return z / z.sum(axis=-1, keepdims=True)


def from_model_file(path: str | os.PathLike, backend: str = "onnxruntime", threads: int = 0) -> LoadedModel:
    """A model file (modelfile.py) -> a LoadedModel that runs its graph."""
    mf = read_model_file(path)
    if backend == "torch":
        raise BackendError(f"INFERENCE_BACKEND=torch runs a training file's PyTorch networks; {path} is a "
                           "model file (ONNX): use INFERENCE_BACKEND=auto or onnxruntime")
    meta = mf.meta
    try:
        members = [Member(m["network"], dict(m.get("arch") or {}), frontend_from_dict(m["features"]))
                   for m in meta["members"]]
        return LoadedModel(members=members, labels=list(meta["labels"]),
                           combine=dict(meta.get("combine") or {"rule": "mean"}),
                           calibration=meta.get("calibration"), card=dict(meta.get("card") or {}),
                           path=str(path), backend=backend, graph=mf.graph, threads=threads)
    except ModelError as e:
        raise ModelError(f"{path} is not a usable envaudio model: {e}") from None
    except (KeyError, TypeError, ValueError) as e:
        raise ModelError(f"{path} is not a usable envaudio model: {e}") from None


def from_payload(payload: dict, path: str = "", inference: bool = True, backend: str = "torch",
                 cache_dir: str | None = None, threads: int = 0) -> LoadedModel:
    """A training file's content (model.py) -> a LoadedModel: its graph is exported from
    it when an ONNX Runtime engine is first asked for (torchload.py), its networks built
    when the PyTorch engine is. inference=False: the PyTorch engine runs the networks as
    stored (BatchNorm unfolded), as training's validation does."""
    members = [Member(d["network"], dict(d["arch"]), frontend_from_dict(d["features"])) for d in payload["members"]]
    model = LoadedModel(members=members, labels=list(payload["labels"]),
                        combine=dict(payload.get("combine") or {"rule": "mean"}),
                        calibration=payload.get("calibration"), card=dict(payload.get("card", {})),
                        path=path, backend=backend, cache_dir=cache_dir, payload=payload, threads=threads)
    model.__dict__["_inference_form"] = inference
    return model


def torch_installed() -> bool:
    """Whether PyTorch imports (tried: a training file is read with it next)."""
    try:
        import_module("torch")
    except ImportError:
        return False
    return True


def load_model(path: str | os.PathLike | None = None, backend: str | None = None,
               settings: Settings | None = None) -> LoadedModel:
    """Load a model file or a bundled model by name (default: the settings' MODEL), to be
    run by `backend` (default INFERENCE_BACKEND; "auto" is resolved here, so a missing
    engine fails now), with THREADS intra-op threads. A training file (NAME.pt) needs
    PyTorch (envaudio[train]); its graph is kept in the settings' CACHE_DIR."""
    s = settings or get_settings()
    path = s.model_file(path)
    if not path.is_file() and path.suffix == "" and len(path.parts) == 1:
        raise ModelError(f"no model file {str(path)!r}, and no bundled model of that name (bundled: "
                         f"{', '.join(BUNDLED_MODELS)})")
    if not path.is_file():
        raise ModelError(f"model file not found: {path}")
    one_blas_thread()
    tune_allocator()  # before the first window: see allocator.py
    threads = s.threads or available_cpus()
    if is_model_file(path):
        if not onnxruntime_installed():
            raise BackendError("a model file runs on ONNX Runtime, which is not installed: pip install onnxruntime")
        return from_model_file(path, resolve_backend(backend or s.inference_backend), threads)
    if not torch_installed():
        beside = model_path_for(path)
        hint = (f"use the model file beside it, {beside}" if beside.is_file() else
                f"write its model file with `envaudio export {path} --format envaudio` where it is installed")
        raise ModelError(f"{path} is a training file (PyTorch), and PyTorch is not installed: {hint}, "
                         f"or install envaudio[train] (model files end in {SUFFIX})")
    from .torchload import read_training_file  # PyTorch: the training extra (see the docstring)

    payload = read_training_file(path)
    try:
        return from_payload(payload, str(path), backend=resolve_backend(backend or s.inference_backend),
                            cache_dir=s.cache_dir, threads=threads)
    except ModelError:
        raise
    except Exception as e:
        raise ModelError(f"{path} is not a usable envaudio model: {e}") from None
