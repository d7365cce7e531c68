#!/usr/bin/env bash
# Installs what envaudio needs into ./.venv (and builds the web app when npm is present).
# Sourced by ./run.sh (the lean install: no extras, no PyTorch) and ./test.sh
# (ENVAUDIO_EXTRAS=train,test,eval,ray); safe to run again (each step is skipped when up to date).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
PYTHON="${PYTHON:-python3}"
EXTRAS="${ENVAUDIO_EXTRAS:-}"

log() { printf '\033[1m[envaudio]\033[0m %s\n' "$*" >&2; }

if [ ! -x .venv/bin/python ]; then
  log "creating virtual environment .venv ($($PYTHON --version))"
  "$PYTHON" -m venv .venv
fi
# Reinstall only when the project's dependency list changed.
stamp=".venv/.envaudio-installed"
want="$(sha1sum < pyproject.toml | cut -d' ' -f1) ${EXTRAS}"
have="$(cat "$stamp" 2>/dev/null || true)"
# Up to date when the dependency list is unchanged and the wanted extras are installed
# (an install with the test extras also serves ./run.sh).
if [ "$have" != "$want" ] && { [ -n "$EXTRAS" ] || [ "${have%% *}" != "${want%% *}" ]; }; then
  log "installing envaudio and its dependencies${EXTRAS:+ (extras: $EXTRAS)}"
  .venv/bin/python -m pip install --quiet --upgrade pip
  if [[ ",$EXTRAS," == *",train,"* ]]; then
    # torch first and pinned (the pin in pyproject's [train]): an unpinned torch would pull
    # a multi-GB CUDA build. Outside this project's machines, plain PyPI gives Linux a CUDA
    # build even when pinned: set TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu there.
    .venv/bin/python -m pip install --quiet "torch==2.13.0" ${TORCH_INDEX_URL:+--index-url "$TORCH_INDEX_URL"}
  fi
  .venv/bin/python -m pip install --quiet -e ".${EXTRAS:+[$EXTRAS]}"
  echo "$want" > "$stamp"
fi

# The web app: built into src/envaudio/web, which `envaudio serve` serves at /.
if [ -d frontend ]; then
  if command -v npm >/dev/null 2>&1; then
    src_hash="$(find frontend -path frontend/node_modules -prune -o -type f -print | sort | xargs cat | sha1sum | cut -d' ' -f1)"
    if [ ! -f src/envaudio/web/index.html ] || [ "$(cat src/envaudio/web/.build-hash 2>/dev/null)" != "$src_hash" ]; then
      log "building the web app (npm ci && npm run build)"
      (cd frontend && npm ci --no-audit --no-fund --loglevel=error && npm run build --silent)
      echo "$src_hash" > src/envaudio/web/.build-hash
    fi
  else
    log "npm not found: the API will run, but the web app is not built (install Node.js 20+ and npm)"
  fi
fi
