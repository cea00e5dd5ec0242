#!/usr/bin/env bash
# The main job: builds the guests and the CLI, then walks a secret through
# register -> get (masked) -> list -> update -> get (revealed) -> delete on the
# built-in `local` flavor, sandboxed, on the embedded store of a fresh home.
#
# Usage: scripts/demo.sh   (FLAVORBOX_HOME=DIR to keep the home somewhere)
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
source scripts/setup.sh

echo "==> cargo build -p flavorbox-cli (builds the local flavor component too)"
cargo build -p flavorbox-cli

home="${FLAVORBOX_HOME:-$(mktemp -d -t flavorbox-demo-XXXXXX)}"
export FLAVORBOX_HOME="$home"
flavorbox() { "$root/target/debug/flavorbox" "$@"; }
step() {
    echo
    echo "\$ flavorbox $*"
    flavorbox "$@"
}

echo
echo "==> a fresh home in $home"
step init
step flavor list
step secrets-manager list
step secret register db_creds username=admin password=hunter2-example
step secret get db_creds
step secret list
step secret update db_creds password=rotated-example host=db.internal
step secret get db_creds --reveal
step secret get db_creds --output json
step secret delete db_creds --yes
step secret list

echo
echo "\$ flavorbox secret get db_creds   # gone: exits 1 with one line"
if flavorbox secret get db_creds; then
    echo "demo: db_creds should be gone" >&2
    exit 1
fi
echo
echo "==> done; the home is $home"
