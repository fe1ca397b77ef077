"""Entry script of the frozen ``icspa`` (PyInstaller analyses a script, not a console_scripts entry point)."""

import sys

from icspa_desktop.cli.main import main

sys.exit(main())
