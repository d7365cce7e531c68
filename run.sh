#!/usr/bin/env bash
# Run envaudio: installs what it needs, then serves the API and the web app with the
# bundled model at http://127.0.0.1:8000 . Extra arguments go to `envaudio serve`
# (e.g. ./run.sh --port 9000 --workers 2).
set -euo pipefail
cd "$(dirname "$0")"
# The lean install: the package without extras (no PyTorch): serving needs no training packages.
ENVAUDIO_EXTRAS="" source scripts/bootstrap.sh
exec .venv/bin/envaudio serve "$@"
