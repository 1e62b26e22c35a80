#!/usr/bin/env bash
# Runs the test suite (installing the project and its test tools into .venv on first use).
# As root it also installs the Debian packages of .ci/system-packages.txt (the RTSP test server);
# without them the RTSP tests skip. Arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")"
if [ -f .ci/system-packages.txt ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    packages=$(grep -v '^#' .ci/system-packages.txt | tr '\n' ' ')
    if ! dpkg -s $packages >/dev/null 2>&1; then
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $packages >/dev/null
    fi
fi
KIOSK_EXTRAS=test source scripts/setup-env.sh
export QT_QPA_PLATFORM=offscreen
exec python -m pytest "$@"
