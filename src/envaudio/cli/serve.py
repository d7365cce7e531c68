"""`envaudio serve`: the API and the web app (server/serve.py runs uvicorn)."""

from __future__ import annotations

from ..settings import get_settings
from .common import add_threshold_args


def add_parser(sub) -> None:
    p = sub.add_parser("serve", help="run the API and the web app")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default: %(default)s)")
    p.add_argument("--port", type=int, default=8000, help="default: %(default)s")
    p.add_argument("--workers", type=int, default=get_settings().serve_workers,
                   help="uvicorn worker processes (default: ENVAUDIO_SERVE_WORKERS, else 1)")
    p.add_argument("--model", default=None, help="model file (default: the bundled model)")
    add_threshold_args(p)


def run(args) -> int:
    from ..server.serve import serve

    return serve(args.host, args.port, args.workers, args.model, args.thresholds, args.min_confidence)
