# Sourced by tests/legacy/build.sh and bench/build_peers.sh: one virtualenv, built once, under the cache.
#
#   cached_venv VENV STAMP BUILD
#
# Prints VENV on stdout. When VENV/.stamp holds STAMP the venv is reused as it is; otherwise it is
# deleted and BUILD (a shell function, given VENV, its output sent to stderr) builds it from scratch,
# then STAMP is written. A lock file next to VENV keeps two builders (two test runs, make legacy and a
# test run) from deleting each other's half-built venv.
cached_venv() {
    local venv="$1" stamp="$2" build="$3"
    mkdir -p "$(dirname "$venv")"
    exec 9>"$venv.lock"
    flock 9
    if [ -f "$venv/.stamp" ] && [ "$(cat "$venv/.stamp")" = "$stamp" ]; then
        echo "$venv"
        return 0
    fi
    rm -rf "$venv"
    "$build" "$venv" >&2
    echo "$stamp" >"$venv/.stamp"
    echo "$venv"
}
