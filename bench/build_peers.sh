#!/usr/bin/env bash
# Build (once) the modern comparison stacks for the full-stack benchmark in their own virtualenv,
# outside the repo: Daphne 4 + Channels 4, uvicorn and gunicorn, on Django 5.2. Prints the venv's path.
# Bump PEERS_STAMP when the pins change; the venv is rebuilt from scratch then.
set -euo pipefail
CACHE="${CHANNELS_CLASSIC_CACHE:-$HOME/.cache/channels-classic}"
VENV="$CACHE/peers-venv"
PY="${PEERS_PYTHON:-python3.11}"
command -v "$PY" >/dev/null 2>&1 || PY=python3
PINS="daphne>=4,<5 channels>=4,<5 uvicorn[standard]>=0.30 gunicorn>=22 Django>=5.2,<5.3 websockets>=12"
PEERS_STAMP="1:$PINS"
if [ -f "$VENV/.stamp" ] && [ "$(cat "$VENV/.stamp")" = "$PEERS_STAMP" ]; then
    echo "$VENV"
    exit 0
fi
mkdir -p "$CACHE"
rm -rf "$VENV"
"$PY" -m venv "$VENV" >&2
"$VENV/bin/pip" install -q --upgrade pip >&2
# shellcheck disable=SC2086  # the pins are words on purpose
"$VENV/bin/pip" install -q $PINS >&2
"$VENV/bin/python" -I -c "import channels, daphne, uvicorn, gunicorn, django; assert channels.__version__.startswith('4'); assert daphne.__version__.startswith('4')" >&2
echo "$PEERS_STAMP" > "$VENV/.stamp"
echo "$VENV"
