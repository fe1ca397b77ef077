"""Entry script of the frozen ``icspa-desktop`` (PyInstaller analyses a script, not a gui_scripts entry point)."""

import multiprocessing
import sys

# First: a frozen app's separate processes (icspa_desktop/separate.py, the custody check's pool) are this program
# started again; freeze_support runs their work and exits before the app would start.
multiprocessing.freeze_support()

from icspa_desktop.gui.app import main  # noqa: E402 - after freeze_support: a child never loads Qt

sys.exit(main())
