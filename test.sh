#!/usr/bin/env bash
# Run every test: Python (pytest), web unit tests (Vitest) and browser end-to-end tests
# (Playwright driving Debian's Chromium). Installs what is missing first.
set -euo pipefail
cd "$(dirname "$0")"
ENVAUDIO_EXTRAS=train,test,eval,ray source scripts/bootstrap.sh

need_apt=()
command -v ffmpeg >/dev/null 2>&1 || need_apt+=(ffmpeg)
command -v flac >/dev/null 2>&1 || need_apt+=(flac)
[ -x /usr/bin/chromium ] || need_apt+=(chromium)
command -v nginx >/dev/null 2>&1 || need_apt+=(nginx-light)  # the reverse-proxy config test
if [ ${#need_apt[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then SUDO=""; elif command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else SUDO="none"; fi
  if [ "$SUDO" != none ]; then
    log "installing ${need_apt[*]} (apt)"
    $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_apt[@]}" >/dev/null
  else
    log "missing ${need_apt[*]} and no root: the tests that need them will be skipped"
  fi
fi

mkdir -p test-artifacts
log "import layers (lint-imports: faces <- workflows <- runtime <- ground, pyproject.toml)"
.venv/bin/lint-imports
log "pytest"
.venv/bin/python -m pytest -q "$@"

if [ -d frontend ] && command -v npm >/dev/null 2>&1; then
  log "web unit tests (vitest)"
  (cd frontend && npm test --silent)
  if [ -x /usr/bin/chromium ]; then
    log "browser end-to-end tests (screenshots in test-artifacts/screenshots)"
    (cd frontend && ENVAUDIO_PYTHON="$PWD/../.venv/bin/python" npm run e2e --silent)
  else
    log "chromium not installed: browser end-to-end tests skipped"
  fi
fi
