"""`envaudio serve`: run the app with uvicorn.

Settings reach the app (and every worker process) through the environment: the app
factory `envaudio.server.app:create_app` reads them with `Settings.from_env()`.
"""

from __future__ import annotations

import os
from pathlib import Path

APP_FACTORY = "envaudio.server.app:create_app"


def torch_threads_per_worker(workers: int, cpu_count: int | None = None) -> int:
    return max(1, (cpu_count or os.cpu_count() or 1) // max(1, workers))


def cmd_serve(args) -> int:
    import uvicorn

    from ..model import load_model
    from ..settings import Settings

    workers = max(1, int(getattr(args, "workers", 1) or 1))
    if getattr(args, "model", None):
        os.environ["ENVAUDIO_MODEL_PATH"] = str(Path(args.model).expanduser().resolve())
    if not os.environ.get("ENVAUDIO_TORCH_THREADS"):
        os.environ["ENVAUDIO_TORCH_THREADS"] = str(torch_threads_per_worker(workers))
    settings = Settings.from_env()  # SettingsError -> a clear message from the CLI
    load_model(settings.model_path)  # fail now (ModelError) rather than in every worker
    print(f"envaudio: serving {settings.model_path} on http://{args.host}:{args.port} "
          f"({workers} worker{'s' if workers > 1 else ''}, {settings.torch_threads} torch "
          f"thread{'s' if settings.torch_threads > 1 else ''} each)", flush=True)
    uvicorn.run(APP_FACTORY, factory=True, host=args.host, port=args.port,
                workers=workers if workers > 1 else None, timeout_graceful_shutdown=5)
    return 0
