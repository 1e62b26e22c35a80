#!/usr/bin/env bash
# Runs the test suite (installing the project and its test tools into .venv on first use).
# As root it also installs the Debian packages of .ci/system-packages.txt (the RTSP test server)
# and .ci/server-packages.txt (PostgreSQL for the central service); without them the RTSP and
# server tests skip. The project is installed with the extras test (pytest, import-linter),
# server (the central service), and gallery-tools (sqlite-utils). Arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")"
for list in .ci/system-packages.txt .ci/server-packages.txt .ci/browser-packages.txt; do
    if [ -f "$list" ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        packages=$(grep -v '^#' "$list" | tr '\n' ' ')
        if ! dpkg -s $packages >/dev/null 2>&1; then
            apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $packages >/dev/null
        fi
    fi
done
KIOSK_EXTRAS=test,server,gallery-tools source scripts/setup-env.sh
export QT_QPA_PLATFORM=offscreen
exec python -m pytest "$@"
