#!/usr/bin/env bash
# Installs Google's own Secret Manager client (`google-cloud-secret-manager`
# from PyPI) into a virtualenv at target/gcp-venv. The gcp tests drive the
# fake Secret Manager (scripts/fake_gcp_secret_manager.py) with it, so the
# fake is checked against what Google's client sends and expects; the fake
# itself needs only the standard library.
#
# Idempotent: when the venv already has the wanted version it returns at once.
#
# Usage: scripts/install-gcp-client.sh   (GCP_CLIENT_VERSION=x.y.z to change the pin)
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="$root/target/gcp-venv"
source "$root/scripts/venv-check.sh"
venv_discard_if_moved "$venv"
version="${GCP_CLIENT_VERSION:-2.32.0}"
python="${PYTHON:-python3}"

installed_version() {
    "$venv/bin/pip" show google-cloud-secret-manager 2>/dev/null | sed -n 's/^Version: //p' || true
}

if [[ -x "$venv/bin/python" && "$(installed_version)" == "$version" ]]; then
    echo "google-cloud-secret-manager $version is already installed: $venv"
    exit 0
fi

if [[ ! -x "$venv/bin/python" ]]; then
    "$python" -m venv "$venv"
fi
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
    "google-cloud-secret-manager==$version"

if ! "$venv/bin/python" -c 'from google.cloud import secretmanager' 2>/dev/null; then
    echo "install-gcp-client: pip finished but google.cloud.secretmanager does not import" >&2
    exit 1
fi
echo "installed google-cloud-secret-manager $(installed_version): $venv"
