"""Entry script of the frozen ``icspa`` (PyInstaller analyses a script, not a console_scripts entry point)."""

import multiprocessing
import sys

# First: a frozen app's separate processes (icspa_desktop/separate.py, the custody check's pool) are this program
# started again; freeze_support runs their work and exits before the CLI would start.
multiprocessing.freeze_support()

from icspa_desktop.cli.main import main  # noqa: E402 - after freeze_support

sys.exit(main())
