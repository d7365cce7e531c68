"""`envaudio serve`: run the app with uvicorn.

Settings reach the app (and every worker process) through the environment: the app
factory `envaudio.server.app:create_app` reads them with `Settings.from_env()`. So
`--model` becomes ENVAUDIO_MODEL_PATH, `--host` ENVAUDIO_SERVE_HOST (an allowed Host name)
and `--workers` ENVAUDIO_SERVE_WORKERS (from which each worker derives its CPU share:
available cores // workers ONNX Runtime threads, and as many concurrent CPU-bound jobs).

With several workers this process only supervises them: it never loads the model (it is
checked in a short-lived subprocess), so it stays small.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

APP_FACTORY = "envaudio.server.app:create_app"

_CHECK_MODEL = """
import sys
from envaudio.loading import load_model
try:
    load_model(sys.argv[1])
except Exception as e:
    sys.exit(str(e))
"""


def check_model(path: str, workers: int) -> None:
    """Fail now, with the model's own message, rather than in every worker."""
    from ..settings import SettingsError

    if workers == 1:  # this process is the worker: it loads the model anyway
        from ..loading import load_model

        load_model(path)
        return
    out = subprocess.run([sys.executable, "-c", _CHECK_MODEL, path], capture_output=True, text=True)
    if out.returncode != 0:
        raise SettingsError(out.stderr.strip() or f"{path}: the model could not be loaded")


def serve(host: str = "127.0.0.1", port: int = 8000, workers: int = 1, model: str | None = None,
          thresholds: str | None = None, min_confidence: float | None = None) -> int:
    import uvicorn

    from ..settings import Settings, resolve_model
    from .protocol import PATH as HTTP_PROTOCOL
    from .state import cpu_budget

    workers = max(1, int(workers or 1))
    if model:  # a bundled model's name, or a file (made absolute for the workers)
        os.environ["ENVAUDIO_MODEL_PATH"] = str(resolve_model(model).resolve())
    if thresholds:  # per-class unknown thresholds (a file, made absolute for the workers)
        os.environ["ENVAUDIO_THRESHOLDS"] = str(Path(thresholds).expanduser().resolve())
    if min_confidence is not None:
        os.environ["ENVAUDIO_MIN_CONFIDENCE"] = str(min_confidence)
    os.environ["ENVAUDIO_SERVE_WORKERS"] = str(workers)
    os.environ["ENVAUDIO_SERVE_HOST"] = host
    settings = Settings.from_env()  # SettingsError -> a clear message from the CLI
    # A model file carries its graph: loading takes well under a second. A training file
    # (NAME.pt, with envaudio[train]) has its graph exported at its first load (cached).
    model_file = settings.model_file()
    print(f"envaudio: loading {model_file}", flush=True)
    t0 = time.monotonic()
    check_model(model_file, workers)
    if settings.thresholds:  # a bad file or a class the model lacks: one line now, not in every request
        from ..modelfile import read_meta
        from ..thresholds import check_labels, describe, read_thresholds

        if model_file.suffix == ".envaudio":
            check_labels(read_thresholds(settings.thresholds), read_meta(model_file)["labels"],
                         settings.thresholds)
        print(f"envaudio: {describe(settings.thresholds, settings.min_confidence)}", flush=True)
    print(f"envaudio: model ready in {time.monotonic() - t0:.1f} s", flush=True)
    threads = settings.threads or cpu_budget(settings)
    print(f"envaudio: serving {model_file} on http://{host}:{port} "
          f"({workers} worker{'s' if workers > 1 else ''} x {threads} "
          f"thread{'s' if threads > 1 else ''})", flush=True)
    uvicorn.run(APP_FACTORY, factory=True, host=host, port=port,
                workers=workers if workers > 1 else None, http=HTTP_PROTOCOL,
                server_header=False, timeout_graceful_shutdown=settings.shutdown_grace_seconds)
    return 0
