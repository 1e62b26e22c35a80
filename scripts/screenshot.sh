#!/bin/sh
# Screenshots of the kiosk (attendee screen, enrolment dialog, staff panel) under Xvfb, plus the
# timing figures of docs/GUI.md. Usage: scripts/screenshot.sh [--source VIDEO] [--out DIR] ...
set -eu
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python}"
exec xvfb-run -a -s "-screen 0 1280x800x24" "$PYTHON" scripts/screenshot.py "$@"
