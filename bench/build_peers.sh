#!/usr/bin/env bash
# Build (once) the modern comparison stacks for the full-stack benchmark in their own virtualenv,
# outside the repo: Daphne 4 + Channels 4, uvicorn and gunicorn, on Django 5.2. Prints the venv's path.
# The venv is rebuilt from scratch when the pins change (tests/legacy/cached_venv.sh).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=tests/legacy/cached_venv.sh
source "$ROOT/tests/legacy/cached_venv.sh"
CACHE="${CHANNELS_CLASSIC_CACHE:-$HOME/.cache/channels-classic}"
PY="${PEERS_PYTHON:-python3.11}"
command -v "$PY" >/dev/null 2>&1 || PY=python3
PINS="daphne>=4,<5 channels>=4,<5 uvicorn[standard]>=0.30 gunicorn>=22 Django>=5.2,<5.3 websockets>=12"

build() {
    local venv="$1"
    "$PY" -m venv "$venv"
    "$venv/bin/pip" install -q --upgrade pip
    # shellcheck disable=SC2086  # the pins are words on purpose
    "$venv/bin/pip" install -q $PINS
    "$venv/bin/python" -I -c "import channels, daphne, uvicorn, gunicorn, django; assert channels.__version__.startswith('4'); assert daphne.__version__.startswith('4')"
}

cached_venv "$CACHE/peers-venv" "1:$PINS" build
