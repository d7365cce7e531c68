"""One analysing process (a local worker or a Ray actor): the model loaded once, then
audio file after audio file -> (outputs as bytes, the file's record). Nothing is written
here: the process that runs the analysis writes every output (archive/run.py), so local
workers and Ray actors on other machines give the same OUT."""

from __future__ import annotations

import io
import os

import numpy as np

from .formats import EMBEDDINGS_SUFFIX, levels_csv_bytes, output_name, per_file_outputs


class Embedder:
    """Per-window embeddings: the input of the last linear layer of the model's first
    member, the graph's `embeddings` output (graphs.WithEmbeddings). For the accurate model
    (and any whose first member is a YAMNet with a linear head) that is the YAMNet tower's
    1024-d embedding averaged over the window's patches: AudioSet's embedding when the
    tower is frozen. For a CNN member, the pooled 128-d features its classifier reads; for
    mn04, its hidden layer."""

    def __init__(self, model):
        self.model = model
        self.network = model.embedding_member
        self.key = model.frontends[0].key()
        probe = model.featurize({r: np.zeros((1, round(model.duration * r)), np.float32) for r in model.sample_rates})
        self.dim = int(model.embeddings(probe).shape[1])  # the graph says it once it runs

    def __call__(self, feats: dict[str, np.ndarray], batch: int = 32) -> np.ndarray:
        if not len(feats[self.key]):
            return np.zeros((0, self.dim), np.float32)
        return self.model.embeddings(feats, batch)


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
        from ..predict import load_classifier
        from ..settings import get_settings

        settings = settings or get_settings()
        if threads:  # this worker's share of the cores (archive/run.py)
            settings = settings.replace(threads=threads)
        self.clf = load_classifier(model_path, settings)
        self.formats = tuple(formats)
        self.top_k = top_k
        self.embedder = Embedder(self.clf.model) if embeddings else None
        p = self.clf.event_params
        self.thresholds = ({label: p.threshold_of(i) for i, label in enumerate(self.clf.labels)}
                           if settings.thresholds or settings.min_confidence else None)

    def analyze(self, rel: str, source, progress=None) -> dict:
        """`source`: the audio's path or bytes, of any length (a path streams through in
        bounded memory; `progress(seconds)` is told how far). A dict: rel, status ("ok" or
        "error"), reason, and for ok: duration, verdict, level_dbfs, events, outputs
        {name: bytes}, embeddings (npy name, dim, windows) or None."""
        try:
            pred = self.clf.classify_file(source, keep_features=False, progress=progress,
                                          embeddings=self.embedder is not None)
            d = pred.to_dict(self.top_k)
            if self.thresholds is not None:  # the outputs say which thresholds were used
                d["unknown_thresholds"] = self.thresholds
            outputs = per_file_outputs(rel, d, self.formats, self.clf.sample_rate / 2)
            if "levels" in self.formats:
                outputs[output_name(rel, "levels")] = self.levels_table(pred)
            emb = None
            if self.embedder is not None:
                name = rel + EMBEDDINGS_SUFFIX
                e = pred.embeddings if pred.embeddings is not None else np.zeros((0, self.embedder.dim), np.float32)
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
                "high_freq": self.clf.sample_rate / 2,
                "level_dbfs": d["level_dbfs"], "events": d["events"], "outputs": outputs, "embeddings": emb}


    def levels_table(self, pred) -> bytes:
        """x.levels.csv: the levels and class shares of every LEVELS_INTERVAL_SECONDS."""
        from ..levels import interval_rows

        s, p = self.clf.settings, self.clf.event_params
        rows = interval_rows(pred.frame_levels, pred.events, self.clf.labels, s.levels_interval_seconds,
                             p.frame_seconds, s.calibration_db)
        return levels_csv_bytes(rows, self.clf.labels, pred.levels_unit)


# --- a local worker process (ProcessPoolExecutor's initializer and task) ----------------

_ANALYZER: Analyzer | None = None
_PROGRESS = None  # a queue of (rel, seconds) to the parent's progress bar, or None


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


def init_process(parent, model_path, formats, embeddings, threads, top_k, settings, progress=None) -> None:
    global _ANALYZER, _PROGRESS
    _die_with_parent(parent)
    _ANALYZER = Analyzer(model_path, formats, embeddings, threads, top_k, settings)
    _PROGRESS = progress


def analyze_in_process(rel: str, path: str) -> dict:
    if _PROGRESS is None:
        return _ANALYZER.analyze(rel, path)
    import time

    last = [0.0]

    def tell(seconds: float) -> None:  # at most twice a second
        if time.monotonic() - last[0] >= 0.5:
            last[0] = time.monotonic()
            _PROGRESS.put((rel, seconds))

    return _ANALYZER.analyze(rel, path, tell)
