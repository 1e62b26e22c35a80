"""Entry point: `python main.py` starts the kiosk window; `python main.py COMMAND` runs the CLI.

The window's `run` (ui.commands) and the central service's `serve` and `keys`
(service.commands) are added here: the kiosk package imports neither."""

import sys

from kiosk.cli import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:], extra=("ui.commands", "service.commands", "service.console.commands")))
