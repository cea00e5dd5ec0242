#!/usr/bin/env bash
# The main job: builds the CLI and two test guests, then shows on a fresh home
# what flavorbox is for, running someone else's secrets code:
#  1. a secret walked through register -> get (masked) -> list -> update ->
#     get (revealed) -> delete on the built-in `local` flavor, sandboxed;
#  2. `evaluate` judging two flavors someone else wrote: the honest test
#     flavor `kv_json` PASS, the hostile `hostile_loop` (spins forever in
#     every get-secret) FAIL;
#  3. hostile_loop registered anyway and called through a secrets manager:
#     stopped at its deadline (exit 3, one line), then still serving the
#     calls it answers honestly; then removed;
#  4. the `gcp_secrets_manager` flavor bundled with the binary against
#     scripts/fake_gcp_secret_manager.py, a local stand-in for Google's
#     Secret Manager (standard-library Python): one manager registration,
#     which names the grant it needs, then that origin granted and nothing
#     else; then removed (the stand-in and its throwaway key end with the
#     demo).
# Every command is printed before it runs; one that must fail is checked for
# its exit code and message, so the demo fails if a hostile flavor passes.
# After the build it takes about 10 seconds (2 cores).
#
# Usage: scripts/demo.sh   (FLAVORBOX_HOME=DIR to keep the home somewhere)
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
source scripts/setup.sh

echo "==> cargo build -p flavorbox-cli (builds the flavors it carries too: local, aws, gcp_secrets_manager, vault)"
cargo build -p flavorbox-cli

# The test build (tests/build.rs) builds these too, with the same flags, into
# the same target directory: cargo reuses what either built.
guests=(kv_json hostile_loop)
echo "==> cargo build: the guests ${guests[*]} (wasm32-wasip2, into target/guests)"
packages=()
for guest in "${guests[@]}"; do packages+=(-p "$guest"); done
cargo build --release --locked --target wasm32-wasip2 \
    --manifest-path guests/Cargo.toml --target-dir target/guests "${packages[@]}"
wasm="target/guests/wasm32-wasip2/release"

home="${FLAVORBOX_HOME:-$(mktemp -d -t flavorbox-demo-XXXXXX)}"
export FLAVORBOX_HOME="$home"
flavorbox() { "$root/target/debug/flavorbox" "$@"; }
step() {
    echo
    echo "\$ flavorbox $*"
    flavorbox "$@"
}
# `expect CODE TEXT ARGS...`: like `step`, but `flavorbox ARGS` must exit
# with CODE and print TEXT. Its stderr joins stdout.
expect() {
    local want=$1 text=$2
    shift 2
    echo
    if ((want == 0)); then
        echo "\$ flavorbox $*"
    else
        echo "\$ flavorbox $*   # exits $want"
    fi
    local output status=0
    output="$(flavorbox "$@" 2>&1)" || status=$?
    printf '%s\n' "$output"
    if ((status != want)) || ! grep -qF -- "$text" <<<"$output"; then
        echo "demo: \`flavorbox $*\` should exit $want printing \`$text\`; it exited $status" >&2
        exit 1
    fi
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
expect 1 "not found" secret get db_creds

echo
echo "==> judging flavors someone else wrote (each in a throwaway home)"
expect 0 "verdict: PASS" evaluate "$wasm/kv_json.wasm"
expect 1 "verdict: FAIL" evaluate "$wasm/hostile_loop.wasm" --timeout 1

echo
echo "==> the hostile flavor registered anyway, with a 1 s deadline per call"
step flavor register "$wasm/hostile_loop.wasm" --grant storage --timeout 1
step secrets-manager register suspect --flavor hostile_loop
step secret register -m suspect api_token token=example-token
expect 3 "sandbox: deadline" secret get -m suspect api_token
step secret list -m suspect
step secrets-manager remove suspect --purge --yes
step flavor remove hostile_loop --yes

echo
echo "==> the bundled gcp_secrets_manager flavor against a local stand-in for Google's Secret Manager"
fake_dir="$(mktemp -d -t flavorbox-demo-gcp-XXXXXX)"
echo "\$ scripts/fake_gcp_secret_manager.py --port 0 --key-file $fake_dir/key.json &"
"${PYTHON:-python3}" scripts/fake_gcp_secret_manager.py --port 0 \
    --key-file "$fake_dir/key.json" >"$fake_dir/stdout" 2>"$fake_dir/stderr" &
fake_pid=$!
trap 'kill "$fake_pid" 2>/dev/null || true; rm -rf "$fake_dir"' EXIT
origin=""
for _ in $(seq 100); do # at most 10 s
    origin="$(sed -n 's/^listening on //p' "$fake_dir/stdout")"
    if [[ -n $origin ]] || ! kill -0 "$fake_pid" 2>/dev/null; then
        break
    fi
    sleep 0.1
done
if [[ -z $origin ]]; then
    cat "$fake_dir/stderr" >&2
    echo "demo: the fake Secret Manager did not start listening within 10 s" >&2
    exit 1
fi
echo "listening on $origin"
step secrets-manager register fake-gcp --flavor gcp_secrets_manager \
    --config project_id=flavorbox-fake --config "credentials=@$fake_dir/key.json" \
    --config "endpoint=$origin"
step flavor grant gcp_secrets_manager --allow-host "$origin" --grant storage
step secret register -m fake-gcp ci_token user=deploy token=example-token
step secret get -m fake-gcp ci_token --reveal
step secret list -m fake-gcp
step secrets-manager list
step secret delete -m fake-gcp ci_token --yes
step secrets-manager remove fake-gcp --purge --yes
step flavor remove gcp_secrets_manager --yes

echo
echo "==> done; the home is $home"
