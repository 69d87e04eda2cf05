"""``python -m ami_listener`` is ``callback-desk listen``."""

import sys

from callback_desk.cli import main

raise SystemExit(main(["listen", *sys.argv[1:]]))
