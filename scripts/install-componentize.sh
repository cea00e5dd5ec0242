#!/usr/bin/env bash
# Installs the tools that build Python and JavaScript flavors, for the `sdk`
# tests and for `flavorbox flavor build`:
#   componentize-py (PyPI) into a virtualenv at target/componentize-venv;
#   componentize-js (npm) into target/componentize-js, from the lockfile in
#   sdk/js (never into the source tree).
#
# Idempotent: each returns at once when the wanted version is installed. The
# tests find them at those paths, or at $FLAVORBOX_COMPONENTIZE_PY and
# $FLAVORBOX_COMPONENTIZE_JS when those are set.
#
# Usage: scripts/install-componentize.sh
#   (COMPONENTIZE_PY_VERSION=x.y.z to change the Python pin; the JavaScript
#    pin is sdk/js/package.json and its lockfile)
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="$root/target/componentize-venv"
source "$root/scripts/venv-check.sh"
venv_discard_if_moved "$venv"
py_version="${COMPONENTIZE_PY_VERSION:-0.25.1}"
python="${PYTHON:-python3}"
js_dir="$root/target/componentize-js"
js_cli="$js_dir/node_modules/@bytecodealliance/componentize-js/src/cli.js"

# ---- componentize-py
py_installed() {
    "$venv/bin/componentize-py" --version 2>/dev/null | awk '{print $NF}' || true
}
if [[ "$(py_installed)" == "$py_version" ]]; then
    echo "componentize-py $py_version is already installed: $venv/bin/componentize-py"
else
    if [[ ! -x "$venv/bin/python" ]]; then
        "$python" -m venv "$venv"
    fi
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
        "componentize-py==$py_version"
    if [[ "$(py_installed)" != "$py_version" ]]; then
        echo "install-componentize: pip finished but componentize-py $py_version does not run" >&2
        exit 1
    fi
    echo "installed componentize-py $py_version: $venv/bin/componentize-py"
fi

# ---- componentize-js
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
    echo "install-componentize: node and npm are needed for componentize-js" >&2
    exit 1
fi
want_js="$(sed -n 's/.*"@bytecodealliance\/componentize-js": "\(.*\)".*/\1/p' "$root/sdk/js/package.json")"
js_installed() {
    node "$js_cli" --version 2>/dev/null || true
}
if [[ "$(js_installed)" == "$want_js" ]] \
    && cmp -s "$root/sdk/js/package-lock.json" "$js_dir/package-lock.json"; then
    echo "componentize-js $want_js is already installed: $js_cli"
else
    mkdir -p "$js_dir"
    cp "$root/sdk/js/package.json" "$root/sdk/js/package-lock.json" "$js_dir/"
    (cd "$js_dir" && npm ci --no-audit --no-fund --loglevel=error)
    if [[ "$(js_installed)" != "$want_js" ]]; then
        echo "install-componentize: npm finished but componentize-js $want_js does not run" >&2
        exit 1
    fi
    echo "installed componentize-js $want_js: $js_cli"
fi
