"""Entry point: `python main.py` starts the kiosk window; `python main.py COMMAND` runs the CLI."""

import sys

from kiosk.cli import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:], extra=("ui.commands",)))
