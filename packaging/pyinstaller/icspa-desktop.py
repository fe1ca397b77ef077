"""Entry script of the frozen ``icspa-desktop`` (PyInstaller analyses a script, not a gui_scripts entry point)."""

import sys

from icspa_desktop.gui.app import main

sys.exit(main())
