#!/usr/bin/env bash
# Starts the kiosk (installing it into .venv on first use). Arguments go to main.py,
# for example: ./run.sh run --source rtsp://camera/stream
set -euo pipefail
cd "$(dirname "$0")"
source scripts/setup-env.sh
exec python main.py "$@"
