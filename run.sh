#!/usr/bin/env bash
# Starts the kiosk (installing it into .venv on first use). Arguments go to main.py,
# for example: ./run.sh run --source rtsp://camera/stream
# `./run.sh serve ...` and `./run.sh keys ...` (the central service) install the server extra.
# Before the window starts it checks the system libraries of Qt's xcb platform plugin: as root
# on Debian it installs .ci/gui-packages.txt (as test.sh does with .ci/system-packages.txt);
# otherwise it prints the exact install command and stops, instead of letting Qt abort.
set -euo pipefail
# Relative paths the user types (roster import my.csv, --db mine.sqlite) are resolved against
# the folder run.sh was started from, not the repository it changes into.
export KIOSK_CALLER_DIR="${KIOSK_CALLER_DIR:-$PWD}"
cd "$(dirname "$0")"

# The subcommand (after the global options), or nothing.
subcommand() {
    while [ $# -gt 0 ]; do
        case "$1" in
            --settings|--db) shift 2 || return 0 ;;
            -*) shift ;;
            *) echo "$1"; return 0 ;;
        esac
    done
}

# The central service's commands need the server extra (fastapi, uvicorn, psycopg); a kiosk
# installs without it.
case "$(subcommand "$@")" in
    serve|keys) KIOSK_EXTRAS="${KIOSK_EXTRAS:-server}" ;;
esac
source scripts/setup-env.sh

# Whether the arguments start the window: no subcommand, or "run" (after the global options).
wants_window() {
    while [ $# -gt 0 ]; do
        case "$1" in
            --settings|--db) shift 2 || return 1 ;;
            --settings=*|--db=*|-v|--verbose) shift ;;
            -h|--help) return 1 ;;
            run) return 0 ;;
            *) return 1 ;;
        esac
    done
    return 0
}

# The missing libraries of the xcb plugin (one soname a line; empty when all are there).
missing_gui_libraries() {
    local plugin
    plugin=$(python -c 'import os, PyQt5; print(os.path.join(os.path.dirname(PyQt5.__file__), "Qt5", "plugins", "platforms", "libqxcb.so"))')
    [ -f "$plugin" ] || return 0
    ldd "$plugin" 2>/dev/null | awk '/not found/ {print $1}' | sort -u
}

# The packages of .ci/gui-packages.txt that dpkg does not list as installed.
missing_gui_packages() {
    command -v dpkg >/dev/null || return 0
    local package
    for package in $(grep -v '^#' .ci/gui-packages.txt); do
        dpkg -s "$package" >/dev/null 2>&1 || echo "$package"
    done
}

check_gui_libraries() {
    if [ "${QT_QPA_PLATFORM:-xcb}" != xcb ] || [ ! -f .ci/gui-packages.txt ]; then
        return 0
    fi
    local libraries packages
    libraries=$(missing_gui_libraries | tr '\n' ' ')
    packages=$(missing_gui_packages | tr '\n' ' ')
    if [ -n "$packages" ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        echo "Installing the system packages the kiosk window needs: $packages" >&2
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $packages >/dev/null
        libraries=$(missing_gui_libraries | tr '\n' ' ')
        packages=$(missing_gui_packages | tr '\n' ' ')
    fi
    if [ -z "${DISPLAY:-}${WAYLAND_DISPLAY:-}" ]; then
        return 0  # main.py says in one line that there is no display
    fi
    if [ -n "$libraries" ]; then
        echo "error: the kiosk window needs system libraries that are missing (${libraries% })." >&2
        if [ -n "$packages" ] && command -v apt-get >/dev/null; then
            echo "Install them once with:  sudo apt-get install -y ${packages% }" >&2
            echo "(or run ./run.sh as root, which installs them)" >&2
        else
            echo "Install the packages of your system that provide them (see .ci/gui-packages.txt)." >&2
        fi
        exit 1
    fi
    if [ -n "$packages" ]; then
        echo "note: not installed: ${packages% } (the window works; Chinese text needs fonts-noto-cjk)." \
             "Install with: sudo apt-get install -y ${packages% }" >&2
    fi
}

if wants_window "$@"; then
    check_gui_libraries
fi
exec python main.py "$@"
