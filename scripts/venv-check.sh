# Sourced by the install scripts. A virtualenv keeps absolute paths (its
# scripts' `#!` lines), so one copied or moved from another checkout looks
# installed but its entry points fail to start. `venv_discard_if_moved DIR`
# removes such a venv so that it is built afresh.
venv_discard_if_moved() {
    local venv="$1"
    [[ -e "$venv/bin/pip" ]] || return 0
    if ! head -1 "$venv/bin/pip" | grep -q "^#!$venv/bin/python"; then
        echo "discarding $venv: it was built at another path"
        rm -rf "$venv"
    fi
}
