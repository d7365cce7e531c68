"""The HTTP/WebSocket server: `envaudio serve`, or `create_app()` for any ASGI server.

    uvicorn --factory envaudio.server.app:create_app
"""

from .app import create_app
from .serve import cmd_serve

__all__ = ["cmd_serve", "create_app"]
