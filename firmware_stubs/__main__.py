"""``python -m firmware_stubs BOARD ...``: the same as ``twin stub``."""

import sys

from firmware_stubs.cli import main

sys.exit(main())
