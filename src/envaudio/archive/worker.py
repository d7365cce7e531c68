"""One analysing process (a local worker or a Ray actor): the model loaded once, then
audio file after audio file -> (outputs as bytes, the file's record). Nothing is written
here: the process that runs the analysis writes every output (archive/run.py), so local
workers and Ray actors on other machines give the same OUT."""

from __future__ import annotations

import io
import os

import numpy as np

from .formats import EMBEDDINGS_SUFFIX, per_file_outputs


class Embedder:
    """Per-window embeddings: the input of the last linear layer of the model's first
    member, run in PyTorch. For the bundled model (and any whose first member is a YAMNet
    with a linear head) that is the YAMNet tower's 1024-d embedding averaged over the
    window's patches: AudioSet's embedding when the tower is frozen. For a CNN member, the
    pooled 128-d features its classifier reads."""

    def __init__(self, model):
        import torch.nn as nn

        member = model.members[0]
        self.net = member.net
        self.key = member.frontend.key()
        self.network = member.network
        linears = [m for m in self.net.modules() if isinstance(m, nn.Linear)]
        if not linears:
            raise ValueError(f"the first member ({member.network}) has no linear layer to take embeddings before")
        self.layer = linears[-1]
        self.dim = self.layer.in_features

    def __call__(self, feats: dict[str, np.ndarray], batch: int = 32) -> np.ndarray:
        import torch

        x = feats[self.key]
        if not len(x):
            return np.zeros((0, self.dim), np.float32)
        got: list = []
        hook = self.layer.register_forward_pre_hook(lambda _m, inputs: got.append(inputs[0].detach().clone()))
        try:
            with torch.inference_mode():
                for i in range(0, len(x), batch):
                    self.net(torch.from_numpy(np.ascontiguousarray(x[i:i + batch], np.float32)))
        finally:
            hook.remove()
        return torch.cat(got).numpy().astype(np.float32)


def error_reason(e: BaseException) -> str:
    from ..errors import UserError

    text = " ".join(str(e).split())
    if isinstance(e, (UserError, OSError)) and text:
        return text
    return f"{type(e).__name__}: {text}" if text else type(e).__name__


def npy_bytes(a: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, a, allow_pickle=False)
    return buf.getvalue()


class Analyzer:
    def __init__(self, model_path: str | None, formats, embeddings: bool, threads: int | None = None,
                 top_k: int = 3, settings=None):
        if threads:
            import torch

            torch.set_num_threads(threads)
            os.environ.setdefault("OMP_NUM_THREADS", str(threads))
        from ..predict import load_classifier

        self.clf = load_classifier(model_path, settings)
        self.formats = tuple(formats)
        self.top_k = top_k
        self.embedder = Embedder(self.clf.model) if embeddings else None

    def analyze(self, rel: str, source) -> dict:
        """`source`: the audio's path or bytes. A dict: rel, status ("ok" or "error"),
        reason, and for ok: duration, verdict, level_dbfs, events, outputs {name: bytes},
        embeddings (npy name, dim, windows) or None."""
        try:
            wave = self.clf.load(source)
            pred = self.clf.classify_waveform(wave, self.clf.sample_rate, keep_features=self.embedder is not None)
            d = pred.to_dict(self.top_k)
            outputs = per_file_outputs(rel, d, self.formats, self.clf.sample_rate / 2)
            emb = None
            if self.embedder is not None:
                name = rel + EMBEDDINGS_SUFFIX
                e = self.embedder(pred.features)
                outputs[name] = npy_bytes(e)
                emb = {"path": name, "dim": int(e.shape[1]), "member": self.embedder.network,
                       "windows": [[w.start, w.end] for w in pred.windows]}
        except Exception as e:  # a corrupt or unreadable file: recorded, the run goes on
            reason = error_reason(e)
            for name in (rel.rsplit("/", 1)[-1] + ": ", "upload: "):  # the path is in the table already
                if reason.startswith(name):
                    reason = reason[len(name):]
            return {"rel": rel, "status": "error", "reason": reason}
        return {"rel": rel, "status": "ok", "duration": pred.duration, "verdict": pred.verdict,
                "level_dbfs": d["level_dbfs"], "events": d["events"], "outputs": outputs, "embeddings": emb}


# --- a local worker process (ProcessPoolExecutor's initializer and task) ----------------

_ANALYZER: Analyzer | None = None


def _die_with_parent(parent: int) -> None:
    """Linux: this worker is killed when the process that started it dies (kill -9
    included), instead of running on as an orphan."""
    try:
        import ctypes
        import signal

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except Exception:
        return
    if os.getppid() != parent:  # it died before prctl
        os._exit(1)


def init_process(parent, model_path, formats, embeddings, threads, top_k, settings) -> None:
    global _ANALYZER
    _die_with_parent(parent)
    _ANALYZER = Analyzer(model_path, formats, embeddings, threads, top_k, settings)


def analyze_in_process(rel: str, path: str) -> dict:
    return _ANALYZER.analyze(rel, path)
