# envaudio: the API and the web app in one image (CPU inference).
#
#   docker build -t envaudio .
#   docker run --rm -p 8000:8000 envaudio            # http://localhost:8000
#   docker run --rm -p 8000:8000 -e ENVAUDIO_SERVE_WORKERS=2 envaudio
#
# Settings come from the environment (ALLOWED_HOSTS, ALLOWED_ORIGINS, MAX_UPLOAD_MB, ENVAUDIO_*;
# see src/envaudio/settings.py). Served under another name than localhost, set ALLOWED_HOSTS
# (e.g. -e ALLOWED_HOSTS=sounds.example.org): other Host names are refused. The command can be overridden as a whole, e.g.
#   docker run --rm -p 8000:8000 envaudio envaudio serve --host 0.0.0.0 --port 8000 --workers 2
# or a trained model mounted in:
#   docker run --rm -p 8000:8000 -v "$PWD/artifacts:/models:ro" \
#     -e ENVAUDIO_MODEL_PATH=/models/model.envaudio envaudio
# (a model file: what `envaudio train` and `distill` write beside their .pt; the image has
# no PyTorch to read a .pt itself).

# ---------------------------------------------------------------- 1. the web app
FROM node:20-slim AS web
# vite.config.js writes the build to ../src/envaudio/web, i.e. /build/src/envaudio/web here.
WORKDIR /build/frontend
COPY frontend/package.json frontend/package-lock.json ./
RUN npm ci --no-audit --no-fund --loglevel=error
COPY frontend/ ./
RUN npm run build --silent

# ---------------------------------------------------------------- 2. the Python package
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore

# ffmpeg decodes M4A/MP3/OGG uploads (AUDIO_LOADER=ffmpeg, the default); libsndfile1 for
# soundfile (its wheels bundle a copy, the system one is the fallback); tini is PID 1 (below).
RUN apt-get update \
    && apt-get install -y --no-install-recommends ffmpeg libsndfile1 tini \
    && rm -rf /var/lib/apt/lists/*

# The lean install, as ./run.sh's: the package without extras, so no PyTorch (a model
# file runs on ONNX Runtime, docs/devices.md): about 230 MB of Python packages instead of
# about 1.7 GB with torch. pip upgraded first, as scripts/bootstrap.sh does.
RUN python -m pip install --upgrade pip

WORKDIR /tmp/envaudio-src
COPY pyproject.toml ./
COPY src/ ./src/
# The built web app becomes package data (pyproject: package-data "web/**/*"), next to
# the bundled model and example clips (assets/).
COPY --from=web /build/src/envaudio/web/ ./src/envaudio/web/
# Non-editable install, no extras: the package, the bundled model files, the examples and
# the web app land in site-packages; `import torch` fails in the image.
RUN python -m pip install . \
    && python -c "import envaudio.settings as s; assert (s.PACKAGE_DIR / 'web' / 'index.html').is_file() and s.BUNDLED_MODEL.is_file() and (s.PACKAGE_DIR / 'assets' / 'examples' / 'examples.json').is_file(), 'package data missing'" \
    && python -c "import importlib.util as u; assert u.find_spec('torch') is None, 'torch in the serving image'" \
    && rm -rf /tmp/envaudio-src

# Unprivileged user (numeric, so Kubernetes' runAsNonRoot can check it). The feature
# cache (`envaudio train/evaluate` only) goes to its home directory.
RUN useradd --create-home --uid 10001 --user-group --shell /usr/sbin/nologin envaudio
USER 10001:10001
WORKDIR /home/envaudio

# Uvicorn worker processes (`envaudio serve --workers` defaults to this). Each worker
# loads its own copy of the model and gets available cores // workers ONNX Runtime
# threads (the cores a cgroup CPU limit allows, settings.available_cpus); ENVAUDIO_THREADS
# sets them (e.g. --cpus 4 with 2 workers: ENVAUDIO_THREADS=2).
ENV ENVAUDIO_SERVE_WORKERS=1

EXPOSE 8000

# /health answers 200 once the model is loaded and warmed up, 503 before (or if it could
# not be loaded). No curl in the slim image: Python's urllib (an HTTP error raises, exit 1).
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8000/health', timeout=4).status == 200 else 1)"]

# An init as PID 1 (`docker run` needs no --init): it forwards SIGTERM to envaudio (whose
# requests then get SHUTDOWN_GRACE_SECONDS) and reaps what exits, ffmpeg children included.
ENTRYPOINT ["tini", "--"]
CMD ["envaudio", "serve", "--host", "0.0.0.0", "--port", "8000"]
