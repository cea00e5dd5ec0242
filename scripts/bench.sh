#!/usr/bin/env bash
# Every benchmark in one run, each figure next to its baseline with their
# ratio: `calls` (a sandboxed call vs native, criterion), `scale` (cost vs
# work, a whole CLI process vs a native floor process) and `serve`
# (`flavorbox serve` vs an OpenBao server under wrk). Installs what they
# need (wrk from Debian's packages, OpenBao into target/openbao-venv, a
# Python and a JavaScript flavor's toolchain) and builds the release CLI.
#
# Usage: scripts/bench.sh [cargo bench args, e.g. --bench serve]
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
source scripts/setup.sh

if ! command -v wrk >/dev/null && [[ -z "${FLAVORBOX_WRK:-}" ]]; then
    echo "==> apt-get install wrk (the serve bench's load generator)"
    if [[ "$(id -u)" == 0 ]]; then
        apt-get install -y wrk
    else
        sudo apt-get install -y wrk
    fi
fi
echo "==> installing OpenBao (the serve bench's peer) into target/openbao-venv"
scripts/install-openbao.sh
echo "==> installing moto (the aws flavor's bench backend) into target/moto-venv"
scripts/install-moto.sh
echo "==> installing componentize-py and componentize-js (the Python and JavaScript flavors measured)"
scripts/install-componentize.sh
# PostgreSQL's server binaries come from the machine, as for the tests.
pg_bindir="${FLAVORBOX_PG_BINDIR:-$(pg_config --bindir 2>/dev/null || true)}"
if [[ ! -x "$pg_bindir/initdb" ]]; then
    echo "no PostgreSQL server binaries (pg_config --bindir): apt-get install postgresql, or set FLAVORBOX_PG_BINDIR" >&2
    exit 1
fi

echo "==> cargo build --release -p flavorbox-cli (the CLI the benches run)"
cargo build --locked --release -p flavorbox-cli
echo "==> cargo bench -p flavorbox-tests"
cargo bench --locked -p flavorbox-tests "$@"
