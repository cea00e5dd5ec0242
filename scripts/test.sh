#!/usr/bin/env bash
# Every test: the runtime's unit tests, the guest crates' native tests (the
# SigV4 signer against AWS's published vectors; the local flavor's versioned
# store; the aws, vault and gcp flavors' layouts, name encodings and error
# mapping) and the end-to-end
# suites (CLI, sandbox vs. hostile flavors, evaluate, HTTP, aws on a moto
# server, vault on an OpenBao dev server, gcp on the fake Secret Manager
# checked with Google's client, flavors in Python and JavaScript built with
# componentize-py/-js, `flavorbox serve` nodes on a throwaway PostgreSQL
# cluster, the web console in headless Chromium; each suite starts its
# server itself on 127.0.0.1).
#
# Usage: scripts/test.sh [extra cargo test args]
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
source scripts/setup.sh

echo "==> installing moto (AWS API emulator) into target/moto-venv"
scripts/install-moto.sh
echo "==> installing OpenBao (Vault) into target/openbao-venv"
scripts/install-openbao.sh
echo "==> installing Google's Secret Manager client into target/gcp-venv"
scripts/install-gcp-client.sh

echo "==> installing componentize-py (target/componentize-venv) and componentize-js (target/componentize-js)"
scripts/install-componentize.sh

echo "==> installing headless Chromium and its driver (Debian) and Selenium (target/browser-venv) for the console tests"
scripts/install-browser.sh

# The serve suite runs initdb/postgres from the machine's PostgreSQL (as
# `nobody` when run as root); it is not installed by this script.
echo "==> PostgreSQL server binaries for the serve suite"
pg_bindir="${FLAVORBOX_PG_BINDIR:-$(pg_config --bindir 2>/dev/null || true)}"
if [[ ! -x "$pg_bindir/initdb" ]]; then
    echo "no PostgreSQL server binaries (pg_config --bindir): apt-get install postgresql, or set FLAVORBOX_PG_BINDIR" >&2
    exit 1
fi
echo "    $pg_bindir"

echo "==> guest crates: native unit tests"
(cd guests && cargo test --locked -p sigv4 -p redact -p flavor-kit -p local -p aws -p vault -p gcp_secrets_manager \
    --target-dir ../target/guests-native)

# The end-to-end suites run the CLI binary, which `cargo test` does not build
# for another package's tests. It is built together with the tests, so that
# cargo resolves the dependencies' features once (the tests' dev-dependencies
# included) and compiles wasmtime once, not once for the binary and again
# for the tests.
echo "==> cargo build --workspace --bins --tests (the CLI the end-to-end suites run, and the tests)"
cargo build --locked --workspace --bins --tests

echo "==> cargo test --workspace"
cargo test --locked --workspace "$@"
