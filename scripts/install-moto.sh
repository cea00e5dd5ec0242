#!/usr/bin/env bash
# Installs the moto server (a local AWS API emulator) that the `aws` flavor's
# end-to-end tests run against, into a virtualenv at target/moto-venv.
#
# Idempotent: when the venv already has the wanted moto version it returns at
# once. The tests find the server at target/moto-venv/bin/moto_server, or at
# $FLAVORBOX_MOTO_SERVER when that is set.
#
# Usage: scripts/install-moto.sh          (MOTO_VERSION=x.y.z to change the pin)
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="$root/target/moto-venv"
source "$root/scripts/venv-check.sh"
venv_discard_if_moved "$venv"
version="${MOTO_VERSION:-5.2.1}"
python="${PYTHON:-python3}"

installed_version() {
    "$venv/bin/python" -c 'import moto; print(moto.__version__)' 2>/dev/null || true
}

if [[ -x "$venv/bin/moto_server" && "$(installed_version)" == "$version" ]]; then
    echo "moto $version is already installed: $venv/bin/moto_server"
    exit 0
fi

if [[ ! -x "$venv/bin/python" ]]; then
    "$python" -m venv "$venv"
fi
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
    "moto[server]==$version"

if [[ ! -x "$venv/bin/moto_server" ]]; then
    echo "install-moto: pip finished but $venv/bin/moto_server is missing" >&2
    exit 1
fi
echo "installed moto $(installed_version): $venv/bin/moto_server"
