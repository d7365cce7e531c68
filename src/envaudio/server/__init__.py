"""The HTTP/WebSocket server: `envaudio serve`, or `create_app()` for any ASGI server.

    uvicorn --factory envaudio.server.app:create_app
"""

from .serve import serve

__all__ = ["create_app", "serve"]


def __getattr__(name: str):
    if name == "create_app":  # imports fastapi and the model's packages: not for `envaudio serve`'s master process
        from .app import create_app

        return create_app
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
