#!/usr/bin/env bash
# Shared setup for the two README commands: the wasm target the guests are
# built for. Sourced, not run.
set -euo pipefail

if ! rustup target list --installed | grep -qx wasm32-wasip2; then
    echo "==> rustup target add wasm32-wasip2"
    rustup target add wasm32-wasip2
fi
