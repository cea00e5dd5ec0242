#!/usr/bin/env bash
# Installs what the console's browser tests drive: headless Chromium and its
# driver from Debian's packages (`chromium`, `chromium-driver`; installed
# with apt-get when missing and this runs as root), and Selenium (PyPI) in a
# virtualenv at target/browser-venv.
#
# Idempotent: returns at once when both are present. The tests find them at
# /usr/bin/chromium, /usr/bin/chromedriver and target/browser-venv, or at
# $FLAVORBOX_CHROMIUM, $FLAVORBOX_CHROMEDRIVER and $FLAVORBOX_BROWSER_PYTHON.
#
# Usage: scripts/install-browser.sh     (SELENIUM_VERSION=x.y.z to change the pin)
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="$root/target/browser-venv"
source "$root/scripts/venv-check.sh"
venv_discard_if_moved "$venv"
version="${SELENIUM_VERSION:-4.50.0}"
python="${PYTHON:-python3}"

chromium="${FLAVORBOX_CHROMIUM:-/usr/bin/chromium}"
driver="${FLAVORBOX_CHROMEDRIVER:-/usr/bin/chromedriver}"
if [[ ! -x "$chromium" || ! -x "$driver" ]]; then
    if [[ "$(id -u)" != 0 ]] || ! command -v apt-get >/dev/null; then
        echo "install-browser: no $chromium or $driver; install Debian's chromium and chromium-driver (as root)" >&2
        exit 1
    fi
    echo "installing Debian's chromium and chromium-driver"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium chromium-driver >/dev/null
fi

installed_version() {
    "$venv/bin/pip" show selenium 2>/dev/null | sed -n 's/^Version: //p' || true
}
if [[ "$(installed_version)" != "$version" ]]; then
    if [[ ! -x "$venv/bin/python" ]]; then
        "$python" -m venv "$venv"
    fi
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check "selenium==$version"
fi
echo "browser: $("$chromium" --version 2>/dev/null | head -1), $("$driver" --version | cut -d' ' -f1-2), Selenium $version in $venv"
