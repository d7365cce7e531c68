"""`envaudio serve`: run the app with uvicorn.

Settings reach the app (and every worker process) through the environment: the app
factory `envaudio.server.app:create_app` reads them with `Settings.from_env()`. So
`--model` becomes ENVAUDIO_MODEL_PATH, `--host` ENVAUDIO_SERVE_HOST (an allowed Host name)
and `--workers` ENVAUDIO_SERVE_WORKERS (from which each worker derives its CPU share:
available cores // workers torch threads, and as many concurrent CPU-bound jobs).
"""

from __future__ import annotations

import os
from pathlib import Path

APP_FACTORY = "envaudio.server.app:create_app"


def cmd_serve(args) -> int:
    import uvicorn

    from ..model import load_model
    from ..settings import Settings
    from .protocol import PATH as HTTP_PROTOCOL
    from .state import cpu_budget

    workers = max(1, int(getattr(args, "workers", 1) or 1))
    if getattr(args, "model", None):
        os.environ["ENVAUDIO_MODEL_PATH"] = str(Path(args.model).expanduser().resolve())
    os.environ["ENVAUDIO_SERVE_WORKERS"] = str(workers)
    os.environ["ENVAUDIO_SERVE_HOST"] = args.host
    settings = Settings.from_env()  # SettingsError -> a clear message from the CLI
    load_model(settings.model_path)  # fail now (ModelError), not in every worker
    threads = settings.torch_threads or cpu_budget(settings)
    print(f"envaudio: serving {settings.model_path} on http://{args.host}:{args.port} "
          f"({workers} worker{'s' if workers > 1 else ''} x {threads} torch "
          f"thread{'s' if threads > 1 else ''})", flush=True)
    uvicorn.run(APP_FACTORY, factory=True, host=args.host, port=args.port,
                workers=workers if workers > 1 else None, http=HTTP_PROTOCOL,
                server_header=False, timeout_graceful_shutdown=settings.shutdown_grace_seconds)
    return 0
