"""The FastAPI app: `create_app()` builds it (uvicorn calls it as a factory).

    from envaudio.server import create_app
    app = create_app()                          # settings from the environment
    app = create_app(settings, classifier)      # tests: share one loaded classifier

The model is loaded once, in the lifespan (so each uvicorn worker loads its own). If it
cannot be loaded the app still starts: /health answers 503 with the reason, and so do
the endpoints that need the model.
"""

from __future__ import annotations

import logging
from contextlib import asynccontextmanager
from pathlib import Path

import anyio
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse

from .. import __version__
from ..predict import Classifier, load_classifier
from ..settings import PACKAGE_DIR, Settings
from . import api, site, ws
from .inference import warm_up
from .middleware import CloseUnreadBody, HostCheck, ShutdownGuard
from .schemas import validation_message
from .state import ServingState, cpu_budget

log = logging.getLogger("envaudio.server")

DESCRIPTION = """
Classify environmental sounds into the classes of the served model (UrbanSound8K's ten for the bundled one; `GET /labels` lists them).

* `POST /predict`: upload a file (multipart field `file`) -> labels, per-window timeline
  and the spectrogram to draw (`reduce_payload=true` leaves the spectrogram out).
* `POST /spectrogram`: the spectrogram only.
* `WS /ws/predict`: stream float32 PCM, get a prediction every hop once a window is full.
  Protocol: send a JSON config first (`{"sample_rate": 48000}`), then binary frames of
  little-endian float32 mono samples; the text message `reset` clears the buffer.
"""


def create_app(settings: Settings | None = None, classifier: Classifier | None = None, *,
               web_dir: str | Path | None = None) -> FastAPI:
    if settings is None:
        settings = classifier.settings if classifier is not None else Settings.from_env()
    if not settings.threads:  # this process's share of the cores, for ONNX Runtime
        settings = settings.replace(threads=cpu_budget(settings))
    if classifier is not None and classifier.settings != settings:
        classifier = Classifier(classifier.model, settings)  # same network, this app's settings
    state = ServingState(settings=settings, classifier=classifier)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        state.start()
        if state.classifier is None:
            try:
                state.classifier = await anyio.to_thread.run_sync(
                    load_classifier, None, settings)
            except Exception as e:  # ModelError, BackendError, or anything a damaged file raises
                state.error = f"the model could not be loaded: {e}"
                log.error("envaudio: %s", state.error)
        if state.classifier is not None:
            _check_stream_settings(state)
            await anyio.to_thread.run_sync(warm_up, state.classifier)
        yield

    app = FastAPI(title="envaudio", version=__version__, description=DESCRIPTION,
                  lifespan=lifespan, docs_url=None, redoc_url=None)
    _install_docs(app)
    app.state.serving = state
    app.add_middleware(CORSMiddleware, allow_origins=settings.origins,
                       allow_methods=["GET", "POST", "OPTIONS"], allow_headers=["*"])
    # Added last = runs first: the shutdown guard outermost, then the Host check.
    app.add_middleware(CloseUnreadBody)
    app.add_middleware(HostCheck, hosts=settings.hosts)
    app.add_middleware(ShutdownGuard)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.include_router(api.router)
    app.include_router(ws.router)
    # Last: the web app is mounted at "/" and would shadow anything registered after it.
    site.install(app, Path(web_dir) if web_dir is not None else PACKAGE_DIR / "web")
    return app


DOCS_ASSETS = "/docs-assets"


def _install_docs(app: FastAPI) -> None:
    """/docs with Swagger UI served from the installed swagger-ui-bundle-v2 package, not a
    CDN: the docs work on a machine without internet access."""
    from fastapi.openapi.docs import get_swagger_ui_html
    from fastapi.staticfiles import StaticFiles
    from swagger_ui_bundle import swagger_ui_path

    app.mount(DOCS_ASSETS, StaticFiles(directory=swagger_ui_path), name="docs-assets")

    @app.get("/docs", include_in_schema=False)
    async def docs():
        return get_swagger_ui_html(openapi_url=app.openapi_url, title=f"{app.title} API",
                                   swagger_js_url=f"{DOCS_ASSETS}/swagger-ui-bundle.js",
                                   swagger_css_url=f"{DOCS_ASSETS}/swagger-ui.css",
                                   swagger_favicon_url=f"{DOCS_ASSETS}/favicon-32x32.png")


def _check_stream_settings(state: ServingState) -> None:
    clf, s = state.classifier, state.settings
    if abs(s.stream_duration - clf.window_seconds) > 1e-6 or s.stream_n_mels != clf.cfg.n_mels:
        log.warning("envaudio: STREAM_DURATION/STREAM_N_MELS (%g s, %d) differ from the model's "
                    "input (%g s, %d mels); streaming uses the model's", s.stream_duration,
                    s.stream_n_mels, clf.window_seconds, clf.cfg.n_mels)


async def _validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
    """Query/path validation errors with a readable `detail` string (like every other
    error of this API); the structured list stays available under `errors`."""
    errors = [{k: v for k, v in e.items() if k in ("loc", "msg", "type")} for e in exc.errors()]
    return JSONResponse({"detail": validation_message(exc.errors()) or "invalid request", "errors": errors},
                        status_code=422)
