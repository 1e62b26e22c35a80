#!/usr/bin/env bash
# Creates .venv (Python 3.11) and installs the project into it, once; sourced by run.sh and test.sh.
# KIOSK_VENV chooses another folder; KIOSK_EXTRAS adds extras (for example "test").
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="${KIOSK_VENV:-$root/.venv}"
extras="${KIOSK_EXTRAS:-}"
python="${PYTHON:-python3.11}"
command -v "$python" >/dev/null 2>&1 || python=python3
stamp="$venv/.installed${extras:+-$extras}"
if [ ! -x "$venv/bin/python" ]; then
    "$python" -m venv "$venv"
fi
# An install with extras (test.sh: .installed-test) includes the plain one run.sh needs, so the
# first ./run.sh after ./test.sh (or CI) does not install everything again.
up_to_date() {
    local candidate candidates=("$stamp")
    [ -n "$extras" ] || candidates+=("$venv"/.installed-*)
    for candidate in "${candidates[@]}"; do
        if [ -f "$candidate" ] && [ ! "$root/pyproject.toml" -nt "$candidate" ]; then
            return 0
        fi
    done
    return 1
}
if ! up_to_date; then
    "$venv/bin/python" -m pip install --quiet --upgrade pip
    "$venv/bin/python" -m pip install --quiet -e "$root${extras:+[$extras]}"
    touch "$stamp"
fi
export PATH="$venv/bin:$PATH"
