"""The bundled example clips, and the web app (the built React app in
src/envaudio/web/, served at "/" after the API routes), or a page saying how to build it."""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

from fastapi import APIRouter, FastAPI, HTTPException
from fastapi.responses import FileResponse, HTMLResponse
from fastapi.staticfiles import StaticFiles

from ..settings import PACKAGE_DIR
from . import schemas

EXAMPLES_DIR = PACKAGE_DIR / "assets" / "examples"
_MEDIA_TYPES = {".flac": "audio/flac", ".wav": "audio/wav", ".mp3": "audio/mpeg",
                ".ogg": "audio/ogg", ".m4a": "audio/mp4"}

router = APIRouter(tags=["examples"])

NOT_BUILT = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>envaudio</title>
<style>body{font:16px/1.5 system-ui,sans-serif;max-width:40rem;margin:3rem auto;padding:0 1rem}
code,pre{background:#f3f3f3;padding:.1rem .3rem;border-radius:3px}</style></head>
<body><h1>envaudio</h1>
<p>The API is running, but the web app is not built.</p>
<p>Build it once (it is then served here):</p>
<pre>cd frontend &amp;&amp; npm ci &amp;&amp; npm run build</pre>
<p>Meanwhile: <a href="/docs">API docs</a> &middot; <a href="/health">/health</a>
&middot; <a href="/examples">/examples</a></p>
</body></html>
"""


@lru_cache(maxsize=1)
def load_examples() -> tuple[dict, ...]:
    manifest = json.loads((EXAMPLES_DIR / "examples.json").read_text())
    attribution, license_ = manifest.get("attribution"), manifest.get("license")
    items = []
    for ex in manifest.get("examples", []):
        item = dict(ex)
        item.setdefault("attribution", attribution)
        item.setdefault("license", license_)
        item["url"] = f"/examples/{ex['file']}"
        items.append(item)
    return tuple(items)


@router.get("/examples", response_model=list[schemas.ExampleItem])
async def examples():
    """The bundled example clips (UrbanSound8K excerpts), with their source and license."""
    return list(load_examples())


@router.get("/examples/{name}", response_class=FileResponse,
            responses={200: {"content": {"audio/flac": {}}}, 404: {"model": schemas.ErrorResponse}})
async def example_file(name: str):
    files = {ex["file"] for ex in load_examples()}
    if name not in files:  # only names from the manifest: no path tricks
        raise HTTPException(404, f"no example named {name!r}")
    path = EXAMPLES_DIR / name
    return FileResponse(path, media_type=_MEDIA_TYPES.get(path.suffix.lower(), "application/octet-stream"),
                        headers={"Cache-Control": "public, max-age=3600"})


def install(app: FastAPI, web_dir: Path) -> None:
    """Examples, then the web app at "/" (must come after every other route)."""
    app.include_router(router)
    if (web_dir / "index.html").is_file():
        app.mount("/", StaticFiles(directory=web_dir, html=True), name="web")
    else:
        @app.get("/", include_in_schema=False)
        async def web_not_built() -> HTMLResponse:
            return HTMLResponse(NOT_BUILT)
