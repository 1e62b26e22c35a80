#!/usr/bin/env bash
# Creates .venv (Python 3.11) and installs the project into it, once; sourced by run.sh and test.sh.
# KIOSK_VENV chooses another folder; KIOSK_EXTRAS adds extras (for example "test,server").
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
# An install with more extras counts for one with fewer (test.sh's .installed-test,server
# includes the plain one run.sh needs and the server one `./run.sh serve` needs), so the first
# ./run.sh after ./test.sh (or CI) does not install everything again.
covers() {  # covers STAMP: the stamp's extras include every extra asked for
    local have=",${1##*/.installed},"; have="${have/,-/,}"
    local wanted
    for wanted in ${extras//,/ }; do
        [[ "$have" == *",$wanted,"* ]] || return 1
    done
}
up_to_date() {
    local candidate
    for candidate in "$stamp" "$venv"/.installed-*; do
        if [ -f "$candidate" ] && covers "$candidate" \
           && [ ! "$root/pyproject.toml" -nt "$candidate" ]; then
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
