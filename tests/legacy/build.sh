#!/usr/bin/env bash
# Build (once) the legacy Channels 1 stack in its own virtualenv, outside the repo.
# Used by the interop tests and the benchmarks. Prints the venv's path on stdout.
# The pins are the ones the project promises compatibility with; bump LEGACY_STAMP when they change.
set -euo pipefail
CACHE="${CHANNELS_CLASSIC_CACHE:-$HOME/.cache/channels-classic}"
VENV="$CACHE/legacy-venv"
PY="${LEGACY_PYTHON:-python3.11}"
command -v "$PY" >/dev/null 2>&1 || PY=python3
PINS="channels==1.1.8 daphne==1.4.2 asgi_redis==1.4.3 asgiref==1.1.2 Django==2.2.28 msgpack==0.6.2 redis==2.10.6 twisted autobahn six"
LEGACY_STAMP="1:$PINS"
if [ -f "$VENV/.stamp" ] && [ "$(cat "$VENV/.stamp")" = "$LEGACY_STAMP" ]; then
    echo "$VENV"
    exit 0
fi
mkdir -p "$CACHE"
rm -rf "$VENV"
"$PY" -m venv "$VENV" >&2
"$VENV/bin/pip" install -q --upgrade pip wheel "setuptools<70" >&2
# msgpack 0.6.2 has no wheel for new Pythons; its pure-Python fallback is fine for interop.
"$VENV/bin/pip" install -q $PINS >&2
"$VENV/bin/python" -c "import channels, daphne, asgi_redis, asgiref.base_layer, django; assert channels.__version__ == '1.1.8'" >&2
echo "$LEGACY_STAMP" > "$VENV/.stamp"
echo "$VENV"
