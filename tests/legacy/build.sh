#!/usr/bin/env bash
# Build (once) the legacy Channels 1 stack in its own virtualenv, outside the repo.
# Used by the interop tests and the benchmarks. Prints the venv's path on stdout.
# Every version is pinned (PINS, and what they pull in in constraints.txt), so the baseline the project
# promises compatibility with cannot drift; the venv is rebuilt from scratch when either changes.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=tests/legacy/cached_venv.sh
source "$HERE/cached_venv.sh"
CACHE="${CHANNELS_CLASSIC_CACHE:-$HOME/.cache/channels-classic}"
PY="${LEGACY_PYTHON:-python3.11}"
command -v "$PY" >/dev/null 2>&1 || PY=python3
PINS="channels==1.1.8 daphne==1.4.2 asgi_redis==1.4.3 asgiref==1.1.2 Django==2.2.28 msgpack==0.6.2 redis==2.10.6 Twisted==26.10.0 autobahn==25.10.2 six==1.17.0"
CONSTRAINTS="$HERE/constraints.txt"

build() {
    local venv="$1"
    "$PY" -m venv "$venv"
    "$venv/bin/pip" install -q --upgrade pip wheel "setuptools<70"
    # msgpack 0.6.2 has no wheel for new Pythons; its pure-Python fallback is fine for interop.
    # shellcheck disable=SC2086  # the pins are words on purpose
    "$venv/bin/pip" install -q -c "$CONSTRAINTS" $PINS
    "$venv/bin/python" -c "import channels, daphne, asgi_redis, asgiref.base_layer, django; assert channels.__version__ == '1.1.8'"
}

cached_venv "$CACHE/legacy-venv" "2:$PINS:$(sha256sum <"$CONSTRAINTS" | cut -d' ' -f1)" build
