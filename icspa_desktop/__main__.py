import sys

from icspa_desktop.cli.main import main

sys.exit(main())
